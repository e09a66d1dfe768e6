"""Staggered estimators (cbec.estimators.staggered) against diff-diff, R ``did`` and the truth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cbec.estimators import fe as estimate
from cbec.estimators import influence, staggered
from cbec.estimators.decomposition import decompose_twfe

YEARS = np.arange(2010, 2020)


def make_panel(
    n_cities: int = 30, n_pilots: int = 8, seed: int = 0, noise: float = 0.3, spill: float = 0.0
) -> pd.DataFrame:
    """Every pair of ``n_cities`` cities without pilot-pilot pairs, staggered cohorts.

    Outcome ``syn = syn_cf + tau``: pair and year effects, city-year shocks shared by every
    pair of the city, and a true effect that grows with exposure (plus an optional
    spillover onto control pairs after 2015).
    """
    rng = np.random.default_rng(seed)
    cohort_of = dict(
        zip(range(n_pilots), rng.choice([2013, 2015, 2016, 2018], n_pilots), strict=True)
    )
    shock = rng.normal(0, noise, (n_cities, YEARS.size))
    rows = []
    pid = 0
    for i in range(n_cities):
        for j in range(i + 1, n_cities):
            if i < n_pilots and j < n_pilots:
                continue
            g = cohort_of.get(i, cohort_of.get(j, np.nan))
            fe = rng.normal()
            for k, t in enumerate(YEARS):
                e = t - g if np.isfinite(g) else np.nan
                tau = 0.1 + 0.05 * e if np.isfinite(g) and e >= 0 else 0.0
                if not np.isfinite(g) and t >= 2015:
                    tau = spill
                y0 = fe + 0.1 * k + shock[i, k] + shock[j, k] + rng.normal(0, noise)
                rows.append((pid, i, j, i if i < n_pilots else min(i, j), g, t, y0, tau))
            pid += 1
    df = pd.DataFrame(rows, columns=["pair_id", "city_i", "city_j", "cluster_city", "treat_year",
                                     "year", "syn_cf", "tau"])  # fmt: skip
    df["syn"] = df["syn_cf"] + df["tau"]
    df["treated"] = df["treat_year"].notna().astype(np.int8)
    df["did"] = ((df["year"] >= df["treat_year"]) & df["treat_year"].notna()).astype(float)
    df["event_time"] = df["year"] - df["treat_year"]
    df["pilot_city"] = np.where(df["treated"] == 1, df["cluster_city"], np.nan)
    return df


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()


def test_check_panel_rejects_bad_input(panel: pd.DataFrame) -> None:
    bad = panel.copy()
    bad.loc[5, "syn"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        staggered.check_panel(bad)
    with pytest.raises(ValueError, match="unbalanced"):
        staggered.check_panel(panel.drop(index=[3]))
    moved = panel.copy()
    first_treated = moved.index[moved["treat_year"].notna()][0]
    moved.loc[first_treated, "treat_year"] = 2019
    with pytest.raises(ValueError, match="varies within a pair"):
        staggered.check_panel(moved)
    with pytest.raises(ValueError, match="lacks columns"):
        staggered.check_panel(panel.drop(columns="cluster_city"))


@pytest.mark.parametrize("control", ["never_treated", "not_yet_treated"])
@pytest.mark.parametrize("base", ["varying", "universal"])
def test_cs_equals_diff_diff(panel: pd.DataFrame, control: str, base: str) -> None:
    own = staggered.cs_influence(panel, control=control, base_period=base)
    lib = staggered.cs_library(panel, control=control, base_period=base)
    gt = pd.DataFrame([{"g": int(k[0]), "t": int(k[1]), "lib": v["effect"]}
                       for k, v in lib.group_time_effects.items()]).dropna()  # fmt: skip
    gt = gt[gt["t"] != gt["g"] - 1] if base == "universal" else gt  # the reference cells: 0
    m = own.cells.merge(gt, on=["g", "t"])
    assert len(m) == len(gt) > 10
    assert np.allclose(m["att"], m["lib"], atol=1e-10)
    assert own.estimates["overall"] == pytest.approx(lib.overall_att, abs=1e-10)
    se = influence.if_se(own.psi[["overall"]], own.units)
    assert se.loc["overall", "pilot_city"] == pytest.approx(lib.overall_se, rel=1e-8)
    es = lib.aggregate("event_study")
    for e, att, s in zip(es.event_time, es.att, es.se, strict=True):
        key = f"e={int(e)}"
        if key in own.estimates.index:
            assert own.estimates[key] == pytest.approx(att, abs=1e-10)
            sev = influence.if_se(own.psi[[key]], own.units).loc[key, "pilot_city"]
            assert sev == pytest.approx(s, rel=1e-8)


def test_imputation_equals_diff_diff_and_is_linear(panel: pd.DataFrame) -> None:
    own = staggered.imputation_influence(panel)
    lib = staggered.imputation_library(panel)
    assert own.estimates["overall"] == pytest.approx(lib.overall_att, abs=1e-9)
    # diff-diff applies no G/(G-1) factor to the imputation variance
    se = influence.if_se(own.psi[["overall"]], own.units).loc["overall", "pilot_city"]
    g = panel["cluster_city"].nunique()
    assert se * np.sqrt((g - 1) / g) == pytest.approx(lib.overall_se, rel=1e-6)
    y = panel.sort_values(["pair_id", "year"])["syn"].to_numpy().reshape(-1, YEARS.size)
    assert float((own.cells.to_numpy() * y).sum()) == pytest.approx(own.estimates["overall"])


def test_robust_estimators_recover_truth_without_noise() -> None:
    df = make_panel(noise=0.0, seed=3)
    truth = float(df.loc[df["did"] == 1, "tau"].mean())
    # no noise and a common trend: parallel trends hold exactly
    for res in (staggered.cs_influence(df, control="never_treated"),
                staggered.cs_influence(df, control="not_yet_treated"),
                staggered.imputation_influence(df)):  # fmt: skip
        assert res.estimates["overall"] == pytest.approx(truth, abs=1e-9)
    twfe = estimate.fit_twfe(df, y="syn", treat="did", controls=(), vcov="iid")
    assert abs(float(twfe.coef["did"]) - truth) > 1e-3  # growing effects bias TWFE


def test_bacon_weights_times_estimates_sum_to_twfe(panel: pd.DataFrame) -> None:
    bac = staggered.bacon(panel)
    c = bac.comparisons
    assert c["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    twfe = estimate.fit_twfe(panel, y="syn", treat="did", controls=(), vcov="iid")
    assert float((c["weight"] * c["estimate"]).sum()) == pytest.approx(
        float(twfe.coef["did"]), abs=1e-8
    )
    assert bac.twfe == pytest.approx(float(twfe.coef["did"]), abs=1e-8)


def test_decompose_linear_adds_up_and_matches_twfe_decomposition() -> None:
    df = make_panel(spill=0.05, seed=1)
    from cbec.estimators.decomposition import fwl_weights

    df = df.sort_values(["pair_id", "year"]).reset_index(drop=True)
    w = fwl_weights(df)
    twfe = staggered.decompose_linear(df, lambda d, y: float(w @ d[y].to_numpy()))
    parts = ["treated_post", "pre_period", "treated_pre_late", "control_late", "no_policy"]
    assert twfe[parts].sum() == pytest.approx(twfe["estimate"], abs=1e-10)
    ref = decompose_twfe(df).table.set_index("component")["value"]
    for k in parts:
        assert twfe[k] == pytest.approx(float(ref[k]), abs=1e-10)
    cs = staggered.decompose_linear(
        df, lambda d, y: staggered.cs_influence(d, y).estimates["overall"]
    )
    assert cs[parts].sum() == pytest.approx(cs["estimate"], abs=1e-10)
    assert cs["weighting"] == pytest.approx(0.0, abs=1e-10)  # CS weights are the ATT's
    assert cs["control_late"] < 0  # a positive spillover onto controls biases CS down


MPDTA = Path(
    os.environ.get(
        "CBEC_MPDTA",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "reference" / "mpdta.csv",
    )
)
# R did 2.x, vignette and README: att_gt(yname="lemp", tname="year", idname="countyreal",
# gname="first.treat", data=mpdta, est_method="reg") (4 decimals), and
# aggte(., type="simple"): -0.039951 (SE 0.012034, analytic, clustered by county).
R_ATTGT = {(2004, 2004): -0.0105, (2004, 2005): -0.0704, (2004, 2006): -0.1373,
           (2004, 2007): -0.1008, (2006, 2004): 0.0065, (2006, 2005): -0.0028,
           (2006, 2006): -0.0046, (2006, 2007): -0.0412, (2007, 2004): 0.0305,
           (2007, 2005): -0.0027, (2007, 2006): -0.0311, (2007, 2007): -0.0261}  # fmt: skip


@pytest.mark.skipif(not MPDTA.is_file(), reason="mpdta.csv (R did, GPL-2) is not shipped")
def test_cs_reproduces_r_did_on_mpdta() -> None:
    m = pd.read_csv(MPDTA)
    df = pd.DataFrame({
        "pair_id": m["countyreal"], "year": m["year"], "syn": m["lemp"],
        "treat_year": m["first.treat"].replace(0, np.nan).astype(float),
        "city_i": m["countyreal"], "city_j": -m["countyreal"], "cluster_city": m["countyreal"],
    })  # fmt: skip
    own = staggered.cs_influence(df, control="never_treated", base_period="varying")
    cells = own.cells.set_index(["g", "t"])["att"]
    for key, val in R_ATTGT.items():
        assert cells[key] == pytest.approx(val, abs=5e-5)
    assert own.estimates["overall"] == pytest.approx(-0.039951, abs=5e-7)
    se = np.sqrt(
        float(influence.if_vcov(own.psi[["overall"]], own.units, "pair", ssc=False).iloc[0, 0])
    )
    assert se == pytest.approx(0.012034, abs=5e-7)
