"""Tests of cbec.analyses.mechanisms (chapter 5).

Independent checks: pair channel measures against their definitions computed by hand from the
city panel; the channel DID and the three-step regressions against pyfixest
(``cbec.estimators.fe.fit_twfe``) and against the exact omitted-variable identity
``c = c' + a b``; the batched OLS of the simulation against numpy's least squares; the
simulation against the probability limits of its two worlds.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from cbec.analyses import mechanisms as mech
from cbec.data import twin
from cbec.estimators import fe
from cbec.spec import Spec
from cbec.study.pipeline import build_study


@pytest.fixture(scope="module")
def study():
    return build_study(Spec(fast=True))


@pytest.fixture(scope="module")
def small(study):
    rng = np.random.default_rng(1)
    ids = rng.choice(study.panel["pair_id"].unique(), 500, replace=False)
    return dataclasses.replace(
        study, panel=study.panel[study.panel["pair_id"].isin(ids)].reset_index(drop=True)
    )


def _city(study, var: str, city: int, year: int) -> float:
    d = study.city.data
    return float(d.loc[(d["city_id"] == city) & (d["year"] == year), var].iloc[0])


def test_channel_measures_follow_their_rules(small) -> None:
    p = small.panel
    fact, cf = mech.channel_columns(small, "inst_innov")
    gap, _ = mech.channel_columns(small, "misallocation")
    assert cf is not None
    for k in (0, 37, 1234, len(p) - 1):
        r = p.iloc[k]
        a = _city(small, "inst_innov", r["city_i"], r["year"])
        b = _city(small, "inst_innov", r["city_j"], r["year"])
        if r["treated"] == 1:
            expect = _city(small, "inst_innov", int(r["partner_city"]), r["year"])
        else:
            expect = (a + b) / 2
        assert fact[k] == pytest.approx(expect)
        mi = _city(small, "misallocation", r["city_i"], r["year"])
        mj = _city(small, "misallocation", r["city_j"], r["year"])
        assert gap[k] == pytest.approx(abs(mi - mj))
    alt = dataclasses.replace(small, spec=small.spec.replace(mech_innov_measure="pair_min"))
    lo, _ = mech.channel_columns(alt, "inst_innov")
    r = p.iloc[37]
    assert lo[37] == pytest.approx(
        min(_city(small, "inst_innov", r["city_i"], r["year"]),
            _city(small, "inst_innov", r["city_j"], r["year"]))
    )  # fmt: skip


def test_channel_did_matches_pyfixest(small) -> None:
    r = mech.channel_did(small, "misallocation")
    frame = small.panel.copy()
    frame["ch"], cf = mech.channel_columns(small, "misallocation")
    ref = fe.fit_twfe(frame, y="ch", controls=small.spec.controls, vcov=small.spec.cluster)
    assert r["coef"] == pytest.approx(ref.coef["did"], rel=1e-8)
    assert r["se"] == pytest.approx(ref.se["did"], rel=1e-7)
    post = frame["did"] == 1
    assert r["truth"] == pytest.approx(float((frame["ch"] - cf)[post].mean()))


def test_three_step_matches_pyfixest_and_the_omitted_variable_identity(small) -> None:
    r = mech.three_step(small, "misallocation")
    frame = small.panel.copy()
    frame["ch"], _ = mech.channel_columns(small, "misallocation")
    ctrl = list(small.spec.controls)
    f3 = fe.fit_twfe(frame, y="syn", treat="did", controls=["ch", *ctrl], vcov=small.spec.cluster)
    assert r["b"] == pytest.approx(f3.coef["ch"], rel=1e-8)
    assert r["c_prime"] == pytest.approx(f3.coef["did"], rel=1e-8)
    assert r["b_se"] == pytest.approx(f3.se["ch"], rel=1e-7)
    # exact in OLS with the same sample, fixed effects and controls: c = c' + a b
    assert r["c"] == pytest.approx(r["c_prime"] + r["a"] * r["b"], rel=1e-9, abs=1e-12)
    assert r["share"] == pytest.approx(r["a"] * r["b"] / r["c"])


def test_built_in_shares_are_the_twins(study) -> None:
    assert mech.built_in_shares(study) == twin.MECHANISM_SHARES[study.spec.scenario]


def test_pre_level_groups_use_pre_designation_values(small) -> None:
    g = mech.pre_level_groups(small, "misallocation")
    fact, _ = mech.channel_columns(small, "misallocation")
    p = small.panel
    pre = (p["year"] < 2015) & (p["treated"] == 1)
    lvl = p.loc[pre].assign(v=fact[pre.to_numpy()]).groupby("pair_id")["v"].mean()
    cut = lvl.median()
    expect = np.where(lvl > cut, "high", "low")
    assert (g.labels["misallocation"].reindex(lvl.index).to_numpy() == expect).all()
    tab, wald = mech.pre_level_heterogeneity(small, "misallocation")
    assert set(tab["group"]) == {"low", "high"}
    assert set(wald["vcov"]) == {small.spec.cluster, "dyadic"}


def test_unavailable_channel_is_reported_not_simulated(study) -> None:
    data = study.city.data.drop(columns=["inst_innov", "misallocation"])
    cut = dataclasses.replace(study, city=dataclasses.replace(study.city, data=data))
    m = mech.channel_measures(cut).set_index("channel")
    assert (m["status"] == "unavailable").all()
    assert m.loc["inst_innov", "supply"] and m.loc["misallocation", "supply"]
    assert mech.available_channels(cut) == []
    fact, cf = mech.channel_columns(cut, "inst_innov")
    assert np.isnan(fact).all() and cf is None


def test_batched_ols_matches_lstsq() -> None:
    rng = np.random.default_rng(4)
    x = np.concatenate([np.ones((3, 50, 1)), rng.standard_normal((3, 50, 2))], axis=2)
    y = rng.standard_normal((3, 50))
    beta, se = mech._ols_batch(x, y)
    for r in range(3):
        b, res, *_ = np.linalg.lstsq(x[r], y[r], rcond=None)
        np.testing.assert_allclose(beta[r], b, rtol=1e-10)
        s2 = res[0] / (50 - 3)
        np.testing.assert_allclose(se[r], np.sqrt(np.diag(np.linalg.inv(x[r].T @ x[r])) * s2))


def test_simulation_finds_the_spurious_and_misses_the_real_mediator() -> None:
    sim = mech.simulate_three_step(300, n=400, seed=7).set_index("world")
    none, built = sim.loc["no mediator built in"], sim.loc["mediator built in"]
    # plims: b -> g var(U) / var(U + e_M) + b_true = 0.5 and 0
    assert none["est_b"] == pytest.approx(0.5, abs=0.02)
    assert built["est_b"] == pytest.approx(0.0, abs=0.02)
    assert none["est_a"] == pytest.approx(0.5, abs=0.02)
    assert none["declared_rate"] > 0.8 and built["declared_rate"] < 0.2
    assert built["true_share"] == pytest.approx(0.5 / 0.7)
    again = mech.simulate_three_step(300, n=400, seed=7).set_index("world")
    assert again.equals(sim)


_REAL = os.environ.get("CBEC_REAL_DATA", "")
needs_real = pytest.mark.skipif(
    not _REAL or not (Path(_REAL) / "city_panel_gp").is_dir(),
    reason="set CBEC_REAL_DATA to a folder holding city_panel_gp/",
)


@pytest.mark.real
@needs_real
def test_real_profile_has_no_simulated_channels() -> None:
    s = build_study(Spec(profile="real", data_dir=str(Path(_REAL) / "city_panel_gp"), fast=True))
    m = mech.channel_measures(s).set_index("channel")
    for var in ("inst_innov", "misallocation"):
        if var not in s.city.data.columns:
            assert m.loc[var, "status"] == "unavailable"
    assert mech.built_in_shares(s) == {}
