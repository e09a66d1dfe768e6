"""The specification curve: every combination of the study's open choices, estimated at once.

The paper leaves many choices open; :class:`~cbec.spec.Spec` declares each of them with its
alternatives (:func:`cbec.spec.choice`). :func:`run_curve` enumerates the Cartesian product of
every declared alternative of every choice with ``curve=True`` (nothing is hand-listed: a new
choice joins the curve by being declared), and estimates the baseline DID under each
combination (Simonsohn, Simmons & Nelson 2020; the "multiverse" of Steegen et al. 2016).

Stages are shared, so the curve costs seconds, not hours:

* choices of stage ``"sample"`` (timing rule, tie filter, universe ...) rebuild the pair panel:
  :func:`~cbec.study.pipeline.build_study` runs once per distinct combination of them;
* choices of stage ``"outcome"`` (synchronization measure, its input, the z-score convention,
  the cycle filter) recompute only the outcome of the same pairs, in the factual and (twin)
  the no-policy world, so every specification carries its own true effect;
* choices of stage ``"estimation"`` (the controls) change only the regression.

Within one panel every outcome is fitted at once by the Frisch-Waugh-Lovell theorem: the
treatment, the controls and all outcomes are within-transformed together (closed form on the
balanced pair x year panel), and the coefficient, its residuals and the clustered variances
(pair, pilot city, two-way city, dyadic-robust) are computed for all outcomes as matrix
products. The variances reproduce :func:`cbec.estimators.fe.fit_twfe` (pyfixest's CRV1 with
its small-sample factors, and :func:`cbec.estimators.variance.dyadic_vcov`): the tests check
that to 1e-10.

Combinations that give the very same outcome (for example the z-score convention when the
measure does not use z-scores) are one specification: the curve keeps one representative, the
one with the fewest non-default choices, and counts its equivalents.

:func:`joint_test` is the joint inference of Simonsohn, Simmons & Nelson (2020): the pilots are
reassigned at random (the placebo design of :mod:`cbec.estimators.placebo`), the whole curve
is recomputed under each reassignment, and the observed median estimate and share of
significant specifications are compared with their null distributions.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from cbec.estimators.fe import FEIndex
from cbec.estimators.placebo import draw_pseudo_pilots
from cbec.spec import Spec
from cbec.study.pairs import winsorize_values
from cbec.study.pipeline import Study, build_study

#: Clusterings the curve reports for every specification (names of ``Spec.cluster``).
CURVE_CLUSTERS: tuple[str, ...] = ("pair", "pilot_city", "twoway", "dyadic")

#: Pair panels (sample-stage combinations) the book's chapter draws, in full and fast mode: a
#: seeded sample that always includes the baseline panel, every outcome and estimation choice
#: on each (the full grid of every panel is ``run_curve(spec)`` with ``max_panels=None``).
BOOK_PANELS = 12
BOOK_PANELS_FAST = 4

#: Clusterings the joint test can use (they do not depend on who the pilots are).
JOINT_CLUSTERS: tuple[str, ...] = ("pair", "twoway", "dyadic")


# ------------------------------------------------------------------------- enumeration
def curve_choices(base: Spec, fields: Sequence[str] | None = None) -> dict[str, tuple[Any, ...]]:
    """The values each choice of the curve takes: the base value first, then the alternatives.

    Parameters
    ----------
    base
        The spec every specification departs from (its profile, seed and world).
    fields
        Choices to vary; default every declared choice with ``curve=True``.
    """
    declared = Spec.alternatives(curve_only=True)
    names = list(declared) if fields is None else list(fields)
    unknown = [n for n in names if n not in declared]
    if unknown:
        raise ValueError(f"{unknown} are not declared curve choices; declared: {list(declared)}")
    out: dict[str, tuple[Any, ...]] = {}
    for name in names:
        first = getattr(base, name)
        values = [first, *[v for v in declared[name] if v != first]]
        default = Spec.__dataclass_fields__[name].default
        if default not in values:
            values.append(default)
        out[name] = tuple(values)
    return out


def enumerate_specs(
    base: Spec, fields: Sequence[str] | None = None
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Every combination of the curve's choices that makes a valid :class:`Spec`.

    Returns
    -------
    combos
        One dict of choice values per valid combination.
    rejected
        Combinations the Spec refuses, with its reason (nothing is dropped silently).
    """
    choices = curve_choices(base, fields)
    names = list(choices)
    combos, bad = [], []
    for values in itertools.product(*choices.values()):
        combo = dict(zip(names, values, strict=True))
        try:
            base.replace(**combo)
        except (ValueError, TypeError) as err:
            bad.append({**{k: repr(v) for k, v in combo.items()}, "reason": str(err)})
            continue
        combos.append(combo)
    return combos, pd.DataFrame(bad)


def _stage_key(combo: dict[str, Any], stage: str) -> tuple:
    return tuple((k, combo[k]) for k in sorted(combo) if Spec.stage_of(k) == stage)


def _sample_needs(spec: Spec, columns: Sequence[str]) -> tuple:
    """What decides the real-data sample beyond the sample-stage choices: the variables (and
    years) every city must have under ``spec`` (:func:`cbec.study.pipeline.needed_variables`).

    On a real panel a city stays only if it has what the spec's outcome, tie score and
    controls need, so two specifications that need different variables are built on
    different panels even when their sample-stage choices agree.
    """
    from cbec.study import pipeline

    needs = pipeline.needed_variables(spec, columns)
    return tuple(sorted((role, tuple(v), tuple(y)) for role, (v, y) in needs.items()))


# ------------------------------------------------------------------------- outcomes
def study_outcomes(
    study: Study, spec: Spec, cache: dict | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Outcome of the study's panel pairs under ``spec``'s outcome choices, factual and
    no-policy (``None`` off the twin), as flat arrays aligned with ``study.panel``.

    Only outcome-stage fields of ``spec`` may differ from ``study.spec``. The outcome is
    computed for every candidate pair of the study's universe
    (:func:`cbec.study.pipeline.outcome_of_pairs`) and cached in ``cache`` (when given) under
    the study's cities and data, so later studies that differ only in their tie filter or
    timing take their pairs' rows from it. Winsorising clips at quantiles over the pairs the
    tie filter keeps, as :func:`cbec.study.pairs.apply_designs` does.
    """
    from cbec.study import pipeline

    cand = study.pairs
    okey = tuple(
        (f, getattr(spec, f)) for f in Spec.__dataclass_fields__ if Spec.stage_of(f) == "outcome"
    )
    key = (
        okey,
        _fingerprint(study.universe["city_id"].to_numpy(dtype=float)),
        _fingerprint(study.index.to_numpy()),
    )
    if cache is not None and key in cache:
        full, full_cf = cache[key]
    else:
        full, full_cf = pipeline.outcome_of_pairs(
            study, spec, cand["pos_i"].to_numpy(), cand["pos_j"].to_numpy()
        )
        if cache is not None:
            cache[key] = (full, full_cf)
    kept = cand["kept"].to_numpy()
    # the panel's pairs (all kept pairs, or fewer when a design drops some) in panel order
    first = study.panel.drop_duplicates("pair_id")
    pos = pd.Series(
        np.arange(int(kept.sum())),
        index=pd.MultiIndex.from_arrays(
            [cand.loc[kept, "pos_i"].to_numpy(), cand.loc[kept, "pos_j"].to_numpy()]
        ),
    )
    rows = pos.loc[list(zip(first["pos_i"], first["pos_j"], strict=True))].to_numpy()

    def finish(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        v = winsorize_values(values[kept], float(spec.winsorize))
        return v[rows].reshape(-1)

    return finish(full), finish(full_cf)


# ------------------------------------------------------------------------- fast fitting
@dataclass
class PanelDesign:
    """One balanced pair x year panel laid out as a ``(P, T)`` grid, ready for many fits.

    Attributes
    ----------
    n_pair, n_year
        Grid size; rows of the panel are ``order``-permuted into the grid.
    order
        Row permutation from the panel's order into grid order.
    city_i, city_j, cluster_city
        Per-pair cities (integer codes) and the pilot-city cluster.
    n_city
        Number of distinct cities in the panel.
    """

    n_pair: int
    n_year: int
    order: np.ndarray
    city_i: np.ndarray
    city_j: np.ndarray
    cluster_city: np.ndarray
    n_city: int
    years: np.ndarray
    _inc: sparse.csr_matrix = field(repr=False)

    @classmethod
    def from_panel(cls, panel: pd.DataFrame) -> PanelDesign:
        """Lay out a balanced pair-year panel (raises when it is not balanced)."""
        fei = FEIndex.from_frame(panel, ("pair_id", "year"))
        if not fei.balanced:
            raise ValueError(
                "the specification curve's fast path needs a balanced pair x year panel"
            )
        p, t = fei.sizes
        order = fei.order
        first = order.reshape(p, t)[:, 0]
        codes, uniq = pd.factorize(
            np.concatenate([panel["city_i"].to_numpy()[first], panel["city_j"].to_numpy()[first]])
        )
        ci, cj = codes[:p].astype(np.int64), codes[p:].astype(np.int64)
        cc = pd.factorize(panel["cluster_city"].to_numpy()[first])[0].astype(np.int64)
        n_city = len(uniq)
        rows = np.concatenate([ci, cj])
        cols = np.concatenate([np.arange(p), np.arange(p)])
        inc = sparse.csr_matrix((np.ones(2 * p), (rows, cols)), shape=(n_city, p))
        years = np.sort(panel["year"].unique())
        return cls(p, t, order, ci, cj, cc, n_city, years, inc)

    def grid(self, values: np.ndarray) -> np.ndarray:
        """``(n,)`` or ``(n, m)`` panel values as ``(P, T)`` or ``(P, T, m)``."""
        v = np.asarray(values, dtype=float)[self.order]
        return v.reshape(self.n_pair, self.n_year, *v.shape[1:])


def demean_grid(g: np.ndarray) -> np.ndarray:
    """Closed-form two-way within transformation over the first two axes of a grid."""
    return FEIndex.demean_grid(g)


def _crv_meat(pair_sums: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum over clusters of squared score sums; clusters are unions of pairs."""
    g = np.zeros((n_groups, pair_sums.shape[1]))
    np.add.at(g, codes, pair_sums)
    return (g**2).sum(axis=0)


def cluster_ses(
    design: PanelDesign,
    pair_scores: np.ndarray,
    dd: np.ndarray,
    n_obs: int,
    k: int,
    clusters: Sequence[str] = CURVE_CLUSTERS,
) -> dict[str, tuple[np.ndarray, float]]:
    """Standard errors of the DID coefficient from per-pair score sums.

    Parameters
    ----------
    pair_scores
        ``(P, m)`` per-pair sums over years of ``d'' * u`` (``d''`` the treatment after the
        fixed effects and controls are partialled out, ``u`` the residuals), one column per
        outcome (or per draw).
    dd
        ``(m,)`` or scalar ``d''' d''``.
    n_obs, k
        Observations and regressors (treatment plus controls) of the full regression.

    Returns
    -------
    dict
        clustering -> (standard errors ``(m,)``, degrees of freedom of the t reference).

    Notes
    -----
    By the FWL theorem the DID row of ``(X'X)^-1 X'`` is ``d''' / d'''d''``, so the clustered
    variance of the DID coefficient is ``factor * sum_g (sum_{a in g} d''_a u_a)^2 / (d'''d'')^2``.
    The factors are those of :func:`cbec.estimators.fe.fit_twfe`: pyfixest's CRV1
    ``(N-1)/(N-df_k) * G/(G-1)`` with ``df_k = k + T`` (pair effects are nested in every
    clustering here and not counted; the year effects are), ``G`` the smaller of the two city
    counts for the two-way variance (Cameron, Gelbach & Miller 2011: pair + pair - pair), and
    ``G/(G-1)`` with ``G`` cities for the dyadic-robust variance
    (:func:`cbec.estimators.variance.dyadic_vcov`).
    """
    dd = np.asarray(dd, dtype=float)
    df_k = k + design.n_year
    adj = (n_obs - 1) / (n_obs - df_k)
    out: dict[str, tuple[np.ndarray, float]] = {}
    p = design.n_pair
    for name in clusters:
        if name == "pair":
            g = p
            meat = (pair_scores**2).sum(axis=0)
            var = adj * g / (g - 1) * meat
            df_t = g - 1
        elif name == "pilot_city":
            g = int(design.cluster_city.max()) + 1
            meat = _crv_meat(pair_scores, design.cluster_city, g)
            var = adj * g / (g - 1) * meat
            df_t = g - 1
        elif name == "twoway":
            gi = np.unique(design.city_i).size
            gj = np.unique(design.city_j).size
            g = min(gi, gj)
            mi = _crv_meat(pair_scores, design.city_i, design.n_city)
            mj = _crv_meat(pair_scores, design.city_j, design.n_city)
            mp = (pair_scores**2).sum(axis=0)
            var = adj * g / (g - 1) * (mi + mj - mp)
            df_t = g - 1
        elif name == "dyadic":
            g = design.n_city
            city = design._inc @ pair_scores
            meat = (city**2).sum(axis=0) - (pair_scores**2).sum(axis=0)
            var = g / (g - 1) * meat
            df_t = g - 1
        else:
            raise ValueError(f"unknown clustering {name!r}; use one of {CURVE_CLUSTERS}")
        se = np.sqrt(np.maximum(var, 0.0)) / dd
        out[name] = (se, float(df_t))
    return out


@dataclass
class ManyFits:
    """DID coefficients of many outcomes on one panel and one set of controls."""

    coef: np.ndarray
    se: dict[str, np.ndarray]
    df: dict[str, float]
    n_obs: int


def fit_many(
    design: PanelDesign,
    d: np.ndarray,
    ys: np.ndarray,
    controls: np.ndarray | None = None,
    clusters: Sequence[str] = CURVE_CLUSTERS,
) -> ManyFits:
    """Fit ``y ~ d + controls | pair + year`` for every column of ``ys`` at once.

    Parameters
    ----------
    design
        The panel's grid layout (:meth:`PanelDesign.from_panel`).
    d, ys, controls
        Treatment ``(n,)``, outcomes ``(n, m)`` and controls ``(n, q)`` in panel row order.
    """
    ys = np.asarray(ys, dtype=float)
    if ys.ndim == 1:
        ys = ys[:, None]
    if not np.isfinite(ys).all():
        bad = np.flatnonzero(~np.isfinite(ys).all(axis=0))
        raise ValueError(f"outcome columns {bad.tolist()} have missing or infinite values")
    dg = demean_grid(design.grid(d)[..., None])[..., 0]
    yg = demean_grid(design.grid(ys))
    n_obs = design.n_pair * design.n_year
    k = 1
    if controls is not None and np.asarray(controls).size:
        c = np.asarray(controls, dtype=float).reshape(n_obs, -1)
        cg = demean_grid(design.grid(c)).reshape(n_obs, -1)
        k += cg.shape[1]
        ctc = cg.T @ cg
        if np.linalg.matrix_rank(ctc) < ctc.shape[0]:
            raise ValueError("the controls are collinear after the fixed effects")
        proj = np.linalg.solve(ctc, cg.T)
        d_flat = dg.reshape(-1)
        dg = (d_flat - cg @ (proj @ d_flat)).reshape(dg.shape)
        y_flat = yg.reshape(n_obs, -1)
        yg = (y_flat - cg @ (proj @ y_flat)).reshape(yg.shape)
    dd = float((dg**2).sum())
    if dd <= 1e-12 * n_obs:
        raise ValueError("the treatment has no variation left after the fixed effects")
    coef = np.einsum("pt,ptm->m", dg, yg) / dd
    resid = yg - dg[..., None] * coef[None, None, :]
    pair_scores = np.einsum("pt,ptm->pm", dg, resid)
    ses = cluster_ses(design, pair_scores, dd, n_obs, k, clusters)
    return ManyFits(
        coef=coef,
        se={n: v[0] for n, v in ses.items()},
        df={n: v[1] for n, v in ses.items()},
        n_obs=n_obs,
    )


# ------------------------------------------------------------------------- the curve
@dataclass
class CurveResult:
    """A specification curve.

    Attributes
    ----------
    table
        One row per distinct specification: the choice columns, ``estimate``, ``se_<c>`` and
        ``p_<c>`` for each clustering ``c``, ``truth`` (twin; NaN otherwise), ``n_obs``,
        ``n_pairs``, ``n_equivalent`` (combinations giving this same outcome) and
        ``is_base`` (the base spec's row).
    choices
        The choices varied and their values (base value first).
    base
        The spec every specification departs from.
    n_combinations
        Valid combinations enumerated (before merging equivalent ones).
    rejected
        Combinations the Spec or the outcome refused (for example a rolling window that
        needs years the Hamilton filter has used up), with the reason; combinations are
        counted once per distinct outcome setting.
    timings
        Seconds spent building panels, computing outcomes and fitting.
    groups
        The distinct sample-stage combinations (one panel each), for the joint test.
    combos
        The choice values of each row (``table["spec_id"]`` indexes it; the table's choice
        columns hold readable labels).
    """

    table: pd.DataFrame
    choices: dict[str, tuple[Any, ...]]
    base: Spec
    n_combinations: int
    rejected: pd.DataFrame
    timings: dict[str, float]
    groups: list[dict[str, Any]] = field(default_factory=list, repr=False)
    combos: list[dict[str, Any]] = field(default_factory=list, repr=False)
    n_panels_total: int = 0

    def spec_of(self, spec_id: int) -> Spec:
        """The full :class:`Spec` of the table row whose ``spec_id`` is given."""
        return self.base.replace(**self.combos[int(spec_id)])

    @property
    def has_truth(self) -> bool:
        """True on the twin (every specification carries its own true effect)."""
        return bool(self.table["truth"].notna().any())

    def share(self, cluster: str, alpha: float = 0.05) -> dict[str, float]:
        """Shares of specifications with a positive, a significantly positive and a
        significantly negative estimate under ``cluster``."""
        t = self.table
        sig = t[f"p_{cluster}"] < alpha
        return {
            "positive": float((t["estimate"] > 0).mean()),
            "sig_positive": float((sig & (t["estimate"] > 0)).mean()),
            "sig_negative": float((sig & (t["estimate"] < 0)).mean()),
        }


def _fingerprint(a: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(np.round(a, 12)).tobytes()).hexdigest()


def _n_nondefault(combo: dict[str, Any]) -> int:
    return sum(combo[k] != Spec.__dataclass_fields__[k].default for k in combo)


def label_value(value: Any) -> str:
    """The readable label of a choice value in the curve's table (tuples joined by +)."""
    if isinstance(value, tuple):
        return "none" if not value else "+".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def run_curve(
    base: Spec,
    fields: Sequence[str] | None = None,
    *,
    max_panels: int | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> CurveResult:
    """Estimate the baseline DID under every combination of the open choices.

    Parameters
    ----------
    base
        Profile, world and the values of every choice that is not varied.
    fields
        Choices to vary (default: every declared choice with ``curve=True``).
    max_panels
        Build at most this many distinct panels (sample-stage combinations), drawn at random
        with ``seed`` and always including the base one (fast mode); ``None`` builds all.
    progress
        Called with one short line per panel built (e.g. ``print``); ``None`` is silent.
    """
    t_all = time.perf_counter()
    choices = curve_choices(base, fields)
    combos, rejected = enumerate_specs(base, fields)
    if not combos:
        raise ValueError("no valid specification: every combination was rejected")
    stage_of = {k: Spec.stage_of(k) for k in choices}
    unknown_est = [k for k, s in stage_of.items() if s == "estimation" and k != "controls"]
    if unknown_est:
        # an estimation choice the fast path does not know: treat it as a sample choice
        # would give wrong numbers, so refuse clearly
        raise NotImplementedError(
            f"the curve's fast path fits only the 'controls' estimation choice, not {unknown_est}"
        )
    base_combo = {k: getattr(base, k) for k in choices}

    columns: list[str] = []
    if not base.is_synthetic:
        from cbec.study import pipeline

        columns = list(pipeline.load_city_panel(base).data.columns)

    def sample_key(combo: dict[str, Any]) -> tuple:
        key = _stage_key(combo, "sample")
        if not base.is_synthetic:
            key += (("_needs", _sample_needs(base.replace(**combo), columns)),)
        return key

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for combo in combos:
        groups.setdefault(sample_key(combo), []).append(combo)
    keys = list(groups)
    if max_panels is not None and max_panels < len(keys):
        rng = np.random.default_rng(base.seed if seed is None else seed)
        bkey = sample_key(base_combo)
        others = [k for k in keys if k != bkey]
        pick = rng.choice(len(others), size=max_panels - 1, replace=False)
        keys = [bkey, *[others[i] for i in sorted(pick)]]

    timings = {"panels": 0.0, "outcomes": 0.0, "fits": 0.0}
    cache: dict = {}
    rows: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    all_combos: list[dict[str, Any]] = []
    group_meta: list[dict[str, Any]] = []
    for gi, key in enumerate(keys):
        members = groups[key]
        t0 = time.perf_counter()
        # the panel: built with the members' first outcome settings (only years matter)
        spec_g = base.replace(**members[0])
        study = build_study(spec_g)
        design = PanelDesign.from_panel(study.panel)
        timings["panels"] += time.perf_counter() - t0
        if progress is not None:
            progress(f"panel {gi + 1}/{len(keys)}: {dict(_stage_key(members[0], 'sample'))}")

        # distinct outcomes of this panel
        t0 = time.perf_counter()
        outcome_of: dict[tuple, int] = {}
        ys, ycf, prints = [], [], {}
        canon: list[dict[str, Any]] = []
        for combo in members:
            okey = _stage_key(combo, "outcome")
            if okey in outcome_of:
                continue
            try:
                y, y_cf = study_outcomes(study, base.replace(**combo), cache)
            except ValueError as err:
                # e.g. a rolling window that needs years the filter has used up
                outcome_of[okey] = -1
                refused.append(
                    {**{k: label_value(v) for k, v in combo.items()}, "reason": str(err)}
                )
                continue
            fp = _fingerprint(y)
            if fp in prints:
                outcome_of[okey] = prints[fp]
                continue
            prints[fp] = len(ys)
            outcome_of[okey] = len(ys)
            ys.append(y)
            ycf.append(y_cf)
        if not ys:
            continue
        Y = np.column_stack(ys)
        timings["outcomes"] += time.perf_counter() - t0

        # fits: one per controls variant, all outcomes at once
        t0 = time.perf_counter()
        panel = study.panel
        d = panel["did"].to_numpy(dtype=float)
        fits: dict[tuple[str, ...], ManyFits] = {}
        for ctrl in {c.get("controls", base.controls) for c in members}:
            cmat = panel[list(ctrl)].to_numpy(dtype=float) if ctrl else None
            fits[ctrl] = fit_many(design, d, Y, cmat)
        treated_post = d == 1
        truths = np.array(
            [
                float(np.mean((Y[:, j] - ycf[j])[treated_post])) if ycf[j] is not None else np.nan
                for j in range(Y.shape[1])
            ]
        )
        timings["fits"] += time.perf_counter() - t0

        # one row per distinct (outcome, controls): the representative combination
        best: dict[tuple[int, tuple[str, ...]], tuple[dict[str, Any], int]] = {}
        for combo in members:
            j = outcome_of[_stage_key(combo, "outcome")]
            if j < 0:
                continue
            ctrl = combo.get("controls", base.controls)
            cur = best.get((j, ctrl))
            if cur is None:
                best[(j, ctrl)] = (combo, 1)
            else:
                rep, n = cur
                if _n_nondefault(combo) < _n_nondefault(rep):
                    rep = combo
                best[(j, ctrl)] = (rep, n + 1)
        for (j, ctrl), (combo, n_eq) in best.items():
            fit = fits[ctrl]
            row: dict[str, Any] = {k: label_value(v) for k, v in combo.items()}
            row["estimate"] = float(fit.coef[j])
            for c in CURVE_CLUSTERS:
                se = float(fit.se[c][j])
                row[f"se_{c}"] = se
                row[f"p_{c}"] = float(2 * stats.t.sf(abs(row["estimate"]) / se, fit.df[c]))
            row["truth"] = truths[j]
            row["n_obs"] = fit.n_obs
            row["n_pairs"] = design.n_pair
            row["n_equivalent"] = n_eq
            row["is_base"] = combo == base_combo or (
                all(combo[k] == base_combo[k] for k in combo if k in base_combo)
            )
            row["panel"] = gi
            row["spec_id"] = len(all_combos)
            all_combos.append(combo)
            canon.append(combo)
            rows.append(row)
        group_meta.append(
            {
                "key": key,
                "spec": spec_g,
                "outcomes": [base.replace(**c) for c in canon],
            }
        )
    if refused:
        extra = pd.DataFrame(refused).drop_duplicates()
        rejected = pd.concat([rejected, extra], ignore_index=True)
    table = pd.DataFrame(rows)
    table = table.sort_values("estimate", kind="mergesort").reset_index(drop=True)
    timings["total"] = time.perf_counter() - t_all
    return CurveResult(
        table=table,
        choices=choices,
        base=base,
        n_combinations=len(combos),
        rejected=rejected,
        timings=timings,
        groups=group_meta,
        combos=all_combos,
        n_panels_total=len(groups),
    )


# ------------------------------------------------------------------------- what moves it
def variance_decomposition(
    curve: CurveResult, column: str = "estimate", table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """How much of the spread of the curve each choice explains.

    For each choice, the share of the variance of ``column`` across specifications that its
    values explain on their own (the between-group share, eta squared), and its share in a
    regression on every choice's indicators at once (the drop in R squared when the choice is
    left out, a Type-II share). The last row is the R squared of all main effects together;
    the rest is interactions between choices. ``table`` replaces ``curve.table`` (for
    example with an added column such as estimate minus truth).
    """
    t = curve.table if table is None else table
    y = t[column].to_numpy(dtype=float)
    total = float(((y - y.mean()) ** 2).sum())
    varied = [c for c in curve.choices if t[c].nunique() > 1]

    def r2(cols: list[str]) -> float:
        if not cols:
            return 0.0
        x = pd.get_dummies(t[cols].astype(str), drop_first=True).to_numpy(dtype=float)
        x = np.column_stack([np.ones(len(y)), x])
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        res = y - x @ beta
        return 1.0 - float(res @ res) / total if total > 0 else 0.0

    full = r2(varied)
    rows = []
    for c in varied:
        means = t.groupby(c)[column].transform("mean").to_numpy()
        between = float(((means - y.mean()) ** 2).sum()) / total if total > 0 else 0.0
        rows.append(
            {
                "choice": c,
                "values": t[c].nunique(),
                "share_alone": between,
                "share_unique": full - r2([v for v in varied if v != c]),
            }
        )
    out = pd.DataFrame(rows).sort_values("share_alone", ascending=False).reset_index(drop=True)
    out.loc[len(out)] = {
        "choice": "all main effects",
        "values": np.nan,
        "share_alone": full,
        "share_unique": np.nan,
    }
    return out


# ------------------------------------------------------------------------- joint test
@dataclass
class JointTest:
    """Permutation test of a whole specification curve (Simonsohn et al. 2020)."""

    n_draws: int
    cluster: str
    alpha: float
    observed_median: float
    observed_share: float
    null_median: np.ndarray
    null_share: np.ndarray
    p_median: float
    p_share: float
    seconds: float
    n_specs: int


class _StepCurve:
    """One panel's specifications under random pilots, in O(P) per draw and outcome.

    A pseudo treatment is a step within each pair: ``D[p, t] = 1[t >= k_p]``. With ``y``
    already within-transformed (and residualised on the controls), ``c_t`` the share of
    pairs treated in year ``t`` and ``R_p`` the reverse cumulative sums of a pair's values
    over years, everything a draw needs follows from per-pair sums computed once:

    * ``sum_t D~_pt y_pt = R^y_p[k_p] - y_p . c`` (the pair-mean terms vanish because ``y``
      has zero pair means), for every outcome at once;
    * ``sum_t D~_pt^2 = n_p - 2 R^c[k_p] + c . c - T (n_p / T - g)^2`` with ``n_p`` the
      pair's treated years and ``g`` the grand mean;
    * with controls ``C~``, the treatment is also residualised,
      ``d'' = D~ - C~ pi`` with ``pi = (C~'C~)^-1 C~'D~``, using the per-pair sums
      ``sum_t C~_pt D~_pt``, ``sum_t C~_pt C~_pt'`` and ``sum_t C~_pt y_pt``.

    The per-pair scores ``sum_t d''_pt u_pt = sum_t d''_pt y_pt - b q_p`` then give the
    clustered variances through :func:`cluster_ses`. The tests check every estimate and
    p-value against a direct fit of the same pseudo treatment.
    """

    def __init__(self, study: Study, specs: list[Spec], cache: dict) -> None:
        panel = study.panel
        design = PanelDesign.from_panel(panel)
        self.design = design
        p_, t_ = design.n_pair, design.n_year
        self.n_obs = p_ * t_
        yg = demean_grid(
            design.grid(np.column_stack([study_outcomes(study, s, cache)[0] for s in specs]))
        )
        first = design.order.reshape(p_, t_)[:, 0]
        ids = study.universe["city_id"].to_numpy()
        pos = pd.Series(np.arange(len(ids)), index=ids)
        self.ci = pos.loc[panel["city_i"].to_numpy()[first]].to_numpy()
        self.cj = pos.loc[panel["city_j"].to_numpy()[first]].to_numpy()
        self.n_cities = len(ids)
        pil = study.universe[study.universe["pilot"].astype(bool)]
        self.pilot_years = pil["treat_year"].to_numpy(dtype=float)
        self.n_specs = len(specs)

        def rev_cumsum(g: np.ndarray) -> np.ndarray:
            out = np.zeros((g.shape[0], t_ + 1, *g.shape[2:]))
            out[:, :t_] = np.cumsum(g[:, ::-1], axis=1)[:, ::-1]
            return out

        ctrl_of = [tuple(s.controls) for s in specs]
        self.variants = []
        for ctrl in dict.fromkeys(ctrl_of):
            cols = np.array([j for j, c in enumerate(ctrl_of) if c == ctrl])
            y = yg[..., cols]
            v: dict[str, Any] = {"cols": cols, "k": 1 + len(ctrl)}
            if ctrl:
                c = demean_grid(design.grid(panel[list(ctrl)].to_numpy(dtype=float)))
                cf = c.reshape(self.n_obs, -1)
                ctc_inv = np.linalg.inv(cf.T @ cf)
                yf = y.reshape(self.n_obs, -1)
                y = (yf - cf @ (ctc_inv @ (cf.T @ yf))).reshape(y.shape)
                v["ctc_inv"] = ctc_inv
                v["c_rc"] = rev_cumsum(c)  # (P, T+1, q)
                v["c_t"] = np.ascontiguousarray(c.transpose(0, 2, 1)).reshape(-1, t_)  # (P q, T)
                v["ccp"] = np.einsum("ptq,ptr->pqr", c, c)  # per-pair C'C
                v["cy"] = np.einsum("ptq,ptm->pqm", c, y)  # per-pair C'y
            v["y_t"] = np.ascontiguousarray(y.transpose(0, 2, 1)).reshape(-1, t_)  # (P m, T)
            v["y_rc"] = rev_cumsum(y)  # (P, T+1, m)
            self.variants.append(v)

    def run(self, chosen: np.ndarray, cluster: str) -> tuple[np.ndarray, np.ndarray]:
        """Estimates and p-values of the panel's specifications for one reassignment."""
        d = self.design
        t_ = d.n_year
        yr = np.full(self.n_cities, np.inf)
        yr[chosen] = self.pilot_years
        start = np.minimum(yr[self.ci], yr[self.cj])
        k = np.searchsorted(d.years, start, side="left")  # first treated year index (T: never)
        n_p = (t_ - k).astype(float)
        col = np.bincount(k, minlength=t_ + 1)[:t_].cumsum() / d.n_pair  # c_t
        c_rc = np.concatenate([np.cumsum(col[::-1])[::-1], [0.0]])
        grand = n_p.sum() / self.n_obs
        q0 = n_p - 2.0 * c_rc[k] + col @ col - t_ * (n_p / t_ - grand) ** 2
        est = np.empty(self.n_specs)
        pv = np.empty(self.n_specs)
        pairs_ = np.arange(d.n_pair)
        for v in self.variants:
            a = v["y_rc"][pairs_, k] - (v["y_t"] @ col).reshape(d.n_pair, -1)  # sum_t D~ y
            q = q0
            if "ctc_inv" in v:
                # sum_t C~_pt D~_pt = R^C_p[k_p] - C~_p . c   (C~ has zero pair means)
                cd = v["c_rc"][pairs_, k] - (v["c_t"] @ col).reshape(d.n_pair, -1)
                pi = v["ctc_inv"] @ cd.sum(axis=0)
                a = a - np.einsum("q,pqm->pm", pi, v["cy"])
                q = q0 - 2.0 * cd @ pi + np.einsum("q,pqr,r->p", pi, v["ccp"], pi)
            dd = float(q.sum())
            b = a.sum(axis=0) / dd
            scores = a - q[:, None] * b[None, :]
            se, df_t = cluster_ses(d, scores, dd, self.n_obs, v["k"], (cluster,))[cluster]
            est[v["cols"]] = b
            pv[v["cols"]] = 2 * stats.t.sf(np.abs(b) / se, df_t)
        return est, pv


def joint_test(
    curve: CurveResult,
    n_draws: int = 500,
    *,
    cluster: str = "dyadic",
    alpha: float = 0.05,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> JointTest:
    """Joint inference over the whole curve by reassigning the pilots at random.

    Under the null of no effect in any specification, the pilots' designation years are
    given to randomly drawn cities (:func:`cbec.estimators.placebo.draw_pseudo_pilots`; the
    same draw for every panel, so each null curve is one coherent reassignment) and the whole
    curve is recomputed. The p-values are the shares of null curves whose median estimate is
    at least as far from zero as the observed one, and whose share of significant
    specifications (``p < alpha`` under ``cluster``, with the observed sign) is at least the
    observed share (Simonsohn, Simmons & Nelson 2020, sec. 4).

    ``cluster`` must not depend on who the pilots are (``"pair"``, ``"twoway"`` or
    ``"dyadic"``); the pilot-city clustering would change with each reassignment.
    """
    if cluster not in JOINT_CLUSTERS:
        raise ValueError(f"cluster must be one of {JOINT_CLUSTERS} for the joint test")
    if n_draws < 1:
        raise ValueError("n_draws must be at least 1")
    t0 = time.perf_counter()
    t = curve.table
    obs_median = float(np.median(t["estimate"]))
    sign = 1.0 if obs_median >= 0 else -1.0
    obs_share = float(((t[f"p_{cluster}"] < alpha) & (np.sign(t["estimate"]) == sign)).mean())
    seed = curve.base.seed if seed is None else seed
    cache: dict = {}
    est_all = np.empty((n_draws, 0))
    p_all = np.empty((n_draws, 0))
    draws: dict[tuple[int, int], np.ndarray] = {}
    for gi, g in enumerate(curve.groups):
        study = build_study(g["spec"])
        engine = _StepCurve(study, g["outcomes"], cache)
        shape = (engine.n_cities, len(engine.pilot_years))
        if shape not in draws:
            # panels on another universe get their own draws of the same seed
            draws[shape] = draw_pseudo_pilots(seed, n_draws, *shape)
        chosen = draws[shape]
        est = np.empty((n_draws, engine.n_specs))
        pv = np.empty_like(est)
        for b in range(n_draws):
            est[b], pv[b] = engine.run(chosen[b], cluster)
        est_all = np.hstack([est_all, est])
        p_all = np.hstack([p_all, pv])
        if progress is not None:
            progress(f"joint test: panel {gi + 1}/{len(curve.groups)} done")
    null_median = np.median(est_all, axis=1)
    null_share = ((p_all < alpha) & (np.sign(est_all) == sign)).mean(axis=1)
    p_med = float((1 + (np.abs(null_median) >= abs(obs_median)).sum()) / (n_draws + 1))
    p_share = float((1 + (null_share >= obs_share).sum()) / (n_draws + 1))
    return JointTest(
        n_draws=n_draws,
        cluster=cluster,
        alpha=alpha,
        observed_median=obs_median,
        observed_share=obs_share,
        null_median=null_median,
        null_share=null_share,
        p_median=p_med,
        p_share=p_share,
        seconds=time.perf_counter() - t0,
        n_specs=est_all.shape[1],
    )
