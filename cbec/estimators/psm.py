"""Propensity-score matching of control pairs to treated pairs, for the PSM-DID check.

The paper re-estimates its DID on a matched sample (PSM-DID). Here one row per pair is
matched: a logit of ``treated`` on pair-level covariates gives the propensity score
(Rosenbaum & Rubin 1983), every treated pair takes its ``ratio`` nearest control pairs on
that score inside a caliper, and the DID is then re-run on the pair-years of the matched
pairs with the matching weights (:func:`attach_weights`). Balance is judged by standardised
mean differences before and after matching (Austin 2009; Stuart 2010).

Choices, documented rather than hidden:

* distance: absolute difference of the estimated propensity score (probability scale);
* caliper: ``caliper`` times the standard deviation of the propensity score over all pairs
  (treated and controls pooled). The default 0.05 sd is tight; Austin (2011) recommends
  0.2 sd of the *logit* of the score as a general rule. ``caliper=None`` matches without one;
* a treated pair with no control inside the caliper is *off support*: it is reported
  (count and pair ids) and carries weight 0, never silently dropped;
* with replacement a control may serve several treated pairs; its ``n_used`` is that
  frequency and its ``weight`` the ATT weight ``sum_i 1/m_i`` over the treated pairs ``i``
  that use it, ``m_i`` their number of matches (equal to ``n_used`` when ``ratio=1``).
  Treated pairs on support have weight 1;
* without replacement matching is greedy, treated pairs taken in an order shuffled with
  ``seed``, each taking the nearest control still free; with ``ratio > 1`` this runs in
  ``ratio`` rounds. Ties in distance go to the control with the lower score.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning


@dataclass
class MatchResult:
    """Outcome of :func:`propensity_match`.

    Attributes
    ----------
    weights
        One row per pair in the matched sample (weight > 0): ``pair_id, treated, pscore,
        n_used, weight``. Off-support treated pairs and unused controls are absent.
    matches
        One row per treated-control link: ``treated_id, control_id, distance``.
    balance
        Per covariate (and the score, row ``pscore``): ``mean_treated_before,
        mean_control_before, smd_before, mean_treated_after, mean_control_after,
        smd_after``. Both SMDs divide by the pooled sd before matching
        ``sqrt((s2_t + s2_c) / 2)`` so that they are comparable (Austin 2009).
    pscore
        Propensity score of every input pair, indexed by ``pair_id``.
    n_treated, n_control
        Treated and control pairs in the input.
    n_matched_treated
        Treated pairs with at least one match.
    n_off_support
        Treated pairs with no control inside the caliper.
    off_support_ids
        Their pair ids.
    caliper_width
        The caliper on the probability scale (``caliper * sd(pscore)``); ``inf`` when none.
    logit_params
        Logit coefficients (``const`` and the covariates).
    """

    weights: pd.DataFrame
    matches: pd.DataFrame
    balance: pd.DataFrame
    pscore: pd.Series
    n_treated: int
    n_control: int
    n_matched_treated: int
    n_off_support: int
    off_support_ids: np.ndarray
    caliper_width: float
    logit_params: pd.Series
    ratio: int
    replace: bool

    @property
    def pair_ids(self) -> np.ndarray:
        """Pair ids of the matched sample (treated on support and the controls they use)."""
        return self.weights.iloc[:, 0].to_numpy()

    def summary(self) -> str:
        """One-line summary for table notes."""
        cal = "no caliper" if np.isinf(self.caliper_width) else f"caliper {self.caliper_width:.4g}"
        how = "with" if self.replace else "without"
        return (
            f"Nearest-neighbour 1:{self.ratio} propensity-score matching {how} replacement, "
            f"{cal}: {self.n_matched_treated} of {self.n_treated} treated pairs matched "
            f"({self.n_off_support} off support), {int((self.weights['treated'] == 0).sum())} "
            f"distinct control pairs used."
        )


def _fit_logit(x: np.ndarray, d: np.ndarray, covariates: list[str]) -> tuple[np.ndarray, pd.Series]:
    exog = sm.add_constant(pd.DataFrame(x, columns=covariates), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=PerfectSeparationWarning)
        try:
            res = sm.Logit(d, exog).fit(disp=0, maxiter=200)
        except (PerfectSeparationWarning, PerfectSeparationError) as exc:
            raise ValueError(
                f"propensity_match: the covariates {covariates} separate treated and control "
                "pairs perfectly; the logit propensity score is not defined"
            ) from exc
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                f"propensity_match: the covariates {covariates} are collinear"
            ) from exc
    if not res.mle_retvals.get("converged", True):
        warnings.warn("propensity_match: the logit did not converge", stacklevel=3)
    return np.asarray(res.predict(exog)), res.params


def _nearest_with_replacement(
    p_t: np.ndarray, p_c_sorted: np.ndarray, ratio: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in the sorted controls) and distances of the ``ratio`` nearest controls.

    The ``ratio`` nearest neighbours of a point lie among the ``ratio`` sorted controls on
    each side of its insertion point, so ``2 * ratio`` candidates per treated suffice.
    """
    n_c = p_c_sorted.size
    pos = np.searchsorted(p_c_sorted, p_t, side="left")
    offsets = np.arange(-ratio, ratio)
    cand = pos[:, None] + offsets[None, :]
    valid = (cand >= 0) & (cand < n_c)
    cand_c = np.clip(cand, 0, n_c - 1)
    dist = np.where(valid, np.abs(p_c_sorted[cand_c] - p_t[:, None]), np.inf)
    # stable sort: among equal distances the lower-score control (left) comes first
    order = np.argsort(dist, axis=1, kind="stable")[:, :ratio]
    return np.take_along_axis(cand_c, order, 1), np.take_along_axis(dist, order, 1)


def _nearest_without_replacement(
    p_t: np.ndarray, p_c_sorted: np.ndarray, ratio: int, width: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching without replacement; unmatched slots get position -1 and inf."""
    n_t, n_c = p_t.size, p_c_sorted.size
    pos_out = np.full((n_t, ratio), -1, dtype=np.int64)
    dist_out = np.full((n_t, ratio), np.inf)
    free = np.ones(n_c, dtype=bool)
    order = np.random.default_rng(seed).permutation(n_t)
    for r in range(ratio):
        for i in order:
            x = p_t[i]
            j = int(np.searchsorted(p_c_sorted, x, side="left"))
            left = j - 1
            while left >= 0 and not free[left]:
                left -= 1
            right = j
            while right < n_c and not free[right]:
                right += 1
            dl = x - p_c_sorted[left] if left >= 0 else np.inf
            dr = p_c_sorted[right] - x if right < n_c else np.inf
            best, d = (left, dl) if dl <= dr else (right, dr)
            if np.isfinite(d) and d <= width:
                free[best] = False
                pos_out[i, r] = best
                dist_out[i, r] = d
    return pos_out, dist_out


def _smd(
    x_t: np.ndarray, x_c: np.ndarray, w_t: np.ndarray, w_c: np.ndarray, sd: np.ndarray
) -> tuple:
    m_t = (w_t[:, None] * x_t).sum(0) / w_t.sum() if w_t.sum() > 0 else np.full(sd.shape, np.nan)
    m_c = (w_c[:, None] * x_c).sum(0) / w_c.sum() if w_c.sum() > 0 else np.full(sd.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(sd > 0, (m_t - m_c) / sd, 0.0)
    return m_t, m_c, smd


def propensity_match(
    pairs: pd.DataFrame,
    covariates: Sequence[str],
    treated: str = "treated",
    caliper: float | None = 0.05,
    ratio: int = 1,
    replace: bool = True,
    seed: int = 0,
    id_col: str = "pair_id",
) -> MatchResult:
    """Match control pairs to treated pairs on a logit propensity score.

    Parameters
    ----------
    pairs
        One row per pair: ``id_col`` (unique), ``treated`` (0/1) and the covariates
        (numeric, no missing values).
    covariates
        Columns entering the logit (a constant is added).
    treated
        Treatment indicator column.
    caliper
        Maximum distance, in standard deviations of the propensity score pooled over all
        pairs (default 0.05); ``None`` for no caliper.
    ratio
        Controls per treated pair.
    replace
        Match with replacement (default; vectorised with :func:`numpy.searchsorted`) or
        greedily without.
    seed
        Seed of the greedy order without replacement (unused with replacement).
    id_col
        Pair identifier column.

    Returns
    -------
    MatchResult
    """
    covariates = list(covariates)
    needed = [id_col, treated, *covariates]
    missing = [c for c in needed if c not in pairs.columns]
    if missing:
        raise ValueError(f"propensity_match: the pair frame lacks columns {missing}")
    if not covariates:
        raise ValueError("propensity_match: give at least one covariate")
    if pairs[id_col].duplicated().any():
        dup = pairs.loc[pairs[id_col].duplicated(), id_col].iloc[0]
        raise ValueError(f"propensity_match: expects one row per pair; {id_col} {dup} repeats")
    if int(ratio) != ratio or ratio < 1:
        raise ValueError(f"propensity_match: ratio must be a positive integer, got {ratio}")
    ratio = int(ratio)
    if caliper is not None and not caliper > 0:
        raise ValueError(f"propensity_match: caliper must be positive or None, got {caliper}")
    d = pairs[treated].to_numpy(dtype=float)
    if not np.isin(d, (0.0, 1.0)).all():
        raise ValueError(f"propensity_match: {treated!r} must be 0/1")
    try:
        x = pairs[covariates].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"propensity_match: covariates {covariates} must be numeric") from exc
    nan_rows = np.isnan(x).any(axis=1)
    if nan_rows.any():
        bad_cols = [c for c, b in zip(covariates, np.isnan(x).any(axis=0), strict=True) if b]
        raise ValueError(
            f"propensity_match: {int(nan_rows.sum())} pairs have missing covariates "
            f"(columns {bad_cols}); first {id_col} {pairs[id_col].iloc[np.argmax(nan_rows)]}"
        )
    is_t = d == 1
    n_t, n_c = int(is_t.sum()), int((~is_t).sum())
    if n_t == 0 or n_c < ratio:
        raise ValueError(
            f"propensity_match: needs treated pairs and at least {ratio} controls; "
            f"got {n_t} treated and {n_c} controls"
        )

    ps, params = _fit_logit(x, d, covariates)
    ids = pairs[id_col].to_numpy()
    width = float(caliper * np.std(ps, ddof=1)) if caliper is not None else np.inf

    p_t = ps[is_t]
    ids_t = ids[is_t]
    c_idx = np.flatnonzero(~is_t)
    c_order = np.argsort(ps[c_idx], kind="stable")
    p_c_sorted = ps[c_idx][c_order]
    if replace:
        pos, dist = _nearest_with_replacement(p_t, p_c_sorted, ratio)
        ok = dist <= width
    else:
        pos, dist = _nearest_without_replacement(p_t, p_c_sorted, ratio, width, seed)
        ok = pos >= 0
    m = ok.sum(axis=1)
    on_support = m > 0
    off_ids = ids_t[~on_support]

    rows_t, slot = np.nonzero(ok)
    ctrl_rows = c_idx[c_order[pos[rows_t, slot]]]  # row numbers in `pairs`
    matches = pd.DataFrame(
        {"treated_id": ids_t[rows_t], "control_id": ids[ctrl_rows], "distance": dist[rows_t, slot]}
    )

    n_used = np.bincount(ctrl_rows, minlength=len(pairs)).astype(float)
    att_w = np.bincount(ctrl_rows, weights=1.0 / m[rows_t], minlength=len(pairs))
    weight = np.zeros(len(pairs))
    t_rows = np.flatnonzero(is_t)
    weight[t_rows[on_support]] = 1.0
    weight[~is_t] = att_w[~is_t]
    n_used[t_rows[on_support]] = 1.0
    sel = weight > 0
    weights = pd.DataFrame(
        {
            id_col: ids[sel],
            "treated": d[sel].astype(int),
            "pscore": ps[sel],
            "n_used": n_used[sel].astype(int),
            "weight": weight[sel],
        }
    )

    xs = np.column_stack([x, ps])
    names = [*covariates, "pscore"]
    x_t, x_c = xs[is_t], xs[~is_t]
    sd = (
        np.sqrt((x_t.var(axis=0, ddof=1) + x_c.var(axis=0, ddof=1)) / 2.0)
        if min(n_t, n_c) > 1
        else np.ones(len(names))
    )
    mt0, mc0, s0 = _smd(x_t, x_c, np.ones(n_t), np.ones(n_c), sd)
    mt1, mc1, s1 = _smd(x_t, x_c, weight[is_t], weight[~is_t], sd)
    balance = pd.DataFrame(
        {
            "mean_treated_before": mt0,
            "mean_control_before": mc0,
            "smd_before": s0,
            "mean_treated_after": mt1,
            "mean_control_after": mc1,
            "smd_after": s1,
        },
        index=pd.Index(names, name="covariate"),
    )
    if off_ids.size:
        warnings.warn(
            f"propensity_match: {off_ids.size} of {n_t} treated pairs have no control within "
            f"the caliper ({width:.3g}) and are off support; see MatchResult.off_support_ids",
            stacklevel=2,
        )
    return MatchResult(
        weights=weights,
        matches=matches,
        balance=balance,
        pscore=pd.Series(ps, index=pd.Index(ids, name=id_col), name="pscore"),
        n_treated=n_t,
        n_control=n_c,
        n_matched_treated=int(on_support.sum()),
        n_off_support=int(off_ids.size),
        off_support_ids=off_ids,
        caliper_width=width,
        logit_params=params,
        ratio=ratio,
        replace=bool(replace),
    )


def attach_weights(
    panel: pd.DataFrame, match: MatchResult, name: str = "psm_weight", id_col: str = "pair_id"
) -> pd.DataFrame:
    """Restrict a pair-year panel to the matched pairs and add their matching weight.

    The returned frame keeps every year of each matched pair (the weight is constant within
    a pair) and is ready for a weighted DID, e.g. ``pyfixest.feols(..., weights=name)``.
    """
    if id_col not in panel.columns:
        raise ValueError(f"attach_weights: the panel lacks column {id_col!r}")
    if name in panel.columns:
        raise ValueError(f"attach_weights: the panel already has a column {name!r}")
    w = match.weights.set_index(id_col)["weight"]
    unknown = np.setdiff1d(w.index.to_numpy(), panel[id_col].unique())
    if unknown.size:
        raise ValueError(
            f"attach_weights: {unknown.size} matched pairs are not in the panel, first {unknown[0]}"
        )
    out = panel[panel[id_col].isin(w.index)].copy()
    out[name] = out[id_col].map(w).to_numpy(dtype=float)
    return out
