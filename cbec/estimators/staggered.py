"""Heterogeneity-robust estimators for the staggered designation of the pilot areas.

Thin, checked wrappers around diff-diff 3.13.0 (pinned exactly; it matches R ``did`` on
``mpdta`` to 5e-11) and two estimators written here because diff-diff does not expose
their influence functions:

:func:`bacon`
    Goodman-Bacon (2021) decomposition of the two-way fixed-effects coefficient into its
    2x2 comparisons and weights (``diff_diff.BaconDecomposition``).
:func:`cs_library`, :func:`sun_abraham`, :func:`imputation_library`
    Callaway & Sant'Anna (2021) group-time effects (never-treated or not-yet-treated
    controls), Sun & Abraham (2021) interaction-weighted event study, Borusyak, Jaravel &
    Spiess (2024) imputation, each clustered by one column (default ``cluster_city``).
:func:`cs_influence`, :func:`imputation_influence`
    The same Callaway-Sant'Anna (outcome regression without covariates) and imputation
    estimates, each with its per-pair influence function, so that
    :mod:`cbec.estimators.influence` can build dyadic-robust and two-way city variances.
    The tests hold their estimates to diff-diff's to 1e-10 and their city-clustered
    standard errors to diff-diff's.

Every entry point first runs :func:`check_panel`: diff-diff returns NaN with only a warning
when an outcome is missing, so a missing outcome, an unbalanced panel or a cohort that
changes within a pair is an error here.

Input contract: the pair-year frame of :func:`cbec.study.pipeline.build_study` (``pair_id,
year, treat_year`` (NaN for never-treated pairs), ``city_i, city_j, cluster_city`` and
the outcome).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Columns every estimator needs besides the outcome.
REQUIRED = ("pair_id", "year", "treat_year", "city_i", "city_j", "cluster_city")


# --------------------------------------------------------------------------- checks
def check_panel(panel: pd.DataFrame, y: str = "syn") -> pd.DataFrame:
    """Validate the pair-year frame and return it sorted with a cohort column ``g``.

    ``g`` is the designation year of the treated pair and 0 for pairs never treated
    inside the window (diff-diff's convention). Raises ``ValueError`` on a missing column,
    a missing outcome, duplicated or missing pair-years, or a cohort that varies within a
    pair.
    """
    missing = [c for c in (*REQUIRED, y) if c not in panel.columns]
    if missing:
        raise ValueError(f"the pair-year frame lacks columns {missing}")
    bad = int(panel[y].isna().sum())
    if bad:
        raise ValueError(
            f"{bad} missing values of {y!r}: diff-diff would return NaN with only a warning; "
            "drop or fill them explicitly first"
        )
    if not np.isfinite(panel[y].to_numpy(dtype=float)).all():
        raise ValueError(f"{y!r} has infinite values")
    df = panel.sort_values(["pair_id", "year"]).reset_index(drop=True)
    if df.duplicated(["pair_id", "year"]).any():
        raise ValueError("duplicated pair-years")
    n_years = df["year"].nunique()
    per = df.groupby("pair_id")["year"].size()
    if (per != n_years).any():
        raise ValueError(
            f"unbalanced panel: {int((per != n_years).sum())} pairs lack some of the "
            f"{n_years} years"
        )
    if (df.groupby("pair_id")["treat_year"].nunique(dropna=False) > 1).any():
        raise ValueError("treat_year varies within a pair")
    g = df["treat_year"].fillna(0).astype(int)
    first = int(df["year"].min())
    if ((g > 0) & (g <= first)).any():
        raise ValueError("pairs treated from the first year have no untreated period")
    return df.assign(g=g)


def _quiet_fit(est, df: pd.DataFrame, y: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = est.fit(df, outcome=y, unit="pair_id", time="year", first_treat="g")
    serious = [w for w in caught if "nan" in str(w.message).lower()]
    if serious:
        raise RuntimeError(f"diff-diff warned: {serious[0].message}")
    return res


# --------------------------------------------------------------------------- diff-diff
@dataclass
class BaconResult:
    """Goodman-Bacon decomposition.

    Attributes
    ----------
    comparisons
        One row per 2x2 comparison: ``treated_group, control_group, comparison_type,
        estimate, weight``.
    twfe
        The two-way fixed-effects coefficient the comparisons add up to.
    by_type
        Weight and weighted average estimate by comparison type.
    """

    comparisons: pd.DataFrame
    twfe: float
    by_type: pd.DataFrame


def bacon(panel: pd.DataFrame, y: str = "syn") -> BaconResult:
    """Goodman-Bacon decomposition of the TWFE DID coefficient (no controls)."""
    import diff_diff as dd

    df = check_panel(panel, y)
    res = _quiet_fit(dd.BaconDecomposition(), df, y)
    comp = res.to_dataframe()[
        ["treated_group", "control_group", "comparison_type", "estimate", "weight"]
    ].copy()
    by = (
        comp.assign(we=comp["estimate"] * comp["weight"])
        .groupby("comparison_type")
        .agg(weight=("weight", "sum"), we=("we", "sum"), n=("weight", "size"))
    )
    by["estimate"] = by["we"] / by["weight"]
    return BaconResult(comp, float(res.twfe_estimate), by.drop(columns="we").reset_index())


def cs_library(
    panel: pd.DataFrame,
    y: str = "syn",
    control: str = "never_treated",
    cluster: str = "cluster_city",
    base_period: str = "varying",
):
    """diff-diff's Callaway-Sant'Anna (outcome regression, no covariates), analytic SEs."""
    import diff_diff as dd

    df = check_panel(panel, y)
    est = dd.CallawaySantAnna(
        control_group=control,
        estimation_method="reg",
        cluster=cluster,
        base_period=base_period,
        cband=False,
    )
    return _quiet_fit(est, df, y)


def sun_abraham(panel: pd.DataFrame, y: str = "syn", cluster: str = "cluster_city"):
    """diff-diff's Sun-Abraham interaction-weighted event study (never-treated controls)."""
    import diff_diff as dd

    df = check_panel(panel, y)
    return _quiet_fit(dd.SunAbraham(cluster=cluster), df, y)


def imputation_library(panel: pd.DataFrame, y: str = "syn", cluster: str = "cluster_city"):
    """diff-diff's imputation estimator (Borusyak, Jaravel & Spiess 2024)."""
    import diff_diff as dd

    df = check_panel(panel, y)
    return _quiet_fit(dd.ImputationDiD(cluster=cluster), df, y)


def sa_event_path(res, window: tuple[int, int]) -> pd.DataFrame:
    """Sun-Abraham event-time estimates inside ``window`` (reference period -1 at zero)."""
    rows = [
        {"event_time": int(e), "coef": float(v["effect"]), "se": float(v["se"])}
        for e, v in res.event_study_effects.items()
        if window[0] <= int(e) <= window[1]
    ]
    out = pd.DataFrame(rows)
    if -1 not in set(out["event_time"]):
        out = pd.concat([out, pd.DataFrame([{"event_time": -1, "coef": 0.0, "se": 0.0}])])
    return out.sort_values("event_time").reset_index(drop=True)


# --------------------------------------------------------------------------- own, with IFs
@dataclass
class IFResult:
    """Estimates with per-pair influence functions.

    ``estimates`` is indexed by target (``"overall"`` and ``"e=k"`` for event time k);
    ``psi`` is pairs x targets with ``estimate - truth ~= psi.sum(axis=0)`` to first order,
    so that ``Var = sum over clusters of (sum of psi in the cluster)^2``; ``units`` holds
    ``pair_id, city_i, city_j, cluster_city`` in the rows' order.
    """

    name: str
    estimates: pd.Series
    psi: pd.DataFrame
    units: pd.DataFrame
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)


def _wide(df: pd.DataFrame, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    years = np.sort(df["year"].unique())
    Y = df[y].to_numpy(dtype=float).reshape(-1, years.size)
    first = df.drop_duplicates("pair_id")
    g = first["g"].to_numpy()
    units = first[["pair_id", "city_i", "city_j", "cluster_city"]].reset_index(drop=True)
    return Y, g, years, units


def cs_influence(
    panel: pd.DataFrame,
    y: str = "syn",
    control: str = "never_treated",
    base_period: str = "varying",
    window: tuple[int, int] | None = None,
) -> IFResult:
    """Callaway-Sant'Anna ATT(g,t) and aggregations with per-pair influence functions.

    Without covariates the outcome-regression estimator of a cell is a difference of mean
    changes, ``ATT(g,t) = mean_{G=g}(Y_t - Y_b) - mean_C(Y_t - Y_b)``, ``b = g-1`` after
    designation (and ``t-1`` before it with the ``"varying"`` base, ``g-1`` with
    ``"universal"``); its influence function is ``(dY_i - m_g)/n_g`` for the cell's treated
    pairs and ``-(dY_i - m_C)/n_C`` for its controls (``C``: never treated, or with
    ``"not_yet_treated"`` also pairs designated after ``max(t, b)``). The simple and
    event-time aggregations weight cells by cohort size and add the influence of the
    estimated weights (R ``did``'s ``wif``), as R and diff-diff do.
    """
    if control not in ("never_treated", "not_yet_treated"):
        raise ValueError("control must be 'never_treated' or 'not_yet_treated'")
    df = check_panel(panel, y)
    Y, g, years, units = _wide(df, y)
    n = g.size
    pos = {int(t): i for i, t in enumerate(years)}
    cohorts = sorted(int(c) for c in np.unique(g) if c > 0)
    cells, psis = [], []
    for c in cohorts:
        tr = g == c
        for t in years:
            t = int(t)
            if t >= c or base_period == "varying":
                b = c - 1 if t >= c else t - 1
            else:
                b = c - 1
            if b == t or b not in pos:
                continue
            if control == "never_treated":
                ctl = g == 0
            else:
                ctl = (g == 0) | ((g > max(t, b)) & (g != c))
            if ctl.sum() == 0:
                continue
            d = Y[:, pos[t]] - Y[:, pos[b]]
            mg, mc = d[tr].mean(), d[ctl].mean()
            psi = np.zeros(n)
            psi[tr] = (d[tr] - mg) / tr.sum()
            psi[ctl] = -(d[ctl] - mc) / ctl.sum()
            cells.append({"g": c, "t": t, "base": b, "e": t - c, "att": mg - mc})
            psis.append(psi)
    cell = pd.DataFrame(cells)
    P = np.column_stack(psis)
    pg = np.array([np.mean(g == c) for c in cell["g"]])
    ind = np.column_stack([(g == c).astype(float) for c in cell["g"]])

    def aggregate(keep: np.ndarray) -> tuple[float, np.ndarray]:
        w = pg[keep] / pg[keep].sum()
        att = cell.loc[keep, "att"].to_numpy()
        s = pg[keep].sum()
        if1 = (ind[:, keep] - pg[keep]) / s
        if2 = np.outer((ind[:, keep] - pg[keep]).sum(axis=1), pg[keep]) / s**2
        wif = (if1 - if2) @ att
        return float(w @ att), P[:, keep] @ w + wif / n

    est, cols = {}, {}
    est["overall"], cols["overall"] = aggregate((cell["e"] >= 0).to_numpy())
    lo, hi = window if window is not None else (int(cell["e"].min()), int(cell["e"].max()))
    for e in range(lo, hi + 1):
        keep = (cell["e"] == e).to_numpy()
        if keep.any():
            est[f"e={e}"], cols[f"e={e}"] = aggregate(keep)
    for c in cohorts:
        keep = ((cell["g"] == c) & (cell["e"] >= 0)).to_numpy()
        if keep.any():
            k = keep.sum()
            est[f"g={c}"] = float(cell.loc[keep, "att"].mean())
            cols[f"g={c}"] = P[:, keep].sum(axis=1) / k
    name = f"Callaway-Sant'Anna ({control.replace('_', '-')})"
    return IFResult(name, pd.Series(est), pd.DataFrame(cols), units, cell)


def _twfe_untreated(
    Y: np.ndarray, untreated: np.ndarray, tol: float = 1e-12, maxit: int = 10000
) -> tuple[np.ndarray, np.ndarray]:
    """Pair and year effects fitted on the untreated cells of a balanced N x T panel.

    Exact: the pair block of the normal equations is diagonal, so it is eliminated and a
    T x T system is solved for the year effects.
    """
    m = untreated.astype(float)
    n_i = m.sum(axis=1)
    if (n_i == 0).any():
        raise ValueError("a treated pair has no untreated year")
    ysum_i = (Y * m).sum(axis=1)
    ysum_t = (Y * m).sum(axis=0)
    # (D_t - C' D_i^-1 C) lam = ysum_t - C' (ysum_i / n_i)
    c = m
    schur = np.diag(m.sum(axis=0)) - c.T @ (c / n_i[:, None])
    rhs = ysum_t - c.T @ (ysum_i / n_i)
    lam = np.linalg.lstsq(schur, rhs, rcond=None)[0]
    alpha = (ysum_i - c @ lam) / n_i
    return alpha, lam


def _solve_weights(untreated: np.ndarray, r_i: np.ndarray, r_t: np.ndarray) -> np.ndarray:
    """Weights ``-Z0 (Z0'Z0)^+ (r_i, r_t)`` on the untreated cells (N x T, zero elsewhere)."""
    m = untreated.astype(float)
    n_i = m.sum(axis=1)
    schur = np.diag(m.sum(axis=0)) - m.T @ (m / n_i[:, None])
    lam = np.linalg.lstsq(schur, r_t - m.T @ (r_i / n_i), rcond=None)[0]
    gam = (r_i - m @ lam) / n_i
    return -(gam[:, None] + lam[None, :]) * m


def imputation_influence(
    panel: pd.DataFrame,
    y: str = "syn",
    window: tuple[int, int] | None = None,
) -> IFResult:
    """Imputation estimator (BJS 2024) with per-pair influence functions.

    Pair and year effects are fitted on untreated pair-years, the treated pair-years'
    counterfactuals imputed, and the effects ``tau_it = Y_it - a_i - l_t`` averaged (all
    treated pair-years for ``"overall"``, those ``k`` years after designation for
    ``"e=k"``). The estimator is linear in the outcome, ``sum_it v_it Y_it``; the
    influence of pair ``i`` is ``sum_t v_it eps_it`` with the untreated residuals and, on
    treated cells, ``tau_it`` minus its cohort-by-horizon mean (BJS Theorem 3, the
    conservative variance; diff-diff's default partition). ``cells`` holds the weights
    ``v`` of the overall estimate (pairs x years) for checks.
    """
    df = check_panel(panel, y)
    Y, g, years, units = _wide(df, y)
    T = years.size
    tyear = np.where(g > 0, g, np.inf)
    treated = years[None, :] >= tyear[:, None]
    untreated = ~treated
    alpha, lam = _twfe_untreated(Y, untreated)
    fitted = alpha[:, None] + lam[None, :]
    tau = np.where(treated, Y - fitted, np.nan)
    resid = np.where(untreated, Y - fitted, 0.0)
    e_time = np.where(treated, years[None, :] - tyear[:, None], np.nan)
    # treated residuals: tau minus its cohort x horizon mean
    tilde = np.zeros_like(Y)
    keys = pd.DataFrame({"g": np.repeat(g, T), "e": e_time.ravel(), "tau": tau.ravel()})
    means = keys.groupby(["g", "e"])["tau"].transform("mean").to_numpy().reshape(-1, T)
    tilde[treated] = (tau - means)[treated]
    targets = {"overall": treated}
    lo, hi = window if window is not None else (0, int(np.nanmax(e_time)))
    for e in range(max(lo, 0), hi + 1):
        sel = treated & (e_time == e)
        if sel.any():
            targets[f"e={e}"] = sel
    est, cols, v_overall = {}, {}, None
    for name, sel in targets.items():
        w1 = sel / sel.sum()
        v = w1 + _solve_weights(untreated, w1.sum(axis=1), w1.sum(axis=0))
        est[name] = float(np.nansum(np.where(sel, tau, 0.0)) / sel.sum())
        cols[name] = (v * np.where(treated, tilde, resid)).sum(axis=1)
        if name == "overall":
            v_overall = v
    cells = pd.DataFrame(v_overall, columns=years)
    return IFResult("Imputation (BJS)", pd.Series(est), pd.DataFrame(cols), units, cells)


# --------------------------------------------------------------------------- vs truth
#: Components of :func:`decompose_linear`, in display order (as in
#: :func:`cbec.estimators.decomposition.decompose_twfe`).
DECOMP_COMPONENTS: dict[str, str] = {
    "treated_post": "True effect in treated post-designation cells, as this estimator weights it",
    "pre_period": "True effect before the first designation (window-wide standardisation)",
    "treated_pre_late": "True effect in treated pairs' later pre-designation years",
    "control_late": "True effect on control pairs from the first designation (spillover)",
    "no_policy": "The no-policy outcome (this draw's noise and trends)",
}


def decompose_linear(
    panel: pd.DataFrame,
    estimator,
    *,
    y0: str = "syn_cf",
    tau: str = "tau",
) -> pd.Series:
    """Split a linear estimator's estimate on the twin into additive parts.

    Every estimator of the chapter is linear in the outcome, and on the twin the outcome is
    ``syn = syn_cf + tau``. Running ``estimator(frame, column)`` on the no-policy outcome and
    on ``tau`` restricted to each group of cells (the groups of
    :func:`cbec.estimators.decomposition.decompose_twfe`) splits the estimate exactly: the
    parts add up to the estimate on ``syn``. ``treated_post`` minus the true ATT is what the
    estimator's own weighting of the treated cells adds.
    """
    for c in (y0, tau, "treated", "did", "year", "treat_year"):
        if c not in panel.columns:
            raise KeyError(f"the panel lacks {c!r} (the decomposition needs the twin)")
    df = panel.copy()
    tv = df[tau].to_numpy(dtype=float)
    post = df["did"].to_numpy(dtype=float) == 1
    treated = df["treated"].to_numpy() == 1
    year = df["year"].to_numpy()
    first = int(np.nanmin(df.loc[treated, "treat_year"].to_numpy(dtype=float)))
    early = year < first
    groups = {
        "treated_post": post,
        "pre_period": early & ~post,
        "treated_pre_late": treated & ~post & ~early,
        "control_late": ~treated & ~early,
    }
    out = {}
    for key, mask in groups.items():
        df["_part"] = np.where(mask, tv, 0.0)
        out[key] = float(estimator(df, "_part"))
    out["no_policy"] = float(estimator(df, y0))
    df["_part"] = df[y0].to_numpy(dtype=float) + tv
    out["estimate"] = float(estimator(df, "_part"))
    out["true_att"] = float(tv[post].mean())
    out["weighting"] = out["treated_post"] - out["true_att"]
    return pd.Series(out)
