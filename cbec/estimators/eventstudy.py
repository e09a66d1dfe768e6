"""Event study of the pilot designation with binned endpoints and simultaneous bands.

The dynamic specification replaces the single ``did`` dummy of the baseline model by one
dummy per year relative to designation,

    SYN_ijt = sum_{k != ref} beta_k * 1[event_time_ijt = k] + X'gamma + mu_ij + lambda_t + e_ijt,

with the endpoints of the window binned (every ``event_time <= lo`` counts as ``lo``, every
``event_time >= hi`` as ``hi``), so that the omitted category is the reference year only
and the dummies of a treated pair sum to one in every year (Schmidheiny & Siegloch 2023).
Control pairs (no pilot city) have all dummies zero. Estimation is by :func:`pyfixest.feols`
with the pair and year effects absorbed and a cluster-robust (CRV1) variance.

Inference reported for the path:

* pointwise normal confidence intervals ``coef +- z_{1-alpha/2} * se``;
* a simultaneous sup-t band ``coef +- c * se`` whose critical value ``c`` is the
  ``1 - alpha`` quantile of ``max_k |Z_k| / sd_k`` with ``Z ~ N(0, V)`` (Montiel Olea &
  Plagborg-Moller 2019), so that the whole path lies inside the band with probability
  ``1 - alpha``;
* a joint Wald pre-test that every lead (event time ``< 0`` other than the reference) is
  zero, as a chi-square statistic and as its ``F = W / q`` version with ``(q, G - 1)``
  degrees of freedom, ``G`` the number of clusters (the convention of pyfixest and fixest).

With staggered designation and effects that differ by cohort, these two-way fixed-effects
coefficients mix cohorts with weights that can be negative (Sun & Abraham 2021); the book
sets them beside the heterogeneity-robust estimators of :mod:`cbec.modern`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from cbec.estimators import fe as fe_mod
from cbec.estimators.fe import FitResult
from cbec.spec import Spec

#: Columns of :attr:`EventStudyResult.table` (``truth`` is added by :func:`add_truth`).
TABLE_COLUMNS: tuple[str, ...] = (
    "event_time",
    "coef",
    "se",
    "ci_low",
    "ci_high",
    "band_low",
    "band_high",
)

#: Axis labels of :func:`plot_event_study`.
X_LABEL = "Years relative to designation"
Y_LABEL = "Effect on synchronization"


# ---------------------------------------------------------------------------- dummies
def _check_window(window: tuple[int, int], ref: int) -> tuple[int, int]:
    lo, hi = (int(w) for w in window)
    if not lo < hi:
        raise ValueError(f"window must be (lo, hi) with lo < hi, got {window}")
    if not lo <= ref <= hi:
        raise ValueError(f"reference period {ref} must lie inside the window {window}")
    return lo, hi


def dummy_name(k: int) -> str:
    """Column name of the dummy of event time ``k`` (``ev_m2`` for -2, ``ev_p0`` for 0)."""
    return f"ev_m{-k}" if k < 0 else f"ev_p{k}"


def bin_event_time(event_time: pd.Series | np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Event time with the endpoints binned: values ``<= lo`` become ``lo``, ``>= hi`` ``hi``.

    NaN (control pairs) stays NaN. Raises if a non-missing value is not a whole number.
    """
    lo, hi = int(window[0]), int(window[1])
    e = np.asarray(event_time, dtype=float)
    finite = ~np.isnan(e)
    bad = finite & (np.abs(e - np.round(e)) > 1e-9)
    if bad.any():
        raise ValueError(
            f"event_time must be whole years; {int(bad.sum())} values are not, first {e[bad][0]!r}"
        )
    out = np.full(e.shape, np.nan)
    out[finite] = np.clip(np.round(e[finite]), lo, hi)
    return out


def event_time_dummies(
    df: pd.DataFrame, window: tuple[int, int] | None = None, ref: int | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Relative-time dummies with binned endpoints and the reference period omitted.

    Parameters
    ----------
    df
        Pair-year frame with ``treated`` (0/1) and ``event_time`` (float, NaN for control
        pairs; ``year - treat_year`` for treated pairs).
    window
        ``(lo, hi)``: event times ``<= lo`` are binned into ``lo``, ``>= hi`` into ``hi``.
    ref
        Omitted reference period (default -1, the year before designation).

    Returns
    -------
    dummies, labels
        ``dummies`` is a float frame aligned on ``df.index`` with one column per event time
        ``lo..hi`` except ``ref`` (named by :func:`dummy_name`); control pairs are zero in
        every column. ``labels`` lists the column names in event-time order.

    Raises
    ------
    ValueError
        If a column is missing, the window does not contain ``ref``, or a treated pair has
        no event time.
    """
    window = Spec().event_window if window is None else window
    ref = Spec().event_ref if ref is None else ref
    lo, hi = _check_window(window, ref)
    missing = [c for c in ("treated", "event_time") if c not in df.columns]
    if missing:
        raise ValueError(f"event_time_dummies: the frame lacks columns {missing}")
    treated = df["treated"].to_numpy(dtype=float)
    binned = bin_event_time(df["event_time"], (lo, hi))
    lost = (treated == 1) & np.isnan(binned)
    if lost.any():
        raise ValueError(
            f"{int(lost.sum())} treated pair-years have no event_time (treat_year missing?); "
            f"first at index {df.index[lost][0]!r}"
        )
    # control pairs carry no event time even if the column is filled in by mistake
    binned = np.where(treated == 1, binned, np.nan)
    ks = [k for k in range(lo, hi + 1) if k != ref]
    labels = [dummy_name(k) for k in ks]
    mat = (binned[:, None] == np.asarray(ks, dtype=float)[None, :]).astype(float)
    return pd.DataFrame(mat, index=df.index, columns=labels), labels


# ------------------------------------------------------------------------- inference
def sup_t_critical(
    vcov: np.ndarray, alpha: float = 0.05, n_sim: int = 10_000, seed: int = 0
) -> float:
    """Critical value of the simultaneous sup-t band.

    The ``1 - alpha`` quantile of ``max_k |Z_k| / sd_k`` over ``n_sim`` draws of
    ``Z ~ N(0, V)`` (Montiel Olea & Plagborg-Moller 2019). It lies between the pointwise
    normal value ``z_{1-alpha/2}`` (perfectly correlated coefficients) and the Sidak value
    ``z_{(1 + (1-alpha)^{1/K})/2}`` (independent coefficients), below Bonferroni's
    ``z_{1 - alpha/(2K)}``, up to simulation error.

    Parameters
    ----------
    vcov
        ``K x K`` covariance matrix of the estimates (positive semi-definite).
    alpha
        One minus the simultaneous coverage.
    n_sim
        Number of simulated draws.
    seed
        Seed of :func:`numpy.random.default_rng`.
    """
    v = np.atleast_2d(np.asarray(vcov, dtype=float))
    if v.ndim != 2 or v.shape[0] != v.shape[1] or v.shape[0] == 0:
        raise ValueError(f"vcov must be a non-empty square matrix, got shape {v.shape}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_sim < 100:
        raise ValueError(f"n_sim must be at least 100, got {n_sim}")
    sd = np.sqrt(np.diag(v))
    if not np.all(np.isfinite(sd)) or np.any(sd <= 0):
        raise ValueError(f"vcov must have positive finite variances, got {np.diag(v)}")
    corr = v / np.outer(sd, sd)
    corr = (corr + corr.T) / 2.0
    w, q = np.linalg.eigh(corr)
    root = q * np.sqrt(np.clip(w, 0.0, None))  # corr = root @ root.T, also when singular
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((int(n_sim), v.shape[0])) @ root.T
    return float(np.quantile(np.abs(z).max(axis=1), 1.0 - alpha))


@dataclass(frozen=True)
class WaldTest:
    """A joint Wald test of ``b = 0`` in chi-square and F form."""

    stat: float
    df: int
    p: float
    F: float
    df_denom: float
    p_F: float


def wald_test(b: np.ndarray, vcov: np.ndarray, df_denom: float | None = None) -> WaldTest:
    """Wald test that every element of ``b`` is zero.

    ``W = b' V^{-1} b`` is referred to chi-square with ``q = len(b)`` degrees of freedom;
    ``F = W / q`` to ``F(q, df_denom)`` (NaN when ``df_denom`` is None). A singular ``V``
    uses the Moore-Penrose inverse and its rank as ``q``.
    """
    b = np.atleast_1d(np.asarray(b, dtype=float))
    v = np.atleast_2d(np.asarray(vcov, dtype=float))
    if v.shape != (b.size, b.size):
        raise ValueError(f"vcov shape {v.shape} does not match {b.size} coefficients")
    if b.size == 0:
        nan = float("nan")
        return WaldTest(nan, 0, nan, nan, nan if df_denom is None else df_denom, nan)
    q = int(np.linalg.matrix_rank(v))
    w = float(b @ np.linalg.pinv(v) @ b)
    p = float(stats.chi2.sf(w, q))
    if df_denom is None:
        return WaldTest(w, q, p, w / q, float("nan"), float("nan"))
    f = w / q
    return WaldTest(w, q, p, f, float(df_denom), float(stats.f.sf(f, q, df_denom)))


# ---------------------------------------------------------------------------- result
@dataclass
class EventStudyResult:
    """Estimated event-study path and its inference.

    Attributes
    ----------
    table
        One row per event time of the window (the reference period included with
        ``coef = se = 0``): ``event_time, coef, se, ci_low, ci_high`` (pointwise normal
        interval), ``band_low, band_high`` (simultaneous sup-t band), and ``truth_level``,
        ``truth`` once :func:`add_truth` has run. A dummy dropped by the estimator (no variation) has NaN.
    vcov
        Cluster-robust covariance of the estimated dummies, labelled by event time.
    crit_pointwise, crit_simultaneous
        ``z_{1-alpha/2}`` and the sup-t critical value.
    pretest_stat, pretest_df, pretest_p
        Wald chi-square statistic, degrees of freedom and p-value of "all leads are zero".
    pretest_F, pretest_F_df, pretest_F_p
        The same as ``F = W / q`` with ``(q, G - 1)`` degrees of freedom and its p-value.
    nobs, n_clusters, n_dropped
        Observations used, clusters, and input rows the estimator did not use (missing
        values or singleton fixed effects; a warning is raised when positive).
    dropped_terms
        Event-time dummies the estimator dropped as collinear or empty.
    """

    table: pd.DataFrame
    vcov: pd.DataFrame
    crit_pointwise: float
    crit_simultaneous: float
    pretest_stat: float
    pretest_df: int
    pretest_p: float
    pretest_F: float
    pretest_F_df: tuple[int, float]
    pretest_F_p: float
    nobs: int
    n_clusters: int | None
    n_dropped: int
    alpha: float
    window: tuple[int, int]
    ref: int
    y: str
    controls: tuple[str, ...]
    fe: tuple[str, ...]
    cluster: str | None
    n_sim: int
    seed: int
    dropped_terms: tuple[int, ...] = ()
    control_coef: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    fit: FitResult | None = None

    @property
    def has_truth(self) -> bool:
        """True when :func:`add_truth` has added the true path."""
        return "truth" in self.table.columns

    def pretest_text(self) -> str:
        """One-line summary of the pre-trend test for table notes and figure captions."""
        return (
            f"Pre-trend test (leads = 0): Wald chi2({self.pretest_df}) = "
            f"{self.pretest_stat:.2f}, p = {self.pretest_p:.3f}; F({self.pretest_F_df[0]}, "
            f"{self.pretest_F_df[1]:g}) = {self.pretest_F:.2f}, p = {self.pretest_F_p:.3f}. "
            f"Simultaneous {100 * (1 - self.alpha):.0f}% band critical value "
            f"{self.crit_simultaneous:.2f} (pointwise {self.crit_pointwise:.2f})."
        )


def fit_event_study(
    df: pd.DataFrame,
    y: str = "syn",
    window: tuple[int, int] | None = None,
    ref: int | None = None,
    controls: Sequence[str] = (),
    fe: Sequence[str] = ("pair_id", "year"),
    cluster: str | None = None,
    alpha: float | None = None,
    n_sim: int = 10_000,
    seed: int = 0,
    fixef_tol: float = 1e-10,
    *,
    spec: Spec | None = None,
) -> EventStudyResult:
    """Fit the binned-endpoint event study by two-way fixed effects.

    Parameters
    ----------
    df
        Pair-year frame of the input contract (``pair_id, year, treated, event_time``, the
        outcome, controls, fixed-effect and cluster columns).
    y
        Outcome column.
    window, ref
        Event window with binned endpoints and the omitted reference period; default
        ``spec.event_window`` and ``spec.event_ref`` ((-5, 3) and -1).
    controls
        Time-varying control columns added linearly.
    fe
        Absorbed fixed effects (default pair and year); ``()`` for none (an intercept).
    cluster
        The variance, a name of the one clustering vocabulary
        (:data:`cbec.estimators.fe.VCOV_TYPES`: ``"pilot_city"``, ``"pair"``, ``"twoway"``,
        ``"dyadic"``, or ``"hetero"``/``"iid"``); default ``spec.cluster``.
    alpha
        One minus the coverage of the pointwise intervals and the simultaneous band;
        default ``spec.alpha`` (``1 - spec.confidence_level``).
    n_sim, seed
        Draws and seed of the sup-t critical value (:func:`sup_t_critical`).
    fixef_tol
        Convergence tolerance of pyfixest's alternating-projection demeaner
        (:class:`pyfixest.MapDemeaner`; pyfixest's default is 1e-6).
    spec
        Where the defaults above come from; ``Spec()`` when ``None``.

    Returns
    -------
    EventStudyResult
    """
    spec = Spec() if spec is None else spec
    window = spec.event_window if window is None else window
    ref = spec.event_ref if ref is None else ref
    cluster = spec.cluster if cluster is None else cluster
    alpha = spec.alpha if alpha is None else alpha
    if cluster not in fe_mod.VCOV_TYPES:
        raise ValueError(
            f"fit_event_study: cluster must be one of {fe_mod.VCOV_TYPES} (the names of "
            f"Spec.cluster), got {cluster!r}"
        )
    lo, hi = _check_window(window, ref)
    controls = tuple(controls)
    fe = tuple(fe)
    needed = [y, *controls, *fe, "treated", "event_time", *fe_mod.VCOV_COLUMNS[cluster]]
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise ValueError(f"fit_event_study: the frame lacks columns {missing}")
    dummies, labels = event_time_dummies(df, (lo, hi), ref)
    clash = [c for c in labels if c in df.columns]
    if clash:
        raise ValueError(f"fit_event_study: the frame already has columns named {clash}")

    keep = list(dict.fromkeys([y, *controls, *fe, *fe_mod.VCOV_COLUMNS[cluster]]))
    data = pd.concat([df[keep].reset_index(drop=True), dummies.reset_index(drop=True)], axis=1)
    fit = fe_mod.fit_fe(
        data,
        y,
        [*labels, *controls],
        fe,
        cluster,
        fixef_tol=float(fixef_tol),
        caller="fit_event_study",
        allow_collinear=True,
        level=1.0 - alpha,
    )

    coef = fit.coef
    vmat = fit.vcov
    kept = [lab for lab in labels if lab in coef.index]
    ks = [k for k in range(lo, hi + 1) if k != ref]
    k_of = dict(zip(labels, ks, strict=True))
    dropped_terms = tuple(k_of[lab] for lab in labels if lab not in coef.index)
    if dropped_terms:
        warnings.warn(
            f"fit_event_study: event-time dummies {list(dropped_terms)} were dropped "
            "(no observations or collinear with the fixed effects); their rows are NaN",
            stacklevel=2,
        )
    if not kept:
        raise ValueError("fit_event_study: every event-time dummy was dropped")
    nobs = fit.nobs
    n_dropped = len(df) - nobs  # fit_fe has warned about them
    n_clusters = fit.n_clusters

    b = coef[kept].to_numpy()
    v = vmat.loc[kept, kept].to_numpy()
    se = np.sqrt(np.diag(v))
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    crit = sup_t_critical(v, alpha=alpha, n_sim=n_sim, seed=seed)

    rows = pd.DataFrame({"event_time": np.arange(lo, hi + 1)})
    est = pd.DataFrame({"event_time": [k_of[lab] for lab in kept], "coef": b, "se": se})
    table = rows.merge(est, on="event_time", how="left")
    is_ref = table["event_time"] == ref
    table.loc[is_ref, ["coef", "se"]] = 0.0
    table["ci_low"] = table["coef"] - z * table["se"]
    table["ci_high"] = table["coef"] + z * table["se"]
    table["band_low"] = table["coef"] - crit * table["se"]
    table["band_high"] = table["coef"] + crit * table["se"]
    table = table[list(TABLE_COLUMNS)]

    pre = [i for i, lab in enumerate(kept) if k_of[lab] < 0]
    df_denom = fit.df_resid  # G - 1 when clustered (fixest's convention), N - df_k otherwise
    wt = wald_test(b[pre], v[np.ix_(pre, pre)], df_denom=df_denom)

    ev_index = pd.Index([k_of[lab] for lab in kept], name="event_time")
    vcov_ev = pd.DataFrame(v, index=ev_index, columns=ev_index)
    return EventStudyResult(
        table=table,
        vcov=vcov_ev,
        crit_pointwise=z,
        crit_simultaneous=crit,
        pretest_stat=wt.stat,
        pretest_df=wt.df,
        pretest_p=wt.p,
        pretest_F=wt.F,
        pretest_F_df=(wt.df, wt.df_denom),
        pretest_F_p=wt.p_F,
        nobs=nobs,
        n_clusters=n_clusters,
        n_dropped=n_dropped,
        alpha=alpha,
        window=(lo, hi),
        ref=ref,
        y=y,
        controls=controls,
        fe=fe,
        cluster=cluster,
        n_sim=int(n_sim),
        seed=int(seed),
        dropped_terms=dropped_terms,
        control_coef=coef[list(controls)] if controls else pd.Series(dtype=float),
        fit=fit,
    )


def add_truth(
    result: EventStudyResult, df: pd.DataFrame, tau: str = "tau", relative: bool = True
) -> EventStudyResult:
    """Add the true path of the synthetic twin to an event-study result.

    ``truth_level`` is the mean of ``tau`` over treated pair-years in each binned event time
    (NaN where a bin has no treated pair-year). The coefficients are normalised to zero in
    the reference period, so with ``relative=True`` (default) the ``truth`` column is
    ``truth_level`` minus its value in the reference period, the path the coefficients
    estimate under parallel trends; with ``relative=False`` it equals ``truth_level``. The
    two differ when the true effect is not zero in the reference period (anticipation, or
    an outcome such as the Cerqueira-Martins index that is standardised over all years, so
    that designation moves earlier years too). True effects on control pairs (spillovers)
    are not netted out: the gap between the estimates and ``truth`` then shows the bias
    they cause. Returns a new result; the input is not changed.
    """
    for c in (tau, "treated", "event_time"):
        if c not in df.columns:
            raise ValueError(f"add_truth: the frame lacks column {c!r}")
    tr = df["treated"].to_numpy(dtype=float) == 1
    binned = bin_event_time(df.loc[tr, "event_time"], result.window)
    level = pd.Series(df.loc[tr, tau].to_numpy(dtype=float)).groupby(binned).mean()
    table = result.table.drop(columns=["truth", "truth_level"], errors="ignore")
    table["truth_level"] = table["event_time"].map(level).astype(float)
    if relative:
        at_ref = float(level.get(float(result.ref), np.nan))
        if np.isnan(at_ref):
            raise ValueError(
                f"add_truth: no treated pair-year at the reference period {result.ref}; "
                "use relative=False"
            )
        table["truth"] = table["truth_level"] - at_ref
    else:
        table["truth"] = table["truth_level"]
    return replace(result, table=table)
