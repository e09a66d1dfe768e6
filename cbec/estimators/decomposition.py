"""Exact decomposition of the two-way fixed-effects DID coefficient on the twin.

On the synthetic twin every outcome splits into the no-policy outcome and the true effect,
``y = y0 + tau`` (``syn = syn_cf + tau``). The TWFE coefficient is linear in the outcome:
by Frisch-Waugh-Lovell (Frisch & Waugh 1933; Lovell 1963)

.. math::

    \\hat\\beta = \\sum_{it} w_{it}\\, y_{it},\\qquad
    w_{it} = \\tilde d_{it} \\Big/ \\sum_{it} \\tilde d_{it}^2,

with :math:`\\tilde d` the treatment dummy net of the fixed effects (and of the controls, if
any). Hence :math:`\\hat\\beta = \\sum w\\,\\tau + \\sum w\\, y_0`, and the first sum splits by
groups of cells. :func:`decompose_twfe` returns one row per group; the rows add up to the
coefficient exactly (to rounding). Because :math:`\\sum w\\, d = 1`, the weights of the
treated post-designation cells sum to one: their row is a weighted average of the true
effect, and its distance from the true ATT (the plain average) is the pure weighting
effect of staggered timing (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020).

Cells and what moves their true effect on the twin:

``treated_post``
    treated pairs at or after designation: the effect itself, TWFE-weighted;
``pre_period``
    every pair before the first designation year (nobody treated): the true effect there
    is non-zero only because the outcome is standardised over the whole window (the
    Cerqueira-Martins z-scores and the entropy weights use post-designation years);
``treated_pre_late``
    treated pairs in their pre-designation years from the first designation on (later
    batches): early exposure (they are partners of earlier pilots) and standardisation;
``control_late``
    control pairs from the first designation on: spillover onto tied controls and
    standardisation; split into exposed and clean controls when an exposure flag is given;
``no_policy``
    the no-policy outcome ``y0``: sampling noise of this draw of the world (its expectation
    is zero only under parallel trends).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbec.estimators.fe import FEIndex

#: Component keys in display order, with their labels.
COMPONENTS: dict[str, str] = {
    "treated_post": "True effect in treated post-designation cells, TWFE-weighted",
    "pre_period": "True effect in cells before the first designation (nobody treated)",
    "treated_pre_late": "True effect in treated pairs' pre-designation years from the first designation",
    "control_late": "True effect in control pairs from the first designation",
    "control_late_exposed": "  of which exposed controls (tied to a pilot)",
    "control_late_clean": "  of which clean controls",
    "no_policy": "The no-policy outcome (this draw's noise and trends)",
}


@dataclass
class Decomposition:
    """The TWFE coefficient split into additive parts.

    Attributes
    ----------
    table
        One row per component: ``component, label, value, share`` (value over the true
        ATT), ``weight_sum`` (sum of the FWL weights over the component's cells) and
        ``cells``. Rows ``control_late_exposed`` and ``control_late_clean`` (when present)
        split ``control_late`` and are not added again in :attr:`total`.
    estimate
        The TWFE coefficient from the same FWL projection.
    att
        The true ATT: the plain mean of ``tau`` over treated post-designation cells.
    weighting
        ``treated_post - att``: what the TWFE weights of the treated cells add to the ATT.
    first_year
        First designation year used to split early from late cells.
    """

    table: pd.DataFrame
    estimate: float
    att: float
    weighting: float
    first_year: int

    @property
    def total(self) -> float:
        """Sum of the additive components (equals :attr:`estimate` to rounding)."""
        main = self.table[~self.table["component"].str.startswith("control_late_")]
        return float(main["value"].sum())

    def value(self, component: str) -> float:
        """Value of one component."""
        return float(self.table.set_index("component").loc[component, "value"])

    def ranked(self) -> pd.DataFrame:
        """Components that separate the estimate from the ATT, largest absolute value first.

        The treated-post row enters as its weighting part (``treated_post - att``), the
        others as they are; the exposed/clean split replaces ``control_late`` when present.
        """
        t = self.table.set_index("component")
        rows = {"weighting": self.weighting}
        for c in ("pre_period", "treated_pre_late", "no_policy"):
            rows[c] = float(t.loc[c, "value"])
        if "control_late_exposed" in t.index:
            rows["control_late_exposed"] = float(t.loc["control_late_exposed", "value"])
            rows["control_late_clean"] = float(t.loc["control_late_clean", "value"])
        else:
            rows["control_late"] = float(t.loc["control_late", "value"])
        out = pd.DataFrame({"component": list(rows), "value": list(rows.values())})
        out["share"] = out["value"] / self.att if self.att != 0 else np.nan
        return out.reindex(out["value"].abs().sort_values(ascending=False).index).reset_index(
            drop=True
        )


def fwl_weights(
    df: pd.DataFrame,
    treat: str = "did",
    controls: Sequence[str] = (),
    fe: Sequence[str] = ("pair_id", "year"),
) -> np.ndarray:
    """FWL weights ``w = d~ / sum(d~^2)`` of the TWFE coefficient on ``treat``.

    ``d~`` is ``treat`` within-transformed by ``fe`` and, with controls, residualised on the
    within-transformed controls, so that ``beta_hat = w @ y`` for any outcome ``y``.
    """
    cols = [treat, *controls]
    x = df[cols].to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise ValueError(f"missing or infinite values in {cols}")
    xd = FEIndex.from_frame(df, fe).demean(x)
    d = xd[:, 0]
    if controls:
        z = xd[:, 1:]
        d = d - z @ np.linalg.lstsq(z, d, rcond=None)[0]
    ss = float(d @ d)
    if ss <= 1e-12 * max(1.0, float(np.abs(xd[:, 0]).max()) ** 2):
        raise ValueError(f"{treat!r} has no variation left after the fixed effects")
    return d / ss


def decompose_twfe(
    df: pd.DataFrame,
    *,
    y0: str = "syn_cf",
    tau: str = "tau",
    treat: str = "did",
    controls: Sequence[str] = (),
    fe: Sequence[str] = ("pair_id", "year"),
    first_year: int | None = None,
    exposed: str | None = None,
) -> Decomposition:
    """Split the TWFE DID coefficient into the true effect by cell group and the no-policy part.

    Parameters
    ----------
    df
        Pair-year panel of the twin with ``treated``, ``year``, ``treat``, ``y0`` and
        ``tau`` (the outcome is ``y0 + tau``), the fixed-effect columns and controls.
    y0, tau, treat
        No-policy outcome, true effect and treatment dummy.
    controls, fe
        As in the regression being decomposed.
    first_year
        First designation year; default the smallest ``treat_year`` among treated pairs.
    exposed
        Optional 0/1 column flagging exposed control pairs; splits the ``control_late`` row.

    Returns
    -------
    Decomposition
    """
    for c in (y0, tau, treat, "treated", "year"):
        if c not in df.columns:
            raise KeyError(f"the panel lacks column {c!r} (the decomposition needs the twin)")
    w = fwl_weights(df, treat, controls, fe)
    y0v = df[y0].to_numpy(dtype=float)
    tv = df[tau].to_numpy(dtype=float)
    if not (np.isfinite(y0v).all() and np.isfinite(tv).all()):
        raise ValueError(f"missing values in {y0!r} or {tau!r}")
    d = df[treat].to_numpy(dtype=float)
    treated = df["treated"].to_numpy() == 1
    year = df["year"].to_numpy()
    if first_year is None:
        first_year = int(np.nanmin(df.loc[treated, "treat_year"].to_numpy(dtype=float)))
    post = d == 1
    early = year < first_year
    groups = {
        "treated_post": post,
        "pre_period": early & ~post,
        "treated_pre_late": treated & ~post & ~early,
        "control_late": ~treated & ~early,
    }
    if exposed is not None:
        ex = df[exposed].to_numpy() == 1
        groups["control_late_exposed"] = groups["control_late"] & ex
        groups["control_late_clean"] = groups["control_late"] & ~ex
    att = float(tv[post].mean())
    rows = []
    for key, mask in groups.items():
        rows.append(
            {
                "component": key,
                "label": COMPONENTS[key],
                "value": float(w[mask] @ tv[mask]),
                "weight_sum": float(w[mask].sum()),
                "cells": int(mask.sum()),
            }
        )
    rows.append(
        {
            "component": "no_policy",
            "label": COMPONENTS["no_policy"],
            "value": float(w @ y0v),
            "weight_sum": float(w.sum()),
            "cells": int(len(w)),
        }
    )
    table = pd.DataFrame(rows)
    table["share"] = table["value"] / att if att != 0 else np.nan
    order = [k for k in COMPONENTS if k in set(table["component"])]
    table = table.set_index("component").loc[order].reset_index()
    estimate = float(w @ (y0v + tv))
    weighting = float(table.set_index("component").loc["treated_post", "value"]) - att
    return Decomposition(table, estimate, att, weighting, int(first_year))


#: Cluster columns of the one-way variances :func:`fwl_did` computes itself.
FWL_CLUSTERS: dict[str, str] = {
    "pilot_city": "cluster_city",
    "province": "cluster_province",
    "pair": "pair_id",
}


def fwl_did(
    df: pd.DataFrame,
    y: str = "syn",
    treat: str = "did",
    controls: Sequence[str] = (),
    vcov: str = "pilot_city",
    level: float = 0.95,
) -> dict[str, float]:
    """The pair-and-year fixed-effects DID with a one-way CRV1 error, by FWL in numpy.

    The same numbers as :func:`cbec.estimators.fe.fit_twfe` (``fe=("pair_id", "year")``)
    with pyfixest's small-sample conventions for clusters that nest the pair effects:
    ``(N-1)/(N-df_k) x G/(G-1)`` with ``df_k`` the slopes plus the number of years, and
    Student's t with ``G - 1`` degrees of freedom (the tests check equality). It exists for
    speed: on a balanced panel the within transformation is a closed form, so a robustness
    row costs a few milliseconds instead of a pyfixest fit.

    Returns ``coef, se, p, ci_low, ci_high, nobs, n_pairs``.
    """
    from scipy import stats

    if vcov not in FWL_CLUSTERS:
        raise ValueError(f"fwl_did computes {sorted(FWL_CLUSTERS)}, not {vcov!r}")
    col = FWL_CLUSTERS[vcov]
    if df.groupby("pair_id")[col].nunique().max() > 1:
        raise ValueError(f"cluster column {col!r} must be constant within pairs")
    cols = [y, treat, *controls]
    x = df[cols].to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise ValueError(f"missing or infinite values in {cols}")
    xd = FEIndex.from_frame(df, ("pair_id", "year")).demean(x)
    yt, Z = xd[:, 0], xd[:, 1:]
    bread = np.linalg.inv(Z.T @ Z)
    b = bread @ (Z.T @ yt)
    e = yt - Z @ b
    codes, uniq = pd.factorize(df[col])
    g = len(uniq)
    scores = np.column_stack(
        [np.bincount(codes, weights=Z[:, k] * e, minlength=g) for k in range(Z.shape[1])]
    )
    n, k = len(yt), Z.shape[1]
    df_k = k + int(df["year"].nunique())
    ssc = (n - 1) / (n - df_k) * g / (g - 1)
    v = ssc * bread @ (scores.T @ scores) @ bread
    se = float(np.sqrt(v[0, 0]))
    t = float(b[0]) / se
    dof = g - 1
    crit = stats.t.ppf(0.5 + level / 2, dof)
    return {
        "coef": float(b[0]),
        "se": se,
        "p": float(2 * stats.t.sf(abs(t), dof)),
        "ci_low": float(b[0]) - crit * se,
        "ci_high": float(b[0]) + crit * se,
        "nobs": int(n),
        "n_pairs": int(df["pair_id"].nunique()),
    }
