"""The robustness rows and the PSM check on the synthetic twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
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


def test_labels_follow_the_spec():
    labels = [c.label for c in robustness.default_checks(Spec(rolling_window=4, last_batch=3))]
    assert "Rolling 4-year correlation of HP cycles" in labels
    assert "Drop the last batch (batch 3)" in labels
    assert not any("December" in lab for lab in labels)


def test_reused_rows_equal_rebuilt_rows(study):
    # outcome, panel and fit changes reuse the baseline study; a rebuild gives the same row
    for change in ({"sync_measure": "kpp"}, {"control_exposure": "clean"}, {"winsorize": 0.01}):
        fast = robustness.run_checks(study, [robustness.Check("x", "x", change)], progress=False)
        spec = study.spec.replace(**change)
        slow = build_study(spec).panel
        fit = estimate.fit_twfe(slow, y="syn", treat="did", controls=spec.controls,
                                vcov=spec.cluster)  # fmt: skip
        assert fast.loc[0, "coef"] == pytest.approx(float(fit.coef["did"]), abs=1e-10)
        assert fast.loc[0, "se"] == pytest.approx(float(fit.se["did"]), rel=1e-8)
        truth = float(slow.loc[slow["did"] == 1, "tau"].mean())
        assert fast.loc[0, "true_att"] == pytest.approx(truth, abs=1e-12)


def test_region_pair_year_row_uses_its_fixed_effects(study):
    rows = robustness.run_checks(
        study, [robustness.Check("x", "rp", {"year_effects": "region_pair_year"})],
        progress=False,
    )  # fmt: skip
    fit = estimate.fit_twfe(study.panel, y="syn", treat="did", controls=study.spec.controls,
                            fe=("pair_id", "region_pair_year"), vcov=study.spec.cluster)  # fmt: skip
    assert rows.loc[0, "coef"] == pytest.approx(float(fit.coef["did"]), abs=1e-10)


def test_leave_one_pilot_out(study):
    loo = robustness.leave_one_pilot_out(study)
    assert len(loo) == study.panel.loc[study.panel["treated"] == 1, "pilot_city"].nunique()
    top = loo.iloc[0]
    sub = study.panel[study.panel["pilot_city"] != top["city_id"]]
    fit = estimate.fit_twfe(sub, y="syn", treat="did", controls=study.spec.controls,
                            vcov="pair")  # fmt: skip
    assert top["coef"] == pytest.approx(float(fit.coef["did"]), abs=1e-10)
    assert top["true_att"] == pytest.approx(float(sub.loc[sub["did"] == 1, "tau"].mean()))
    assert list(loo["shift"].abs()) == sorted(loo["shift"].abs(), reverse=True)


def test_closest_to_truth_and_extra_rows(study):
    rows = robustness.run_checks(study, [robustness.Check("Baseline", "base")], progress=False)
    spill = robustness.spillover_check(study)
    boot = robustness.bootstrap_check(study)
    rows = pd.concat([rows, pd.DataFrame([spill, boot])], ignore_index=True)
    out = robustness.closest_to_truth(rows)
    assert (out["closest"] == "closest").sum() == 1
    assert out.loc[out["closest"] == "closest", "estimand"].isna().all()
    assert out.loc[1, "true_att"] == pytest.approx(
        study.panel.loc[study.panel["spill_post"] == 1, "tau"].mean()
    )
    assert boot["coef"] == pytest.approx(rows.loc[0, "coef"], abs=1e-10)
    assert 0 < boot["p"] <= 1 and boot["ci_low"] < boot["coef"] < boot["ci_high"]


def test_run_checks_rows(study):
    checks = [
        robustness.Check("Baseline", "base"),
        robustness.Check("Timing", "first full", {"treat_year_rule": "first_full"}),
        robustness.Check("Sample", "no batch 4", subset=robustness._drop_batch(4)),
        robustness.Check("Design", "province", {"cluster": "province"}),
    ]
    rows = robustness.run_checks(study, checks, progress=False)
    assert rows["label"].tolist() == ["base", "first full", "no batch 4", "province"]
    prov = estimate.fit_twfe(study.panel, y="syn", treat="did", controls=study.spec.controls,
                             vcov="province")  # fmt: skip
    assert rows.loc[3, "se"] == pytest.approx(float(prov.se["did"]), rel=1e-8)
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
