"""Pair construction, ties, the filter and timing on small hand-checked universes."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

from cbec.data import geo
from cbec.study import pairs


def _universe(n_pilot: int, n_other: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_pilot + n_other
    ids = np.sort(rng.choice(np.arange(110000, 660000, 100), size=n, replace=False))
    pilot = np.zeros(n, dtype=bool)
    pilot[rng.choice(n, size=n_pilot, replace=False)] = True
    treat = np.where(pilot, rng.choice([2015, 2016, 2018, 2019], size=n), np.nan)
    return pd.DataFrame(
        {
            "city_id": ids,
            "lon": rng.uniform(100, 122, n),
            "lat": rng.uniform(22, 45, n),
            "pilot": pilot,
            "treat_year": pd.array(np.where(pilot, treat, np.nan), dtype="Float64").astype("Int64"),
            "batch": pd.array(np.where(pilot, 1, np.nan), dtype="Float64").astype("Int64"),
            "later_batch": pd.array([pd.NA] * n, dtype="Int64"),
            "admin_rank": rng.integers(1, 5, n),
        }
    )


def test_candidate_pair_counts_match_closed_form():
    u = _universe(5, 12)
    cand = pairs.candidate_pairs(u)
    assert len(cand) == 5 * 12 + comb(12, 2)
    assert int(cand["treated"].sum()) == 5 * 12
    assert (cand["city_i"] < cand["city_j"]).all()
    pilot_ids = set(u.loc[u["pilot"], "city_id"])
    both = cand["city_i"].isin(pilot_ids) & cand["city_j"].isin(pilot_ids)
    assert not both.any()
    assert cand[["city_i", "city_j"]].drop_duplicates().shape[0] == len(cand)


def test_paper_count_arithmetic():
    # 55 pilots and 199 others: the paper's 30,646 candidates and 15,323 kept pairs
    u = _universe(55, 199, seed=3)
    cand = pairs.candidate_pairs(u)
    assert len(cand) == 30_646
    tie = np.random.default_rng(1).lognormal(size=len(cand))
    keep, _ = pairs.tie_filter(tie, 0.5)
    assert keep.sum() == 15_323
    panel = pairs.expand_years(cand[keep], range(2010, 2020))
    assert len(panel) == 153_230


def test_roles_and_cluster_city():
    u = _universe(3, 4, seed=2)
    cand = pairs.candidate_pairs(u)
    pilots = set(u.loc[u["pilot"], "city_id"])
    tr = cand[cand["treated"] == 1]
    assert tr["pilot_city"].isin(pilots).all()
    assert (~tr["partner_city"].isin(pilots)).all()
    assert (tr["cluster_city"] == tr["pilot_city"]).all()
    co = cand[cand["treated"] == 0]
    assert co["pilot_city"].isna().all() and co["treat_year"].isna().all()
    assert (co["cluster_city"] == co["city_i"]).all()
    # the pilot's designation year travels to the pair
    ty = u.set_index("city_id")["treat_year"]
    assert np.allclose(tr["treat_year"], ty.loc[tr["pilot_city"].astype(int)].astype(float))


def test_distance_matches_geo_and_is_symmetric():
    u = _universe(2, 5, seed=4)
    cand = pairs.candidate_pairs(u)
    r = cand.iloc[3]
    a, b = u.iloc[int(r["pos_i"])], u.iloc[int(r["pos_j"])]
    assert r["distance_km"] == pytest.approx(float(geo.haversine_km(a.lon, a.lat, b.lon, b.lat)))
    assert float(geo.haversine_km(b.lon, b.lat, a.lon, a.lat)) == pytest.approx(r["distance_km"])


def test_haversine_known_distance():
    # one degree of latitude along a meridian: 2*pi*R/360 km
    assert float(geo.haversine_km(116.0, 30.0, 116.0, 31.0)) == pytest.approx(
        2 * np.pi * geo.EARTH_RADIUS_KM / 360, rel=1e-12
    )


def test_tie_score_by_hand():
    u = _universe(1, 2, seed=5)
    cand = pairs.candidate_pairs(u)
    base = pd.DataFrame(
        {
            "city_id": u["city_id"],
            "pop": [100.0, 400.0, 900.0],
            "gdp": [1.0, 2.0, 3.0],
            "land_area": [10.0, 20.0, 30.0],
            "admin_rank": [1, 2, 4],
        }
    )
    tie = pairs.tie_scores(cand, base)
    m = [(100 * 1 * 10 * 1) ** 0.25, (400 * 2 * 20 * 2) ** 0.25, (900 * 3 * 30 * 4) ** 0.25]
    for k, r in enumerate(cand.itertuples()):
        expect = m[r.pos_i] * m[r.pos_j] / r.distance_km**2
        assert tie[k] == pytest.approx(expect, rel=1e-12)


def test_tie_score_rejects_missing_values():
    u = _universe(1, 2, seed=5)
    cand = pairs.candidate_pairs(u)
    base = pd.DataFrame(
        {
            "city_id": u["city_id"],
            "pop": [1.0, np.nan, 2.0],
            "gdp": 1.0,
            "land_area": 1.0,
            "admin_rank": 1,
        }
    )
    with pytest.raises(ValueError, match="pop"):
        pairs.tie_scores(cand, base)


def test_tie_filter_quantiles():
    tie = np.arange(1.0, 13.0)  # 12 distinct scores
    keep, cut = pairs.tie_filter(tie, 0.5)
    assert keep.sum() == 6 and cut == pytest.approx(6.5)
    keep, _ = pairs.tie_filter(tie, 0.0)
    assert keep.all()
    keep, _ = pairs.tie_filter(tie, 1 / 3)
    assert keep.sum() == 8  # scores above the first tercile (4.667)


def test_expand_years_timing_by_hand():
    cand = pd.DataFrame({"pair_id": [0, 1], "treated": [1, 0], "treat_year": [2016.0, np.nan]})
    panel = pairs.expand_years(cand, [2014, 2015, 2016, 2017])
    assert panel["did"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    assert panel["event_time"].iloc[:4].tolist() == [-2, -1, 0, 1]
    assert panel["event_time"].iloc[4:].isna().all()
    assert panel["year"].tolist() == [2014, 2015, 2016, 2017] * 2


def test_relabelling_cities_keeps_the_pair_set():
    u = _universe(4, 9, seed=6)
    a = pairs.candidate_pairs(u)
    # shuffle the codes' order of appearance, then sort again as the function requires
    shuffled = u.sample(frac=1.0, random_state=1).sort_values("city_id").reset_index(drop=True)
    b = pairs.candidate_pairs(shuffled)
    key = ["city_i", "city_j"]
    pd.testing.assert_frame_equal(
        a.sort_values(key)[key + ["treated", "distance_km"]].reset_index(drop=True),
        b.sort_values(key)[key + ["treated", "distance_km"]].reset_index(drop=True),
    )


def test_unsorted_universe_is_rejected():
    u = _universe(2, 3).iloc[::-1]
    with pytest.raises(ValueError, match="sorted"):
        pairs.candidate_pairs(u)


def test_covariate_gaps_by_hand():
    years = [2010, 2011]
    wide = {"gdp_pc": pd.DataFrame([[1.0, 2.0], [4.0, 8.0]], index=[1, 2], columns=years)}
    out = pairs.covariate_gaps(
        wide, ["log_gdp_pc_gap", "gdp_pc_mean"], np.array([0]), np.array([1]), years
    )
    assert np.allclose(out["log_gdp_pc_gap"], [[np.log(4.0), np.log(4.0)]])
    assert np.allclose(out["gdp_pc_mean"], [[2.5, 5.0]])
    with pytest.raises(KeyError, match="unavailable"):
        pairs.covariate_gaps(wide, ["wage_gap"], np.array([0]), np.array([1]), years)
