"""End-to-end: from a Spec to the pair panel, on the twin and (when present) on real data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cbec import Spec
from cbec.estimators import fe as estimate
from cbec.study.pipeline import alternative_outcome, build_study

REAL = os.environ.get("CBEC_REAL_DATA")
REAL_PANEL = Path(REAL) / "city_panel_gp" if REAL else None


@pytest.fixture(scope="module")
def paper():
    return build_study(Spec())


def test_replication_target_153230(paper):
    """The paper's N: 254 cities, 55 pilots, 15,323 pairs x 10 years."""
    assert len(paper.universe) == 254
    assert int(paper.universe["pilot"].sum()) == 55
    assert len(paper.pairs) == 55 * 199 + 199 * 198 // 2 == 30_646
    assert paper.panel["pair_id"].nunique() == 15_323
    assert len(paper.panel) == 153_230


def test_panel_is_balanced_and_complete(paper):
    p = paper.panel
    assert (p.groupby("pair_id")["year"].nunique() == 10).all()
    cols = ["syn", "did", "tau", *paper.spec.controls]
    assert not p[cols].isna().any().any()
    assert np.isfinite(p["syn"]).all()


def test_treated_pairs_have_exactly_one_pilot(paper):
    p = paper.panel.drop_duplicates("pair_id")
    pilots = set(paper.universe.loc[paper.universe["pilot"], "city_id"])
    n_pilot = p["city_i"].isin(pilots).astype(int) + p["city_j"].isin(pilots).astype(int)
    assert (n_pilot == p["treated"]).all()


def test_twin_is_deterministic(paper):
    again = build_study(Spec())
    assert np.array_equal(again.panel["syn"].to_numpy(), paper.panel["syn"].to_numpy())


def test_no_policy_means_no_true_effect():
    s = build_study(Spec(scenario="none"))
    assert np.array_equal(s.panel["syn"].to_numpy(), s.panel["syn_cf"].to_numpy())
    assert (s.panel["tau"] == 0).all()


@pytest.mark.parametrize("scenario,sign", [("radiation", 1), ("siphon", -1)])
def test_truth_and_estimate_have_the_scenario_sign(scenario, sign):
    s = build_study(Spec(scenario=scenario))
    att = s.true_att()
    assert np.sign(att) == sign
    fit = estimate.fit_twfe(s.panel, y="syn", treat="did", controls=(), vcov="pilot_city")
    b = float(fit.coef["did"])
    assert np.sign(b) == sign
    # the estimate is within a factor of the truth (spillovers and dynamics bias it)
    assert 0.2 < b / att < 3.0


def test_no_cut_keeps_every_candidate():
    s = build_study(Spec(tie_quantile=0.0))
    assert s.panel["pair_id"].nunique() == 30_646


def test_alternative_outcomes_align_with_the_panel(paper):
    for m in ("kpp", "kpp_resid", "rolling_corr"):
        v = alternative_outcome(paper, sync_measure=m)
        assert v.shape == (len(paper.panel),)
        assert np.isfinite(v).all()
    kpp = alternative_outcome(paper, sync_measure="kpp")
    assert (kpp <= 0).all()
    with pytest.raises(ValueError, match="changes only"):
        alternative_outcome(paper, tie_quantile=0.0)


def test_timing_rule_moves_post_by_one_year():
    a = build_study(Spec(treat_year_rule="approval")).panel
    b = build_study(Spec(treat_year_rule="first_full")).panel
    assert b["did"].sum() < a["did"].sum()
    tr = a["treated"] == 1
    assert np.allclose(b.loc[tr, "treat_year"] - a.loc[tr, "treat_year"], 1.0)


@pytest.mark.real
@pytest.mark.skipif(REAL_PANEL is None or not REAL_PANEL.is_dir(), reason="CBEC_REAL_DATA not set")
def test_real_profile_builds_with_audit():
    s = build_study(Spec(profile="real", data_dir=str(REAL_PANEL), universe="all"))
    assert len(s.universe) > 200
    assert len(s.panel) > 50_000
    assert np.isfinite(s.panel["syn"]).all()
    assert "tau" not in s.panel
    assert len(s.audit) > 0
    # the real panel lacks some of the nine indicators: they are reported, not invented
    assert set(s.indicators) < set(Spec().index_indicators)
    assert (s.audit["reason"] == "indicator_unavailable").any()


def test_relabelling_cities_leaves_estimates_unchanged(paper):
    """Invariance: a bijective relabelling of city codes changes no estimate or error."""
    p = paper.panel
    codes = np.unique(np.concatenate([p["city_i"], p["city_j"]]))
    perm = dict(zip(codes, np.random.default_rng(7).permutation(codes) + 1_000_000, strict=True))
    q = p.copy()
    for col in ("city_i", "city_j", "cluster_city"):
        q[col] = q[col].map(perm)
    for vcov in ("pilot_city", "twoway", "dyadic"):
        a = estimate.fit_twfe(p, y="syn", treat="did", vcov=vcov)
        b = estimate.fit_twfe(q, y="syn", treat="did", vcov=vcov)
        assert float(a.coef["did"]) == pytest.approx(float(b.coef["did"]), rel=1e-10)
        assert float(a.se["did"]) == pytest.approx(float(b.se["did"]), rel=1e-8)
