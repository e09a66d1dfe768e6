"""Tests of cbec.analyses.heterogeneity (chapter 4).

Independent checks: the FWL fits and every clustering against pyfixest through
``cbec.estimators.fe.fit_twfe``; the dyadic Wald test against a brute-force double sum over
pairs of observations sharing a city; the fast permutation engine against one pyfixest refit
per draw; Holm against statsmodels; Romano-Wolf against hand-computed cases; group labels
against their definitions (pre-designation values, median split, no movement by the policy).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from cbec.analyses import heterogeneity as het
from cbec.estimators import fe
from cbec.spec import Spec
from cbec.study.pipeline import build_study


@pytest.fixture(scope="module")
def study():
    return build_study(Spec(fast=True))


def _subset(study, n_pairs: int, seed: int = 0):
    """A small study: a random subset of whole pairs (the panel stays balanced)."""
    rng = np.random.default_rng(seed)
    ids = study.panel["pair_id"].unique()
    keep = rng.choice(ids, n_pairs, replace=False)
    panel = study.panel[study.panel["pair_id"].isin(keep)].reset_index(drop=True)
    return dataclasses.replace(study, panel=panel)


@pytest.fixture(scope="module")
def small(study):
    return _subset(study, 400)


@pytest.fixture(scope="module")
def groups(study):
    return het.group_labels(study)


# ------------------------------------------------------------------- groups
def test_group_labels_follow_their_definitions(study, groups) -> None:
    lab = groups.labels
    pairs = study.panel.drop_duplicates("pair_id").set_index("pair_id")
    tr = pairs[pairs["treated"] == 1]
    assert list(lab.index) == list(tr.index)
    u = study.universe.set_index("city_id")["region3"]
    expect = (
        u.reindex(tr["pilot_city"].astype(int)).to_numpy()
        + "-"
        + u.reindex(tr["partner_city"].astype(int)).to_numpy()
    )
    assert (lab["region"].to_numpy() == expect).all()
    first = het.first_designation(study)
    assert first == 2015
    for var in ("human_capital", "fin_dev", "info_infra"):
        # pre-designation mean by hand, split at the median over treated pairs
        d = study.city.data
        pre = d[(d["year"] >= 2010) & (d["year"] < first)].groupby("city_id")[var].mean()
        v = pre.reindex(tr["partner_city"].astype(int)).to_numpy()
        cut = np.median(v)
        assert (lab[var].to_numpy() == np.where(v > cut, "high", "low")).all()
        counts = lab[var].value_counts()
        # halves, up to the pairs that share a partner next to the median (ties)
        block = pd.Series(v).value_counts().max()
        assert abs(counts["low"] - counts["high"]) <= 2 * block


def test_policy_cannot_move_a_pair_between_groups(study, groups) -> None:
    # the same labels from the no-policy world: moderators are pre-determined
    cf_city = dataclasses.replace(study.city, data=study.city.counterfactual)
    cf = het.group_labels(dataclasses.replace(study, city=cf_city))
    pd.testing.assert_frame_equal(cf.labels, groups.labels)


def test_unavailable_moderator_is_reported_not_simulated(study) -> None:
    data = study.city.data.drop(columns=["human_capital"])
    fin = data["fin_dev"].copy()
    gone = data["city_id"].isin(data["city_id"].unique()[:40])
    data.loc[gone, "fin_dev"] = np.nan  # 40 cities without any value
    cut = dataclasses.replace(study, city=dataclasses.replace(study.city, data=data))
    g = het.group_labels(cut)
    m = g.measures.set_index("dimension")
    assert m.loc["human_capital", "status"] == "unavailable"
    assert "Yearbook" in m.loc["human_capital", "supply"]
    assert "human_capital" not in g.labels.columns
    assert (g.labels["fin_dev"] == het.NA_LABEL).any()
    assert int(m.loc["fin_dev", "n_pairs_labelled"]) == int((g.labels["fin_dev"] != "n/a").sum())
    # n/a pairs keep their own coefficient and enter no test
    res = het.interaction_model(cut, g, "fin_dev", split=False)
    assert res.order[-1] == het.NA_LABEL
    w = het.wald_table(cut, g, "fin_dev", vcovs=("pair",))
    assert int(w["q"].iloc[0]) == 1
    del fin


# ------------------------------------------------------------------- fits and variances
@pytest.mark.parametrize("vcov", ["pair", "pilot_city", "twoway", "dyadic"])
def test_fwl_fit_matches_pyfixest(small, vcov: str) -> None:
    g = het.group_labels(small)
    res = het.interaction_model(small, g, "fin_dev", vcov=vcov, split=False)
    p = small.panel.copy()
    mat, names = het.group_columns(p, g.labels["fin_dev"], res.order)
    for k, n in enumerate(names):
        p[n] = mat[:, k]
    ref = fe.fit_twfe(p, y="syn", treat=names[0], controls=[*names[1:], *small.spec.controls],
                      vcov=vcov)  # fmt: skip
    np.testing.assert_allclose(res.fit.coef, ref.coef.to_numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.fit.se, ref.se.to_numpy(), rtol=1e-7)
    assert res.fit.df_resid == ref.df_resid


def test_split_sample_matches_pyfixest(small) -> None:
    g = het.group_labels(small)
    res = het.interaction_model(small, g, "human_capital")
    row = res.table.set_index("group").loc["high"]
    lab = g.labels["human_capital"].reindex(small.panel["pair_id"]).to_numpy()
    sub = small.panel[(small.panel["treated"].to_numpy() == 0) | (lab == "high")]
    ref = fe.fit_twfe(sub, controls=small.spec.controls, vcov=small.spec.cluster)
    assert row["split_coef"] == pytest.approx(ref.coef["did"], rel=1e-8)
    assert row["split_se"] == pytest.approx(ref.se["did"], rel=1e-7)


def test_wald_equal_two_groups_is_the_squared_t_of_the_difference() -> None:
    b = np.array([0.1, 0.4])
    v = np.array([[0.01, 0.002], [0.002, 0.02]])
    w = het.wald_equal(b, v, df=50)
    t = 0.3 / np.sqrt(0.01 + 0.02 - 2 * 0.002)
    assert w["W"] == pytest.approx(t**2)
    assert w["p_F"] == pytest.approx(2 * stats.t.sf(t, 50))
    assert w["p_chi2"] == pytest.approx(2 * stats.norm.sf(t))


def test_wald_equal_is_invariant_to_the_contrast_basis() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 4))
    v = a @ a.T + 4 * np.eye(4)
    b = rng.standard_normal(4)
    w = het.wald_equal(b, v, df=100)["W"]
    r = np.column_stack([np.ones(3), -np.eye(3)])  # b0 - bk, another basis
    ref = (r @ b) @ np.linalg.solve(r @ v @ r.T, r @ b)
    assert w == pytest.approx(ref)


def test_dyadic_wald_matches_brute_force(study) -> None:
    tiny = _subset(study, 60, seed=5)
    g = het.group_labels(tiny)
    w = het.wald_table(tiny, g, "info_infra", vcovs=("dyadic",)).iloc[0]
    res = het.interaction_model(tiny, g, "info_infra", vcov="dyadic", split=False)
    x, e = res.fit.x_dm, res.fit.resid
    ci, cj = tiny.panel["city_i"].to_numpy(), tiny.panel["city_j"].to_numpy()
    share = (
        (ci[:, None] == ci[None, :])
        | (ci[:, None] == cj[None, :])
        | (cj[:, None] == ci[None, :])
        | (cj[:, None] == cj[None, :])
    )
    s = x * e[:, None]
    meat = s.T @ share.astype(float) @ s
    bread = np.linalg.inv(x.T @ x)
    n_city = np.unique(np.concatenate([ci, cj])).size
    v = bread @ meat @ bread * n_city / (n_city - 1)
    known = [k for k, grp in enumerate(res.order) if grp != het.NA_LABEL]
    ref = het.wald_equal(res.fit.coef[known], v[np.ix_(known, known)], n_city - 1)
    assert w["W"] == pytest.approx(ref["W"], rel=1e-9)
    assert w["clusters"] == n_city


# ------------------------------------------------------------------- permutation
def test_fast_permutation_equals_naive_refits(small) -> None:
    g = het.group_labels(small)
    fast = het.permutation_test(small, g, 6, seed=11, block_size=4)
    naive = het.permutation_naive(small, g, 6, seed=11)
    np.testing.assert_allclose(fast.observed, naive.observed, rtol=1e-8)
    np.testing.assert_allclose(fast.stats, naive.stats, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(fast.contrast_t, naive.contrast_t, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fast.p_values, naive.p_values)
    assert fast.contrasts == naive.contrasts


def test_permutation_observed_f_is_the_homoskedastic_wald(small) -> None:
    g = het.group_labels(small)
    perm = het.permutation_test(small, g, 3, seed=1)
    res = het.interaction_model(small, g, "region", split=False)
    x, e = res.fit.x_dm, res.fit.resid
    n_pair, n_year = res.fit.n_pairs, res.fit.n_years
    dof = n_pair * n_year - n_pair - n_year + 1 - x.shape[1]
    v = np.linalg.inv(x.T @ x) * (e @ e) / dof
    k = len(res.order)
    ref = het.wald_equal(res.fit.coef[:k], v[:k, :k], dof)["F"]
    assert perm.observed[perm.dimensions.index("region")] == pytest.approx(ref, rel=1e-8)


def test_permutation_draws_depend_only_on_the_seed(small) -> None:
    g = het.group_labels(small)
    a = het.permutation_test(small, g, 30, seed=4, block_size=7)
    b = het.permutation_test(small, g, 30, seed=4, block_size=30)
    c = het.permutation_test(small, g, 30, seed=5)
    np.testing.assert_allclose(a.stats, b.stats, rtol=1e-12)
    assert not np.allclose(a.stats, c.stats)
    assert ((a.p_values >= 1 / 31) & (a.p_values <= 1)).all()


def test_permutation_p_is_uniform_when_labels_are_noise(small) -> None:
    # random labels unrelated to the outcome: p-values across label draws are not small
    rng = np.random.default_rng(0)
    g = het.group_labels(small)
    ps = []
    for _ in range(12):
        lab = g.labels.copy()
        lab["fin_dev"] = rng.permutation(lab["fin_dev"].to_numpy())
        gg = het.Groups(lab[["fin_dev"]], g.measures, {"fin_dev": "low"})
        ps.append(het.permutation_test(small, gg, 199, seed=int(rng.integers(1e6))).p_values[0])
    assert np.mean(np.array(ps) < 0.05) < 0.35
    assert 0.2 < np.mean(ps) < 0.8


# ------------------------------------------------------------------- multiplicity
def test_holm_matches_statsmodels() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, 0.5])
    ref = multipletests(p, method="holm")[1]
    np.testing.assert_allclose(het.holm(p), ref)
    out = het.holm(np.array([0.01, np.nan, 0.02]))
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], multipletests([0.01, 0.02], method="holm")[1])


def test_romano_wolf_by_hand() -> None:
    t_obs = np.array([3.0, 1.0])
    draws = np.array([[0.5, 2.0], [3.5, 0.1], [1.0, 1.5], [0.2, 0.3]])
    # first (|t|=3): max over both columns >= 3 in 1 draw -> (1+1)/5
    # second (|t|=1): column 2 alone >= 1 in 2 draws -> (1+2)/5, then monotone
    np.testing.assert_allclose(het.romano_wolf(t_obs, draws), [2 / 5, 3 / 5])


def test_romano_wolf_single_hypothesis_is_the_permutation_p() -> None:
    rng = np.random.default_rng(2)
    draws = rng.standard_normal((500, 1))
    p = het.romano_wolf(np.array([1.7]), draws)[0]
    assert p == pytest.approx((1 + (np.abs(draws[:, 0]) >= 1.7).sum()) / 501)


def test_romano_wolf_is_at_least_the_single_p_and_at_most_bonferroni_like() -> None:
    rng = np.random.default_rng(8)
    draws = rng.standard_normal((2000, 5))
    t_obs = np.array([2.5, 0.3, 2.0, 1.0, 3.1])
    rw = het.romano_wolf(t_obs, draws)
    single = (1 + (np.abs(draws) >= np.abs(t_obs)).sum(axis=0)) / 2001
    assert (rw >= single - 1e-12).all()
    assert (rw <= np.minimum(1, 5 * single) + 1e-12).all()


# ------------------------------------------------------------------- truth and ranking
def test_group_truth_and_ranking(study, groups) -> None:
    truth = het.group_truth(study.panel, groups.labels["fin_dev"])
    post = study.panel[study.panel["did"] == 1]
    lab = groups.labels["fin_dev"].reindex(post["pair_id"]).to_numpy()
    assert truth["high"] == pytest.approx(post.loc[lab == "high", "tau"].mean())
    # the twin scales a partner's response up with each moderator
    for var in ("human_capital", "fin_dev", "info_infra"):
        t = het.group_truth(study.panel, groups.labels[var])
        assert t["high"] > t["low"]
    table = pd.DataFrame(
        {"dimension": ["d"] * 3, "group": ["a", "b", "c"], "coef": [1.0, 2.0, 3.0],
         "truth": [0.1, 0.3, 0.2]}
    )  # fmt: skip
    r = het.rank_agreement(table).iloc[0]
    assert (r["ranked_correctly"], r["pairs_of_groups"]) == (2, 3)
    assert r["spearman"] == pytest.approx(0.5)
    assert (r["true_top"], r["estimated_top"]) == ("b", "c")


@pytest.mark.slow
def test_analyse_runs_on_the_twin(study) -> None:
    res = het.analyse(study, n_draws=200)
    assert set(res.estimates["dimension"]) == {"region", "human_capital", "fin_dev", "info_infra"}
    assert len(res.contrasts) == res.permutation.contrast_t.shape[1]
    assert res.contrasts["p_rw"].notna().all()
    assert (res.contrasts["p_holm"] >= res.contrasts["p"]).all()
    assert len(res.ranking) == 4


_REAL = os.environ.get("CBEC_REAL_DATA", "")
needs_real = pytest.mark.skipif(
    not _REAL or not (Path(_REAL) / "city_panel_gp").is_dir(),
    reason="set CBEC_REAL_DATA to a folder holding city_panel_gp/",
)


@pytest.mark.real
@needs_real
def test_real_profile_reports_unavailable_moderators() -> None:
    s = build_study(Spec(profile="real", data_dir=str(Path(_REAL) / "city_panel_gp"), fast=True))
    res = het.analyse(s, n_draws=50)
    m = res.groups.measures.set_index("dimension")
    for var in ("human_capital", "info_infra"):
        if var not in s.city.data.columns:
            assert m.loc[var, "status"] == "unavailable" and m.loc[var, "supply"]
    assert "region" in res.groups.dimensions
    assert res.ranking.empty and res.estimates["truth"].isna().all()


def test_ranking_without_true_differences_is_empty_not_a_warning() -> None:
    import warnings

    table = pd.DataFrame(
        {"dimension": ["d"] * 3, "group": ["a", "b", "c"], "coef": [0.1, 0.3, 0.2],
         "truth": [0.0, 0.0, 0.0]}
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = het.rank_agreement(table).iloc[0]
    assert r["pairs_of_groups"] == 0 and r["ranked_correctly"] == 0
    assert np.isnan(r["spearman"]) and r["true_top"] == ""
