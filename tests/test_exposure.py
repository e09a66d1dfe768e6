"""Tests of the chapter 2-3 designs in the study layer: exposure mapping, pre-period
moments, winsorising, sample designs, province and region-pair columns.

References: hand-built candidate pairs; the twin, where no policy acts before the first
designation, so pre-period moments must give a zero true effect there exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbec import Spec
from cbec.study import exposure, measures, pairs
from cbec.study.pipeline import build_study


def _cand() -> pd.DataFrame:
    # pilots 1 (2015) and 2 (2016); non-pilots 10, 11, 12, 13
    rows = [
        (1, 10, 9.0, 2015), (1, 11, 1.0, 2015), (2, 10, 8.0, 2016), (2, 11, 7.0, 2016),
        (1, 12, 0.5, 2015), (2, 13, 0.2, 2016),
    ]  # fmt: skip
    t = pd.DataFrame(rows, columns=["pilot_city", "partner_city", "tie", "treat_year"])
    t["treated"] = 1
    c = pd.DataFrame({"pilot_city": np.nan, "partner_city": np.nan, "tie": [5.0, 0.1],
                      "treat_year": np.nan, "treated": 0})  # fmt: skip
    return pd.concat([t, c], ignore_index=True)


def test_city_exposure_by_hand():
    # strongest pilot ties: 10 -> 9, 11 -> 7, 12 -> 0.5, 13 -> 0.2; median 3.75
    ex = exposure.city_exposure(_cand(), 0.5).set_index("city_id")
    assert sorted(ex.index) == [10, 11]
    assert ex.loc[10, "exposure_year"] == 2015  # ties 9 (2015) and 8 (2016) exceed the cut
    assert ex.loc[11, "exposure_year"] == 2016  # only the tie to pilot 2 exceeds it
    assert ex.loc[10, "n_pilots"] == 2


def test_add_exposure_marks_control_pairs_only():
    panel = pd.DataFrame(
        {"city_i": [10, 12, 1, 12], "city_j": [13, 13, 11, 11], "treated": [0, 0, 1, 0],
         "year": [2015, 2015, 2016, 2015]}
    )  # fmt: skip
    out = exposure.add_exposure(panel, _cand(), 0.5)
    assert out["exposed"].tolist() == [1, 0, 0, 1]
    assert out["spill_post"].tolist() == [1, 0, 0, 0]  # city 11 exposed only from 2016
    assert np.isnan(out.loc[2, "spill_year"])


def test_zscore_reference_years():
    wide = pd.DataFrame([[1.0, 3.0, 10.0], [2.0, 4.0, 0.0]], columns=[2010, 2011, 2012])
    z = measures.zscore(wide, ref=[2010, 2011])
    np.testing.assert_allclose(z.to_numpy(), [[-1, 1, 8], [-1, 1, -3]])
    with pytest.raises(ValueError, match="reference years"):
        measures.zscore(wide, ref=[2009, 2010])


@pytest.fixture(scope="module")
def base():
    return build_study(Spec(fast=True))


def test_pre_moments_leave_pre_period_untouched(base):
    s = build_study(Spec(fast=True, outcome_moments="pre"))
    first = int(base.universe.loc[base.universe["pilot"], "treat_year"].min())
    assert pairs.moment_years(s.spec, s.universe) == list(range(2010, first))
    pre = s.panel["year"] < first
    # no policy acts before the first designation, and nothing later enters the moments
    assert np.abs(s.panel.loc[pre, "tau"]).max() == 0.0
    # the whole-window outcome does leak: its pre-period truth is not zero
    assert np.abs(base.panel.loc[base.panel["year"] < first, "tau"]).max() > 1e-6
    assert len(s.panel) == len(base.panel)


def test_designs_on_the_panel(base):
    p = base.panel
    assert {"exposed", "spill_post", "region_pair_year", "cluster_province"} <= set(p.columns)
    assert (p.loc[p["treated"] == 1, "exposed"] == 0).all()
    assert (p["cluster_province"] == p["cluster_city"] // 10000).all()
    clean = pairs.apply_designs(p, base.pairs, base.spec.replace(control_exposure="clean"))
    assert len(clean) == len(p) - int(((p["treated"] == 0) & (p["exposed"] == 1)).sum())
    assert (clean["did"].sum()) == p["did"].sum()  # treated pairs untouched
    hz = pairs.apply_designs(p, base.pairs, base.spec.replace(drop_pilot=330100))
    assert not ((hz["city_i"] == 330100) | (hz["city_j"] == 330100)).any()
    w = pairs.apply_designs(p, base.pairs, base.spec.replace(winsorize=0.01))
    lo, hi = np.quantile(p["syn"], [0.01, 0.99])
    assert w["syn"].min() == pytest.approx(lo) and w["syn"].max() == pytest.approx(hi)
    np.testing.assert_allclose(w["tau"], w["syn"] - w["syn_cf"])
    assert pairs.fixed_effects(base.spec.replace(year_effects="region_pair_year")) == (
        "pair_id", "region_pair_year",
    )  # fmt: skip


def test_spec_validates_design_fields():
    with pytest.raises(ValueError, match="outcome_moments"):
        Spec(outcome_moments="post")
    with pytest.raises(ValueError, match="exposure_quantile"):
        Spec(exposure_quantile=1.0)
    with pytest.raises(ValueError, match="winsorize"):
        Spec(winsorize=0.6)
    alts = Spec.alternatives()
    for name in ("outcome_moments", "control_exposure", "year_effects", "winsorize"):
        assert name in alts
    assert "province" in Spec.alternatives()["cluster"]
