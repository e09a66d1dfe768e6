"""The robustness table: the baseline DID re-estimated under one changed choice per row.

Each row is either a :class:`~cbec.spec.Spec` change (the same pipeline with one field
changed: outcome measure, outcome moments, treatment timing, tie threshold, control
exposure, fixed effects, clustering, winsorising, a left-out pilot) or a sample restriction
on the baseline pair panel (dropping the last batch, dropping municipalities and provincial
capitals, the PSM-matched sample). On the twin every row also carries the true average
effect on the treated pairs under that row's own definition of the outcome and sample, so
the reader sees what each estimate should recover, and :func:`closest_to_truth` marks the
row whose estimate-to-truth ratio is nearest one.

Spec changes that act only on the finished panel (:data:`PANEL_FIELDS`) or only on the fit
(:data:`FIT_FIELDS`) reuse the baseline study instead of rebuilding it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbec.estimators import bootstrap, decomposition, placebo, psm
from cbec.estimators import fe as estimate
from cbec.spec import Spec
from cbec.study import exposure, pairs
from cbec.study.pipeline import Study, build_study

#: Spec fields applied to the finished pair panel by :func:`cbec.study.pairs.apply_designs`.
PANEL_FIELDS = frozenset({"control_exposure", "exposure_quantile", "winsorize", "drop_pilot"})
#: Spec fields that change only the synchronization measure (recomputed on the same sample).
OUTCOME_FIELDS = frozenset(
    {"sync_measure", "index_input", "z_ddof", "cycle_filter", "hp_lambda", "rolling_window"}
)
#: Spec fields that change only the fit (fixed effects, variance).
FIT_FIELDS = frozenset({"year_effects", "cluster"})

#: Hangzhou, the pilot with the most pairs (the default of ``Spec.drop_pilot``'s alternative).
HANGZHOU = 330100


@dataclass(frozen=True)
class Check:
    """One robustness row: a Spec change, a sample restriction, or both."""

    group: str
    label: str
    changes: dict | None = None  # Spec fields to change
    subset: Callable[[pd.DataFrame], pd.Series] | None = None  # rows to keep


def _drop_batch(batch: int) -> Callable[[pd.DataFrame], pd.Series]:
    def keep(p: pd.DataFrame) -> pd.Series:
        return ~(p["batch"] == batch)

    return keep


def _only_ordinary(p: pd.DataFrame) -> pd.Series:
    """Keep pairs whose two cities are both ordinary prefecture-level cities (rank 1)."""
    return (p["admin_rank_i"] == 1) & (p["admin_rank_j"] == 1)


def default_checks(spec: Spec) -> list[Check]:
    """The book's robustness rows for a given baseline spec."""
    checks = [
        Check("Baseline", "As in Table 2.1"),
        Check("Outcome", "KPP: minus absolute growth gap", {"sync_measure": "kpp"}),
        Check("Outcome", "KPP on residual growth", {"sync_measure": "kpp_resid"}),
        Check(
            "Outcome",
            f"Rolling {spec.rolling_window}-year correlation of "
            f"{'HP' if spec.cycle_filter == 'hp' else 'Hamilton'} cycles",
            {"sync_measure": "rolling_corr"},
        ),
        Check("Outcome", "CM on index growth", {"index_input": "growth"}),
        Check("Outcome", "CM with sample sd (ddof=1)", {"z_ddof": 1}),
        Check("Design", "Outcome on pre-period moments only", {"outcome_moments": "pre"}),
        Check("Design", "Winsorised outcome (1% tails)", {"winsorize": 0.01}),
        Check("Design", "Clean controls only (exposure mapping)", {"control_exposure": "clean"}),
        Check("Design", "Region-pair x year effects", {"year_effects": "region_pair_year"}),
        Check("Design", "Clustered by province", {"cluster": "province"}),
        Check("Timing", "First full year after approval", {"treat_year_rule": "first_full"}),
        Check("Timing", "Approval year if before 1 July", {"treat_year_rule": "date_rule"}),
        Check(
            "Sample",
            f"Drop the last batch (batch {spec.last_batch})",
            subset=_drop_batch(spec.last_batch),
        ),  # fmt: skip
        Check("Sample", "Drop municipalities and provincial capitals", subset=_only_ordinary),
        Check("Ties", "No tie filter", {"tie_quantile": 0.0}),
        Check("Ties", "Drop the weakest tercile", {"tie_quantile": 1 / 3}),
        Check("Ties", "Drop the two weakest terciles", {"tie_quantile": 2 / 3}),
    ]
    return [
        c
        for c in checks
        if not c.changes or any(getattr(spec, k) != v for k, v in c.changes.items())
    ]


def study_for(study: Study, changes: dict | None) -> tuple[Spec, pd.DataFrame]:
    """The spec and pair panel of one row, reusing the baseline study where possible."""
    spec = study.spec
    if not changes:
        return spec, study.panel
    new = spec.replace(**changes)
    if set(changes) <= OUTCOME_FIELDS and _plain_panel(spec) and _same_years(spec, new):
        return new, _reoutcome(study, new)
    if set(changes) <= PANEL_FIELDS | FIT_FIELDS:
        if set(changes) & PANEL_FIELDS:
            # the baseline panel is not winsorised twice: apply the new designs from scratch
            base = new if "winsorize" in changes else new.replace(winsorize=0.0)
            return new, pairs.apply_designs(study.panel, study.pairs, base)
        return new, study.panel
    return new, build_study(new).panel


def _plain_panel(spec: Spec) -> bool:
    """True when the study's panel holds every kept pair, unwinsorised (reusable)."""
    return spec.winsorize == 0 and spec.control_exposure == "all" and spec.drop_pilot is None


def _same_years(spec: Spec, new: Spec) -> bool:
    """True when both specs need the same city-years (so the real sample cannot change)."""
    from cbec.study.pipeline import _needed_years

    return spec.is_synthetic or _needed_years(spec) == _needed_years(new)


def _reoutcome(study: Study, new: Spec) -> pd.DataFrame:
    """The study's panel with the outcome (and its truth) recomputed under ``new``.

    Same sample and timing; only the synchronization measure changes, computed from the
    study's own indices (factual and, on the twin, no-policy), so no rebuild is needed.
    """
    from cbec.study.pipeline import _wide

    ids = study.universe["city_id"].to_numpy()
    kp = study.panel.drop_duplicates("pair_id")
    pi, pj = kp["pos_i"].to_numpy(), kp["pos_j"].to_numpy()
    ref = pairs.moment_years(new, study.universe)

    def outcome(index: pd.DataFrame, data: pd.DataFrame) -> np.ndarray:
        growth = _wide(data, "gdp_growth", ids) if "gdp_growth" in data.columns else None
        return pairs.pair_outcome(index, growth, pi, pj, new, ref).reshape(-1)

    panel = study.panel.copy()
    panel["syn"] = outcome(study.index, study.city.data)
    if study.index_cf is not None and "syn_cf" in panel:
        panel["syn_cf"] = outcome(study.index_cf, study.city.counterfactual)
        panel["tau"] = panel["syn"] - panel["syn_cf"]
    return panel


def fit_row(panel: pd.DataFrame, spec: Spec, controls: tuple[str, ...]) -> dict:
    """The DID with controls under the spec's fixed effects and clustering.

    Returns ``coef, se, p, ci_low, ci_high, nobs, n_pairs``. Pair and year effects with a
    one-way cluster that nests the pairs take the exact numpy path
    (:func:`cbec.estimators.decomposition.fwl_did`, equal to pyfixest's numbers); anything
    else goes through :func:`cbec.estimators.fe.fit_twfe`.
    """
    fe_cols = pairs.fixed_effects(spec)
    if fe_cols == ("pair_id", "year") and spec.cluster in decomposition.FWL_CLUSTERS:
        return decomposition.fwl_did(panel, "syn", "did", controls, vcov=spec.cluster)
    fit = estimate.fit_twfe(
        panel, y="syn", treat="did", controls=controls, fe=fe_cols, vcov=spec.cluster
    )
    return {k: v for k, v in _row("", "", fit, np.nan, "").items()
            if k in ("coef", "se", "p", "ci_low", "ci_high", "nobs", "n_pairs")}  # fmt: skip


def run_checks(
    study: Study,
    checks: list[Check] | None = None,
    *,
    controls: tuple[str, ...] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Estimate the DID under every check.

    Returns one row per check: group, label, coef, se, p, ci_low, ci_high, nobs, n_pairs,
    true_att (NaN on real data) and the spec key of the row.
    """
    spec = study.spec
    checks = default_checks(spec) if checks is None else checks
    controls = spec.controls if controls is None else controls
    rows = []
    for k, check in enumerate(checks, 1):
        if progress:
            print(f"[{k}/{len(checks)}] {check.group}: {check.label}", flush=True)
        row_spec, panel = study_for(study, check.changes)
        if check.subset is not None:
            panel = panel[check.subset(panel).to_numpy()].reset_index(drop=True)
        truth = float(panel.loc[panel["did"] == 1, "tau"].mean()) if "tau" in panel else np.nan
        rows.append(
            {"group": check.group, "label": check.label, **fit_row(panel, row_spec, controls),
             "true_att": truth, "spec": row_spec.key()}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _row(group: str, label: str, fit: estimate.FitResult, truth: float, key: str) -> dict:
    return {
        "group": group,
        "label": label,
        "coef": float(fit.coef["did"]),
        "se": float(fit.se["did"]),
        "p": float(fit.pvalue["did"]),
        "ci_low": float(fit.ci_low["did"]),
        "ci_high": float(fit.ci_high["did"]),
        "nobs": int(fit.nobs),
        "n_pairs": int(fit.n_pairs),
        "true_att": truth,
        "spec": key,
    }


# ------------------------------------------------------------------ designs
def spillover_check(study: Study) -> dict:
    """The spillover effect: DID of exposed against clean control pairs, treated pairs apart.

    Fits ``syn ~ spill_post + did + controls | pair + year`` on the whole panel, so that
    exposed control pairs after their pilots' designation (``spill_post``) are compared
    with clean controls, while the treated pairs keep their own DID term. The row's truth
    is the mean true effect over the exposed post cells.
    """
    spec = study.spec
    panel = study.panel
    if "spill_post" not in panel.columns:
        panel = exposure.add_exposure(panel, study.pairs, spec.exposure_quantile)
    panel = panel.assign(spill=panel["spill_post"].astype(float))
    fit = estimate.fit_twfe(
        panel, y="syn", treat="spill", controls=("did", *spec.controls), vcov=spec.cluster
    )
    truth = float(panel.loc[panel["spill"] == 1, "tau"].mean()) if "tau" in panel else np.nan
    row = {
        "group": "Design",
        "label": "Spillover: exposed vs clean controls (own estimand)",
        "coef": float(fit.coef["spill"]),
        "se": float(fit.se["spill"]),
        "p": float(fit.pvalue["spill"]),
        "ci_low": float(fit.ci_low["spill"]),
        "ci_high": float(fit.ci_high["spill"]),
        "nobs": int(fit.nobs),
        "n_pairs": int(fit.n_pairs),
        "true_att": truth,
        "spec": spec.key(),
        "estimand": "spillover",
    }
    return row


def bootstrap_check(study: Study, *, controls: tuple[str, ...] | None = None) -> dict:
    """The baseline DID with a wild cluster bootstrap by city (p-value and interval)."""
    spec = study.spec
    controls = spec.controls if controls is None else controls
    n_boot = spec.n_boot_fast if spec.fast else spec.n_boot
    res = bootstrap.bootstrap_did(
        study.panel, y="syn", controls=controls, fe=pairs.fixed_effects(spec),
        cluster="cluster_city", n_boot=n_boot, weights=spec.boot_weights, seed=spec.seed,
    )  # fmt: skip
    truth = study.true_att() if study.has_truth else np.nan
    return {
        "group": "Inference",
        "label": f"Wild cluster bootstrap by city ({spec.boot_weights}, {res.n_boot} draws)",
        "coef": res.coef,
        "se": res.se,
        "p": res.p_value,
        "ci_low": res.ci_low,
        "ci_high": res.ci_high,
        "nobs": len(study.panel),
        "n_pairs": int(study.panel["pair_id"].nunique()),
        "true_att": truth,
        "spec": spec.key(),
    }


def placebo_check(study: Study, *, controls: tuple[str, ...] | None = None) -> tuple[dict, object]:
    """Placebo with pseudo pilots drawn within admin-rank x region strata (permutation p)."""
    spec = study.spec
    controls = spec.controls if controls is None else controls
    pilots = study.universe.loc[study.universe["pilot"], ["city_id", "treat_year"]]
    res = placebo.placebo_stratified(
        study.panel, "syn", controls, spec.draws, spec.seed, pilots=pilots,
        universe=study.universe,
    )  # fmt: skip
    row = {
        "group": "Inference",
        "label": f"Placebo within rank x region strata, {res.n_valid} draws: permutation p",
        "coef": res.actual,
        "p": res.p_value,
        "true_att": study.true_att() if study.has_truth else np.nan,
        "spec": spec.replace(placebo_strata="rank_region").key(),
    }
    return row, res


def leave_one_pilot_out(study: Study, *, controls: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The DID with controls dropping each pilot city's pairs in turn, with its own truth.

    Returns one row per pilot: ``city_id, name, pairs`` (treated pairs left out),
    ``coef``, ``true_att`` and ``shift`` (``coef`` minus the full-sample estimate),
    sorted by ``|shift|``, largest first. Each coefficient is exact, computed by
    :class:`cbec.estimators.placebo.PairDropFWL` (pair and year effects; the panel stays
    balanced when whole pairs leave).
    """
    spec = study.spec
    controls = spec.controls if controls is None else controls
    panel = study.panel
    fast = placebo.PairDropFWL(panel, "syn", "did", controls)
    full = fast.coef(np.zeros(0, dtype=np.int64))
    names = study.universe.set_index("city_id")
    name_col = "name_pinyin" if "name_pinyin" in names.columns else None
    treated = panel[panel["treated"] == 1]
    tau_sum = tau_n = 0.0
    if "tau" in panel:
        post = panel[panel["did"] == 1]
        tau_sum, tau_n = float(post["tau"].sum()), float(len(post))
        by_pilot = post.groupby("pilot_city")["tau"].agg(["sum", "size"])
    rows = []
    for city, grp in treated.groupby("pilot_city"):
        ids = grp["pair_id"].unique()
        coef = fast.coef(fast.positions(ids))
        truth = np.nan
        if "tau" in panel and city in by_pilot.index:
            s_, n_ = by_pilot.loc[city, "sum"], by_pilot.loc[city, "size"]
            truth = (tau_sum - s_) / (tau_n - n_) if tau_n > n_ else np.nan
        elif "tau" in panel:
            truth = tau_sum / tau_n
        rows.append(
            {
                "city_id": int(city),
                "name": str(names.loc[int(city), name_col]) if name_col else str(int(city)),
                "pairs": int(ids.size),
                "coef": coef,
                "true_att": truth,
                "shift": coef - full,
            }
        )
    out = pd.DataFrame(rows)
    return out.reindex(out["shift"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def closest_to_truth(rows: pd.DataFrame) -> pd.DataFrame:
    """Add ``ratio`` (estimate over the row's own truth) and ``closest`` (nearest to one).

    Only rows with their own estimate of the ATT are compared (not the spillover row, not
    the rows of the group ``"Inference"``); on real data ``ratio`` is NaN and nothing is
    marked.
    """
    out = rows.copy()
    est = out["estimand"].fillna("att") if "estimand" in out else pd.Series("att", out.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ratio"] = out["coef"] / out["true_att"]
    ok = (est == "att") & out["se"].notna() & np.isfinite(out["ratio"])
    ok &= out["group"] != "Inference"  # same estimate as the baseline, other inference
    out["closest"] = ""
    if ok.any():
        best = (out.loc[ok, "ratio"] - 1).abs().idxmin()
        out.loc[best, "closest"] = "closest"
    covers = (out["ci_low"] <= out["true_att"]) & (out["true_att"] <= out["ci_high"])
    known = out["true_att"].notna() & out["ci_low"].notna()
    out["covers_truth"] = covers.astype("boolean").where(known, pd.NA)
    return out


# ------------------------------------------------------------------ PSM
#: Base-year pair characteristics the propensity score is estimated on (besides controls).
PSM_COVARIATES = ("log_tie", "log_distance", "same_region")


def psm_check(study: Study, *, caliper: float = 0.05) -> tuple[dict, psm.MatchResult]:
    """PSM-DID: match treated to control pairs on base-year traits, re-estimate the DID.

    The propensity of being a treated pair is a logit on the log tie score, the log
    distance, whether both cities lie in the same region (east/central/west) and the spec's
    controls in the first window year. Treated pairs are matched to their nearest control
    pair without replacement within ``caliper`` standard deviations of the score
    (:func:`cbec.estimators.psm.propensity_match`); treated pairs without a control inside the caliper
    are reported in ``MatchResult.off_support_ids`` and left out of the matched sample.

    Returns the robustness row and the match (with its balance table).
    """
    import warnings

    spec = study.spec
    panel = study.panel
    base = panel[panel["year"] == spec.first_year]
    base = base.assign(
        log_tie=np.log(base["tie"]),
        log_distance=np.log(base["distance_km"]),
        same_region=(base["region3_i"] == base["region3_j"]).astype(float),
    )
    covs = [*PSM_COVARIATES, *spec.controls]
    with warnings.catch_warnings():  # the off-support count is returned, not just warned
        warnings.simplefilter("ignore", UserWarning)
        match = psm.propensity_match(
            base, covs, treated="treated", caliper=caliper, replace=False, seed=spec.seed
        )
    matched = panel[panel["pair_id"].isin(match.pair_ids)].reset_index(drop=True)
    fit = estimate.fit_twfe(
        matched, y="syn", treat="did", controls=spec.controls, vcov=spec.cluster
    )
    truth = float(matched.loc[matched["did"] == 1, "tau"].mean()) if study.has_truth else np.nan
    row = _row("Sample", "PSM-matched pairs (nearest neighbour, no replacement)", fit, truth,
               spec.key())  # fmt: skip
    return row, match
