"""The robustness rows and the PSM check on the synthetic twin."""

from __future__ import annotations

import numpy as np
import pytest

from cbec import Spec
from cbec.analyses import robustness
from cbec.estimators import fe as estimate
from cbec.study.pipeline import build_study


@pytest.fixture(scope="module")
def study():
    return build_study(Spec(fast=True))


def test_default_checks_skip_rows_equal_to_the_baseline():
    labels = [c.label for c in robustness.default_checks(Spec())]
    assert "First full year after approval" in labels
    # a baseline that already uses first_full drops that row but keeps the others
    labels_ff = [c.label for c in robustness.default_checks(Spec(treat_year_rule="first_full"))]
    assert "First full year after approval" not in labels_ff
    assert len(labels_ff) == len(labels) - 1


def test_run_checks_rows(study):
    checks = [
        robustness.Check("Baseline", "base"),
        robustness.Check("Timing", "first full", {"treat_year_rule": "first_full"}),
        robustness.Check("Sample", "no batch 4", subset=robustness._drop_batch(4)),
    ]
    rows = robustness.run_checks(study, checks, progress=False)
    assert rows["label"].tolist() == ["base", "first full", "no batch 4"]
    fit = estimate.fit_twfe(study.panel, y="syn", treat="did", controls=study.spec.controls,
                            vcov=study.spec.cluster)  # fmt: skip
    assert rows.loc[0, "coef"] == pytest.approx(float(fit.coef["did"]), rel=1e-12)
    assert rows.loc[0, "se"] == pytest.approx(float(fit.se["did"]), rel=1e-12)
    assert rows.loc[0, "true_att"] == pytest.approx(study.true_att(), rel=1e-12)
    # a spec change rebuilds the study: another spec key, same sample size
    assert rows.loc[1, "spec"] != rows.loc[0, "spec"]
    assert rows.loc[1, "nobs"] == rows.loc[0, "nobs"]
    # the sample restriction drops the batch-4 pairs only
    n4 = int((study.panel["batch"] == 4).sum())
    assert rows.loc[2, "nobs"] == rows.loc[0, "nobs"] - n4 > 0


def test_only_ordinary_keeps_rank_one_pairs(study):
    keep = robustness._only_ordinary(study.panel)
    kept = study.panel[keep]
    assert (kept[["admin_rank_i", "admin_rank_j"]] == 1).all().all()
    assert 0 < len(kept) < len(study.panel)


def test_psm_check(study):
    row, match = robustness.psm_check(study)
    n_treated = int(study.pairs.loc[study.pairs["kept"], "treated"].sum())
    # one control per matched treated pair, without replacement
    assert row["n_pairs"] == 2 * (n_treated - match.n_off_support)
    assert row["nobs"] == row["n_pairs"] * study.spec.n_years
    assert np.isfinite(row["coef"]) and row["se"] > 0
    # matching improves balance on the covariates it matched on
    bal = match.balance
    assert (bal["smd_after"].abs() <= bal["smd_before"].abs() + 1e-12).mean() >= 0.5
