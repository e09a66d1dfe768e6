"""Tests of cbec.analyses.gap: the computed accounts of chapters 2-3."""

from __future__ import annotations

import numpy as np
import pytest

from cbec import Spec
from cbec.analyses import gap
from cbec.estimators import eventstudy
from cbec.study.pipeline import build_study


@pytest.fixture(scope="module")
def study():
    return build_study(Spec(fast=True))


@pytest.mark.slow
def test_pretest_split_is_exact_and_linear(study):
    pa = gap.pretest_account(study)
    t = pa.table
    assert t.loc[1, "contribution"] + t.loc[2, "contribution"] == pytest.approx(
        t.loc[0, "chi2"], rel=1e-9
    )
    assert t.loc[0, "contribution"] == pytest.approx(t.loc[0, "chi2"], rel=1e-9)
    # the event study is linear in the outcome: leads of syn = leads of syn_cf + leads of tau
    fits = [eventstudy.fit_event_study(study.panel, y=c, window=study.spec.event_window,
                                       cluster=study.spec.cluster, n_sim=100)
            for c in ("syn", "syn_cf", "tau")]  # fmt: skip
    b = [f.table["coef"].to_numpy() for f in fits]
    np.testing.assert_allclose(b[0], b[1] + b[2], atol=1e-8)
    expected = (
        "none"
        if t.loc[0, "p"] >= 0.05
        else (
            "no_policy" if t.loc[1, "contribution"] >= t.loc[2, "contribution"] else "true_effect"
        )
    )
    assert pa.driver == expected


def test_gap_account_ranks_and_sums(study):
    g = gap.gap_account(study)
    d = g.decomposition
    assert g.ranked["value"].sum() + d.att == pytest.approx(d.estimate, abs=1e-10)
    assert g.ranked.iloc[0]["cause"] in g.sentence
    assert f"{d.att:.3f}" in g.sentence


def test_seed_spread_first_row_is_the_study(study):
    sp = gap.seed_spread(study.spec, [study.spec.seed])
    g = gap.gap_account(study)
    assert sp.loc[0, "estimate_nc"] == pytest.approx(g.decomposition.estimate, abs=1e-10)
    assert sp.loc[0, "true_att"] == pytest.approx(study.true_att(), abs=1e-12)
    assert gap.seeds_for(Spec(fast=True))[0] == Spec().seed
    assert len(gap.seeds_for(Spec(fast=True))) == Spec().n_truth_seeds_fast


def test_significance_words_match_stars():
    for p, s, w in ((0.004, "***", "1%"), (0.03, "**", "5%"), (0.07, "*", "10% level only"),
                    (0.2, "", "not significant")):  # fmt: skip
        assert gap.stars(p) == s
        assert w in gap.significance_text(p)
