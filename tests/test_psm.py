"""Tests of cbec.estimators.psm: balance, exact duplicates, caliper, weights, brute-force neighbours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cbec.estimators.psm import attach_weights, propensity_match


def confounded(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Treatment more likely for high x1 and low x2."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0.0, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    p = 1.0 / (1.0 + np.exp(-(-1.2 + 0.9 * x1 - 0.6 * x2)))
    d = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"pair_id": np.arange(n) * 3 + 7, "treated": d, "x1": x1, "x2": x2})


def brute_force_nearest(ps_t: np.ndarray, ps_c: np.ndarray, k: int) -> np.ndarray:
    """Sorted distances of the k nearest controls of each treated, by full comparison."""
    dist = np.abs(ps_t[:, None] - ps_c[None, :])
    return np.sort(dist, axis=1)[:, :k]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return confounded()


def test_smd_shrinks_after_matching(sample: pd.DataFrame) -> None:
    res = propensity_match(sample, ["x1", "x2"], caliper=None)
    b = res.balance
    assert (b["smd_before"].abs() > 0.2).all()
    assert (b["smd_after"].abs() < b["smd_before"].abs()).all()
    assert b["smd_after"].abs().max() < 0.1
    # before-matching SMD by hand for x1
    t, c = sample[sample.treated == 1]["x1"], sample[sample.treated == 0]["x1"]
    smd = (t.mean() - c.mean()) / np.sqrt((t.var() + c.var()) / 2)
    assert b.loc["x1", "smd_before"] == pytest.approx(smd, rel=1e-12)
    assert res.n_off_support == 0 and res.n_matched_treated == res.n_treated


def test_pscore_is_the_statsmodels_logit(sample: pd.DataFrame) -> None:
    res = propensity_match(sample, ["x1", "x2"], caliper=None)
    exog = sm.add_constant(sample[["x1", "x2"]])
    fit = sm.GLM(sample["treated"], exog, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(res.pscore.to_numpy(), fit.fittedvalues.to_numpy(), rtol=1e-6)
    assert res.pscore.index.tolist() == sample["pair_id"].tolist()


def test_exact_match_on_duplicated_control() -> None:
    rng = np.random.default_rng(1)
    n_t, n_other = 40, 200
    treated = pd.DataFrame({"x1": rng.normal(0.5, 1, n_t), "x2": rng.normal(0, 1, n_t)})
    twins = treated.copy()
    other = pd.DataFrame({"x1": rng.normal(0, 1, n_other), "x2": rng.normal(0, 1, n_other)})
    df = pd.concat([treated, twins, other], ignore_index=True)
    df["treated"] = [1] * n_t + [0] * (n_t + n_other)
    df["pair_id"] = np.arange(len(df)) + 100
    res = propensity_match(df, ["x1", "x2"], caliper=0.01)
    m = res.matches.set_index("treated_id")
    expected_twin = pd.Series(np.arange(n_t) + 100 + n_t, index=np.arange(n_t) + 100)
    assert m.loc[expected_twin.index, "control_id"].tolist() == expected_twin.tolist()
    assert (m["distance"] < 1e-12).all()
    after = res.balance["smd_after"].abs()
    assert (after < 1e-10).all()


@pytest.mark.parametrize("ratio", [1, 3])
def test_nearest_neighbours_match_brute_force(sample: pd.DataFrame, ratio: int) -> None:
    res = propensity_match(sample, ["x1", "x2"], caliper=None, ratio=ratio)
    ps = res.pscore
    is_t = sample["treated"].to_numpy() == 1
    brute = brute_force_nearest(ps.to_numpy()[is_t], ps.to_numpy()[~is_t], ratio)
    got = (
        res.matches.sort_values(["treated_id", "distance"])
        .groupby("treated_id")["distance"]
        .apply(np.asarray)
    )
    got_mat = np.vstack(got.loc[sample.loc[is_t, "pair_id"]].to_numpy())
    np.testing.assert_allclose(got_mat, brute, atol=1e-15)
    # the distance column is the score gap of the named control
    gap = np.abs(
        ps.loc[res.matches["treated_id"]].to_numpy() - ps.loc[res.matches["control_id"]].to_numpy()
    )
    np.testing.assert_allclose(res.matches["distance"], gap, atol=1e-15)


def test_caliper_excludes_and_reports(sample: pd.DataFrame) -> None:
    caliper = 0.002
    with pytest.warns(UserWarning, match="off support"):
        res = propensity_match(sample, ["x1", "x2"], caliper=caliper)
    ps = res.pscore.to_numpy()
    is_t = sample["treated"].to_numpy() == 1
    width = caliper * ps.std(ddof=1)
    assert res.caliper_width == pytest.approx(width)
    nearest = brute_force_nearest(ps[is_t], ps[~is_t], 1)[:, 0]
    off = set(sample.loc[is_t, "pair_id"].to_numpy()[nearest > width].tolist())
    assert len(off) > 0
    assert set(res.off_support_ids.tolist()) == off
    assert res.n_off_support == len(off)
    assert res.n_matched_treated + res.n_off_support == res.n_treated
    assert not set(res.weights["pair_id"]) & off
    assert (res.matches["distance"] <= width).all()
    assert str(res.n_off_support) in res.summary()


def test_weights_with_replacement(sample: pd.DataFrame) -> None:
    for ratio in (1, 2):
        res = propensity_match(sample, ["x1", "x2"], caliper=None, ratio=ratio)
        w = res.weights.set_index("pair_id")
        ctrl = w[w["treated"] == 0]
        counts = res.matches["control_id"].value_counts()
        assert ctrl["n_used"].sort_index().tolist() == counts.sort_index().tolist()
        # ATT weights: each matched treated pair spreads one unit over its controls
        assert ctrl["weight"].sum() == pytest.approx(res.n_matched_treated)
        assert (w.loc[w["treated"] == 1, "weight"] == 1).all()
        if ratio == 1:
            np.testing.assert_allclose(ctrl["weight"], ctrl["n_used"])
    assert (counts > 1).any()  # replacement did reuse some controls


def test_without_replacement_uses_each_control_once(sample: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="off support"):
        res = propensity_match(sample, ["x1", "x2"], caliper=0.2, replace=False, seed=3)
    assert res.matches["control_id"].is_unique
    assert (res.matches["distance"] <= res.caliper_width).all()
    assert (res.weights["n_used"] == 1).all()
    assert res.n_matched_treated + res.n_off_support == res.n_treated
    with pytest.warns(UserWarning, match="off support"):
        again = propensity_match(sample, ["x1", "x2"], caliper=0.2, replace=False, seed=3)
    pd.testing.assert_frame_equal(res.matches, again.matches)


def test_greedy_matches_a_loop_over_all_controls() -> None:
    df = confounded(600, seed=4)
    seed, caliper = 11, 0.5
    with pytest.warns(UserWarning, match="off support"):
        res = propensity_match(df, ["x1", "x2"], caliper=caliper, replace=False, seed=seed)
    ps = res.pscore.to_numpy()
    is_t = df["treated"].to_numpy() == 1
    ids_t, ids_c = df["pair_id"].to_numpy()[is_t], df["pair_id"].to_numpy()[~is_t]
    p_t, p_c = ps[is_t], ps[~is_t]
    free = np.ones(p_c.size, bool)
    expected = {}
    for i in np.random.default_rng(seed).permutation(p_t.size):
        dist = np.where(free, np.abs(p_c - p_t[i]), np.inf)
        j = int(np.argmin(dist))
        if dist[j] <= res.caliper_width:
            free[j] = False
            expected[int(ids_t[i])] = int(ids_c[j])
    got = dict(
        zip(res.matches["treated_id"].tolist(), res.matches["control_id"].tolist(), strict=True)
    )
    assert got == expected


def test_attach_weights_to_panel(sample: pd.DataFrame) -> None:
    res = propensity_match(sample.head(600), ["x1", "x2"], caliper=None)
    years = np.arange(2010, 2013)
    panel = sample.head(600)[["pair_id", "treated"]].merge(
        pd.DataFrame({"year": years}), how="cross"
    )
    out = attach_weights(panel, res)
    assert set(out["pair_id"]) == set(res.pair_ids.tolist())
    assert (
        res.pair_ids.size
        == len(res.weights)
        == res.n_matched_treated + (res.weights["treated"] == 0).sum()
    )
    assert len(out) == len(res.weights) * years.size
    w = res.weights.set_index("pair_id")["weight"]
    np.testing.assert_allclose(out["psm_weight"], w.loc[out["pair_id"]].to_numpy())
    with pytest.raises(ValueError, match="already has"):
        attach_weights(out, res)


def test_bad_input_is_reported() -> None:
    df = confounded(200)
    with pytest.raises(ValueError, match="lacks columns"):
        propensity_match(df, ["x3"])
    dup = pd.concat([df, df.head(1)])
    with pytest.raises(ValueError, match="repeats"):
        propensity_match(dup, ["x1"])
    nan = df.copy()
    nan.loc[5, "x2"] = np.nan
    with pytest.raises(ValueError, match=r"missing covariates \(columns \['x2'\]\)"):
        propensity_match(nan, ["x1", "x2"])
    sep = df.copy()
    sep["x3"] = sep["treated"] * 10.0 + np.linspace(0, 1, len(sep))
    with pytest.raises(ValueError, match="separate"):
        propensity_match(sep, ["x3"])
    with pytest.raises(ValueError, match="ratio"):
        propensity_match(df, ["x1"], ratio=0)
