"""Tests of cbec.study.measures: hand-computed cases, closed forms, second libraries, invariants."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.tsa.filters.hp_filter import hpfilter

from cbec.study import measures as m

YEARS = list(range(2010, 2014))


def _wide(values, cities=None, first_year=2005) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    n, T = values.shape
    cities = list(range(110000, 110000 + 100 * n, 100)) if cities is None else cities
    return pd.DataFrame(
        values,
        index=pd.Index(cities, name="city_id"),
        columns=pd.Index(range(first_year, first_year + T), name="year"),
    )


def _random_wide(n=40, T=17, seed=0, level=50.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _wide(level + rng.normal(size=(n, T)).cumsum(axis=1))


def _pairs(n_cities, n_pairs, seed=1):
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n_cities, n_pairs)
    j = (i + rng.integers(1, n_cities, n_pairs)) % n_cities
    return i, j


# ------------------------------------------------------------------------- entropy
def _toy_long() -> pd.DataFrame:
    """3 cities x 4 years, three indicators; ``c`` is a negative indicator."""
    return pd.DataFrame(
        {
            "city_id": [1] * 4 + [2] * 4 + [3] * 4,
            "year": YEARS * 3,
            "a": [1.0, 2.0, 3.0, 4.0, 2.0, 2.0, 3.0, 5.0, 1.0, 1.0, 1.0, 9.0],
            "b": [10.0, 12.0, 14.0, 16.0, 11.0, 13.0, 15.0, 17.0, 10.0, 10.0, 12.0, 12.0],
            "c": [5.0, 4.0, 3.0, 2.0, 5.0, 5.0, 4.0, 4.0, 3.0, 2.0, 1.0, 1.0],
        }
    )


def _hand_entropy(columns: dict[str, list[float]], negative: set[str], shift=1e-4):
    """The entropy-weight method written out with plain Python arithmetic."""
    norm, d = {}, {}
    for name, xs in columns.items():
        lo, hi = min(xs), max(xs)
        if name in negative:
            xn = [(hi - x) / (hi - lo) for x in xs]
        else:
            xn = [(x - lo) / (hi - lo) for x in xs]
        norm[name] = xn
        total = sum(v + shift for v in xn)
        ps = [(v + shift) / total for v in xn]
        e = -sum(p * math.log(p) for p in ps) / math.log(len(xs))
        d[name] = 1.0 - e
    dsum = sum(d.values())
    w = {k: v / dsum for k, v in d.items()}
    n = len(next(iter(columns.values())))
    index = [100.0 * sum(w[k] * norm[k][r] for k in columns) for r in range(n)]
    return w, index


def test_entropy_hand_computed_3x4():
    data = _toy_long()
    cols = {k: data[k].tolist() for k in ("a", "b", "c")}
    w_hand, idx_hand = _hand_entropy(cols, {"c"})
    index, weights = m.entropy_index(data, ["a", "b", "c"], negative=["c"])
    assert list(weights.index) == ["a", "b", "c"]
    for k in "abc":
        assert weights[k] == pytest.approx(w_hand[k], rel=1e-12)
    expected = pd.Series(
        idx_hand, index=pd.MultiIndex.from_frame(data[["city_id", "year"]].astype("int64"))
    )
    got = index.loc[expected.index]
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert index.index.names == ["city_id", "year"]


def test_entropy_closed_form_two_level_indicator():
    # x' in {0, 1}, six rows each: p0 = s / (6s + 6(1+s)), p1 = (1+s) / (same)
    s = 1e-4
    X = pd.DataFrame({"u": [0.0] * 6 + [1.0] * 6, "v": np.arange(12.0)})
    denom = 6 * s + 6 * (1 + s)
    p0, p1 = s / denom, (1 + s) / denom
    e_u = -(6 * p0 * math.log(p0) + 6 * p1 * math.log(p1)) / math.log(12)
    pv = [(k / 11 + s) / (6 + 12 * s) for k in range(12)]
    e_v = -sum(p * math.log(p) for p in pv) / math.log(12)
    w = m.entropy_weights(X)
    assert w["u"] == pytest.approx((1 - e_u) / ((1 - e_u) + (1 - e_v)), rel=1e-12)


def test_entropy_weights_sum_to_one_and_nonnegative():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.lognormal(size=(200, 9)), columns=[f"x{k}" for k in range(9)])
    w = m.entropy_weights(X, negative=["x3"])
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    assert (w >= 0).all()


def test_entropy_index_invariant_to_units_and_in_range():
    data = _toy_long()
    rescaled = data.assign(a=data["a"] * 10_000.0, b=data["b"] / 10_000.0 + 7.0)
    i1, w1 = m.entropy_index(data, ["a", "b", "c"], negative=["c"])
    i2, w2 = m.entropy_index(rescaled, ["a", "b", "c"], negative=["c"])
    np.testing.assert_allclose(w1.to_numpy(), w2.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(i1.to_numpy(), i2.to_numpy(), rtol=1e-10)
    assert i1.min() >= 0 and i1.max() <= 100.0


def test_entropy_negative_reverses_indicator():
    data = _toy_long()
    flipped = data.assign(c=-data["c"])
    i1, w1 = m.entropy_index(data, ["a", "b", "c"], negative=["c"])
    i2, w2 = m.entropy_index(flipped, ["a", "b", "c"])
    np.testing.assert_allclose(i1.to_numpy(), i2.to_numpy(), rtol=1e-12)


def test_entropy_reference_years():
    data = _toy_long()
    ref = data[data["year"].isin([2010, 2011])]
    index, w = m.entropy_index(data, ["a", "b", "c"], negative=["c"], years=[2010, 2011])
    w_ref = m.entropy_weights(ref[["a", "b", "c"]], negative=["c"])
    np.testing.assert_allclose(w.to_numpy(), w_ref.to_numpy(), rtol=1e-12)
    # bounds come from the reference years, so the reference rows match the subset's index
    sub_index, _ = m.entropy_index(ref, ["a", "b", "c"], negative=["c"])
    np.testing.assert_allclose(index.loc[sub_index.index].to_numpy(), sub_index.to_numpy())
    assert len(index) == len(data)


def test_entropy_errors_name_the_problem():
    data = _toy_long()
    with pytest.raises(ValueError, match="'zz'"):
        m.entropy_index(data, ["a", "zz"])
    bad = data.copy()
    bad.loc[(bad["city_id"] == 2) & (bad["year"] == 2011), "b"] = np.nan
    with pytest.raises(ValueError, match=r"'b'.*\(2, 2011\)"):
        m.entropy_index(bad, ["a", "b"])
    with pytest.raises(ValueError, match="constant"):
        m.entropy_index(data.assign(b=3.0), ["a", "b"])
    with pytest.raises(ValueError, match="negative"):
        m.entropy_index(data, ["a", "b"], negative=["c"])
    with pytest.raises(ValueError, match="duplicate"):
        m.entropy_index(pd.concat([data, data.iloc[:1]]), ["a", "b"])


# ---------------------------------------------------------------- wide and growth
def test_to_wide_from_series_and_long():
    data = _toy_long()
    w = m.to_wide(data, "a")
    assert w.shape == (3, 4) and w.index.name == "city_id" and w.columns.name == "year"
    assert w.loc[3, 2013] == 9.0
    s = data.set_index(["city_id", "year"])["a"]
    pd.testing.assert_frame_equal(m.to_wide(s), w)
    holes = m.to_wide(data.iloc[1:], "a")
    assert np.isnan(holes.loc[1, 2010])
    with pytest.raises(ValueError, match="value="):
        m.to_wide(data)
    with pytest.raises(ValueError, match="duplicate"):
        m.to_wide(pd.concat([data, data.iloc[:1]]), "a")


def test_growth_hand_numbers():
    w = _wide([[100.0, 110.0, 121.0], [50.0, 25.0, 50.0]])
    lg = m.growth(w, "log")
    assert np.isnan(lg.iloc[:, 0]).all()
    assert lg.iloc[0, 1] == pytest.approx(math.log(1.1))
    assert lg.iloc[1, 1] == pytest.approx(-math.log(2.0))
    pg = m.growth(w, "pct")
    np.testing.assert_allclose(pg.iloc[:, 1:].to_numpy(), [[0.1, 0.1], [-0.5, 1.0]])
    with pytest.raises(ValueError, match="110100"):
        m.growth(_wide([[1.0, 2.0, 3.0], [1.0, 0.0, 1.0]]), "log")
    gap = w.copy()
    gap.columns = pd.Index([2005, 2006, 2008], name="year")
    with pytest.raises(ValueError, match="consecutive"):
        m.growth(gap)


# --------------------------------------------------------------------------- filters
def test_hp_matches_statsmodels_per_city():
    w = _random_wide(n=25, T=17, seed=5)
    for lamb in (6.25, 100.0):
        cycle, trend = m.hp_filter(w, lamb=lamb)
        for r in range(len(w)):
            c_ref, t_ref = hpfilter(w.iloc[r].to_numpy(), lamb=lamb)
            np.testing.assert_allclose(cycle.iloc[r].to_numpy(), c_ref, rtol=0, atol=1e-8)
            np.testing.assert_allclose(trend.iloc[r].to_numpy(), t_ref, rtol=0, atol=1e-8)
    assert cycle.index.equals(w.index) and cycle.columns.equals(w.columns)


def test_hamilton_matches_statsmodels_ols():
    w = _random_wide(n=12, T=17, seed=7)
    for h, p in ((2, 2), (2, 1), (3, 4)):
        cyc = m.hamilton_filter(w, h=h, p=p)
        assert cyc.iloc[:, : h + p - 1].isna().all().all()
        assert cyc.iloc[:, h + p - 1 :].notna().all().all()
        for r in range(len(w)):
            y = w.iloc[r].to_numpy()
            T = len(y)
            target = y[p - 1 + h :]
            lags = np.column_stack([y[p - 1 - k : T - h - k] for k in range(p)])
            res = sm.OLS(target, sm.add_constant(lags, has_constant="add")).fit()
            np.testing.assert_allclose(
                cyc.iloc[r, p - 1 + h :].to_numpy(), res.resid, rtol=0, atol=1e-8
            )


def test_filters_reject_nan_naming_city():
    w = _random_wide(n=4, T=10)
    w.iloc[2, 3] = np.nan
    city = w.index[2]
    for f in (m.hp_filter, m.hamilton_filter, m.zscore):
        with pytest.raises(ValueError, match=f"{city}.*{w.columns[3]}"):
            f(w)


def test_zscore_rowwise_and_errors():
    w = _random_wide(n=5, T=9, seed=2)
    for ddof in (0, 1):
        z = m.zscore(w, ddof=ddof)
        np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-12)
        np.testing.assert_allclose(z.std(axis=1, ddof=ddof), 1.0, rtol=1e-12)
    const = w.copy()
    const.iloc[1] = 4.2
    with pytest.raises(ValueError, match=f"constant.*{w.index[1]}"):
        m.zscore(const)


# ---------------------------------------------------------------- synchronization
def test_cm_identical_and_opposite():
    w = _random_wide(n=3, T=10, seed=4)
    z = m.zscore(w)
    zi = z.to_numpy()[0]
    z2 = pd.DataFrame(np.vstack([zi, zi, -zi]), index=[1, 2, 3], columns=z.columns)
    rho = m.cm_rho(z2, np.array([0, 0]), np.array([1, 2]))
    np.testing.assert_array_equal(rho[0], 1.0)
    np.testing.assert_allclose(rho[1], 1.0 - 2.0 * zi**2, rtol=1e-13)
    syn = m.cm_sync(z2, np.array([0]), np.array([1]))
    T = 10
    np.testing.assert_allclose(syn[0], 0.5 * math.log((1 + 1 / (2 * T - 3)) / m.CM_EPS))
    assert np.isfinite(syn).all()


def test_cm_bound_attained_by_spike():
    T = 7
    spike = np.zeros(T)
    spike[3] = 1.0
    w = _wide(np.vstack([spike, -spike, np.arange(T)]))
    z = m.zscore(w, ddof=0)
    assert z.iloc[0, 3] == pytest.approx(math.sqrt(T - 1), rel=1e-13)
    rho = m.cm_rho(z, np.array([0]), np.array([1]))
    assert rho[0, 3] == pytest.approx(3 - 2 * T, rel=1e-13)
    syn = m.cm_sync(z, np.array([0]), np.array([1]))
    assert np.isfinite(syn).all()
    assert syn[0, 3] == pytest.approx(0.5 * math.log(m.CM_EPS / (2 * T - 2)), rel=1e-6)
    # random series never go below the bound, with either ddof
    zr = m.zscore(_random_wide(n=30, T=T, seed=9), ddof=1)
    i, j = _pairs(30, 300)
    assert m.cm_rho(zr, i, j).min() >= 3 - 2 * T


def test_cm_transform_monotone_and_zero():
    for T in (3, 10, 17):
        rho = np.linspace(3 - 2 * T, 1 - 1e-9, 2001)
        syn = m.cm_transform(rho, T)
        assert np.all(np.diff(syn[1:]) > 0)
        assert m.cm_transform(0.0, T) == 0.0
    # via z: larger gaps give lower SYN
    z = np.array([[0.0, 0.0], [0.1, 0.0], [0.5, 0.0], [1.0, 0.0], [2.0, 0.0]])
    syn = m.cm_sync(z, np.zeros(4, dtype=int), np.arange(1, 5), T=5)[:, 0]
    assert np.all(np.diff(syn) < 0)
    with pytest.raises(ValueError, match="bound"):
        m.cm_transform(-40.0, 5)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 8),
    T=st.integers(3, 20),
    ddof=st.sampled_from([0, 1]),
)
def test_pair_measures_symmetric(seed, n, T, ddof):
    rng = np.random.default_rng(seed)
    w = _wide(rng.normal(size=(n, T)) * rng.lognormal(size=(n, 1)))
    i, j = _pairs(n, 20, seed=seed)
    z = m.zscore(w, ddof=ddof)
    np.testing.assert_array_equal(m.cm_sync(z, i, j), m.cm_sync(z, j, i))
    np.testing.assert_array_equal(m.kpp_sync(w, i, j), m.kpp_sync(w, j, i))
    np.testing.assert_array_equal(
        m.rolling_corr_sync(w, i, j, window=3), m.rolling_corr_sync(w, j, i, window=3)
    )
    assert np.all(m.cm_rho(z, i, j) >= 3 - 2 * T - 1e-9)


def test_cm_sync_from_wide():
    w = _random_wide(n=6, T=8, seed=11)
    i, j = np.array([0, 2]), np.array([5, 3])
    np.testing.assert_array_equal(
        m.cm_sync_from_wide(w, i, j, ddof=1), m.cm_sync(m.zscore(w, 1), i, j)
    )


def test_kpp_hand_numbers():
    g = _wide([[0.05, 0.10, np.nan], [0.02, 0.12, 0.03], [0.07, 0.07, 0.07]])
    out = m.kpp_sync(g, np.array([0, 1]), np.array([1, 2]))
    np.testing.assert_allclose(out[0, :2], [-0.03, -0.02])
    assert np.isnan(out[0, 2])
    np.testing.assert_allclose(out[1], [-0.05, -0.05, -0.04])


def test_pair_positions_validated():
    z = m.zscore(_random_wide(n=4, T=6))
    with pytest.raises(IndexError, match="out of range"):
        m.cm_sync(z, np.array([0]), np.array([4]))
    with pytest.raises(IndexError, match="out of range"):
        m.kpp_sync(z, np.array([-1]), np.array([2]))
    with pytest.raises(TypeError, match="integer"):
        m.cm_rho(z, np.array([0.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="itself"):
        m.cm_rho(z, np.array([1]), np.array([1]))


def test_residualize_two_way_balanced_and_unbalanced():
    w = _random_wide(n=6, T=7, seed=13)
    r = m.residualize_two_way(w)
    np.testing.assert_allclose(r.mean(axis=1), 0.0, atol=1e-10)
    np.testing.assert_allclose(r.mean(axis=0), 0.0, atol=1e-10)
    # unbalanced: compare with OLS on city and year dummies
    holes = w.copy()
    for a, b in ((0, 0), (1, 3), (4, 6), (5, 2), (2, 1)):
        holes.iloc[a, b] = np.nan
    holes.iloc[:, 0] = np.nan  # an all-NaN year (e.g. first year of growth) stays NaN
    r2 = m.residualize_two_way(holes)
    assert r2.iloc[:, 0].isna().all()
    obs = holes.notna().to_numpy()
    rows, cols = np.nonzero(obs)
    D = np.zeros((rows.size, 6 + 7))
    D[np.arange(rows.size), rows] = 1.0
    D[np.arange(rows.size), 6 + cols] = 1.0
    y = holes.to_numpy()[obs]
    beta = np.linalg.lstsq(D, y, rcond=None)[0]
    np.testing.assert_allclose(r2.to_numpy()[obs], y - D @ beta, atol=1e-9)
    assert np.isnan(r2.to_numpy()[~obs]).all()
    np.testing.assert_allclose(np.nanmean(r2.to_numpy(), axis=1), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.nanmean(r2.to_numpy()[:, 1:], axis=0), 0.0, atol=1e-10)


def test_rolling_corr_matches_pandas():
    w = _random_wide(n=8, T=17, seed=17)
    w.iloc[3, 9] = np.nan
    cyc = m.hp_filter(w.drop(index=w.index[3]))[0]
    cyc = pd.concat([cyc.iloc[:3], w.iloc[[3]] - 50.0, cyc.iloc[3:]])
    i, j = np.array([0, 1, 3, 5]), np.array([2, 6, 4, 3])
    for window in (3, 5):
        got = m.rolling_corr_sync(cyc, i, j, window=window)
        for p in range(len(i)):
            ref = cyc.iloc[i[p]].rolling(window).corr(cyc.iloc[j[p]]).to_numpy()
            np.testing.assert_allclose(got[p], ref, atol=1e-10, equal_nan=True)
        assert np.isnan(got[:, : window - 1]).all()
        assert np.isnan(got[2, 9 : 9 + window]).all()


def test_city_series_kinds():
    w = _random_wide(n=5, T=12, seed=19)
    pd.testing.assert_frame_equal(m.city_series(w, "level"), w.astype(float))
    # growth is the first difference in index points (the index has an arbitrary zero)
    g = m.city_series(w, "growth")
    assert g.iloc[:, 0].isna().all()
    np.testing.assert_allclose(g.iloc[:, 1:].to_numpy(), np.diff(w.to_numpy(), axis=1))
    # a shift of the index (moving its zero) leaves growth and cycles unchanged
    pd.testing.assert_frame_equal(m.city_series(w - 1000.0, "growth"), g)
    pd.testing.assert_frame_equal(
        m.city_series(w, "cycle", "hp", lamb=10.0), m.hp_filter(w, lamb=10.0)[0]
    )
    pd.testing.assert_frame_equal(m.city_series(w, "cycle", "hamilton"), m.hamilton_filter(w))
    np.testing.assert_allclose(
        m.city_series(w - 1000.0, "cycle").to_numpy(),
        m.city_series(w, "cycle").to_numpy(),
        atol=1e-8,
    )
    with pytest.raises(ValueError, match="kind"):
        m.city_series(w, "levels")


# ---------------------------------------------------------------------------- timing
def test_pair_measures_fast_at_full_size():
    w = _random_wide(n=350, T=17, seed=23)
    i, j = _pairs(350, 45_000, seed=29)
    z = m.zscore(w)
    cyc = m.hp_filter(np.log(w))[0]
    m.cm_sync(z, i[:10], j[:10])  # warm up
    timings = {}
    for name, f, x in (("cm_sync", m.cm_sync, z), ("rolling_corr_sync", m.rolling_corr_sync, cyc)):
        t0 = time.perf_counter()
        out = f(x, i, j)
        timings[name] = time.perf_counter() - t0
        assert out.shape == (45_000, 17)
    assert max(timings.values()) < 1.0, timings
