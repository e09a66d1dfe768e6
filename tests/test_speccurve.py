"""Tests of the specification curve (cbec.analyses.speccurve).

Every fast path is held to a direct fit of the same specification with
:func:`cbec.estimators.fe.fit_twfe` (pyfixest, and the dyadic sandwich of
:func:`cbec.estimators.variance.dyadic_vcov`): the curve's estimates, standard errors and
p-values under every clustering; the permutation engine's estimates and p-values under a
random reassignment of the pilots; and, at the real assignment, the curve itself.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from cbec import Spec
from cbec.analyses import speccurve as sc
from cbec.estimators import fe
from cbec.estimators.placebo import draw_pseudo_pilots
from cbec.study.pipeline import build_study

BASE = Spec(fast=True)
FIELDS = ["sync_measure", "z_ddof", "controls", "tie_quantile"]


@pytest.fixture(scope="module")
def curve() -> sc.CurveResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sc.run_curve(BASE, fields=FIELDS)


def test_grid_is_the_product_of_the_declared_alternatives() -> None:
    choices = sc.curve_choices(BASE)
    declared = Spec.alternatives(curve_only=True)
    assert set(choices) == set(declared)
    for name, values in choices.items():
        assert values[0] == getattr(BASE, name)
        assert set(values[1:]) == set(declared[name]) - {getattr(BASE, name)}
    combos, rejected = sc.enumerate_specs(BASE)
    assert len(combos) + len(rejected) == int(np.prod([len(v) for v in choices.values()]))
    assert len(combos) >= 500


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="not declared"):
        sc.curve_choices(BASE, ["seed"])


def test_curve_matches_direct_fits(curve: sc.CurveResult) -> None:
    """Every row equals build_study + fit_twfe under its own full Spec, for every clustering."""
    t = curve.table
    assert t["is_base"].sum() == 1
    rows = t.sample(6, random_state=0).to_dict("records") + t[t["is_base"]].to_dict("records")
    for r in rows:
        spec = curve.spec_of(r["spec_id"])
        study = build_study(spec)
        for v in sc.CURVE_CLUSTERS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = fe.fit_twfe(study.panel, controls=spec.controls, vcov=v)
            assert f.coef["did"] == pytest.approx(r["estimate"], abs=1e-10)
            assert f.se["did"] == pytest.approx(r[f"se_{v}"], rel=1e-9)
            assert f.pvalue["did"] == pytest.approx(r[f"p_{v}"], abs=1e-9)
        assert study.true_att() == pytest.approx(r["truth"], abs=1e-12)
        assert r["n_obs"] == len(study.panel)


def test_equivalent_combinations_are_merged(curve: sc.CurveResult) -> None:
    """KPP does not use z-scores: its two z_ddof settings are one specification."""
    t = curve.table
    kpp = t[t["sync_measure"] == "kpp"]
    assert (kpp["z_ddof"] == "0").all()  # the representative keeps the default
    assert (kpp["n_equivalent"] == 2).all()
    assert t["n_equivalent"].sum() == curve.n_combinations  # every combination counted once
    # distinct rows have distinct (panel, outcome, controls)
    assert not t.duplicated(["panel", "estimate", "controls"]).any()


def test_share_and_decomposition(curve: sc.CurveResult) -> None:
    s = curve.share("dyadic")
    assert 0 <= s["sig_positive"] <= s["positive"] <= 1
    d = sc.variance_decomposition(curve)
    assert set(d["choice"]) >= {"sync_measure", "all main effects"}
    shares = d.set_index("choice")["share_alone"]
    assert ((shares >= -1e-12) & (shares <= 1 + 1e-12)).all()


def test_variance_decomposition_on_an_additive_table() -> None:
    """With estimate = a(choice A) + b(choice B) on a full grid, the shares are exact."""
    a_eff = {"x": 0.0, "y": 2.0}
    b_eff = {"u": 0.0, "v": 1.0, "w": -1.0}
    rows = [
        {"A": a, "B": b, "estimate": a_eff[a] + b_eff[b]}
        for a, b in itertools.product(a_eff, b_eff)
    ]
    fake = sc.CurveResult(
        table=pd.DataFrame(rows),
        choices={"A": ("x", "y"), "B": ("u", "v", "w")},
        base=BASE,
        n_combinations=6,
        rejected=pd.DataFrame(),
        timings={},
    )
    d = sc.variance_decomposition(fake).set_index("choice")
    # balanced grid: var = var(A) + var(B) = 1 + 2/3
    assert d.loc["A", "share_alone"] == pytest.approx(1 / (1 + 2 / 3))
    assert d.loc["B", "share_alone"] == pytest.approx((2 / 3) / (1 + 2 / 3))
    assert d.loc["all main effects", "share_alone"] == pytest.approx(1.0)
    assert d.loc["A", "share_unique"] == pytest.approx(d.loc["A", "share_alone"])


def test_permutation_engine_matches_direct_fits(curve: sc.CurveResult) -> None:
    """Under a random reassignment, every spec's estimate and p-value equal a direct fit."""
    g = curve.groups[0]
    study = build_study(g["spec"])
    engine = sc._StepCurve(study, g["outcomes"], {})
    chosen = draw_pseudo_pilots(7, 3, engine.n_cities, len(engine.pilot_years))
    ids = study.universe["city_id"].to_numpy()
    pos = pd.Series(np.arange(len(ids)), index=ids)
    panel = study.panel.copy()
    for b in range(2):
        yr = np.full(len(ids), np.inf)
        yr[chosen[b]] = engine.pilot_years
        start = np.minimum(yr[pos.loc[panel["city_i"]].to_numpy()], yr[pos.loc[panel["city_j"]]])
        panel["pseudo"] = (panel["year"].to_numpy() >= start).astype(float)
        for cl in sc.JOINT_CLUSTERS:
            est, pv = engine.run(chosen[b], cl)
            for j, spec in enumerate(g["outcomes"]):
                panel["y_alt"] = sc.study_outcomes(study, spec)[0]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    f = fe.fit_twfe(
                        panel, y="y_alt", treat="pseudo", controls=spec.controls, vcov=cl
                    )
                assert f.coef["pseudo"] == pytest.approx(est[j], abs=1e-10)
                assert f.pvalue["pseudo"] == pytest.approx(pv[j], abs=1e-9)


def test_permutation_engine_reproduces_the_curve_at_the_real_pilots(
    curve: sc.CurveResult,
) -> None:
    g = curve.groups[0]
    study = build_study(g["spec"])
    engine = sc._StepCurve(study, g["outcomes"], {})
    real = np.flatnonzero(study.universe["pilot"].to_numpy())
    est, pv = engine.run(real, "dyadic")
    t = curve.table[curve.table["panel"] == 0].sort_values("spec_id")
    np.testing.assert_allclose(est, t["estimate"].to_numpy(), atol=1e-10)
    np.testing.assert_allclose(pv, t["p_dyadic"].to_numpy(), atol=1e-9)


def test_joint_test_is_deterministic_and_valid(curve: sc.CurveResult) -> None:
    small = sc.CurveResult(
        table=curve.table[curve.table["panel"] == 0].reset_index(drop=True),
        choices=curve.choices,
        base=curve.base,
        n_combinations=curve.n_combinations,
        rejected=curve.rejected,
        timings={},
        groups=curve.groups[:1],
        combos=curve.combos,
    )
    a = sc.joint_test(small, n_draws=20, cluster="twoway", seed=3)
    b = sc.joint_test(small, n_draws=20, cluster="twoway", seed=3)
    np.testing.assert_array_equal(a.null_median, b.null_median)
    assert 1 / 21 <= a.p_median <= 1 and 1 / 21 <= a.p_share <= 1
    assert a.n_specs == len(small.table)
    with pytest.raises(ValueError, match="cluster"):
        sc.joint_test(small, n_draws=5, cluster="pilot_city")


def test_curve_sampling_keeps_the_base_panel() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = sc.run_curve(BASE, fields=["tie_quantile", "tie_base_year"], max_panels=2, seed=1)
    assert c.table["panel"].nunique() == 2
    assert c.table["is_base"].any()


def test_design_choices_match_direct_fits() -> None:
    """Outcome-stage designs (pre-period moments, winsorising) computed on a shared panel, and
    a sample design that drops pairs (clean controls), equal their own direct builds."""
    fields = [
        f for f in ("outcome_moments", "winsorize", "control_exposure") if f in Spec.alternatives()
    ]
    if not fields:
        pytest.skip("no design choices declared")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = sc.run_curve(BASE, fields=fields)
    assert len(c.table) == int(np.prod([len(v) for v in c.choices.values()]))
    for r in c.table.to_dict("records"):
        spec = c.spec_of(r["spec_id"])
        study = build_study(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = fe.fit_twfe(study.panel, controls=spec.controls, vcov="dyadic")
        assert f.coef["did"] == pytest.approx(r["estimate"], abs=1e-10)
        assert f.se["did"] == pytest.approx(r["se_dyadic"], rel=1e-9)
        assert study.true_att() == pytest.approx(r["truth"], abs=1e-12)
