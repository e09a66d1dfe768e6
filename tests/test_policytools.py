"""Intensities per city-year and the DID by tool intensity, against hand counts and statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbec.analyses import policytools as pt
from cbec.spec import Spec

TOOLS = ("supply", "environment", "demand")


def _docs() -> tuple[pd.DataFrame, pd.DataFrame]:
    docs = pd.DataFrame({
        "doc_id": ["sc", "p1", "c1", "c2"],
        "level": ["state_council", "province", "city", "city"],
        "year": [2016, 2016, 2017, 2017],
        "city_ids": [(1, 2), (1,), (1,), (2,)],
    })  # fmt: skip
    coded = pd.DataFrame({
        "doc_id": ["sc", "sc", "p1", "p1", "p1", "c1", "c2", "c2"],
        "supply":      [1, 0, 1, 1, 0, 0, 0, 0],
        "environment": [0, 1, 0, 0, 1, 1, 0, 0],
        "demand":      [0, 0, 0, 0, 1, 0, 1, 0],
    })  # fmt: skip
    return docs, coded


def test_city_year_counts_by_weighting() -> None:
    docs, coded = _docs()
    base = Spec()
    cy = pt.city_year_intensity(coded, docs, base, years=[2016, 2017]).set_index(
        ["city_id", "year"]
    )
    # city 1 in 2016: sc (s1 e1) + p1 (s2 e1 d1) = s3 e2 d1
    assert cy.loc[(1, 2016), ["count_supply", "count_environment", "count_demand"]].tolist() == [
        3,
        2,
        1,
    ]
    assert cy.loc[(1, 2016), "n_docs"] == 2 and cy.loc[(1, 2017), "stock_environment"] == 3
    assert cy.loc[(1, 2016), "share_supply"] == pytest.approx(0.5)
    assert cy.loc[(2, 2017), "count_demand"] == 1
    doc = pt.city_year_intensity(coded, docs, base.replace(text_weighting="document"), years=[2016])
    d = doc.set_index(["city_id", "year"]).loc[(1, 2016)]
    # sc: s .5 e .5; p1: s .5 e .25 d .25
    assert d[["count_supply", "count_environment", "count_demand"]].tolist() == [1.0, 0.75, 0.25]
    lev = pt.city_year_intensity(coded, docs, base.replace(text_weighting="level"), years=[2016])
    v = lev.set_index(["city_id", "year"]).loc[(1, 2016)]
    assert v[["count_supply", "count_environment"]].tolist() == [3 * 1 + 2 * 2, 3 * 1 + 2 * 1]


def test_pilot_intensity_standardised() -> None:
    docs, coded = _docs()
    cy = pt.city_year_intensity(coded, docs, Spec(), years=[2016, 2017])
    it = pt.pilot_intensity(cy, Spec(), [1, 2, 3]).set_index("city_id")
    # per document: city 1 has 3 docs with supply 3 -> 1.0; city 2: 2 docs, supply 1 -> 0.5; city 3 none
    np.testing.assert_allclose(it["raw_supply"], [1.0, 0.5, 0.0])
    assert it["z_supply"].mean() == pytest.approx(0) and it["z_supply"].std(
        ddof=0
    ) == pytest.approx(1)
    assert it["high_supply"].tolist() == [1, 0, 0]
    st = pt.pilot_intensity(cy, Spec(text_intensity="stock"), [1, 2]).set_index("city_id")
    np.testing.assert_allclose(st["raw_supply"], np.log1p([3.0, 1.0]))


def _panel(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pilots = np.arange(1, 9)
    partners = np.arange(100, 130)
    rows = []
    pid = 0
    for p in pilots:
        for q in rng.choice(partners, 6, replace=False):
            rows.append((pid, p, q, 1, p, 2013 + p % 4))
            pid += 1
    for _ in range(40):
        a, b = rng.choice(partners, 2, replace=False)
        rows.append((pid, min(a, b), max(a, b), 0, np.nan, np.nan))
        pid += 1
    pairs = pd.DataFrame(
        rows, columns=["pair_id", "city_i", "city_j", "treated", "pilot_city", "ty"]
    )
    panel = pairs.merge(pd.DataFrame({"year": range(2010, 2020)}), how="cross")
    panel["did"] = ((panel["treated"] == 1) & (panel["year"] >= panel["ty"])).astype(float)
    panel["cluster_city"] = panel["pilot_city"].fillna(panel["city_i"]).astype("int64")
    z = pd.Series(rng.standard_normal(8), index=pilots)
    z = (z - z.mean()) / z.std(ddof=0)
    zz = panel["pilot_city"].map(z).fillna(0).to_numpy()
    panel["syn"] = (0.1 * panel["pair_id"] % 1 + 0.02 * (panel["year"] - 2010) + panel["did"] * (0.3 + 0.2 * zz)
                    + 0.1 * rng.standard_normal(len(panel)))  # fmt: skip
    it = pd.DataFrame({"city_id": pilots})
    for t in TOOLS:
        it[f"z_{t}"] = z.to_numpy() if t == "supply" else rng.standard_normal(8)
        it[f"high_{t}"] = (it[f"z_{t}"] > it[f"z_{t}"].median()).astype(int)
    return panel, it


def test_tool_did_matches_statsmodels_dummies() -> None:
    import statsmodels.formula.api as smf

    panel, it = _panel()
    spec = Spec(controls=())
    res = pt.tool_did(panel, it, spec, vcov="pair")
    r = res[(res["model"] == "interaction") & (res["tool"] == "supply")].set_index("term")
    df = pt.attach_intensity(panel, it)
    ols = smf.ols("syn ~ did + did_z_supply + C(pair_id) + C(year)", data=df).fit(
        cov_type="cluster", cov_kwds={"groups": df["pair_id"]}
    )
    assert r.loc["did_z_supply", "coef"] == pytest.approx(ols.params["did_z_supply"], rel=1e-6)
    assert r.loc["did_z_supply", "coef"] == pytest.approx(0.2, abs=0.05)  # recovers the truth
    m = res[(res["model"] == "median") & (res["tool"] == "supply")].set_index("term")
    ols2 = smf.ols("syn ~ did_high_supply + did_low_supply + C(pair_id) + C(year)", data=df).fit()
    assert m.loc["did_high_supply", "coef"] == pytest.approx(
        ols2.params["did_high_supply"], rel=1e-6
    )
    assert m.loc["did_high_supply", "coef"] > m.loc["did_low_supply", "coef"]
    dy = pt.tool_did(panel, it, spec, vcov="dyadic")
    assert (dy["se"] > 0).all() and np.allclose(dy["coef"], res["coef"])


def test_attach_refuses_pilot_without_intensity() -> None:
    panel, it = _panel()
    with pytest.raises(KeyError, match="without a tool intensity"):
        pt.attach_intensity(panel, it[it["city_id"] != 3])


def test_true_tool_effects_projection() -> None:
    panel, it = _panel()
    panel["tau"] = panel["did"] * (
        1.0 + 0.5 * panel["pilot_city"].map(it.set_index("city_id")["z_supply"]).fillna(0)
    )
    tools = it.rename(columns={f"z_{t}": t for t in TOOLS})[["city_id", *TOOLS]]
    out = pt.true_tool_effects(panel, tools, {"tool_supply": 0.25}).set_index("tool")
    assert out.loc["supply", "projection"] == pytest.approx(0.5)
    assert out.loc["environment", "projection"] == pytest.approx(0, abs=1e-10)
    assert out.loc["supply", "generator"] == 0.25 and out.loc["demand", "generator"] == 0


def test_chapter6_spec_fields(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("支持企业建设海外仓。", encoding="utf-8")
    s = Spec(text_dir=str(tmp_path))
    assert str(tmp_path) not in s.describe() and "text=" in s.describe()
    for bad in ({"text_weighting": "page"}, {"text_intensity": "max"}, {"text_train_share": 1.0},
                {"text_level_weights": (1.0, 2.0)}):  # fmt: skip
        with pytest.raises(ValueError, match="text_"):
            Spec(**bad)
    o = Spec.from_params(overrides="text_weighting=level text_level_weights=1,1,1")
    assert o.text_weighting == "level" and o.text_level_weights == (1, 1, 1)
