"""Monte Carlo study of the pair-year DID on the synthetic twin, run on Dask.

One chapter-2 estimate is one draw. This module repeats the whole chain many times: each
*replication* draws a new twin world from its own seed, builds the pair panel under every
scenario of the twin (radiation, growing effects, siphon, none, no spillover: those the twin
offers, :func:`available_scenarios`), runs every registered estimator (:data:`ESTIMATORS`) and
records, for every inference choice (:data:`INFERENCES`), the estimate, the true effect it is
compared with, and whether the 95% interval covers the truth and rejects zero.

Seeds
    Replication ``r`` of master seed ``m`` uses the world seed drawn from
    ``numpy.random.SeedSequence(m, spawn_key=(r,))``, which is the ``r``-th child of
    ``SeedSequence(m).spawn(...)``: replications are independent streams and a replication's
    result does not depend on which others run, in which order, or on which worker. All
    scenarios of one replication share its world seed (common random numbers: the twin's
    no-policy world is the same under every scenario), so scenario contrasts are paired.

Estimators
    A registry of small functions ``name -> f(study, spec) -> Estimate``. TWFE is fitted by
    the Frisch-Waugh-Lovell theorem on the closed-form within transformation of the balanced
    pair x year panel (:class:`cbec.estimators.fe.FEIndex`); its clustered variances follow
    pyfixest's CRV1 conventions (the tests check them against :func:`cbec.estimators.fe.
    se_table`), the dyadic one is :func:`cbec.estimators.variance.dyadic_vcov`.

Execution
    :func:`run_study` sends one task per replication to a ``dask.distributed`` scheduler (a
    ``LocalCluster`` of one single-threaded process per core by default, or an existing
    scheduler by address) and writes each replication's rows to its own Parquet file as it
    finishes (written to a temporary name, then renamed, so a killed run leaves only complete
    files). A rerun skips the replications already on disk. ``scheduler="serial"`` runs the
    same function in-process (the determinism test compares both).

Command line::

    python -m cbec.analyses.montecarlo run --reps 200 --out /tmp/mc-full [--scheduler tcp://...]
    python -m cbec.analyses.montecarlo summarise --out /tmp/mc-full --to data/montecarlo
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from cbec import spec as spec_module
from cbec.estimators.fe import FEIndex

try:  # the wild bootstrap joined the package with the chapter 2-3 designs
    from cbec.estimators import bootstrap
except ImportError:  # pragma: no cover
    bootstrap = None
try:  # the heterogeneity-robust estimators of chapter 7
    from cbec.estimators import influence, staggered
except ImportError:  # pragma: no cover
    influence = staggered = None
from cbec.estimators.variance import dyadic_vcov
from cbec.spec import Spec
from cbec.study import pairs as pairs_module
from cbec.study.pipeline import Study, build_study

#: Master seed of the committed study (the book's default seed, ``cbec.spec.DEFAULT_SEED``).
MASTER_SEED = 20230221

#: Scenarios the study asks for, in the order of the chapter; only those the twin offers run.
SCENARIOS_WANTED: tuple[str, ...] = ("radiation", "growing", "siphon", "none", "no_spillover")

#: Inference choices: how the 95% interval of the TWFE coefficient is formed.
INFERENCES: dict[str, str] = {
    "pair": "CRV1 clustered by city pair",
    "pilot_city": "CRV1 clustered by the pilot city (the paper's 'by city'; default)",
    "twoway": "CRV1 two-way by city_i and city_j (Cameron-Gelbach-Miller 2011)",
    "province": "CRV1 clustered by the province of the pilot city",
    "dyadic": "dyadic-robust (Aronow-Samii-Assenova 2015), G/(G-1), t(G-1), G cities",
}

#: Level of every test and interval.
ALPHA = 0.05

#: Draws of the wild cluster bootstrap (Rademacher weights, clusters = pilot city).
N_BOOT = 399

#: Inferences without a standard error, added by some estimators.
INTERVAL_INFERENCES: dict[str, str] = {
    "wild_bootstrap": "restricted wild cluster bootstrap by pilot city (WCR, Rademacher, "
    f"{N_BOOT} draws), interval by test inversion",
}

#: Columns of the per-replication result rows, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "rep",
    "seed",
    "scenario",
    "estimator",
    "inference",
    "estimate",
    "truth",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "covers",
    "rejects",
    "seconds_world",
    "seconds_estimator",
)


# --------------------------------------------------------------------------- seeds, scenarios
def replication_seed(master_seed: int, rep: int) -> int:
    """World seed of replication ``rep``: the ``rep``-th SeedSequence child of the master.

    ``SeedSequence(master_seed, spawn_key=(rep,))`` is the same stream as
    ``SeedSequence(master_seed).spawn(rep + 1)[rep]``; its first 63 bits become the twin's
    integer seed (so that it fits an int64 Parquet column).
    """
    if rep < 0:
        raise ValueError(f"rep must be >= 0, got {rep}")
    child = np.random.SeedSequence(int(master_seed), spawn_key=(int(rep),))
    return int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def available_scenarios(wanted: Sequence[str] = SCENARIOS_WANTED) -> tuple[str, ...]:
    """The wanted scenarios that the twin offers (``cbec.spec.Scenario``), in order."""
    offered = set(typing.get_args(spec_module.Scenario))
    return tuple(s for s in wanted if s in offered)


def scenario_spec(base: Spec, scenario: str, seed: int) -> Spec:
    """The analysis spec of one replication: the base spec on a new world."""
    return base.replace(scenario=scenario, seed=int(seed), profile="twin", data_dir=None)


# --------------------------------------------------------------------------- estimates
@dataclass
class Estimate:
    """One estimator's answer on one world.

    Attributes
    ----------
    estimate
        Point estimate of the DID coefficient.
    truth
        The true effect it is compared with (mean true effect on treated post pair-years of
        the same outcome).
    se, df
        Standard error and t degrees of freedom under each inference choice.
    intervals
        Inference choices that give an interval and a p-value but no standard error (the
        wild cluster bootstrap): ``name -> (ci_low, ci_high, p_value)``.
    """

    estimate: float
    truth: float
    se: dict[str, float] = field(default_factory=dict)
    df: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per inference: estimate, truth, se, df, interval, covers, rejects.

        ``intervals`` holds inferences without a standard error (the wild bootstrap) as
        ``(ci_low, ci_high, p_value)``; they reject when ``p_value < ALPHA``.
        """
        out = []
        for name, (lo, hi, pval) in self.intervals.items():
            ok = bool(np.isfinite(lo) and np.isfinite(hi))
            out.append(
                {
                    "inference": name,
                    "estimate": self.estimate,
                    "truth": self.truth,
                    "se": np.nan,
                    "df": np.nan,
                    "ci_low": lo,
                    "ci_high": hi,
                    "covers": bool(ok and lo <= self.truth <= hi),
                    "rejects": bool(pval < ALPHA),
                }
            )
        for name, se in self.se.items():
            dfree = self.df.get(name, np.inf)
            crit = float(stats.t.ppf(1.0 - ALPHA / 2.0, dfree))
            lo, hi = self.estimate - crit * se, self.estimate + crit * se
            ok = bool(np.isfinite(se) and se > 0)
            out.append(
                {
                    "inference": name,
                    "estimate": self.estimate,
                    "truth": self.truth,
                    "se": se,
                    "df": dfree,
                    "ci_low": lo,
                    "ci_high": hi,
                    "covers": bool(ok and lo <= self.truth <= hi),
                    "rejects": bool(ok and (lo > 0 or hi < 0)),
                }
            )
        return out


@dataclass
class TwfeFit:
    """A TWFE fit by FWL on demeaned data (coefficient of the first regressor)."""

    beta: np.ndarray
    resid: np.ndarray
    Xd: np.ndarray
    bread: np.ndarray
    n_absorbed: int  # fixed-effect parameters not nested in the pair (year or region-pair-year)


def fwl_fit(yd: np.ndarray, Xd: np.ndarray, n_absorbed: int) -> TwfeFit:
    """OLS of demeaned ``yd`` on demeaned ``Xd`` (the fixed effects are already out)."""
    xtx = Xd.T @ Xd
    bread = np.linalg.inv(xtx)
    beta = bread @ (Xd.T @ yd)
    resid = yd - Xd @ beta
    return TwfeFit(beta=beta, resid=resid, Xd=Xd, bread=bread, n_absorbed=n_absorbed)


def _sum_sq(score: np.ndarray, codes: np.ndarray) -> tuple[float, int]:
    """Sum over clusters of the squared cluster sum of a scalar score, and the cluster count."""
    sums = np.bincount(codes, weights=score)
    return float(sums @ sums), int(np.count_nonzero(np.bincount(codes)))


def cluster_se(
    fit: TwfeFit, clusters: Sequence[np.ndarray], pair_codes: np.ndarray | None = None
) -> tuple[float, float]:
    """CRV1 standard error of the first coefficient, one- or two-way (pyfixest conventions).

    One-way: ``G/(G-1) (N-1)/(N-df_k) b M b'``, with ``b`` the first row of the bread, so
    only the scalar score ``(x_i . b) e_i`` is summed by cluster; ``df_k`` counts the slopes
    and the absorbed fixed effects not nested in the cluster (pair effects are nested in
    every clustering used here), as pyfixest 0.60 (``k_fixef="nonnested"``). Two-way (two
    code arrays): ``V_1 + V_2 - V_12`` with the smaller ``G`` in every factor
    (``G_df="min"``); ``V_12`` clusters by the intersection, ``pair_codes`` when given (the
    intersection of city_i and city_j is the pair). Returns the standard error and the t
    degrees of freedom ``G - 1``.
    """
    n, k = fit.Xd.shape
    score = (fit.Xd @ fit.bread[0]) * fit.resid
    small = (n - 1) / (n - (k + fit.n_absorbed))
    if len(clusters) == 1:
        m, g = _sum_sq(score, clusters[0])
    elif len(clusters) == 2:
        a, b = clusters
        m1, g1 = _sum_sq(score, a)
        m2, g2 = _sum_sq(score, b)
        inter = (
            pair_codes
            if pair_codes is not None
            else pd.factorize(a.astype(np.int64) * (int(b.max()) + 1) + b)[0]
        )
        m12, _ = _sum_sq(score, inter)
        m, g = m1 + m2 - m12, min(g1, g2)
    else:
        raise ValueError("one or two cluster dimensions")
    v = m * small * g / (g - 1)
    return float(np.sqrt(max(v, 0.0))), float(g - 1)


def inference_table(fit: TwfeFit, codes: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Standard errors and degrees of freedom of the first coefficient under every inference."""
    se: dict[str, float] = {}
    dfs: dict[str, float] = {}
    for name in INFERENCES:
        if name == "dyadic":
            # the dyadic sandwich of the first coefficient from its scalar score
            x1 = (fit.Xd @ fit.bread[0])[:, None]
            v = dyadic_vcov(x1, fit.resid, codes["city_i"], codes["city_j"], bread=np.eye(1))
            se[name] = float(np.sqrt(max(v[0, 0], 0.0)))
            dfs[name] = float(codes["n_cities"][0] - 1)
        elif name == "twoway":
            se[name], dfs[name] = cluster_se(
                fit, [codes["city_i"], codes["city_j"]], pair_codes=codes["pair"]
            )
        else:
            se[name], dfs[name] = cluster_se(fit, [codes[name]])
    return se, dfs


# --------------------------------------------------------------------------- per-study cache
def _codes(p: pd.DataFrame, universe: pd.DataFrame) -> dict[str, np.ndarray]:
    """Integer cluster codes of a pair-year panel for every inference choice."""
    ci = pd.factorize(np.concatenate([p["city_i"].to_numpy(), p["city_j"].to_numpy()]))
    n = len(p)
    if "cluster_province" in p.columns:
        prov = p["cluster_province"].to_numpy()
    else:
        prov = p["cluster_city"].map(universe.set_index("city_id")["province_code"]).to_numpy()
    return {
        "pair": pd.factorize(p["pair_id"])[0],
        "pilot_city": pd.factorize(p["cluster_city"])[0],
        "province": pd.factorize(prov)[0],
        "city_i": ci[0][:n],
        "city_j": ci[0][n:],
        "n_cities": np.array([len(ci[1])]),
    }


def _cache(study: Study) -> dict[str, Any]:
    """Quantities every estimator of one world shares (computed once, kept on the study)."""
    c = study.meta.get("_montecarlo")
    if c is not None:
        return c
    p = study.panel
    c = {"fe": FEIndex.from_frame(p, ("pair_id", "year")), "codes": _codes(p, study.universe)}
    study.meta["_montecarlo"] = c
    return c


def outcome_with_truth(study: Study, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Outcome ``measure`` of the study's pairs and its true effect (factual - no policy).

    ``"cm"`` is the study's own outcome; other measures (``"kpp"``, ``"kpp_resid"``) are
    recomputed on the same sample from the factual and counterfactual city panels.
    """
    cache = _cache(study)
    key = f"outcome_{measure}"
    if key in cache:
        return cache[key]
    p = study.panel
    if measure == study.spec.sync_measure and study.spec.outcome_moments == "window":
        out = (p["syn"].to_numpy(), p["tau"].to_numpy())
    elif measure == "cm_pre":
        out = _pre_outcome(study)
    else:
        spec = study.spec.replace(sync_measure=measure)
        ids = study.universe["city_id"].to_numpy()
        kp = p.drop_duplicates("pair_id")
        pi, pj = kp["pos_i"].to_numpy(), kp["pos_j"].to_numpy()

        def one(frame: pd.DataFrame, index: pd.DataFrame) -> np.ndarray:
            g = frame.pivot(index="city_id", columns="year", values="gdp_growth").reindex(ids)
            return pairs_module.pair_outcome(index, g.astype(float), pi, pj, spec).reshape(-1)

        y1 = one(study.city.data, study.index)
        y0 = one(study.city.counterfactual, study.index_cf)
        out = (y1, y1 - y0)
    cache[key] = out
    return out


def _pre_outcome(study: Study) -> tuple[np.ndarray, np.ndarray]:
    """CM outcome with the index and z-score moments of the pre-period only.

    The same computation as ``build_study(spec.replace(outcome_moments="pre"))`` on the
    same world (the test suite checks it), without rebuilding the world and the pairs.
    """
    from cbec.study import pipeline

    spec = study.spec.replace(outcome_moments="pre", sync_measure="cm")
    ids = study.universe["city_id"].to_numpy()
    ref = pairs_module.moment_years(spec, study.universe)
    kp = study.panel.drop_duplicates("pair_id")
    pi, pj = kp["pos_i"].to_numpy(), kp["pos_j"].to_numpy()

    def one(frame: pd.DataFrame) -> np.ndarray:
        index, _ = pipeline._index_wide(frame, study.indicators, ref, ids)
        return pairs_module.pair_outcome(index, None, pi, pj, spec, ref).reshape(-1)

    y1 = one(study.city.data)
    y0 = one(study.city.counterfactual)
    return y1, y1 - y0


def _twfe_on(study: Study, spec: Spec, y: np.ndarray, tau: np.ndarray) -> Estimate:
    """TWFE with the spec's controls, pair and year effects, every inference choice."""
    c = _cache(study)
    p = study.panel
    did = p["did"].to_numpy(dtype=float)
    X = np.column_stack([did, *(p[col].to_numpy(dtype=float) for col in spec.controls)])
    Z = c["fe"].demean(np.column_stack([y, X]))
    fit = fwl_fit(Z[:, 0], Z[:, 1:], n_absorbed=c["fe"].sizes[1])
    se, dfs = inference_table(fit, c["codes"])
    est = Estimate(float(fit.beta[0]), float(tau[did == 1].mean()), se, dfs)
    if bootstrap is not None:
        cities = study.panel["cluster_city"].to_numpy()
        est.intervals["wild_bootstrap"] = _wild(fit, Z, cities, spec.seed)
    return est


def _wild(fit: TwfeFit, Z: np.ndarray, cluster: np.ndarray, seed: int) -> tuple:
    """Restricted wild cluster bootstrap by pilot city (:mod:`cbec.estimators.bootstrap`)."""
    yd, Xd = Z[:, 0], Z[:, 1:]
    if Xd.shape[1] > 1:  # partial the controls out (FWL) as bootstrap.residualise does
        ctrl = Xd[:, 1:]
        yd = yd - ctrl @ np.linalg.lstsq(ctrl, yd, rcond=None)[0]
        d = Xd[:, 0] - ctrl @ np.linalg.lstsq(ctrl, Xd[:, 0], rcond=None)[0]
    else:
        d = Xd[:, 0]
    r = bootstrap.wild_cluster_bootstrap(
        yd, d, cluster, k=Xd.shape[1], n_boot=N_BOOT, seed=int(seed % 2**32), alpha=ALPHA
    )
    return (float(r.ci_low), float(r.ci_high), float(r.p_value))


def est_twfe(study: Study, spec: Spec) -> Estimate:
    """The paper's model: CM synchronization on DID, controls, pair and year effects."""
    y, tau = outcome_with_truth(study, "cm")
    return _twfe_on(study, spec, y, tau)


def est_twfe_kpp(study: Study, spec: Spec) -> Estimate:
    """The same model on the KPP outcome, minus the absolute growth gap."""
    y, tau = outcome_with_truth(study, "kpp")
    return _twfe_on(study, spec, y, tau)


def demean_nested(x: np.ndarray, fei: FEIndex, group_of_pair: np.ndarray) -> np.ndarray:
    """Within transformation for pair effects and group x year effects (groups of pairs).

    The pair effects are nested in the groups, so within each group the panel is a balanced
    pair x year grid and the closed form ``x - pair mean - group-year mean + group mean``
    is exact.
    """
    s0, s1 = fei.sizes
    grid = x[fei.order].reshape(s0, s1, -1)
    g = np.asarray(group_of_pair)
    ng = int(g.max()) + 1
    cnt = np.bincount(g, minlength=ng).astype(float)
    row = grid.mean(axis=1, keepdims=True)
    key = (g[:, None] * s1 + np.arange(s1)[None, :]).ravel()
    gy = np.stack(
        [
            np.bincount(key, weights=grid[:, :, m].ravel(), minlength=ng * s1).reshape(ng, s1)
            for m in range(grid.shape[2])
        ],
        axis=2,
    )
    gy /= cnt[:, None, None]
    gmean = gy.mean(axis=1, keepdims=True)
    out_grid = grid - row - gy[g] + gmean[g]
    out = np.empty_like(x)
    out[fei.order] = out_grid.reshape(s0 * s1, -1)
    return out


def est_twfe_regionpair_year(study: Study, spec: Spec) -> Estimate:
    """TWFE with region-pair x year effects (region4 of both cities) instead of year effects.

    Pairs are compared only with pairs of the same region combination in the same year.
    """
    c = _cache(study)
    p = study.panel
    fei: FEIndex = c["fe"]
    if not fei.balanced:
        raise ValueError("region-pair x year effects need the balanced pair x year panel")
    y, tau = outcome_with_truth(study, "cm")
    did = p["did"].to_numpy(dtype=float)
    X = np.column_stack([did, *(p[col].to_numpy(dtype=float) for col in spec.controls)])
    # region pair of each pair, in the grid's pair order (first year's row of each pair):
    # the panel's region_pair (unordered pair of region4, as Spec.year_effects uses)
    first = fei.order.reshape(fei.sizes[0], fei.sizes[1])[:, 0]
    if "region_pair" in p.columns:
        rp_grid = p["region_pair"].to_numpy()[first]
    else:  # older pair panels: region4 of both cities
        ri = p["region4_i"].astype(str).to_numpy()[first]
        rj = p["region4_j"].astype(str).to_numpy()[first]
        pairs_ = zip(ri, rj, strict=True)
        rp_grid = np.array([f"{a}|{b}" if a <= b else f"{b}|{a}" for a, b in pairs_])
    group = pd.factorize(np.asarray(rp_grid))[0]
    Z = demean_nested(np.column_stack([y, X]), fei, group)
    fit = fwl_fit(Z[:, 0], Z[:, 1:], n_absorbed=(int(group.max()) + 1) * fei.sizes[1])
    se, dfs = inference_table(fit, c["codes"])
    return Estimate(float(fit.beta[0]), float(tau[did == 1].mean()), se, dfs)


def est_twfe_pre(study: Study, spec: Spec) -> Estimate:
    """The paper's model on the CM outcome built from pre-period moments only."""
    y, tau = outcome_with_truth(study, "cm_pre")
    return _twfe_on(study, spec, y, tau)


def est_twfe_clean(study: Study, spec: Spec) -> Estimate:
    """The paper's model without control pairs exposed to a pilot (``control_exposure="clean"``).

    Drops the control pairs flagged ``exposed`` by :mod:`cbec.study.exposure` (whole pairs,
    so the panel stays balanced); the truth is the ATT of the same treated pair-years.
    """
    p = study.panel
    if "exposed" not in p.columns:
        raise ValueError("the pair panel has no exposure flag (cbec.study.exposure)")
    keep = ~((p["treated"] == 0) & (p["exposed"] == 1)).to_numpy()
    sub = p[keep].reset_index(drop=True)
    y, tau = outcome_with_truth(study, "cm")
    y, tau = y[keep], tau[keep]
    fei = FEIndex.from_frame(sub, ("pair_id", "year"))
    did = sub["did"].to_numpy(dtype=float)
    X = np.column_stack([did, *(sub[col].to_numpy(dtype=float) for col in spec.controls)])
    Z = fei.demean(np.column_stack([y, X]))
    fit = fwl_fit(Z[:, 0], Z[:, 1:], n_absorbed=fei.sizes[1])
    se, dfs = inference_table(fit, _codes(sub, study.universe))
    return Estimate(float(fit.beta[0]), float(tau[did == 1].mean()), se, dfs)


def _if_estimate(study: Study, res: Any) -> Estimate:
    """Estimate and clustered errors of a chapter-7 estimator from its influence functions.

    ``res`` is a :class:`cbec.estimators.staggered.IFResult`; its ``"overall"`` target is the
    average effect on the treated post-designation pair-years, the same truth as TWFE's.
    Variances: :func:`cbec.estimators.influence.if_vcov` (``G/(G-1)``), by province from the
    pairs' ``cluster_province``; t degrees of freedom ``G - 1`` as for TWFE.
    """
    psi = res.psi[["overall"]].to_numpy()
    units = res.units
    p = study.panel
    se: dict[str, float] = {}
    dfs: dict[str, float] = {}
    n_g = {
        "pair": units["pair_id"].nunique(),
        "pilot_city": units["cluster_city"].nunique(),
        "twoway": min(units["city_i"].nunique(), units["city_j"].nunique()),
        "dyadic": pd.unique(np.concatenate([units["city_i"], units["city_j"]])).size,
    }
    for kind, g in n_g.items():
        v = np.asarray(influence.if_vcov(psi, units, kind))
        se[kind] = float(np.sqrt(max(v[0, 0], 0.0)))
        dfs[kind] = float(g - 1)
    if "cluster_province" in p.columns:
        prov_of = p.drop_duplicates("pair_id").set_index("pair_id")["cluster_province"]
        codes = pd.factorize(units["pair_id"].map(prov_of).to_numpy())[0]
        sums = np.bincount(codes, weights=psi[:, 0])
        g = int(codes.max()) + 1
        se["province"] = float(np.sqrt(sums @ sums * g / (g - 1)))
        dfs["province"] = float(g - 1)
    se = {k: se[k] for k in INFERENCES if k in se}
    truth = float(p.loc[p["did"] == 1, "tau"].mean())
    return Estimate(float(res.estimates["overall"]), truth, se, {k: dfs[k] for k in se})


def est_cs(study: Study, spec: Spec) -> Estimate:
    """Callaway-Sant'Anna (2021), never-treated controls, simple aggregation (chapter 7)."""
    return _if_estimate(study, staggered.cs_influence(study.panel, "syn"))


def est_imputation(study: Study, spec: Spec) -> Estimate:
    """Borusyak-Jaravel-Spiess (2024) imputation estimator, all treated cells (chapter 7)."""
    return _if_estimate(study, staggered.imputation_influence(study.panel, "syn"))


#: name -> (function, one-line description). Add an estimator by adding a line.
ESTIMATORS: dict[str, tuple[Callable[[Study, Spec], Estimate], str]] = {
    "twfe": (est_twfe, "TWFE, CM outcome, controls, pair and year effects (the paper's model)"),
    "twfe_kpp": (est_twfe_kpp, "TWFE on the KPP outcome (minus the absolute growth gap)"),
    "twfe_regionpair_year": (
        est_twfe_regionpair_year,
        "TWFE with region-pair x year effects instead of year effects (CM outcome)",
    ),
    "twfe_pre": (est_twfe_pre, "TWFE on the CM outcome from pre-period moments only"),
    "twfe_clean": (est_twfe_clean, "TWFE without control pairs exposed to a pilot"),
}
if staggered is not None:
    ESTIMATORS["cs"] = (est_cs, "Callaway-Sant'Anna, never-treated controls (no controls)")
    ESTIMATORS["imputation"] = (est_imputation, "Borusyak-Jaravel-Spiess imputation (no controls)")


# --------------------------------------------------------------------------- one replication
def run_replication(
    rep: int,
    master_seed: int = MASTER_SEED,
    scenarios: Sequence[str] | None = None,
    estimators: Sequence[str] | None = None,
    base: Spec | None = None,
) -> pd.DataFrame:
    """Every scenario and estimator on the world of replication ``rep``.

    Returns
    -------
    DataFrame
        :data:`RESULT_COLUMNS`, one row per scenario x estimator x inference.
    """
    base = base if base is not None else Spec()
    scenarios = tuple(scenarios) if scenarios is not None else available_scenarios()
    estimators = tuple(estimators) if estimators is not None else tuple(ESTIMATORS)
    seed = replication_seed(master_seed, rep)
    # one BLAS thread, wherever it runs: a multi-threaded BLAS splits sums differently and
    # would change the last bits between a serial run and a Dask worker (and two workers
    # on two cores must not each start a BLAS pool)
    with threadpool_limits(limits=1):
        return _replication(rep, seed, scenarios, estimators, base)


def _replication(
    rep: int, seed: int, scenarios: Sequence[str], estimators: Sequence[str], base: Spec
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for scen in scenarios:
        t0 = time.perf_counter()
        spec = scenario_spec(base, scen, seed)
        study = build_study(spec)
        t_world = time.perf_counter() - t0
        for name in estimators:
            fn = ESTIMATORS[name][0]
            t1 = time.perf_counter()
            est = fn(study, spec)
            t_est = time.perf_counter() - t1
            for r in est.rows():
                r.update(
                    rep=int(rep),
                    seed=seed,
                    scenario=scen,
                    estimator=name,
                    seconds_world=t_world,
                    seconds_estimator=t_est,
                )
                rows.append(r)
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


# --------------------------------------------------------------------------- the study
def _rep_path(out: Path, rep: int) -> Path:
    return out / f"rep_{rep:06d}.parquet"


def done_reps(out: str | os.PathLike[str]) -> set[int]:
    """Replications already written to ``out``."""
    out = Path(out)
    if not out.is_dir():
        return set()
    return {int(p.stem.split("_")[1]) for p in out.glob("rep_*.parquet")}


def _write_rep(out: Path, rep: int, frame: pd.DataFrame) -> None:
    """Write one replication's rows atomically (temporary file, then rename)."""
    tmp = out / f".rep_{rep:06d}.{os.getpid()}.tmp"
    frame.to_parquet(tmp, index=False, engine="pyarrow")
    os.replace(tmp, _rep_path(out, rep))


def _study_meta(
    master_seed: int, scenarios: Sequence[str], estimators: Sequence[str], base: Spec
) -> dict[str, Any]:
    return {
        "master_seed": int(master_seed),
        "scenarios": list(scenarios),
        "estimators": list(estimators),
        "inferences": list(INFERENCES),
        "base_spec": base.key(),
        "base_spec_changes": {k: str(v) for k, v in base.changes().items()},
    }


def _check_meta(out: Path, meta: dict[str, Any]) -> None:
    """Write ``study.json`` on the first run; refuse to resume a different study."""
    path = out / "study.json"
    if path.exists():
        old = json.loads(path.read_text())
        diff = [k for k in meta if old.get(k) != meta[k]]
        if diff:
            raise ValueError(
                f"{out} holds a different study (differs in {diff}); use another folder"
            )
    else:
        path.write_text(json.dumps(meta, indent=2) + "\n")


def start_client(scheduler: str | None = None, n_workers: int | None = None):
    """A dask.distributed Client: on ``scheduler`` (an address) or on a new LocalCluster.

    The LocalCluster runs one single-threaded worker process per core (``n_workers``),
    without dashboard and with its logs silenced. Its nannies do not set dask's default
    ``MALLOC_TRIM_THRESHOLD_=65536`` in the workers: with it glibc returns every large
    array to the system at once and a replication (which allocates many 153,230-row arrays)
    ran twice as slow as in a plain process. Workers of an external cluster should be
    started without it too (``DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_``
    set to a large value, e.g. ``1000000000``).
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    n = n_workers or os.cpu_count() or 1
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    return Client(cluster)


def run_study(
    reps: int | Iterable[int],
    out: str | os.PathLike[str],
    *,
    master_seed: int = MASTER_SEED,
    scenarios: Sequence[str] | None = None,
    estimators: Sequence[str] | None = None,
    base: Spec | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the study, one Parquet file per replication in ``out``.

    Parameters
    ----------
    reps
        Number of replications (``0 .. reps-1``) or the replication indices.
    out
        Folder of the Parquet files; replications already there are skipped.
    master_seed, scenarios, estimators, base
        What to run (defaults: :data:`MASTER_SEED`, every available scenario, every
        registered estimator, ``Spec()``). ``study.json`` in ``out`` records them and a rerun
        with different values is refused.
    scheduler
        ``None``: a new LocalCluster (``n_workers`` processes, default one per core);
        ``"serial"``: in this process, no Dask; otherwise the address of a running
        dask scheduler (``tcp://host:8786``).
    progress
        Show one tqdm progress bar on stderr (for the console; keep it off in notebooks).

    Returns
    -------
    dict
        ``done`` (replications written now), ``skipped`` (found on disk), ``seconds`` (wall
        time) and ``workers``.
    """
    base = base if base is not None else Spec()
    scenarios = tuple(scenarios) if scenarios is not None else available_scenarios()
    estimators = tuple(estimators) if estimators is not None else tuple(ESTIMATORS)
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; registered: {list(ESTIMATORS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_meta(out, _study_meta(master_seed, scenarios, estimators, base))
    for stale in out.glob(".rep_*.tmp"):  # a write cut short by a killed run
        stale.unlink()
    wanted = list(range(reps)) if isinstance(reps, int) else sorted(set(int(r) for r in reps))
    have = done_reps(out)
    todo = [r for r in wanted if r not in have]
    t0 = time.perf_counter()
    from tqdm import tqdm

    bar = tqdm(total=len(todo), disable=not progress, desc="replications", unit="rep")
    kwargs = dict(master_seed=master_seed, scenarios=scenarios, estimators=estimators, base=base)
    workers = 1
    try:
        if scheduler == "serial" or not todo:
            for r in todo:
                _write_rep(out, r, run_replication(r, **kwargs))
                bar.update(1)
        else:
            from distributed import as_completed

            client = start_client(scheduler, n_workers)
            try:
                workers = len(client.scheduler_info()["workers"])
                futures = [
                    client.submit(run_replication, r, **kwargs, key=f"mc-rep-{r}", pure=False)
                    for r in todo
                ]
                index = {f.key: r for f, r in zip(futures, todo, strict=True)}
                for fut in as_completed(futures):
                    _write_rep(out, index[fut.key], fut.result())
                    fut.release()
                    bar.update(1)
            finally:
                cluster = client.cluster
                client.close()
                if cluster is not None and not scheduler:
                    cluster.close()
    finally:
        bar.close()
    return {
        "done": len(todo),
        "skipped": len(wanted) - len(todo),
        "seconds": time.perf_counter() - t0,
        "workers": workers,
    }


def load_results(out: str | os.PathLike[str]) -> pd.DataFrame:
    """Every replication written to ``out``, sorted (rep, scenario, estimator, inference)."""
    files = sorted(Path(out).glob("rep_*.parquet"))
    if not files:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    keys = ["rep", "scenario", "estimator", "inference"]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- aggregation
#: Quantiles of the estimate-to-truth ratio kept in the summary.
RATIO_QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE, coverage, rejection rates and their simulation errors.

    One row per scenario x estimator x inference: ``n`` replications; ``mean_estimate``,
    ``mean_truth``, ``bias`` (mean of estimate - truth) with ``bias_mcse`` (its simulation
    standard error, sd / sqrt(n)); ``sd_estimate``; ``rmse``; ``mean_se`` (mean reported
    standard error); ``coverage`` and ``rejection`` (shares of replications) with binomial
    simulation errors ``sqrt(p(1-p)/n)`` (``coverage_mcse``, ``rejection_mcse``); and, where
    the truth is not zero, the mean and quantiles of the ratio ``estimate / truth``.
    """
    rows = []
    keys = ["scenario", "estimator", "inference"]
    for key, g in results.groupby(keys, sort=False):
        n = len(g)
        est, tru = g["estimate"].to_numpy(float), g["truth"].to_numpy(float)
        err = est - tru
        cov = g["covers"].to_numpy(float).mean()
        rej = g["rejects"].to_numpy(float).mean()
        row = dict(zip(keys, key, strict=True))
        sd_err = err.std(ddof=1) if n > 1 else np.nan
        row.update(
            n=n,
            mean_estimate=est.mean(),
            mean_truth=tru.mean(),
            bias=err.mean(),
            bias_mcse=sd_err / np.sqrt(n),
            sd_estimate=est.std(ddof=1) if n > 1 else np.nan,
            rmse=float(np.sqrt(np.mean(err**2))),
            mean_se=g["se"].mean(),
            coverage=cov,
            coverage_mcse=np.sqrt(cov * (1 - cov) / n),
            rejection=rej,
            rejection_mcse=np.sqrt(rej * (1 - rej) / n),
        )
        nonzero = np.abs(tru) > 1e-12
        if nonzero.all():
            ratio = est / tru
            row["ratio_mean"] = ratio.mean()
            row["ratio_mcse"] = ratio.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
            for q in RATIO_QUANTILES:
                row[f"ratio_q{int(round(q * 100)):02d}"] = float(np.quantile(ratio, q))
        rows.append(row)
    return pd.DataFrame(rows)


def ratio_histogram(
    results: pd.DataFrame, bins: Sequence[float] = tuple(np.linspace(-1.0, 2.0, 31))
) -> pd.DataFrame:
    """Counts of the estimate-to-truth ratio per scenario and estimator (one inference).

    Ratios outside ``bins`` are counted in the outermost bins. Scenarios with a zero truth
    (``"none"``) are left out.
    """
    edges = np.asarray(bins, dtype=float)
    first = results["inference"].iloc[0] if len(results) else None
    r = results[results["inference"] == first]
    rows = []
    for (scen, est), g in r.groupby(["scenario", "estimator"], sort=False):
        tru = g["truth"].to_numpy(float)
        if (np.abs(tru) <= 1e-12).any():
            continue
        ratio = np.clip(g["estimate"].to_numpy(float) / tru, edges[0], edges[-1])
        counts, _ = np.histogram(ratio, bins=edges)
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):
            rows.append(dict(scenario=scen, estimator=est, lo=lo, hi=hi, count=int(c)))
    return pd.DataFrame(rows)


def agreement(live: pd.DataFrame, committed: pd.DataFrame, level: float = 0.99) -> pd.DataFrame:
    """Does a small live study agree with the committed summary within simulation error?

    Compares, for every scenario x estimator x inference in both, the mean error
    (``bias``), ``z = (live - committed) / sqrt(mcse_live^2 + mcse_committed^2)``, and the
    rejection rate, by the two-proportion z test with the pooled rate (so that a rate of 0 or
    1 in a small run still has an error). ``agrees`` is ``|z|`` at most the two-sided normal
    critical value at ``level``, Bonferroni-corrected over all comparisons made (a bias whose
    two simulation errors are both zero or undefined cannot be compared and counts as
    agreeing only when the values are equal).

    Returns
    -------
    DataFrame
        One row per comparison: keys, ``quantity``, ``live``, ``committed``, ``z``,
        ``agrees``; ``attrs["critical"]`` holds the critical value.
    """
    keys = ["scenario", "estimator", "inference"]
    m = live.merge(committed, on=keys, suffixes=("_live", "_full"))
    rows = []
    for _, r in m.iterrows():
        for q in ("bias", "rejection"):
            a, b = r[f"{q}_live"], r[f"{q}_full"]
            if q == "bias":
                se = np.hypot(r["bias_mcse_live"], r["bias_mcse_full"])
            else:  # two-proportion z test with the pooled rate
                n1, n2 = r["n_live"], r["n_full"]
                pool = (a * n1 + b * n2) / (n1 + n2)
                se = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
            z = (a - b) / se if se > 0 else (0.0 if a == b else np.inf)
            rows.append({**{k: r[k] for k in keys}, "quantity": q, "live": a,
                         "committed": b, "z": z})  # fmt: skip
    out = pd.DataFrame(rows)
    crit = float(stats.norm.ppf(1 - (1 - level) / 2 / max(len(out), 1)))
    out["agrees"] = out["z"].abs() <= crit
    out.attrs["critical"] = crit
    return out


#: First replication index of live runs: their spawn keys never meet the committed study's.
LIVE_FIRST_REP = 100_000


def live_study(
    base: Spec,
    reps: int,
    *,
    master_seed: int = MASTER_SEED,
    scenarios: Sequence[str] | None = None,
    estimators: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, float]:
    """A small study run in this process (for the book): ``(results, wall seconds)``.

    Replications ``LIVE_FIRST_REP ..`` are independent of the committed study's
    ``0 .. n-1`` (other spawn keys of the same master seed), so the comparison with the
    committed summary is a test of simulation error, not a rerun of the same draws. Runs
    serially through :func:`run_study` in a temporary folder, without progress output.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cbec-mc-") as tmp:
        t0 = time.perf_counter()
        run_study(
            range(LIVE_FIRST_REP, LIVE_FIRST_REP + int(reps)),
            tmp,
            master_seed=master_seed,
            scenarios=scenarios,
            estimators=estimators,
            base=base,
            scheduler="serial",
        )
        return load_results(tmp), time.perf_counter() - t0


# --------------------------------------------------------------------------- committed summary
def write_summary(
    results: pd.DataFrame,
    to: str | os.PathLike[str],
    meta: dict[str, Any],
) -> Path:
    """Write the committed aggregate: ``summary.csv``, ``ratio_hist.csv``, ``summary.json``."""
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    summarise(results).to_csv(to / "summary.csv", index=False, float_format="%.6g")
    ratio_histogram(results).to_csv(to / "ratio_hist.csv", index=False, float_format="%.6g")
    per = results.groupby("scenario")["rep"].nunique()
    timing = results.drop_duplicates(["rep", "scenario", "estimator"])
    meta = {
        **meta,
        "replications_per_scenario": {k: int(v) for k, v in per.items()},
        "seconds_world_mean": float(
            timing.drop_duplicates(["rep", "scenario"])["seconds_world"].mean()
        ),
        "seconds_estimator_mean": {
            k: float(v) for k, v in timing.groupby("estimator")["seconds_estimator"].mean().items()
        },
    }
    (to / "summary.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return to


def read_summary(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The committed summary: (summary, ratio histogram, metadata)."""
    path = Path(path)
    meta = json.loads((path / "summary.json").read_text())
    return (
        pd.read_csv(path / "summary.csv"),
        pd.read_csv(path / "ratio_hist.csv"),
        meta,
    )


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cbec.analyses.montecarlo run|summarise ...`` (see the module docstring)."""
    ap = argparse.ArgumentParser(
        prog="python -m cbec.analyses.montecarlo", description=__doc__.split("\n")[0]
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run or resume the study (Parquet files in --out)")
    r.add_argument("--reps", type=int, required=True, help="replications 0..REPS-1")
    r.add_argument("--out", required=True, help="folder of the Parquet files")
    r.add_argument("--master-seed", type=int, default=MASTER_SEED)
    r.add_argument("--scheduler", default=None, help="'serial', or a dask scheduler address")
    r.add_argument(
        "--workers", type=int, default=None, help="LocalCluster workers (default: cores)"
    )
    r.add_argument("--scenarios", default=None, help="comma-separated (default: all available)")
    r.add_argument("--estimators", default=None, help="comma-separated (default: all registered)")
    r.add_argument("--no-progress", action="store_true")
    s = sub.add_parser("summarise", help="write the committed aggregate from --out")
    s.add_argument("--out", required=True)
    s.add_argument("--to", required=True)
    s.add_argument("--command", default=None, help="the command that made --out (recorded)")
    s.add_argument("--wall-seconds", type=float, default=None, help="wall time of the run")
    s.add_argument("--workers", type=int, default=None, help="Dask workers of the run")
    s.add_argument("--note", default=None, help="a sentence on how the run went (recorded)")
    s.add_argument("--benchmark", default=None, help="JSON of benchmarks/bench_montecarlo.py")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        info = run_study(
            args.reps,
            args.out,
            master_seed=args.master_seed,
            scenarios=args.scenarios.split(",") if args.scenarios else None,
            estimators=args.estimators.split(",") if args.estimators else None,
            scheduler=args.scheduler,
            n_workers=args.workers,
            progress=not args.no_progress,
        )
        print(json.dumps(info), flush=True)
        return 0
    results = load_results(args.out)
    if results.empty:
        print(f"no replications in {args.out}", file=sys.stderr)
        return 1
    meta = json.loads((Path(args.out) / "study.json").read_text())
    meta["command"] = args.command or "python -m cbec.analyses.montecarlo run --out " + shlex.quote(
        str(args.out)
    )
    for key in ("wall_seconds", "workers", "note"):
        if getattr(args, key) is not None:
            meta[key] = getattr(args, key)
    if args.benchmark:
        meta["benchmark"] = json.loads(Path(args.benchmark).read_text())
    meta["made"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_summary(results, args.to, meta)
    print(f"summary of {results['rep'].nunique()} replications written to {args.to}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
