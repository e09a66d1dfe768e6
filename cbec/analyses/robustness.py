"""The robustness table: the baseline DID re-estimated under one changed choice per row.

Each row is either a :class:`~cbec.spec.Spec` change (the same pipeline with one field
changed: outcome measure, treatment timing, tie threshold) or a sample restriction on the
baseline pair panel (dropping the December-2019 batch, dropping municipalities and
provincial capitals, the PSM-matched sample). On the twin every row also carries the true
average effect on the treated pairs under that row's own definition of the outcome, so the
reader sees what each estimate should recover.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbec.estimators import fe as estimate
from cbec.estimators import psm
from cbec.spec import Spec
from cbec.study.pipeline import Study, build_study


@dataclass(frozen=True)
class Check:
    """One robustness row."""

    group: str
    label: str
    changes: dict | None = None  # Spec fields to change
    subset: Callable[[pd.DataFrame], pd.Series] | None = None  # rows to keep
    weights: str | None = None


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
            "Outcome", "Rolling 5-year correlation of HP cycles", {"sync_measure": "rolling_corr"}
        ),
        Check("Outcome", "CM on index growth", {"index_input": "growth"}),
        Check("Outcome", "CM with sample sd (ddof=1)", {"z_ddof": 1}),
        Check("Timing", "First full year after approval", {"treat_year_rule": "first_full"}),
        Check("Timing", "Approval year if before 1 July", {"treat_year_rule": "date_rule"}),
        Check("Sample", "Drop the December-2019 batch", subset=_drop_batch(4)),
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


def run_checks(
    study: Study,
    checks: list[Check] | None = None,
    *,
    controls: tuple[str, ...] | None = None,
    extra_rows: list[dict] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Estimate the DID under every check.

    Returns one row per check: group, label, coef, se, p, ci_low, ci_high, nobs, n_pairs,
    true_att (NaN on real data) and the spec key of the study that produced it.
    """
    spec = study.spec
    checks = default_checks(spec) if checks is None else checks
    controls = spec.controls if controls is None else controls
    rows = []
    for k, check in enumerate(checks, 1):
        if progress:
            print(f"[{k}/{len(checks)}] {check.group}: {check.label}", flush=True)
        s = study if not check.changes else build_study(spec.replace(**check.changes))
        panel = s.panel
        if check.subset is not None:
            panel = panel[check.subset(panel).to_numpy()].reset_index(drop=True)
        fit = estimate.fit_twfe(panel, y="syn", treat="did", controls=controls, vcov=spec.cluster)
        truth = float(panel.loc[panel["did"] == 1, "tau"].mean()) if "tau" in panel else np.nan
        rows.append(_row(check.group, check.label, fit, truth, s.spec.key()))
    for extra in extra_rows or []:
        rows.append(extra)
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
