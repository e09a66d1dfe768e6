"""Tests of the stratified placebo, the pair-dropping FWL and the null-rejection study.

References: pyfixest fits (``fit_twfe``) of the same regression on the same rows for
chosen draws; brute-force cluster sums; the dyadic variance of
``cbec.estimators.variance.dyadic_vcov``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbec.estimators import placebo
from cbec.estimators.fe import demean, fit_twfe
from cbec.estimators.variance import dyadic_vcov
from cbec.testing.pairdata import make_pair_panel


@pytest.fixture(scope="module")
def data():
    return make_pair_panel(n_cities=22, years=range(2010, 2017), n_pilots=6, seed=11)


def _universe(data) -> pd.DataFrame:
    c = np.sort(data.cities)
    return pd.DataFrame({"city_id": c, "admin_rank": (c // 100) % 2, "region4": (c // 1000) % 2})


def test_stratified_draws_keep_strata_and_are_distinct():
    strata = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    pilot_strata = np.array([0, 1, 1])
    out = placebo.draw_stratified_pilots(4, 300, strata, pilot_strata)
    assert out.shape == (300, 3)
    assert (strata[out] == pilot_strata).all()
    assert all(len(set(r)) == 3 for r in out)
    assert len({tuple(r) for r in out}) > 10  # random, not constant
    with pytest.raises(ValueError, match="stratum"):
        placebo.draw_stratified_pilots(0, 2, strata, np.array([2, 2]))


def test_stratified_draws_equal_pyfixest(data):
    df, pilots = data.df, data.pilots
    uni = _universe(data)
    res = placebo.placebo_stratified(df, "syn", data.controls, 6, 9, pilots=pilots, universe=uni)
    fit = fit_twfe(df, y="syn", treat="did", controls=data.controls, vcov="pair")
    assert res.actual == pytest.approx(float(fit.coef["did"]), abs=1e-10)
    # rebuild the draws and refit each with pyfixest on the kept pairs
    code = pd.factorize(pd.MultiIndex.from_frame(uni[["admin_rank", "region4"]].astype(str)))[0]
    pos = np.searchsorted(uni["city_id"].to_numpy(), pilots["city_id"].to_numpy())
    chosen = placebo.draw_stratified_pilots(9, 6, code, code[pos])
    ids = uni["city_id"].to_numpy()
    n_dropped = 0
    for b in range(6):
        yr = dict(zip(ids[chosen[b]], pilots["treat_year"], strict=True))
        si = df["city_i"].map(yr).to_numpy(dtype=float)
        sj = df["city_j"].map(yr).to_numpy(dtype=float)
        keep = ~(np.isfinite(si) & np.isfinite(sj))
        n_dropped += int((~keep).sum())
        start = np.fmin(si, sj)
        sub = df.assign(pd_=(df["year"].to_numpy() >= start).astype(float))[keep]
        f = fit_twfe(sub, y="syn", treat="pd_", controls=data.controls, vcov="pair")
        assert res.draws[b] == pytest.approx(float(f.coef["pd_"]), abs=1e-9)
    assert n_dropped > 0  # the check covered draws that drop pseudo pilot-pilot pairs


def test_pair_drop_fwl_equals_pyfixest(data):
    df = data.df
    fast = placebo.PairDropFWL(df, "syn", "did", data.controls)
    pilot = df.loc[df["treated"] == 1, "pilot_city"].iloc[0]
    ids = df.loc[df["pilot_city"] == pilot, "pair_id"].unique()
    sub = df[~df["pair_id"].isin(ids)]
    f = fit_twfe(sub, y="syn", treat="did", controls=data.controls, vcov="pair")
    assert fast.coef(fast.positions(ids)) == pytest.approx(float(f.coef["did"]), abs=1e-10)
    full = fit_twfe(df, y="syn", treat="did", controls=data.controls, vcov="pair")
    assert fast.coef(np.zeros(0, dtype=np.int64)) == pytest.approx(
        float(full.coef["did"]), abs=1e-10
    )


def test_null_rejection_standard_errors_by_hand(data):
    df, pilots = data.df, data.pilots
    out = placebo.null_rejection(df, "syn", 1, 5, pilots=pilots, cities=data.cities)
    out = out.set_index("vcov")
    # rebuild the single draw
    design = placebo.placebo_design(df, pilots, data.cities)
    chosen = placebo.draw_pseudo_pilots(5, 1, design.n_cities, design.pilot_years.size)
    d = placebo.pseudo_did(design, chosen)[:, 0]
    work = df.assign(pd_=d)
    dd, yy = demean(work, ["pd_", "syn"]).T
    beta = dd @ yy / (dd @ dd)
    e = yy - beta * dd
    s = dd * e

    def crv(codes):
        sums = pd.Series(s).groupby(np.asarray(codes)).sum().to_numpy()
        g = len(sums)
        return np.sqrt(sums @ sums * g / (g - 1)) / (dd @ dd)

    assert out.loc["pair", "mean_se"] == pytest.approx(crv(df["pair_id"]), rel=1e-9)
    dy = dyadic_vcov(dd, e, df["city_i"].to_numpy(), df["city_j"].to_numpy())
    assert out.loc["dyadic", "mean_se"] == pytest.approx(np.sqrt(dy[0, 0]), rel=1e-9)
    yr = np.full(design.n_cities, np.inf)
    yr[chosen[0]] = design.pilot_years
    ci, cj = design.city_i, design.city_j
    pil = np.where(np.isfinite(yr[ci]), ci, np.where(np.isfinite(yr[cj]), cj, ci))
    assert out.loc["pilot_city", "mean_se"] == pytest.approx(crv(pil), rel=1e-9)
    assert set(out["draws"]) == {1}


def test_null_rejection_pair_clustering_overrejects_with_city_shocks():
    data = make_pair_panel(n_cities=26, years=range(2010, 2017), n_pilots=6, effect=0.0,
                           city_shock_sd=1.5, noise_sd=0.3, seed=2)  # fmt: skip
    out = placebo.null_rejection(data.df, "syn", 60, 1, pilots=data.pilots,
                                 cities=data.cities).set_index("vcov")  # fmt: skip
    assert out.loc["pair", "rejection"] > out.loc["dyadic", "rejection"]
    assert out.loc["pair", "ratio"] < out.loc["dyadic", "ratio"]
