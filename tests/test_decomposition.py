"""Tests of cbec.estimators.decomposition: the exact split of the TWFE coefficient.

References: the coefficient from pyfixest (``fit_twfe``); a hand-built 2x2 case where the
weights are known in closed form; the twin, where ``syn = syn_cf + tau`` by construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbec import Spec
from cbec.estimators import decomposition as dc
from cbec.estimators.fe import fit_twfe
from cbec.study import exposure
from cbec.study.pipeline import build_study
from cbec.testing.pairdata import make_pair_panel


@pytest.fixture(scope="module")
def study():
    return build_study(Spec(fast=True))


def _toy(seed: int = 3) -> pd.DataFrame:
    data = make_pair_panel(n_cities=14, years=range(2010, 2017), n_pilots=4, seed=seed)
    df = data.df.copy()
    rng = np.random.default_rng(seed)
    df["tau"] = rng.normal(size=len(df))
    df["syn_cf"] = df["syn"] - df["tau"]
    return df


def test_parts_sum_to_the_pyfixest_coefficient_on_the_twin(study):
    p = study.panel
    d = dc.decompose_twfe(p)
    fit = fit_twfe(p, y="syn", treat="did", controls=(), vcov="pair")
    assert d.estimate == pytest.approx(float(fit.coef["did"]), abs=1e-10)
    assert d.total == pytest.approx(d.estimate, abs=1e-10)
    assert d.att == pytest.approx(study.true_att(), abs=1e-12)
    # the treated post cells carry weights that sum to one, so their row averages tau
    t = d.table.set_index("component")
    assert t.loc["treated_post", "weight_sum"] == pytest.approx(1.0, abs=1e-10)
    # with pair and year effects the weights of every year sum to zero: no weight on levels
    assert t.loc["no_policy", "weight_sum"] == pytest.approx(0.0, abs=1e-10)


def test_parts_sum_with_controls_and_exposure_split(study):
    p = exposure.add_exposure(study.panel, study.pairs, 0.5)
    ctrl = study.spec.controls
    d = dc.decompose_twfe(p, controls=ctrl, exposed="exposed")
    fit = fit_twfe(p, y="syn", treat="did", controls=ctrl, vcov="pair")
    assert d.estimate == pytest.approx(float(fit.coef["did"]), abs=1e-10)
    assert d.total == pytest.approx(d.estimate, abs=1e-10)
    t = d.table.set_index("component")["value"]
    assert t["control_late_exposed"] + t["control_late_clean"] == pytest.approx(
        t["control_late"], abs=1e-12
    )
    r = d.ranked()
    assert r["value"].sum() + d.att == pytest.approx(d.estimate, abs=1e-10)
    assert list(r["value"].abs()) == sorted(r["value"].abs(), reverse=True)


def test_toy_panel_sum_and_constant_effect():
    df = _toy()
    d = dc.decompose_twfe(df)
    fit = fit_twfe(df, y="syn", treat="did", controls=(), vcov="pair")
    assert d.total == pytest.approx(float(fit.coef["did"]), abs=1e-10)
    # a constant effect in treated post cells and none elsewhere is recovered exactly
    df2 = df.assign(tau=np.where(df["did"] == 1, 0.7, 0.0))
    d2 = dc.decompose_twfe(df2)
    t = d2.table.set_index("component")["value"]
    assert t["treated_post"] == pytest.approx(0.7, abs=1e-12)
    assert d2.weighting == pytest.approx(0.0, abs=1e-12)
    assert t[["pre_period", "treated_pre_late", "control_late"]].abs().max() < 1e-14


def test_two_by_two_weights_by_hand():
    # two pairs, two years; pair 1 treated in year 2: w = +-1/4 per cell / (sum d~^2 = 1)
    df = pd.DataFrame(
        {"pair_id": [0, 0, 1, 1], "year": [1, 2, 1, 2], "did": [0.0, 0.0, 0.0, 1.0],
         "treated": [0, 0, 1, 1], "treat_year": [np.nan, np.nan, 2.0, 2.0]}
    )  # fmt: skip
    w = dc.fwl_weights(df)
    np.testing.assert_allclose(w, [1.0, -1.0, -1.0, 1.0])  # d~ = +-1/4, sum d~^2 = 1/4
    df["tau"] = [0.1, 0.2, 0.3, 0.9]
    df["syn_cf"] = [1.0, 2.0, 4.0, 3.0]
    d = dc.decompose_twfe(df)
    y = df["tau"] + df["syn_cf"]
    assert d.estimate == pytest.approx((y[3] - y[2]) - (y[1] - y[0]), abs=1e-12)


@pytest.mark.parametrize("vcov", ["pilot_city", "province", "pair"])
def test_fwl_did_equals_fit_twfe(study, vcov):
    p = study.panel
    ctrl = study.spec.controls
    fast = dc.fwl_did(p, "syn", "did", ctrl, vcov=vcov)
    fit = fit_twfe(p, y="syn", treat="did", controls=ctrl, vcov=vcov)
    assert fast["coef"] == pytest.approx(float(fit.coef["did"]), abs=1e-10)
    assert fast["se"] == pytest.approx(float(fit.se["did"]), rel=1e-8)
    assert fast["p"] == pytest.approx(float(fit.pvalue["did"]), rel=1e-6)
    assert fast["ci_low"] == pytest.approx(float(fit.ci_low["did"]), rel=1e-8)
    assert fast["nobs"] == fit.nobs


def test_decomposition_needs_the_truth():
    df = _toy().drop(columns="tau")
    with pytest.raises(KeyError, match="tau"):
        dc.decompose_twfe(df)
