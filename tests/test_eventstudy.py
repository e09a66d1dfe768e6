"""Tests of cbec.estimators.eventstudy: dummies, closed-form coefficients, sup-t band, pre-test, plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
from scipy import stats

from cbec.estimators.eventstudy import (
    X_LABEL,
    Y_LABEL,
    add_truth,
    bin_event_time,
    dummy_name,
    event_time_dummies,
    fit_event_study,
    sup_t_critical,
    wald_test,
)
from cbec.estimators.fe import pyfixest_quiet
from cbec.outputs.figures import plot_event_study
from cbec.testing.esdata import make_es_panel


@pytest.fixture(scope="module")
def one_cohort() -> pd.DataFrame:
    return make_es_panel(treat_years=(2015,), seed=1)


@pytest.fixture(scope="module")
def staggered() -> pd.DataFrame:
    # cohorts 2014, 2016, 2019 (one post year) and 2022 (never post inside the window)
    return make_es_panel(
        n_pilots=12, n_others=30, treat_years=(2014, 2016, 2019, 2022), noise=0.2, seed=2
    )


# ----------------------------------------------------------------------------- dummies
def test_dummies_bin_endpoints_and_omit_reference() -> None:
    df = pd.DataFrame(
        {
            "treated": [1, 1, 1, 1, 1, 1, 0, 0],
            "event_time": [-9.0, -5.0, -2.0, -1.0, 4.0, 7.0, np.nan, np.nan],
        }
    )
    dummies, labels = event_time_dummies(df, window=(-5, 4), ref=-1)
    assert labels == [dummy_name(k) for k in (-5, -4, -3, -2, 0, 1, 2, 3, 4)]
    assert labels[0] == "ev_m5" and labels[4] == "ev_p0"
    assert list(dummies.columns) == labels
    # -9 and -5 both go to the lower bin, 4 and 7 to the upper bin
    assert dummies["ev_m5"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert dummies["ev_p4"].tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    assert dummies["ev_m2"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    # reference period and control pairs: all zero
    assert dummies.iloc[3].sum() == 0
    assert dummies.iloc[6:].to_numpy().sum() == 0
    # every other treated row has exactly one dummy
    assert dummies.iloc[[0, 1, 2, 4, 5]].sum(axis=1).tolist() == [1, 1, 1, 1, 1]


def test_bin_event_time_values() -> None:
    out = bin_event_time(np.array([-7.0, -3.0, np.nan, 2.0, 9.0]), (-4, 3))
    np.testing.assert_array_equal(out, [-4.0, -3.0, np.nan, 2.0, 3.0])
    with pytest.raises(ValueError, match="whole years"):
        bin_event_time(np.array([0.5]), (-4, 3))


def test_dummies_reject_bad_input() -> None:
    df = pd.DataFrame({"treated": [1, 0], "event_time": [np.nan, np.nan]})
    with pytest.raises(ValueError, match="treated pair-years have no event_time"):
        event_time_dummies(df)
    with pytest.raises(ValueError, match="lacks columns"):
        event_time_dummies(df.drop(columns="event_time"))
    with pytest.raises(ValueError, match="reference period"):
        event_time_dummies(df, window=(-5, 4), ref=6)


# ------------------------------------------------------------------------ closed form
def test_one_cohort_matches_difference_of_differences(one_cohort: pd.DataFrame) -> None:
    res = fit_event_study(one_cohort, window=(-5, 4), n_sim=2000)
    m = one_cohort.groupby(["treated", "year"])["syn"].mean()
    tr, co = m.loc[1], m.loc[0]
    base = 2015 - 1
    for k in range(-5, 5):
        year = 2015 + k
        expected = (tr[year] - tr[base]) - (co[year] - co[base])
        got = res.table.set_index("event_time").loc[k, "coef"]
        assert got == pytest.approx(expected, abs=1e-10), k
    assert res.nobs == len(one_cohort)
    assert res.n_dropped == 0
    ref_row = res.table.set_index("event_time").loc[-1]
    assert ref_row["coef"] == 0 and ref_row["se"] == 0 and ref_row["band_low"] == 0


def test_vcov_is_cluster_robust_sandwich(one_cohort: pd.DataFrame) -> None:
    """Up to pyfixest's scalar small-sample factor, V equals a hand CRV1 sandwich."""
    res = fit_event_study(one_cohort, n_sim=500)
    dummies, labels = event_time_dummies(one_cohort)

    def twoway_demean(a: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(a)
        g_p = frame.groupby(one_cohort["pair_id"].to_numpy()).transform("mean")
        g_t = frame.groupby(one_cohort["year"].to_numpy()).transform("mean")
        return (frame - g_p - g_t + frame.mean()).to_numpy()

    x = twoway_demean(dummies.to_numpy())
    yv = twoway_demean(one_cohort[["syn"]].to_numpy())[:, 0]
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ yv
    u = yv - x @ beta
    scores = pd.DataFrame(x * u[:, None]).groupby(one_cohort["cluster_city"].to_numpy()).sum()
    meat = scores.to_numpy().T @ scores.to_numpy()
    v_hand = xtx_inv @ meat @ xtx_inv
    np.testing.assert_allclose(
        res.table.dropna().query("event_time != -1")["coef"], beta, atol=1e-10
    )
    ratio = res.vcov.to_numpy() / v_hand
    assert np.ptp(ratio) < 1e-6 * ratio.mean()
    g = one_cohort["cluster_city"].nunique()
    assert res.n_clusters == g
    assert 1.0 <= ratio.mean() <= 1.2 * g / (g - 1)


# --------------------------------------------------------------------------- sup-t band
def test_sup_t_single_coefficient_is_pointwise() -> None:
    crit = sup_t_critical(np.array([[0.7]]), alpha=0.05, n_sim=200_000, seed=3)
    assert crit == pytest.approx(stats.norm.ppf(0.975), abs=0.02)


def test_sup_t_perfectly_correlated_is_pointwise() -> None:
    sd = np.array([0.5, 1.0, 2.0])
    crit = sup_t_critical(np.outer(sd, sd), alpha=0.1, n_sim=100_000, seed=4)
    assert crit == pytest.approx(stats.norm.ppf(0.95), abs=0.02)


@pytest.mark.parametrize("k", [2, 5, 9])
def test_sup_t_independent_is_sidak_and_below_bonferroni(k: int) -> None:
    alpha = 0.05
    v = np.diag(np.linspace(0.5, 3.0, k))
    crit = sup_t_critical(v, alpha=alpha, n_sim=200_000, seed=k)
    sidak = stats.norm.ppf((1 + (1 - alpha) ** (1 / k)) / 2)
    bonferroni = stats.norm.ppf(1 - alpha / (2 * k))
    assert crit == pytest.approx(sidak, abs=0.02)
    assert stats.norm.ppf(1 - alpha / 2) < crit < bonferroni


def test_fitted_band_between_pointwise_and_bonferroni(staggered: pd.DataFrame) -> None:
    res = fit_event_study(staggered)
    k = res.vcov.shape[0]
    assert res.crit_pointwise == pytest.approx(1.959963984540054)
    assert res.crit_pointwise < res.crit_simultaneous < stats.norm.ppf(1 - 0.05 / (2 * k))
    t = res.table.dropna()
    assert (t["band_low"] <= t["ci_low"] + 1e-15).all()
    assert (t["band_high"] >= t["ci_high"] - 1e-15).all()
    np.testing.assert_allclose(t["ci_high"] - t["coef"], res.crit_pointwise * t["se"])
    # same seed, same band; another seed, slightly different
    again = fit_event_study(staggered, seed=0)
    assert again.crit_simultaneous == res.crit_simultaneous


def test_sup_t_rejects_bad_vcov() -> None:
    with pytest.raises(ValueError, match="positive finite variances"):
        sup_t_critical(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="square"):
        sup_t_critical(np.ones((2, 3)))


# ----------------------------------------------------------------------------- pretest
def test_wald_test_on_hand_built_vcov() -> None:
    b = np.array([0.3, -0.2])
    a, c, d = 0.04, 0.01, 0.09  # V = [[a, c], [c, d]]
    det = a * d - c * c
    w_hand = (d * b[0] ** 2 - 2 * c * b[0] * b[1] + a * b[1] ** 2) / det
    wt = wald_test(b, np.array([[a, c], [c, d]]), df_denom=30)
    assert wt.stat == pytest.approx(w_hand, rel=1e-12)
    assert wt.df == 2
    assert wt.p == pytest.approx(stats.chi2.sf(w_hand, 2), rel=1e-12)
    assert wt.F == pytest.approx(w_hand / 2, rel=1e-12)
    assert wt.p_F == pytest.approx(stats.f.sf(w_hand / 2, 2, 30), rel=1e-12)


def test_pretest_matches_pyfixest_wald(staggered: pd.DataFrame) -> None:
    res = fit_event_study(staggered, n_sim=500)
    dummies, labels = event_time_dummies(staggered)
    data = pd.concat([staggered.reset_index(drop=True), dummies], axis=1)
    with pyfixest_quiet():  # pyfixest called directly: the independent check
        fit = pf.feols(
            "syn ~ " + " + ".join(labels) + " | pair_id + year",
            data=data,
            vcov={"CRV1": "cluster_city"},
            demeaner=pf.MapDemeaner(fixef_tol=1e-10),
        )
    pre = [i for i, lab in enumerate(labels) if lab.startswith("ev_m")]
    r = np.zeros((len(pre), len(labels)))
    r[np.arange(len(pre)), pre] = 1.0
    out = fit.wald_test(R=r, q=np.zeros(len(pre)), distribution="chi2")
    assert res.pretest_df == 4
    assert res.pretest_stat == pytest.approx(float(fit._wald_statistic), rel=1e-8)
    assert res.pretest_p == pytest.approx(float(out["pvalue"]), rel=1e-8)
    assert res.pretest_F_df == (4, staggered["cluster_city"].nunique() - 1)
    assert res.pretest_F == pytest.approx(res.pretest_stat / 4)


def test_pretest_detects_a_pre_trend() -> None:
    flat = make_es_panel(treat_years=(2014, 2016), pretrend=0.0, seed=5)
    tilted = make_es_panel(treat_years=(2014, 2016), pretrend=0.4, seed=5)
    assert fit_event_study(flat, n_sim=500).pretest_p > 0.01
    assert fit_event_study(tilted, n_sim=500).pretest_p < 1e-3


# -------------------------------------------------------------------- truth and binning
def test_add_truth_by_hand() -> None:
    df = pd.DataFrame(
        {
            "treated": [1, 1, 1, 1, 0],
            "event_time": [-7.0, -5.0, 4.0, 6.0, np.nan],
            "tau": [0.0, 0.2, 1.0, 2.0, 99.0],
        }
    )
    table = pd.DataFrame({"event_time": np.arange(-5, 5)})
    from cbec.estimators.eventstudy import EventStudyResult

    dummy = EventStudyResult(
        table=table, vcov=pd.DataFrame(), crit_pointwise=1.96, crit_simultaneous=2.5,
        pretest_stat=0.0, pretest_df=0, pretest_p=1.0, pretest_F=0.0, pretest_F_df=(0, 1.0),
        pretest_F_p=1.0, nobs=5, n_clusters=2, n_dropped=0, alpha=0.05, window=(-5, 4),
        ref=-1, y="syn", controls=(), fe=(), cluster=None, n_sim=100, seed=0,
    )  # fmt: skip
    out = add_truth(dummy, df, relative=False).table.set_index("event_time")["truth"]
    assert out[-5] == pytest.approx(0.1)  # -7 and -5 share the lower bin
    assert out[4] == pytest.approx(1.5)  # 4 and 6 share the upper bin
    assert np.isnan(out[0])  # no treated pair-year there; the control's 99 is ignored
    assert "truth" not in dummy.table.columns
    with pytest.raises(ValueError, match="reference period"):
        add_truth(dummy, df)  # relative needs a treated pair-year at -1
    df_ref = pd.concat([df, pd.DataFrame({"treated": [1], "event_time": [-1.0], "tau": [0.3]})])
    rel = add_truth(dummy, df_ref).table.set_index("event_time")
    assert rel.loc[-1, "truth"] == 0.0
    assert rel.loc[4, "truth"] == pytest.approx(1.2)
    assert rel.loc[4, "truth_level"] == pytest.approx(1.5)


def test_truth_recovered_with_homogeneous_effects(staggered: pd.DataFrame) -> None:
    res = add_truth(fit_event_study(staggered, window=(-5, 4)), staggered)
    t = res.table.set_index("event_time")
    np.testing.assert_allclose(t.loc[[-5, -4, -3, -2, -1], "truth"], 0.0)
    assert t.loc[0, "truth"] == pytest.approx(0.5)
    assert t.loc[4, "truth"] == pytest.approx(1.0)
    assert (np.abs(t["coef"] - t["truth"]) <= 4 * t["se"] + 1e-12).all()
    assert ((t["band_low"] <= t["truth"]) & (t["truth"] <= t["band_high"])).all()


def test_binning_changes_estimates_only_through_the_bins(staggered: pd.DataFrame) -> None:
    """A window wider than the data equals the default window on interior event times
    when the effect is constant beyond 2 and no pre-trend (same fitted model up to bins)."""
    narrow = fit_event_study(staggered, window=(-3, 2), n_sim=500)
    t = narrow.table.set_index("event_time")
    assert t.index.tolist() == [-3, -2, -1, 0, 1, 2]
    dummies, _ = event_time_dummies(staggered, window=(-3, 2))
    e = staggered["event_time"]
    assert dummies["ev_p2"].sum() == ((staggered["treated"] == 1) & (e >= 2)).sum()
    assert dummies["ev_m3"].sum() == ((staggered["treated"] == 1) & (e <= -3)).sum()


def test_controls_and_missing_rows_are_reported(staggered: pd.DataFrame) -> None:
    df = staggered.copy()
    df.loc[df.index[:7], "syn"] = np.nan
    with pytest.warns(UserWarning, match="7 of"):
        res = fit_event_study(df, controls=("x1",), n_sim=500)
    assert res.n_dropped == 7
    assert list(res.control_coef.index) == ["x1"]
    with pytest.raises(ValueError, match="lacks columns"):
        fit_event_study(staggered, controls=("nope",))


# -------------------------------------------------------------------------------- plot
def test_plot_has_labels_band_and_truth(staggered: pd.DataFrame) -> None:
    res = add_truth(fit_event_study(staggered, n_sim=500), staggered)
    fig = plot_event_study(res, title="Event study")
    ax = fig.axes[0]
    assert ax.get_xlabel() == X_LABEL and ax.get_ylabel() == Y_LABEL
    assert ax.get_title() == "Event study"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("simultaneous" in s for s in legend)
    assert any("True effect" in s for s in legend)
    assert len(ax.collections) >= 1  # shaded band
    plt.close(fig)
    fig2, ax2 = plt.subplots()
    out = plot_event_study(res, ax=ax2, truth=False)
    assert out is fig2
    assert not any("True effect" in t.get_text() for t in ax2.get_legend().get_texts())
    plt.close(fig2)


def test_defaults_and_cluster_names_come_from_spec(one_cohort: pd.DataFrame) -> None:
    from cbec.estimators.fe import FitResult, fit_twfe
    from cbec.spec import Spec

    res = fit_event_study(one_cohort, n_sim=200)
    assert res.window == Spec().event_window == (-5, 3)
    assert res.cluster == Spec().cluster == "pilot_city"
    assert res.alpha == pytest.approx(1 - Spec().confidence_level)
    assert isinstance(res.fit, FitResult) and res.fit.vcov_type == "pilot_city"
    other = fit_event_study(one_cohort, n_sim=200, spec=Spec(event_window=(-4, 2), cluster="pair"))
    assert other.window == (-4, 2) and other.cluster == "pair"
    assert other.n_clusters == one_cohort["pair_id"].nunique()
    # the event study's pair-clustered SE of a one-term window equals fit_twfe's
    post = one_cohort.assign(post=(one_cohort["event_time"] >= 0).astype(float))
    es = fit_event_study(post, window=(-1, 0), ref=-1, cluster="twoway", n_sim=200)
    tw = fit_twfe(post, y="syn", treat="post", vcov="twoway")
    t = es.table.set_index("event_time")
    assert t.loc[0, "coef"] == pytest.approx(tw.coef["post"], abs=1e-10)
    assert t.loc[0, "se"] == pytest.approx(tw.se["post"], rel=1e-8)
    with pytest.raises(ValueError, match="cluster must be one of"):
        fit_event_study(one_cohort, cluster="cluster_city", n_sim=200)
