"""Tests of the Monte Carlo study (cbec.analyses.montecarlo).

Independent references: pyfixest (through :func:`cbec.estimators.fe.se_table` and ``feols``)
for the fast FWL fits and their clustered variances, pyfixest's alternating projections for
the nested region-pair x year demeaning, :func:`cbec.estimators.bootstrap.bootstrap_did` for
the wild bootstrap, numpy's ``SeedSequence.spawn`` for the seeds, hand-computed frames for
the aggregation, and an uninterrupted run for the kill-and-resume test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cbec.analyses import montecarlo as mc
from cbec.spec import Spec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study():
    from cbec.study.pipeline import build_study

    return build_study(Spec(scenario="radiation", seed=5))


# --------------------------------------------------------------------------- seeds
def test_replication_seed_is_the_spawned_child():
    children = np.random.SeedSequence(123).spawn(5)
    for r, child in enumerate(children):
        want = int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
        assert mc.replication_seed(123, r) == want
    seeds = [mc.replication_seed(123, r) for r in range(50)]
    assert len(set(seeds)) == 50 and all(0 <= s < 2**63 for s in seeds)
    assert mc.replication_seed(124, 0) != mc.replication_seed(123, 0)
    with pytest.raises(ValueError):
        mc.replication_seed(1, -1)


def test_available_scenarios_follow_the_twin():
    from cbec import spec as spec_module

    offered = set(getattr(spec_module, "SCENARIOS", ()))
    got = mc.available_scenarios()
    assert set(got) <= offered and {"radiation", "siphon", "none"} <= set(got)
    assert mc.available_scenarios(("none", "no_such_world")) == ("none",)


# --------------------------------------------------------------------------- estimators
@pytest.mark.slow
def test_fast_twfe_matches_pyfixest(study):
    from cbec.estimators import fe

    spec = study.spec
    est = mc.est_twfe(study, spec)
    ref = fe.se_table(study.panel, controls=spec.controls)
    assert est.estimate == pytest.approx(ref["coef"].iloc[0], rel=1e-9)
    for name in ("pair", "pilot_city", "twoway", "dyadic"):
        assert est.se[name] == pytest.approx(ref.loc[name, "se"], rel=1e-6), name
        assert est.df[name] == pytest.approx(ref.loc[name, "df"]), name
    assert est.truth == pytest.approx(study.true_att(), rel=1e-12)


@pytest.mark.slow
def test_province_and_regionpair_match_pyfixest(study):
    import pyfixest as pf

    spec = study.spec
    p = study.panel
    fml = f"syn ~ did + {' + '.join(spec.controls)} | pair_id + year"
    m = pf.feols(fml, data=p, vcov={"CRV1": "cluster_province"})
    est = mc.est_twfe(study, spec)
    assert est.se["province"] == pytest.approx(float(m.se().iloc[0]), rel=1e-6)
    assert est.df["province"] == pytest.approx(p["cluster_province"].nunique() - 1)

    m2 = pf.feols(
        f"syn ~ did + {' + '.join(spec.controls)} | pair_id + region_pair_year",
        data=p,
        vcov={"CRV1": "cluster_city"},
        demeaner=pf.MapDemeaner(fixef_tol=1e-12),
    )
    e2 = mc.est_twfe_regionpair_year(study, spec)
    assert e2.estimate == pytest.approx(float(m2.coef().iloc[0]), rel=1e-7)
    assert e2.se["pilot_city"] == pytest.approx(float(m2.se().iloc[0]), rel=1e-5)
    assert e2.estimate != pytest.approx(est.estimate, rel=1e-3)


@pytest.mark.slow
def test_designs_equal_the_pipeline_switches(study):
    """Pre-period outcome and clean controls equal a rebuild under the Spec switch."""
    from cbec.estimators import fe
    from cbec.study.pipeline import build_study

    spec = study.spec
    pre = build_study(spec.replace(outcome_moments="pre"))
    e_pre = mc.est_twfe_pre(study, spec)
    ref = fe.se_table(pre.panel, controls=spec.controls, vcovs=("pilot_city", "dyadic"))
    assert e_pre.estimate == pytest.approx(ref.loc["pilot_city", "coef"], rel=1e-9)
    assert e_pre.se["dyadic"] == pytest.approx(ref.loc["dyadic", "se"], rel=1e-6)
    assert e_pre.truth == pytest.approx(pre.true_att(), rel=1e-9)

    clean = build_study(spec.replace(control_exposure="clean"))
    e_cl = mc.est_twfe_clean(study, spec)
    ref = fe.se_table(clean.panel, controls=spec.controls, vcovs=("pair", "twoway"))
    assert len(clean.panel) < len(study.panel)
    assert e_cl.estimate == pytest.approx(ref.loc["pair", "coef"], rel=1e-9)
    assert e_cl.se["twoway"] == pytest.approx(ref.loc["twoway", "se"], rel=1e-6)
    assert e_cl.truth == pytest.approx(clean.true_att(), rel=1e-9)


def test_nested_demeaning_is_the_projection():
    """Closed form for pair + group x year effects equals alternating projections."""
    from cbec.estimators.fe import FEIndex

    rng = np.random.default_rng(0)
    n_pair, n_year = 40, 6
    group = rng.integers(0, 3, n_pair)
    df = pd.DataFrame(
        {
            "pair_id": np.repeat(np.arange(n_pair), n_year),
            "year": np.tile(np.arange(n_year), n_pair),
        }
    ).sample(frac=1.0, random_state=1)  # rows in no particular order
    df["gy"] = group[df["pair_id"]] * 100 + df["year"]
    x = rng.normal(size=(len(df), 2))
    fei = FEIndex.from_frame(df, ("pair_id", "year"))
    got = mc.demean_nested(x, fei, group[np.sort(df["pair_id"].unique())])
    ref = FEIndex.from_frame(df, ("pair_id", "gy")).demean(x, method="alternating", tol=1e-13)
    np.testing.assert_allclose(got, ref, atol=1e-9)
    # and it is not the plain two-way transformation
    assert np.abs(got - fei.demean(x)).max() > 1e-3


@pytest.mark.slow
def test_wild_bootstrap_is_bootstrap_did():
    from cbec.estimators import bootstrap
    from cbec.study.pipeline import build_study

    st = build_study(Spec(scenario="none", seed=7))
    est = mc.est_twfe(st, st.spec)
    lo, hi, p = est.intervals["wild_bootstrap"]
    ref = bootstrap.bootstrap_did(
        st.panel, controls=st.spec.controls, n_boot=mc.N_BOOT, seed=7, alpha=mc.ALPHA
    )
    assert p == pytest.approx(ref.p_value)
    assert lo == pytest.approx(ref.ci_low, rel=1e-6)
    assert hi == pytest.approx(ref.ci_high, rel=1e-6)


def test_estimate_rows_by_hand():
    # t(10) critical value 2.228138852
    e = mc.Estimate(
        estimate=1.0, truth=0.5, se={"a": 0.2, "b": 0.5}, df={"a": 10, "b": 10},
        intervals={"boot": (0.6, 1.4, 0.01)},
    )  # fmt: skip
    rows = {r["inference"]: r for r in e.rows()}
    assert rows["a"]["ci_low"] == pytest.approx(1.0 - 2.228138852 * 0.2, rel=1e-8)
    assert not rows["a"]["covers"] and rows["a"]["rejects"]  # 0.5 < 0.554, 0 < 0.554
    assert rows["b"]["covers"] and not rows["b"]["rejects"]  # [-0.114, 2.114]
    assert not rows["boot"]["covers"] and rows["boot"]["rejects"]
    assert np.isnan(rows["boot"]["se"])


# --------------------------------------------------------------------------- aggregation
def _toy_results() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rep": [0, 1, 2, 3],
            "seed": [0, 1, 2, 3],
            "scenario": ["radiation"] * 4,
            "estimator": ["twfe"] * 4,
            "inference": ["pair"] * 4,
            "estimate": [1.0, 2.0, 3.0, 6.0],
            "truth": [2.0, 2.0, 2.0, 2.0],
            "se": [1.0] * 4,
            "df": [np.inf] * 4,
            "ci_low": [0.0] * 4,
            "ci_high": [0.0] * 4,
            "covers": [True, True, False, False],
            "rejects": [False, True, True, True],
            "seconds_world": [1.0] * 4,
            "seconds_estimator": [0.1] * 4,
        }
    )


def test_summarise_by_hand():
    s = mc.summarise(_toy_results()).iloc[0]
    err = np.array([-1.0, 0.0, 1.0, 4.0])
    assert s["n"] == 4
    assert s["bias"] == pytest.approx(1.0)
    assert s["bias_mcse"] == pytest.approx(err.std(ddof=1) / 2.0)
    assert s["rmse"] == pytest.approx(np.sqrt((1 + 0 + 1 + 16) / 4))
    assert s["coverage"] == 0.5 and s["coverage_mcse"] == pytest.approx(0.25)
    assert s["rejection"] == 0.75 and s["rejection_mcse"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    assert s["ratio_mean"] == pytest.approx((0.5 + 1 + 1.5 + 3) / 4)
    assert s["ratio_q50"] == pytest.approx(1.25)
    h = mc.ratio_histogram(_toy_results(), bins=[0.0, 1.0, 2.0])
    assert h["count"].tolist() == [1, 3]  # 0.5 | 1, 1.5, 3 (clipped into the last bin)


def test_agreement_flags_a_real_difference():
    full = mc.summarise(_toy_results())
    same = mc.agreement(full, full)
    assert same["agrees"].all() and (same["z"] == 0).all()
    moved = _toy_results()
    moved["estimate"] += 10.0
    moved["rejects"] = False
    out = mc.agreement(mc.summarise(moved), full)
    assert not out.set_index("quantity").loc["bias", "agrees"]
    assert out.attrs["critical"] == pytest.approx(2.807, abs=1e-3)  # 0.99, Bonferroni over 2


# --------------------------------------------------------------------------- execution
@pytest.mark.slow
def test_serial_and_two_worker_cluster_are_identical(tmp_path):
    kw = dict(scenarios=("none", "radiation"), estimators=("twfe",), master_seed=11)
    mc.run_study(2, tmp_path / "serial", scheduler="serial", **kw)
    info = mc.run_study(2, tmp_path / "dask", n_workers=2, **kw)
    assert info["workers"] == 2 and info["done"] == 2
    drop = ["seconds_world", "seconds_estimator"]
    a = mc.load_results(tmp_path / "serial").drop(columns=drop)
    b = mc.load_results(tmp_path / "dask").drop(columns=drop)
    assert len(a) == 2 * 2 * (len(mc.INFERENCES) + 1)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # a rerun finds everything done
    again = mc.run_study(2, tmp_path / "serial", scheduler="serial", **kw)
    assert again == {**again, "done": 0, "skipped": 2}


def test_resume_refuses_a_different_study(tmp_path):
    mc.run_study(0, tmp_path, scheduler="serial", scenarios=("none",), estimators=("twfe",))
    with pytest.raises(ValueError, match="different study"):
        mc.run_study(0, tmp_path, scheduler="serial", scenarios=("siphon",), estimators=("twfe",))


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_table(tmp_path):
    args = ["--scenarios", "none", "--estimators", "twfe", "--master-seed", "5"]
    cmd = [sys.executable, "-m", "cbec.analyses.montecarlo", "run", "--reps", "5",
           "--scheduler", "serial", "--no-progress", *args]  # fmt: skip
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*cmd, "--out", str(killed)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(mc.done_reps(killed)) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    n_before = len(mc.done_reps(killed))
    assert 2 <= n_before < 5, n_before
    assert json.loads((killed / "study.json").read_text())["master_seed"] == 5
    subprocess.run([*cmd, "--out", str(killed)], cwd=REPO, check=True, capture_output=True)
    whole = tmp_path / "whole"
    subprocess.run([*cmd, "--out", str(whole)], cwd=REPO, check=True, capture_output=True)
    drop = ["seconds_world", "seconds_estimator"]
    a = mc.load_results(killed).drop(columns=drop)
    b = mc.load_results(whole).drop(columns=drop)
    assert sorted(a["rep"].unique()) == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not list(killed.glob(".rep_*"))  # temp files of a killed write are cleared


# --------------------------------------------------------------------------- committed summary
def test_committed_summary_is_complete():
    path = REPO / "data" / "montecarlo"
    summary, hist, meta = mc.read_summary(path)
    assert meta["master_seed"] == mc.MASTER_SEED
    assert "montecarlo" in meta["command"] and "--reps" in meta["command"]
    per = meta["replications_per_scenario"]
    assert set(per) == set(summary["scenario"])
    assert (summary["n"] == summary["scenario"].map(per)).all()
    assert set(summary["inference"]) == set(mc.INFERENCES) | set(mc.INTERVAL_INFERENCES)
    assert summary["rejection"].between(0, 1).all() and summary["coverage"].between(0, 1).all()
    none = summary[(summary["scenario"] == "none") & (summary["inference"] != "wild_bootstrap")]
    # under no policy coverage and size are the same event
    np.testing.assert_allclose(none["coverage"] + none["rejection"], 1.0, atol=1e-5)  # 6 digits
    assert set(hist["scenario"]) <= set(summary["scenario"]) - {"none"}


@pytest.mark.slow
def test_chapter7_estimators_match_diff_diff(study):
    """Callaway-Sant'Anna and imputation from their influence functions vs diff-diff 3.13."""
    from cbec.estimators import staggered

    if "cs" not in mc.ESTIMATORS:
        pytest.skip("the chapter-7 estimators are not in this package")
    spec = study.spec
    cs = mc.est_cs(study, spec)
    ref = staggered.cs_library(study.panel, "syn")
    assert cs.estimate == pytest.approx(ref.overall_att, rel=1e-9)
    assert cs.se["pilot_city"] == pytest.approx(ref.overall_se, rel=1e-5)
    imp = mc.est_imputation(study, spec)
    ref = staggered.imputation_library(study.panel, "syn")
    assert imp.estimate == pytest.approx(ref.overall_att, rel=1e-9)
    # the truth of both is the ATT of the treated post-designation pair-years
    assert cs.truth == imp.truth == pytest.approx(study.true_att(), rel=1e-12)
    assert set(cs.se) == set(mc.INFERENCES)


def test_live_study_draws_other_worlds_than_the_committed_one():
    res, seconds = mc.live_study(Spec(), 1, scenarios=("none",), estimators=("twfe",))
    assert seconds > 0 and res["rep"].unique().tolist() == [mc.LIVE_FIRST_REP]
    assert res["seed"].iloc[0] == mc.replication_seed(mc.MASTER_SEED, mc.LIVE_FIRST_REP)
    committed = {mc.replication_seed(mc.MASTER_SEED, r) for r in range(1000)}
    assert res["seed"].iloc[0] not in committed
    assert len(res) == len(mc.INFERENCES) + len(mc.INTERVAL_INFERENCES)
    assert (res["truth"] == 0).all()  # no policy, no effect
