"""Tests of cbec.estimators.fe: fixed-effects fits, variance conventions and demeaning.

Independent references: hand-computed grids, least squares on explicit dummy matrices,
and statsmodels OLS on data demeaned here with pandas group means.

Convention alignment with statsmodels (OLS on the demeaned data, k slopes, no FE):
statsmodels' CRV1 factor is ``G/(G-1) (N-1)/(N-k)``; pyfixest's default is
``G/(G-1) (N-1)/(N-df_k)`` with ``df_k = k + T`` because the pair fixed effects are nested in
every cluster variable used here (``k_fixef="nonnested"``: k slopes + (P + T - 1) FE levels
- P nested + 1). So the statsmodels variance is multiplied by ``(N-k)/(N-k-T)``. For iid
and HC1 nothing is nested and ``df_k = k + P + T - 1``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from cbec.estimators.fe import VCOV_TYPES, FEIndex, demean, fit_twfe, se_table
from cbec.testing.pairdata import make_pair_panel


# ----------------------------------------------------------------------------- helpers
def demean_balanced_pandas(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """x - pair mean - year mean + grand mean, with pandas group means (test-only)."""
    x = df[cols].astype(float)
    pm = x.groupby(df["pair_id"]).transform("mean")
    ym = x.groupby(df["year"]).transform("mean")
    return (x - pm - ym + x.mean()).to_numpy()


def dummy_residuals(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """Residuals of each column on explicit pair and year dummies (lstsq)."""
    d = pd.get_dummies(df["pair_id"].astype(str), dtype=float)
    t = pd.get_dummies(df["year"].astype(str), dtype=float).iloc[:, 1:]
    w = np.column_stack([d.to_numpy(), t.to_numpy()])
    x = df[cols].to_numpy(dtype=float)
    coef, *_ = np.linalg.lstsq(w, x, rcond=None)
    return x - w @ coef


@pytest.fixture(scope="module")
def small():
    return make_pair_panel(n_cities=16, years=range(2010, 2016), n_pilots=4, seed=11)


@pytest.fixture(scope="module")
def sm_fit(small):
    df = small.df
    cols = ["syn", "did", *small.controls]
    a = demean_balanced_pandas(df, cols)
    return sm.OLS(a[:, 0], a[:, 1:]), a


# ----------------------------------------------------------------------------- demean
def test_demean_closed_form_by_hand():
    df = pd.DataFrame(
        {"pair_id": [1, 1, 1, 2, 2, 2], "year": [1, 2, 3, 1, 2, 3], "x": [1, 2, 3, 4, 6, 8]}
    )
    # row means 2, 6; column means 2.5, 4, 5.5; grand mean 4
    expected = np.array([0.5, 0.0, -0.5, -0.5, 0.0, 0.5])
    np.testing.assert_allclose(demean(df, ["x"])[:, 0], expected, atol=1e-14)
    shuffled = df.iloc[[4, 0, 5, 2, 1, 3]]
    np.testing.assert_allclose(demean(shuffled, ["x"])[:, 0], expected[[4, 0, 5, 2, 1, 3]])


def test_demean_closed_equals_alternating_on_balanced(small):
    df = small.df.sample(frac=1.0, random_state=3)  # rows out of grid order
    cols = ["syn", "did", *small.controls]
    fei = FEIndex.from_frame(df, ("pair_id", "year"))
    assert fei.balanced
    closed = demean(df, cols, method="closed")
    alt = demean(df, cols, method="alternating")
    np.testing.assert_allclose(closed, alt, rtol=0, atol=1e-10)
    np.testing.assert_allclose(closed, demean_balanced_pandas(df, cols), atol=1e-12)


def test_demean_unbalanced_matches_dummy_regression():
    data = make_pair_panel(
        n_cities=12, years=range(2010, 2016), n_pilots=3, drop_share=0.25, seed=4
    )
    df = data.df
    assert not FEIndex.from_frame(df).balanced
    with pytest.raises(ValueError, match="closed form"):
        demean(df, ["syn"], method="closed")
    got = demean(df, ["syn", "x1"])
    np.testing.assert_allclose(got, dummy_residuals(df, ["syn", "x1"]), atol=1e-8)


def test_demean_one_fixed_effect_is_group_demeaning(small):
    df = small.df
    got = demean(df, ["syn"], fe=("pair_id",))[:, 0]
    expected = df["syn"] - df.groupby("pair_id")["syn"].transform("mean")
    np.testing.assert_allclose(got, expected.to_numpy(), atol=1e-12)


def test_demean_rejects_missing_values(small):
    df = small.df.copy()
    df.loc[5, "syn"] = np.nan
    with pytest.raises(ValueError, match="missing"):
        demean(df, ["syn"])
    with pytest.raises(KeyError, match="nope"):
        demean(df, ["nope"])


# ----------------------------------------------------------------------------- the fit
def test_coefficients_equal_dummy_regression_and_statsmodels(small, sm_fit):
    df = small.df
    res = fit_twfe(df, controls=small.controls, vcov="iid")
    model, _ = sm_fit
    np.testing.assert_allclose(res.coef.to_numpy(), model.fit().params, rtol=1e-10)
    # an unbalanced panel: pyfixest against explicit dummies
    data = make_pair_panel(n_cities=12, n_pilots=3, drop_share=0.2, seed=9)
    ub = data.df
    r = fit_twfe(ub, controls=data.controls, vcov="iid", fixef_tol=1e-12)
    a = dummy_residuals(ub, ["syn", "did", *data.controls])
    beta = np.linalg.lstsq(a[:, 1:], a[:, 0], rcond=None)[0]
    np.testing.assert_allclose(r.coef.to_numpy(), beta, rtol=1e-8)


@pytest.mark.parametrize(("vcov", "cluster"), [("pilot_city", "cluster_city"), ("pair", "pair_id")])
def test_crv1_equals_statsmodels(small, sm_fit, vcov, cluster):
    """(d) CRV1 by pilot city and by pair: statsmodels x (N-k)/(N-k-T) == pyfixest."""
    df = small.df
    model, a = sm_fit
    groups = pd.factorize(df[cluster])[0]
    smr = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    n, k, t = a.shape[0], a.shape[1] - 1, df["year"].nunique()
    v_sm = smr.cov_params() * (n - k) / (n - k - t)
    res = fit_twfe(df, controls=small.controls, vcov=vcov)
    np.testing.assert_allclose(res.coef.to_numpy(), smr.params, rtol=1e-10)
    np.testing.assert_allclose(res.vcov.to_numpy(), v_sm, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.se.to_numpy(), np.sqrt(np.diag(v_sm)), rtol=1e-8)
    g = df[cluster].nunique()
    assert res.n_clusters == g and res.df_resid == g - 1
    assert f"df_k={k + t}" in res.ssc


def test_iid_and_hc1_equal_statsmodels(small, sm_fit):
    df = small.df
    model, a = sm_fit
    n, k = a.shape[0], a.shape[1] - 1
    df_k = k + df["pair_id"].nunique() + df["year"].nunique() - 1
    v_iid = model.fit().cov_params() * (n - k) / (n - df_k)
    v_hc1 = model.fit(cov_type="HC1").cov_params() * (n - k) / (n - df_k)
    np.testing.assert_allclose(
        fit_twfe(df, controls=small.controls, vcov="iid").vcov, v_iid, rtol=1e-8
    )
    np.testing.assert_allclose(
        fit_twfe(df, controls=small.controls, vcov="hetero").vcov, v_hc1, rtol=1e-8
    )
    assert fit_twfe(df, controls=small.controls, vcov="iid").df_resid == n - df_k


def test_twoway_equals_statsmodels_two_groups(small, sm_fit):
    """(e) two-way CRV1 by city_i and city_j.

    statsmodels' two-group clustering without correction gives V_i + V_j - V_ij; pyfixest's
    default multiplies every term by min(G)/(min(G)-1) (``G_df="min"``) and by
    (N-1)/(N-k-T) (pair FE nested), so that product is applied to statsmodels' raw result.
    """
    df = small.df
    model, a = sm_fit
    groups = np.column_stack([pd.factorize(df["city_i"])[0], pd.factorize(df["city_j"])[0]])
    raw = model.fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    n, k, t = a.shape[0], a.shape[1] - 1, df["year"].nunique()
    g = min(df["city_i"].nunique(), df["city_j"].nunique())
    v_sm = raw.cov_params() * g / (g - 1) * (n - 1) / (n - k - t)
    res = fit_twfe(df, controls=small.controls, vcov="twoway")
    np.testing.assert_allclose(res.vcov.to_numpy(), v_sm, rtol=1e-8, atol=1e-14)
    assert res.n_clusters == g


def test_dyadic_fit_uses_the_fit_residuals():
    """The dyadic variance of fit_twfe equals dyadic_vcov on independently demeaned data."""
    from cbec.estimators.variance import dyadic_vcov

    data = make_pair_panel(n_cities=30, n_pairs=60, seed=5)  # sparse network: PSD sandwich
    df = data.df
    a = demean_balanced_pandas(df, ["syn", "did", *data.controls])
    r = sm.OLS(a[:, 0], a[:, 1:]).fit()
    expected = dyadic_vcov(a[:, 1:], r.resid, df["city_i"], df["city_j"], ssc=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no eigenvalue fix expected here
        res = fit_twfe(df, controls=data.controls, vcov="dyadic")
    np.testing.assert_allclose(res.vcov.to_numpy(), expected, rtol=1e-8, atol=1e-14)
    g = len(set(df["city_i"]) | set(df["city_j"]))
    assert res.n_clusters == g and res.df_resid == g - 1
    assert f"G={g} cities" in res.ssc and "negative" not in res.ssc


def test_dyadic_fit_clips_a_non_psd_sandwich(small, sm_fit):
    """A dense network (all pairs of 16 cities) gives a non-PSD sandwich: clipped, announced."""
    from cbec.estimators.variance import clip_psd, dyadic_vcov

    df = small.df
    model, a = sm_fit
    raw = dyadic_vcov(a[:, 1:], model.fit().resid, df["city_i"], df["city_j"], ssc=True)
    assert np.linalg.eigvalsh(raw).min() < 0
    with pytest.warns(UserWarning, match="negative eigenvalue"):
        res = fit_twfe(df, controls=small.controls, vcov="dyadic")
    np.testing.assert_allclose(res.vcov.to_numpy(), clip_psd(raw), rtol=1e-8, atol=1e-14)
    assert np.linalg.eigvalsh(res.vcov.to_numpy()).min() > -1e-12
    assert "negative eigenvalue" in res.ssc
    assert np.isfinite(res.se).all()


def test_result_fields_are_consistent(small):
    df = small.df
    res = fit_twfe(df, controls=small.controls, vcov="pilot_city")
    assert res.nobs == len(df) and res.n_dropped == 0
    assert res.n_pairs == df["pair_id"].nunique()
    assert res.n_cities == len(set(df["city_i"]) | set(df["city_j"]))
    assert list(res.coef.index) == ["did", *small.controls]
    crit = stats.t.ppf(0.975, res.df_resid)
    np.testing.assert_allclose(res.ci_low, res.coef - crit * res.se, rtol=1e-10)
    np.testing.assert_allclose(res.ci_high, res.coef + crit * res.se, rtol=1e-10)
    np.testing.assert_allclose(res.tstat, res.coef / res.se, rtol=1e-10)
    np.testing.assert_allclose(
        res.pvalue, 2 * stats.t.sf(np.abs(res.tstat), res.df_resid), rtol=1e-8
    )
    tidy = res.tidy()
    assert list(tidy.columns) == [
        "term",
        "coef",
        "se",
        "tstat",
        "pvalue",
        "ci_low",
        "ci_high",
        "vcov",
    ]
    assert tidy.shape[0] == 1 + len(small.controls)
    # R-squared, computed here from the dummy regression
    cols = ["syn", "did", *small.controls]
    a = demean_balanced_pandas(df, cols)
    e = a[:, 0] - a[:, 1:] @ res.coef.to_numpy()
    r2_within = 1 - (e @ e) / (a[:, 0] @ a[:, 0])
    y = df["syn"].to_numpy()
    r2 = 1 - (e @ e) / ((y - y.mean()) @ (y - y.mean()))
    assert res.r2_within == pytest.approx(r2_within, rel=1e-8)
    assert res.r2 == pytest.approx(r2, rel=1e-8)


def test_truth_recovery():
    data = make_pair_panel(n_cities=40, n_pilots=10, effect=0.5, seed=2, noise_sd=0.5)
    res = fit_twfe(data.df, controls=data.controls, vcov="pilot_city")
    assert abs(res.coef["did"] - 0.5) < 4 * res.se["did"]
    assert res.se["did"] > 0


@pytest.mark.filterwarnings("ignore:the dyadic variance has")
def test_se_table_one_fit_many_variances(small):
    df = small.df
    tab = se_table(df, controls=small.controls, vcovs=VCOV_TYPES)
    assert list(tab.index) == list(VCOV_TYPES)
    assert tab.loc["pilot_city", "n_clusters"] == df["cluster_city"].nunique()
    assert pd.isna(tab.loc["iid", "n_clusters"])
    assert np.ptp(tab["coef"].to_numpy()) < 1e-12
    for v in VCOV_TYPES:
        r = fit_twfe(df, controls=small.controls, vcov=v)
        assert tab.loc[v, "se"] == pytest.approx(r.se["did"], rel=1e-10)
        assert tab.loc[v, "df"] == r.df_resid
    assert {
        "label",
        "coef",
        "se",
        "tstat",
        "pvalue",
        "ci_low",
        "ci_high",
        "n_clusters",
        "df",
        "ssc",
    } <= set(tab.columns)


def test_singletons_are_counted_and_announced():
    data = make_pair_panel(n_cities=10, n_pilots=2, seed=5)
    df = data.df
    first = df["pair_id"].iloc[0]
    df = df[(df["pair_id"] != first) | (df["year"] == df["year"].min())]
    with pytest.warns(UserWarning, match="singleton"):
        res = fit_twfe(df, vcov="pair")
    assert res.n_dropped == 1 and res.nobs == len(df) - 1


def test_bad_input_is_rejected(small):
    df = small.df
    with pytest.raises(ValueError, match="vcov"):
        fit_twfe(df, vcov="robust")
    with pytest.raises(KeyError, match="zz"):
        fit_twfe(df, controls=("zz",))
    bad = df.copy()
    bad.loc[3, "x1"] = np.nan
    with pytest.raises(ValueError, match="x1: 1"):
        fit_twfe(bad, controls=("x1",))
    with pytest.raises(ValueError, match="constant"):
        fit_twfe(df.assign(did=1.0))
    with pytest.raises(TypeError, match="DataFrame"):
        fit_twfe(df.to_numpy())
    with pytest.raises(ValueError, match="distinct"):
        fit_twfe(df, controls=("did",))
    with pytest.raises(ValueError, match="vcov"):
        se_table(df, vcovs=("pair", "nope"))
