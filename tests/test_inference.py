"""Tests of cbec.estimators.placebo: the dyadic-robust variance and the placebo engines.

References: the dyadic meat built by brute force from the explicit n x n "shares a city"
matrix; its two limiting networks (a star is one cluster, a perfect matching is
clustering by pair, checked against statsmodels); the placebo fast engines against one
pyfixest fit per draw on the same draws.
"""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cbec.estimators.fe import demean, fit_twfe
from cbec.estimators.placebo import (
    draw_pseudo_pilots,
    permutation_p_value,
    placebo_design,
    placebo_did,
    placebo_naive,
    pseudo_did,
)
from cbec.estimators.variance import clip_psd, dyadic_vcov
from cbec.testing.pairdata import make_pair_panel


# ----------------------------------------------------------------------------- helpers
def dyad_panel(pairs: list[tuple[int, int]], n_years: int) -> pd.DataFrame:
    """Rows (pair_id, city_i, city_j, year) for the given pairs and years."""
    rows = [(p, i, j, t) for p, (i, j) in enumerate(pairs) for t in range(2010, 2010 + n_years)]
    return pd.DataFrame(rows, columns=["pair_id", "city_i", "city_j", "year"])


def brute_force_meat(x: np.ndarray, e: np.ndarray, ci: np.ndarray, cj: np.ndarray) -> np.ndarray:
    """X'(e e' * M)X with M[a, b] = 1 if observations a and b share a city."""
    share = (
        (ci[:, None] == ci[None, :])
        | (ci[:, None] == cj[None, :])
        | (cj[:, None] == ci[None, :])
        | (cj[:, None] == cj[None, :])
    ).astype(float)
    return x.T @ (np.outer(e, e) * share) @ x


# ----------------------------------------------------------------------------- dyadic
def test_dyadic_equals_brute_force_random_scores():
    """(a) 8 cities, all 28 pairs, 5 years."""
    rng = np.random.default_rng(0)
    df = dyad_panel(list(combinations(range(8), 2)), 5)
    ci, cj = df["city_i"].to_numpy(), df["city_j"].to_numpy()
    x = rng.normal(size=(len(df), 3))
    e = rng.normal(size=len(df))
    bread = np.linalg.inv(x.T @ x)
    expected = bread @ brute_force_meat(x, e, ci, cj) @ bread
    got = dyadic_vcov(x, e, ci, cj, ssc=False)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dyadic_vcov(x, e, ci, cj, ssc=True), expected * 8 / 7, rtol=1e-10)


def test_dyadic_equals_brute_force_on_a_fixed_effects_fit():
    """(a) again, with demeaned regressors and OLS residuals of a TWFE fit."""
    data = make_pair_panel(n_cities=8, years=range(2010, 2015), n_pilots=2, seed=3)
    df = data.df
    a = demean(df, ["syn", "did", "x1"])
    x, yv = a[:, 1:], a[:, 0]
    e = yv - x @ np.linalg.lstsq(x, yv, rcond=None)[0]
    ci, cj = df["city_i"].to_numpy(), df["city_j"].to_numpy()
    bread = np.linalg.inv(x.T @ x)
    expected = bread @ brute_force_meat(x, e, ci, cj) @ bread
    np.testing.assert_allclose(
        dyadic_vcov(x, e, ci, cj, ssc=False), expected, rtol=1e-10, atol=1e-16
    )


def test_dyadic_star_is_one_cluster():
    """(b) every pair contains city 0: all observations form one cluster."""
    rng = np.random.default_rng(1)
    df = dyad_panel([(0, j) for j in range(1, 10)], 4)
    x = rng.normal(size=(len(df), 2))
    e = rng.normal(size=len(df))
    s = (x * e[:, None]).sum(axis=0)
    bread = np.linalg.inv(x.T @ x)
    expected = bread @ np.outer(s, s) @ bread
    got = dyadic_vcov(x, e, df["city_i"], df["city_j"], ssc=False)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15)


def test_dyadic_perfect_matching_is_crv0_by_pair():
    """(c) every city in exactly one pair: clustering by pair (statsmodels, no correction)."""
    rng = np.random.default_rng(2)
    df = dyad_panel([(2 * p, 2 * p + 1) for p in range(7)], 5)
    x = np.column_stack([np.ones(len(df)), rng.normal(size=(len(df), 2))])
    yv = x @ [1.0, 0.5, -0.2] + rng.normal(size=len(df))
    res = sm.OLS(yv, x).fit(
        cov_type="cluster", cov_kwds={"groups": df["pair_id"].to_numpy(), "use_correction": False}
    )
    got = dyadic_vcov(x, res.resid, df["city_i"], df["city_j"], ssc=False)
    np.testing.assert_allclose(got, res.cov_params(), rtol=1e-10, atol=1e-15)


def test_dyadic_invariant_to_row_order_city_order_and_labels():
    rng = np.random.default_rng(4)
    df = dyad_panel(list(combinations(range(7), 2)), 3)
    x = rng.normal(size=(len(df), 2))
    e = rng.normal(size=len(df))
    ci, cj = df["city_i"].to_numpy(), df["city_j"].to_numpy()
    base = dyadic_vcov(x, e, ci, cj)
    perm = rng.permutation(len(df))
    swap = rng.random(len(df)) < 0.5
    ci2, cj2 = np.where(swap, cj, ci), np.where(swap, ci, cj)
    labels = rng.permutation(np.arange(100, 107))
    got = dyadic_vcov(x[perm], e[perm], labels[ci2[perm]], labels[cj2[perm]])
    np.testing.assert_allclose(got, base, rtol=1e-12)


def test_dyadic_psd_option_and_clip():
    v = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    c = clip_psd(v)
    assert np.linalg.eigvalsh(c).min() >= -1e-12
    np.testing.assert_allclose(c, [[1.5, 1.5], [1.5, 1.5]])
    np.testing.assert_array_equal(clip_psd(np.eye(2)), np.eye(2))


def test_dyadic_rejects_bad_input():
    x = np.ones((4, 1))
    with pytest.raises(ValueError, match="resid"):
        dyadic_vcov(x, np.ones(3), [1, 1, 2, 2], [2, 3, 3, 4])
    with pytest.raises(ValueError, match="itself"):
        dyadic_vcov(x, np.ones(4), [1, 1, 2, 2], [2, 1, 3, 4])
    with pytest.raises(ValueError, match="entries"):
        dyadic_vcov(x, np.ones(4), [1, 1, 2], [2, 3, 3, 4])
    with pytest.raises(ValueError, match="finite"):
        dyadic_vcov(x, np.array([1.0, np.nan, 1.0, 1.0]), [1, 1, 2, 2], [2, 3, 3, 4])


# ----------------------------------------------------------------------------- placebo
@pytest.fixture(scope="module")
def panel():
    return make_pair_panel(n_cities=20, years=range(2010, 2016), n_pilots=5, seed=21)


def test_pseudo_did_by_hand():
    df = dyad_panel([(10, 30), (20, 30), (30, 40), (10, 20)], 5)  # years 2010-2014
    pilots = pd.DataFrame({"city_id": [10, 20], "treat_year": [2012.0, 2014.0]})
    design = placebo_design(df, pilots, np.array([40, 30, 20, 10]))  # any order
    # positions in the sorted universe (10, 20, 30, 40): 30 gets 2012, 40 gets 2014
    d = pseudo_did(design, np.array([[2, 3]]))[:, 0].reshape(4, 5)
    expected = np.array(
        [
            [0, 0, 1, 1, 1],  # (10, 30): 30 from 2012
            [0, 0, 1, 1, 1],  # (20, 30)
            [0, 0, 1, 1, 1],  # (30, 40): both pseudo pilots, the earlier year 2012
            [0, 0, 0, 0, 0],  # (10, 20): neither
        ]
    )
    np.testing.assert_array_equal(d, expected)
    d = pseudo_did(design, np.array([[3, 0]]))[:, 0].reshape(4, 5)  # 40: 2012, 10: 2014
    np.testing.assert_array_equal(d[0], [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(d[2], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(d[3], [0, 0, 0, 0, 1])


def test_draws_are_reproducible_distinct_and_uniform():
    a = draw_pseudo_pilots(5, 2000, 10, 3)
    np.testing.assert_array_equal(a, draw_pseudo_pilots(5, 2000, 10, 3))
    assert not np.array_equal(a, draw_pseudo_pilots(6, 2000, 10, 3))
    assert a.shape == (2000, 3)
    assert all(len(set(r)) == 3 for r in a.tolist())
    counts = np.bincount(a.ravel(), minlength=10)  # 600 expected per city
    assert counts.min() > 450 and counts.max() < 750
    with pytest.raises(ValueError, match="n_draws"):
        draw_pseudo_pilots(1, 0, 10, 3)


def test_permutation_p_value_by_hand():
    p, n = permutation_p_value(np.array([0.1, -0.5, 0.3, np.nan]), 0.3)
    assert n == 3 and p == pytest.approx(3 / 4)
    p, _ = permutation_p_value(np.array([0.1, 0.2]), -1.0)
    assert p == pytest.approx(1 / 3)


@pytest.mark.parametrize("n_controls", [0, 2])
def test_fast_engines_equal_naive_balanced(panel, n_controls):
    data = make_pair_panel(
        n_cities=20, years=range(2010, 2016), n_pilots=5, n_controls=n_controls, seed=21
    )
    args = (data.df, "syn", data.controls, 5, 7)
    kw = dict(pilots=data.pilots, cities=data.cities, progress=False)
    naive = placebo_naive(*args, **kw)
    for engine in ("pairsum", "block"):
        fast = placebo_did(*args, engine=engine, block_size=2, **kw)
        np.testing.assert_allclose(fast.draws, naive.draws, rtol=0, atol=1e-8)
        assert fast.actual == pytest.approx(naive.actual, abs=1e-10)
    assert placebo_did(*args, **kw).method == "fwl-pair-closed-form"


def test_fast_engine_equals_naive_unbalanced():
    data = make_pair_panel(
        n_cities=16, years=range(2010, 2016), n_pilots=4, drop_share=0.15, seed=8
    )
    args = (data.df, "syn", data.controls, 5, 3)
    kw = dict(pilots=data.pilots, cities=data.cities, progress=False)
    fast = placebo_did(*args, **kw)
    assert fast.method == "fwl-block-alternating-projections"
    naive = placebo_naive(*args, **kw)
    np.testing.assert_allclose(fast.draws, naive.draws, rtol=0, atol=1e-8)
    with pytest.raises(ValueError, match="pairsum"):
        placebo_did(*args, engine="pairsum", **kw)


def test_placebo_result_fields(panel):
    df = panel.df.sample(frac=1.0, random_state=1)  # row order must not matter
    res = placebo_did(
        df, "syn", panel.controls, 60, 11, pilots=panel.pilots, cities=panel.cities, progress=False
    )
    ref = fit_twfe(panel.df, controls=panel.controls, vcov="iid")
    assert res.actual == pytest.approx(ref.coef["did"], rel=1e-9)
    hits = np.sum(np.abs(res.draws) >= abs(res.actual))
    assert res.p_value == pytest.approx((1 + hits) / 61)
    assert res.n_draws == 60 and res.n_valid == 60 and res.seed == 11
    same = placebo_did(
        panel.df,
        "syn",
        panel.controls,
        60,
        11,
        pilots=panel.pilots,
        cities=panel.cities,
        block_size=7,
        progress=False,
    )
    np.testing.assert_allclose(same.draws, res.draws, atol=1e-12)
    # the same grid with the fixed effects named the other way round: the (n x B) block engine
    swapped = placebo_did(
        df,
        "syn",
        panel.controls,
        60,
        11,
        pilots=panel.pilots,
        cities=panel.cities,
        fe=("year", "pair_id"),
        progress=False,
    )
    assert swapped.method == "fwl-block-closed-form"
    np.testing.assert_allclose(swapped.draws, res.draws, atol=1e-10)
    summary = res.summary()
    assert summary["q025"] <= summary["median"] <= summary["q975"]


def test_large_effect_beats_every_placebo():
    data = make_pair_panel(
        n_cities=20, n_pilots=5, effect=3.0, noise_sd=0.3, city_shock_sd=0.2, seed=2
    )
    res = placebo_did(
        data.df, "syn", data.controls, 40, 1, pilots=data.pilots, cities=data.cities, progress=False
    )
    assert res.p_value == pytest.approx(1 / 41)


def test_progress_prints_one_line_per_decile(panel, capsys):
    placebo_did(panel.df, "syn", (), 20, 1, pilots=panel.pilots, cities=panel.cities, progress=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 10
    assert all(re.fullmatch(r"placebo: \d+/20 draws \(\d+%\), [\d.]+ s", ln) for ln in lines)
    placebo_did(
        panel.df, "syn", (), 20, 1, pilots=panel.pilots, cities=panel.cities, progress=False
    )
    assert capsys.readouterr().out == ""


def test_placebo_rejects_bad_input(panel):
    kw = dict(pilots=panel.pilots, cities=panel.cities, progress=False)
    with pytest.raises(ValueError, match="engine"):
        placebo_did(panel.df, "syn", (), 3, 1, engine="fast", **kw)
    with pytest.raises(ValueError, match="not in the universe"):
        placebo_did(
            panel.df,
            "syn",
            (),
            3,
            1,
            pilots=panel.pilots,
            cities=np.setdiff1d(panel.cities, panel.pilots["city_id"].iloc[:1]),
            progress=False,
        )
    outside = np.setdiff1d(panel.cities, panel.pilots["city_id"])[:1]
    with pytest.raises(ValueError, match="outside the city universe"):
        placebo_did(
            panel.df,
            "syn",
            (),
            3,
            1,
            pilots=panel.pilots,
            cities=np.setdiff1d(panel.cities, outside),
            progress=False,
        )
    with pytest.raises(ValueError, match="twice"):
        placebo_did(
            panel.df,
            "syn",
            (),
            3,
            1,
            pilots=pd.concat([panel.pilots, panel.pilots]),
            cities=panel.cities,
            progress=False,
        )
    bad = panel.df.copy()
    bad.loc[2, "syn"] = np.nan
    with pytest.raises(ValueError, match="syn"):
        placebo_did(bad, "syn", (), 3, 1, **kw)
    with pytest.raises(ValueError, match="syn"):
        placebo_naive(bad, "syn", (), 3, 1, **kw)
    with pytest.raises(KeyError, match="zz"):
        placebo_did(panel.df, "syn", ("zz",), 3, 1, **kw)
