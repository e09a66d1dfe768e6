"""Tests of the synthetic twin (cbec.data.twin).

The cities here are a stand-in built in the test (random cities with the columns of
:func:`cbec.data.twin.world_cities`), so the twin is tested on its own. Tie scores,
designation years and exposures are recomputed in the tests from the panel and
:mod:`cbec.data.geo`, independently of the twin's internals.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from cbec.data import reference
from cbec.data.geo import city_mass, gravity_tie, haversine_km
from cbec.data.panel import VARIABLES, CityPanel
from cbec.data.twin import (
    BUILDUP,
    EFFECT,
    HETEROGENEITY,
    POLICY_TOOLS,
    REQUIRED_COLUMNS,
    World,
    buildup,
    onset_years,
    simulate_twin,
    world_cities,
)
from cbec.spec import NINE_INDICATORS, Spec

APPROVAL = {1: 2015, 2: 2016, 3: 2018, 4: 2019, 5: 2020, 6: 2022, 7: 2022}
#: Signing dates of the batches, typed from the State Council documents (not read from the
#: reference tables, so the test is independent of them).
SIGNED = {
    1: "2015-03-07",
    2: "2016-01-12",
    3: "2018-07-24",
    4: "2019-12-15",
    5: "2020-04-27",
    6: "2022-02-08",
    7: "2022-11-14",
}


def make_universe(n: int = 60, n_pilot: int = 12, n_later: int = 8, seed: int = 1) -> pd.DataFrame:
    """A stand-in universe: random seats in eastern China plus one remote western city."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(103.0, 122.0, n)
    lat = rng.uniform(22.0, 42.0, n)
    lon[-1], lat[-1] = 80.0, 39.5  # far west, tied to nobody strongly
    region = np.where(lon >= 115.0, "east", np.where(lon >= 109.0, "central", "west"))
    region = np.where((lat > 40.0) & (lon > 118.0), "northeast", region)
    region[-1] = "west"
    rank = np.ones(n, dtype=int)
    rank[:3] = [4, 3, 2]
    rank[3:8] = 2
    pilot = np.zeros(n, dtype=bool)
    pilot[:n_pilot] = True  # the high-rank cities are pilots, as in reality
    batch = pd.array([pd.NA] * n, dtype="Int64")
    later = pd.array([pd.NA] * n, dtype="Int64")
    treat = pd.array([pd.NA] * n, dtype="Int64")
    for k in range(n_pilot):
        b = (1, 2, 2, 3, 3, 3, 4, 4, 4, 2, 3, 4)[k % 12]
        batch[k] = b
        treat[k] = APPROVAL[b]
    for k in range(n_pilot, n_pilot + n_later):
        later[k] = (5, 5, 5, 5, 5, 6, 7, 7)[(k - n_pilot) % 8]
    either = [b if not pd.isna(b) else lb for b, lb in zip(batch, later, strict=True)]
    designated = pd.to_datetime([SIGNED[int(b)] if not pd.isna(b) else None for b in either])
    return pd.DataFrame(
        {
            "city_id": 100100 + 100 * np.arange(n),
            "region4": region,
            "admin_rank": rank,
            "lon": lon,
            "lat": lat,
            "pilot": pilot,
            "batch": batch,
            "treat_year": treat,
            "later_batch": later,
            "designated": designated,
        }
    )


@pytest.fixture(scope="module")
def universe() -> pd.DataFrame:
    return make_universe()


@pytest.fixture(scope="module")
def panels(universe: pd.DataFrame) -> dict[str, CityPanel]:
    scenarios = ("radiation", "siphon", "growing", "no_spillover", "none")
    return {s: simulate_twin(World(scenario=s), universe) for s in scenarios}


def wide(frame: pd.DataFrame, var: str) -> pd.DataFrame:
    return frame.pivot(index="city_id", columns="year", values=var)


def onset_years_of(universe: pd.DataFrame, last: int = 2021) -> dict[int, int]:
    """Designation years inside the simulation, computed from the approval table."""
    out = {}
    for _, r in universe.iterrows():
        b = r["batch"] if not pd.isna(r["batch"]) else r["later_batch"]
        if not pd.isna(b) and APPROVAL[int(b)] <= last:
            out[int(r["city_id"])] = APPROVAL[int(b)]
    return out


def tie_matrix(panel: CityPanel, universe: pd.DataFrame, year: int = 2010) -> pd.DataFrame:
    """Gravity tie scores F_ij from the panel's base-year values (independent of the twin)."""
    b = panel.counterfactual.query("year == @year").set_index("city_id")
    u = universe.set_index("city_id").loc[b.index]
    m = city_mass(b["pop"], b["gdp"], b["land_area"], u["admin_rank"])
    lon, lat = u["lon"].to_numpy(), u["lat"].to_numpy()
    d = haversine_km(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    np.fill_diagonal(d, 1.0)
    f = gravity_tie(m[:, None], m[None, :], d)
    np.fill_diagonal(f, np.nan)
    return pd.DataFrame(f, index=b.index, columns=b.index)


# ---------------------------------------------------------------------------- basics
def test_deterministic_given_seed(universe: pd.DataFrame) -> None:
    a = simulate_twin(World(), universe)
    b = simulate_twin(World(), universe)
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.counterfactual, b.counterfactual)
    c = simulate_twin(World(seed=7), universe)
    assert not np.allclose(a.data["gdp_growth"], c.data["gdp_growth"])
    assert not np.allclose(a.counterfactual["fdi_pc"], c.counterfactual["fdi_pc"])


def test_shape_and_every_variable(panels: dict[str, CityPanel], universe: pd.DataFrame) -> None:
    years = list(range(2005, 2022))
    for p in panels.values():
        assert p.profile == "twin"
        for frame in (p.data, p.counterfactual):
            assert list(frame.columns) == ["city_id", "year", *VARIABLES]
            assert len(frame) == len(universe) * len(years)
            assert frame.notna().all().all()
            assert not frame.duplicated(["city_id", "year"]).any()
            assert sorted(frame["year"].unique()) == years
            assert set(frame["city_id"]) == set(universe["city_id"])
            assert frame["city_id"].is_monotonic_increasing


def test_spec_years_are_respected(universe: pd.DataFrame) -> None:
    p = simulate_twin(World(sim_first_year=2008, sim_last_year=2020), universe)
    assert sorted(p.data["year"].unique()) == list(range(2008, 2021))


def test_realistic_scales(panels: dict[str, CityPanel]) -> None:
    d = panels["radiation"].data
    g = d["gdp_growth"]
    assert 8.0 <= g.mean() <= 11.5
    assert 3.0 <= g.std() <= 6.0
    by_year = d.groupby("year")["gdp_growth"].mean()
    assert by_year.loc[2006:2008].mean() > by_year.loc[2017:2019].mean() + 4  # slowdown
    assert by_year.loc[2020] < by_year.loc[2019] - 2  # covid trough
    for share in ("service_share", "secondary_share"):
        assert d[share].between(0, 100, inclusive="neither").all()
    assert (d["service_share"] + d["secondary_share"] < 100).all()
    positive = [v for v in VARIABLES if v not in ("gdp_growth", "inst_innov")]
    assert (d[positive] > 0).all().all()
    assert (d["inst_innov"] >= 0).all()
    assert d["pop"].between(20, 3500).all()
    assert d["land_area"].between(1000, 80000).all()
    med = d.groupby("year")["gdp_pc"].median()
    assert 8_000 < med.loc[2005] < 25_000 and 30_000 < med.loc[2019] < 80_000


def test_accounting_identities(panels: dict[str, CityPanel]) -> None:
    for p in panels.values():
        d = p.data
        np.testing.assert_allclose(d["gdp"], d["gdp_pc"] * d["pop"] / 1e4, rtol=1e-12)
        gdp = wide(d, "gdp")
        growth = wide(d, "gdp_growth")
        ratio = gdp.iloc[:, 1:].to_numpy() / gdp.iloc[:, :-1].to_numpy()
        np.testing.assert_allclose(ratio, 1 + growth.iloc[:, 1:].to_numpy() / 100, rtol=1e-10)
        assert (wide(d, "land_area").nunique(axis=1) == 1).all()
        assert (wide(d, "inst_innov").diff(axis=1).iloc[:, 1:] >= 0).all().all()


def test_indicators_correlate_through_development(panels: dict[str, CityPanel]) -> None:
    x = panels["none"].data.query("year == 2012")
    levels = [v for v in NINE_INDICATORS if v not in ("gdp_growth", "service_share")]
    corr = np.log(x[levels]).corr()
    assert (corr.to_numpy()[np.triu_indices(len(levels), 1)] > 0.2).all()
    assert x[["gdp_pc", "service_share"]].corr(method="spearman").iloc[0, 1] > 0.2


def test_east_richer_than_west(universe: pd.DataFrame) -> None:
    p = simulate_twin(World(scenario="none"), make_universe(n=200, n_pilot=12, seed=3))
    x = p.data.query("year == 2015").merge(make_universe(n=200, n_pilot=12, seed=3))
    med = x.groupby("region4")["gdp_pc"].median()
    assert med["east"] > med["central"] > med["west"]


def test_municipality_is_largest() -> None:
    u = make_universe(n=120, seed=5)
    p = simulate_twin(World(scenario="none"), u)
    pop = p.data.query("year == 2015").set_index("city_id")["pop"]
    muni = u.loc[u["admin_rank"] == 4, "city_id"].iloc[0]
    assert pop.loc[muni] > pop.quantile(0.9)


# ---------------------------------------------------------------------------- counterfactual
def test_none_equals_counterfactual_exactly(panels: dict[str, CityPanel]) -> None:
    p = panels["none"]
    pd.testing.assert_frame_equal(p.data, p.counterfactual)
    assert p.meta["active"] is False


def test_counterfactual_same_under_every_scenario(panels: dict[str, CityPanel]) -> None:
    base = panels["none"].counterfactual
    for s in ("radiation", "siphon"):
        pd.testing.assert_frame_equal(panels[s].counterfactual, base)


def test_identical_before_first_designation(panels: dict[str, CityPanel]) -> None:
    for p in panels.values():
        pre_f = p.data[p.data["year"] < 2015].reset_index(drop=True)
        pre_c = p.counterfactual[p.counterfactual["year"] < 2015].reset_index(drop=True)
        pd.testing.assert_frame_equal(pre_f, pre_c)
    post = panels["radiation"].data["year"] >= 2015
    diff = (
        panels["radiation"].data.loc[post, "gdp_growth"]
        - panels["radiation"].counterfactual.loc[post, "gdp_growth"]
    )
    assert (diff != 0).any()


def test_untied_cities_unchanged(panels: dict[str, CityPanel], universe: pd.DataFrame) -> None:
    f = tie_matrix(panels["none"], universe)
    cutoff = np.nanmedian(f.to_numpy()[np.triu_indices(len(f), 1)])
    onset = onset_years_of(universe)
    pilots = list(onset)
    strong = (f.loc[:, pilots] > cutoff).any(axis=1)
    untied = [c for c in f.index if not strong.loc[c] and c not in onset]
    assert universe["city_id"].iloc[-1] in untied  # the remote city
    for s in ("radiation", "siphon"):
        p = panels[s]
        a = p.data[p.data["city_id"].isin(untied)].reset_index(drop=True)
        b = p.counterfactual[p.counterfactual["city_id"].isin(untied)].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    # and tied non-pilots do change
    tied = [c for c in f.index if strong.loc[c] and c not in onset]
    p = panels["radiation"]
    sel = p.data["city_id"].isin(tied) & (p.data["year"] >= 2017)
    assert (p.data.loc[sel, "gdp_growth"] != p.counterfactual.loc[sel, "gdp_growth"]).mean() > 0.9


# ---------------------------------------------------------------------------- policy effects
def _pair_gap(p: CityPanel, universe: pd.DataFrame, var: str, frame: str) -> float:
    """Mean |x_pilot - x_partner| over strong pilot-partner pairs, full build-up to 2019."""
    f = tie_matrix(p, universe)
    q75 = np.nanquantile(f.to_numpy()[np.triu_indices(len(f), 1)], 0.75)
    onset = onset_years_of(universe, last=2019)
    x = wide(getattr(p, frame), var)
    gaps = []
    for pil, t0 in onset.items():
        partners = [c for c in f.index if c not in onset and f.loc[pil, c] > q75]
        yrs = [y for y in range(t0 + 2, 2020)]
        if partners and yrs:
            gaps.append(np.abs(x.loc[partners, yrs].to_numpy() - x.loc[[pil], yrs].to_numpy()))
    return float(np.mean(np.concatenate([g.ravel() for g in gaps])))


def test_radiation_and_siphon_move_growth_gap_oppositely(
    panels: dict[str, CityPanel], universe: pd.DataFrame
) -> None:
    rad_f = _pair_gap(panels["radiation"], universe, "gdp_growth", "data")
    rad_c = _pair_gap(panels["radiation"], universe, "gdp_growth", "counterfactual")
    sip_f = _pair_gap(panels["siphon"], universe, "gdp_growth", "data")
    sip_c = _pair_gap(panels["siphon"], universe, "gdp_growth", "counterfactual")
    assert rad_c == pytest.approx(sip_c)
    assert rad_f < 0.85 * rad_c
    assert sip_f > 1.15 * sip_c


def test_siphon_drains_partners_and_lifts_pilots(
    panels: dict[str, CityPanel], universe: pd.DataFrame
) -> None:
    p = panels["siphon"]
    onset = onset_years_of(universe, last=2019)
    ex = p.meta["exposure"].query("year >= 2017 and year <= 2019")
    partners = ex[(ex["exposure"] > 0) & ~ex["city_id"].isin(list(onset))]
    g = p.data.set_index(["city_id", "year"])["gdp_growth"]
    g0 = p.counterfactual.set_index(["city_id", "year"])["gdp_growth"]
    idx = pd.MultiIndex.from_frame(partners[["city_id", "year"]])
    assert (g.loc[idx] - g0.loc[idx]).mean() < 0
    first = [c for c, t in onset.items() if t <= 2016]
    pidx = pd.MultiIndex.from_product([first, [2017, 2018, 2019]])
    assert (g.loc[pidx] - g0.loc[pidx]).mean() > 0


def test_inst_innov_spreads_under_radiation(
    panels: dict[str, CityPanel], universe: pd.DataFrame
) -> None:
    onset = onset_years_of(universe)
    f = tie_matrix(panels["none"], universe)
    cutoff = np.nanmedian(f.to_numpy()[np.triu_indices(len(f), 1)])
    early = [c for c, t in onset.items() if t <= 2016]
    partners = [c for c in f.index if c not in onset and (f.loc[c, early] > cutoff).any()]
    assert partners
    for s, rises in (("radiation", True), ("siphon", False)):
        p = panels[s]
        fi, ci = wide(p.data, "inst_innov"), wide(p.counterfactual, "inst_innov")
        d = (fi - ci).loc[partners]
        assert (d >= 0).all().all()
        assert (d.loc[:, :2014] == 0).all().all()
        if rises:
            assert d.loc[:, 2019].mean() > 2
        else:
            assert (d == 0).all().all()
        # pilots adopt innovations themselves after designation, in both scenarios
        pil = [c for c, t in onset.items() if t <= 2016]
        assert (fi - ci).loc[pil, 2019].mean() > 5


def test_misallocation_gap_closes_under_radiation(
    panels: dict[str, CityPanel], universe: pd.DataFrame
) -> None:
    p = panels["radiation"]
    assert _pair_gap(p, universe, "misallocation", "data") < _pair_gap(
        p, universe, "misallocation", "counterfactual"
    )
    s = panels["siphon"]
    onset = onset_years_of(universe)
    partners = s.meta["exposure"].query("year == 2019 and exposure > 0")["city_id"]
    partners = [c for c in partners if c not in onset]
    m, m0 = wide(s.data, "misallocation"), wide(s.counterfactual, "misallocation")
    assert (m.loc[partners, 2019] > m0.loc[partners, 2019]).all()


def test_buildup_of_pilot_weight(panels: dict[str, CityPanel], universe: pd.DataFrame) -> None:
    np.testing.assert_allclose(buildup(np.array([-2, -1, 0, 1, 2, 5])), [0, 0, 1 / 3, 2 / 3, 1, 1])
    ex = panels["radiation"].meta["exposure"].set_index(["city_id", "year"])
    hz = universe.loc[universe["treat_year"] == 2015, "city_id"].iloc[0]
    got = ex.loc[hz, "pilot_weight"].loc[2014:2018].to_numpy()
    tools = panels["radiation"].meta["policy_tools"].set_index("city_id")
    th = EFFECT["theta_P"] * tools.loc[hz, "strength"]  # theta_P s_p
    np.testing.assert_allclose(got, [0, th * BUILDUP[0], th * BUILDUP[1], th, th])


def test_heterogeneity_loadings(panels: dict[str, CityPanel], universe: pd.DataFrame) -> None:
    h = panels["radiation"].meta["h"]
    assert h.between(HETEROGENEITY["h_min"], HETEROGENEITY["h_max"]).all()
    reg = universe.set_index("city_id")["region4"]
    assert h[reg == "east"].mean() > h[reg == "west"].mean()
    # h rises with the moderators measured in the last pre-policy year
    x = panels["radiation"].counterfactual.query("year == 2014").set_index("city_id")
    score = np.log(x[["human_capital", "fin_dev", "info_infra"]]).rank().sum(axis=1)
    assert np.corrcoef(score.loc[h.index], np.log(h))[0, 1] > 0.3


def test_meta_records_truth(panels: dict[str, CityPanel], universe: pd.DataFrame) -> None:
    m = panels["siphon"].meta
    assert m["scenario"] == "siphon" and m["seed"] == World().seed
    assert isinstance(m["description"], str) and "siphon" in m["description"]
    assert m["effect"]["theta_P"] == EFFECT["theta_P"]
    assert sum(m["mechanism_shares"].values()) == pytest.approx(1.0)
    assert m["onset"] == onset_years_of(universe)
    w = m["weights"]
    assert {"pilot_id", "partner_id", "omega", "nu", "tie_pct"} <= set(w.columns)
    assert (w["tie_pct"] > 0.5).all()
    assert (w.groupby("partner_id")["omega"].sum() <= 1 + 1e-12).all()


# ---------------------------------------------------------------------------- timing
def test_designation_years() -> None:
    u = make_universe(n=20, n_pilot=9, n_later=8)
    got = onset_years(u, World())
    want = pd.Series(onset_years_of(u, last=9999)).reindex(u["city_id"]).to_numpy()
    np.testing.assert_array_equal(got.to_numpy(dtype=float, na_value=np.nan), want)
    # the world's rule is applied to the real dates; another rule is another world
    ff = onset_years(u, World(onset_rule="first_full"))
    b4 = u["batch"].eq(4).fillna(False).to_numpy(dtype=bool)
    assert ff[b4].eq(2020).all() and got[b4].eq(2019).all()
    # a signing on 1 January: its year is already a full year under the pilot
    jan1 = u.assign(designated=pd.to_datetime(["2016-01-01"] * len(u)))
    assert onset_years(jan1, World(onset_rule="first_full")).eq(2016).all()
    assert onset_years(jan1.assign(designated=pd.Timestamp("2016-01-02")),
                       World(onset_rule="first_full")).eq(2017).all()  # fmt: skip
    with pytest.raises(ValueError, match="onset_rule"):
        World(onset_rule="whenever")


def test_later_batches_are_treated_inside_simulation(universe: pd.DataFrame) -> None:
    p = simulate_twin(World(), universe)
    b5 = universe.loc[universe["later_batch"] == 5, "city_id"].tolist()
    b7 = universe.loc[universe["later_batch"] == 7, "city_id"].tolist()
    assert all(p.meta["onset"][c] == 2020 for c in b5)
    assert not any(c in p.meta["onset"] for c in b7)
    ex = p.meta["exposure"].set_index(["city_id", "year"])["pilot_weight"]
    assert (ex.loc[pd.MultiIndex.from_product([b5, [2020]])] > 0).any()
    assert (ex.loc[pd.MultiIndex.from_product([b5, [2019]])] == 0).all()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda u: u.drop(columns="lat"), "lacks columns"),
        (lambda u: u.assign(city_id=[u["city_id"].iloc[0]] * len(u)), "duplicate city_id"),
        (lambda u: u.assign(region4="south"), "region4"),
        (lambda u: u.assign(admin_rank=7), "admin_rank"),
        (lambda u: u.assign(lon=u["lon"].where(u.index != 3, 200.0)), "lon"),
        (lambda u: u.assign(lat=u["lat"].iloc[0], lon=u["lon"].iloc[0]), "share coordinates"),
    ],
)
def test_bad_universe_is_refused(universe: pd.DataFrame, change, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        simulate_twin(World(), change(universe.copy()))


def test_required_columns_listed() -> None:
    assert set(REQUIRED_COLUMNS) <= set(make_universe(n=5, n_pilot=1, n_later=1).columns)


def test_fast_enough_for_the_full_universe() -> None:
    u = make_universe(n=340, n_pilot=60, n_later=46, seed=11)
    simulate_twin(World(), u)  # warm-up (imports, caches)
    t0 = time.perf_counter()
    p = simulate_twin(World(), u)
    elapsed = time.perf_counter() - t0
    assert len(p.data) == 340 * 17
    assert elapsed < 1.0, f"simulate_twin took {elapsed:.2f} s"


def test_effect_overrides(universe: pd.DataFrame) -> None:
    base = simulate_twin(World(), universe)
    zero = {"theta_P": 0.0, "theta_J": 0.0, "delta_R": 0.0}
    p0 = simulate_twin(World(effect=zero), universe)
    pd.testing.assert_frame_equal(p0.counterfactual, base.counterfactual)
    # with no growth effect the growth-driven variables equal the counterfactual
    for v in ("gdp_growth", "gdp_pc", "fdi_pc", "wage"):
        np.testing.assert_array_equal(p0.data[v], p0.counterfactual[v])
    assert p0.meta["effect"]["theta_P"] == 0.0 and base.meta["effect"] == EFFECT
    # a stronger pull narrows the pilot-partner growth gap further
    strong = simulate_twin(World(effect={"theta_P": 0.9, "theta_J": 0.6}), universe)
    assert _pair_gap(strong, universe, "gdp_growth", "data") < _pair_gap(
        base, universe, "gdp_growth", "data"
    )
    with pytest.raises(ValueError, match="unknown effect"):
        simulate_twin(World(effect={"beta": 1.0}), universe)
    with pytest.raises(ValueError, match="theta_P"):
        simulate_twin(World(effect={"theta_P": 1.5}), universe)


def test_row_order_of_universe_does_not_matter(universe: pd.DataFrame) -> None:
    a = simulate_twin(World(scenario="siphon"), universe)
    b = simulate_twin(World(scenario="siphon"), universe.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.counterfactual, b.counterfactual)


def test_runs_on_the_registry_world() -> None:
    cities = world_cities()
    p = simulate_twin(World())
    assert len(p.data) == len(cities) * 17 and p.data.notna().all().all()
    assert set(p.data["city_id"]) == set(cities["city_id"])
    uni, _ = reference.select_universe(Spec())
    pilots = uni.loc[uni["pilot"], "city_id"]
    # every analysis pilot is a world pilot, designated in its approval year
    assert all(
        p.meta["onset"][c] == ty
        for c, ty in zip(pilots, uni.loc[uni["pilot"], "treat_year"], strict=True)
    )
    later5 = uni.loc[uni["later_batch"].eq(5).fillna(False).to_numpy(dtype=bool), "city_id"]
    assert len(later5) and all(p.meta["onset"][c] == 2020 for c in later5)
    assert 8.0 <= p.data["gdp_growth"].mean() <= 11.5
    # county-level areas do not designate their prefecture in the default world
    jinhua = 330700  # holds Yiwu (batch 3, 2018); itself a pilot from batch 6 (2022)
    assert jinhua not in p.meta["onset"]
    assert cities.set_index("city_id").loc[jinhua, "batch"] == 6
    assert World(county_areas=True).cities().set_index("city_id").loc[jinhua, "batch"] == 3


# ---------------------------------------------------------------------------- the world
def _analysis_values() -> list[tuple[str, object]]:
    """Every declared alternative of every analysis field, plus the other analysis fields."""
    out = [(k, v) for k, alts in Spec.alternatives().items() for v in alts]
    out += [
        ("first_year", 2011),
        ("last_year", 2018),
        ("universe", "all"),
        ("last_batch", 3),
        ("tie_base_year", 2012),
        ("event_window", (-4, 2)),
        ("confidence_level", 0.9),
        ("fast", True),
    ]
    assert not {k for k, _ in out} & set(Spec.WORLD_FIELDS)
    return out


@pytest.mark.slow
def test_no_analysis_field_moves_the_world() -> None:
    from cbec.study.pipeline import load_city_panel

    base = load_city_panel(Spec())
    for name, value in _analysis_values():
        spec = Spec().replace(**{name: value})
        assert World.from_spec(spec) == World(), name
        p = load_city_panel(spec)
        pd.testing.assert_frame_equal(p.data, base.data, obj=f"data under {name}={value!r}")
        pd.testing.assert_frame_equal(
            p.counterfactual, base.counterfactual, obj=f"counterfactual under {name}={value!r}"
        )


def test_world_fields_do_move_the_world() -> None:
    base = World.from_spec(Spec())
    for name, value in (("seed", 7), ("scenario", "siphon"), ("sim_last_year", 2020)):
        assert World.from_spec(Spec().replace(**{name: value})) != base, name
    assert World(effect={"theta_P": 0.3}) == World(effect=(("theta_P", 0.3),))
    with pytest.raises(ValueError, match="unknown effect"):
        World(effect={"beta": 1.0})
    with pytest.raises(ValueError, match="tie base year"):
        World(tie_base_year=2004)


def test_no_spillover_leaves_non_pilots_untouched(
    panels: dict[str, CityPanel], universe: pd.DataFrame
) -> None:
    p = panels["no_spillover"]
    onset = p.meta["onset"]
    non = ~p.data["city_id"].isin(list(onset)).to_numpy()
    pd.testing.assert_frame_equal(
        p.data[non].reset_index(drop=True), p.counterfactual[non].reset_index(drop=True)
    )
    # the pilots do move, exactly as under radiation's pilot side
    moved = (p.data["gdp_growth"] - p.counterfactual["gdp_growth"]).abs()
    assert moved[~non].max() > 0.1
    assert (p.meta["exposure"]["partner_weight"] == 0).all()


def test_growing_effect_keeps_growing(panels: dict[str, CityPanel]) -> None:
    np.testing.assert_allclose(
        buildup(np.arange(-1, 5), growing=True), [0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3]
    )
    g = panels["growing"].meta["exposure"].set_index(["city_id", "year"])["pilot_weight"]
    r = panels["radiation"].meta["exposure"].set_index(["city_id", "year"])["pilot_weight"]
    first = min(panels["growing"].meta["onset"].values())
    pid = next(c for c, t in panels["growing"].meta["onset"].items() if t == first)
    # radiation levels off two years after designation; growing keeps rising (up to A <= 1)
    assert r.loc[(pid, first + 3)] == pytest.approx(r.loc[(pid, first + 2)])
    assert g.loc[(pid, first + 3)] > g.loc[(pid, first + 2)] or g.loc[(pid, first + 3)] == 1.0
    # before designation the two worlds agree
    pre = panels["growing"].data["year"] < first
    pd.testing.assert_frame_equal(
        panels["growing"].data[pre], panels["radiation"].data[pre], check_exact=True
    )


def test_policy_tools_set_the_pilot_strength(panels: dict[str, CityPanel]) -> None:
    t = panels["radiation"].meta["policy_tools"]
    assert list(t.columns) == ["city_id", *POLICY_TOOLS, "strength"]
    assert set(t["city_id"]) == set(panels["radiation"].meta["onset"])
    z = t[list(POLICY_TOOLS)]
    np.testing.assert_allclose(z.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(ddof=0), 1.0)
    beta = np.array([EFFECT[f"tool_{k}"] for k in POLICY_TOOLS])
    np.testing.assert_allclose(t["strength"], np.maximum(0.0, 1.0 + z.to_numpy() @ beta))
    # the strength scales the pilot-side weight: A_pt / (theta_P B) recovers s_p
    ex = panels["radiation"].meta["exposure"].set_index(["city_id", "year"])["pilot_weight"]
    onset = panels["radiation"].meta["onset"]
    for _, row in t.head(5).iterrows():
        c = int(row["city_id"])
        y = onset[c] + 2
        if y <= 2021 and ex.loc[(c, y)] > 0:
            assert ex.loc[(c, y)] == pytest.approx(min(1.0, EFFECT["theta_P"] * row["strength"]))
    # a tool with coefficient zero does not matter; one with a coefficient does
    u = make_universe()
    same = simulate_twin(World(effect={"tool_demand": 0.0}), u)
    pd.testing.assert_frame_equal(same.data, panels["radiation"].data)
    other = simulate_twin(World(effect={"tool_supply": 0.0}), u)
    assert not np.allclose(other.data["gdp_growth"], panels["radiation"].data["gdp_growth"])
    pd.testing.assert_frame_equal(other.counterfactual, panels["radiation"].counterfactual)
