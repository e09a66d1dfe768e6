"""City registry, pilot roster and the study universe (cbec.data.reference).

Facts checked here come from outside the code under test: the State Council documents'
titles (batch sizes), the administrative hierarchy (ranks), the paper's counts (254, 55),
the fact sheet beside the repository (read at test time), and an independent
re-implementation of the paper254 rule.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbec.data import geo
from cbec.data import reference as ref
from cbec.data.panel import AUDIT_COLUMNS
from cbec.spec import Spec

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "build_reference.py"


def _fact_sheet() -> Path:
    """The pilot-area fact sheet (not redistributed: ``$CBEC_PILOT_FACT_SHEET`` or the copy in
    ``../shared`` beside the checkout); tests that need it skip when it is absent."""
    default = REPO.parent / "shared" / "data" / "reference" / "pilot_areas_by_batch.csv"
    path = Path(os.environ.get("CBEC_PILOT_FACT_SHEET", default))
    if not path.is_file():
        pytest.skip(f"pilot-area fact sheet not found at {path} (set CBEC_PILOT_FACT_SHEET)")
    return path


@pytest.fixture(scope="module")
def cities() -> pd.DataFrame:
    return ref.load_cities()


@pytest.fixture(scope="module")
def areas() -> pd.DataFrame:
    return ref.load_pilot_areas()


@pytest.fixture(scope="module")
def paper() -> tuple[pd.DataFrame, pd.DataFrame]:
    return ref.select_universe(Spec())


def _id(cities: pd.DataFrame, short: str) -> int:
    hit = cities.loc[cities["short_zh"] == short, "city_id"]
    assert len(hit) == 1, short
    return int(hit.iloc[0])


# ============================================================================ pilot roster
#: Areas per approval, from the documents' titles ("在天津等12个城市", ...).
DOC_SIZES = {1: 1, 2: 12, 3: 22, 4: 24, 5: 46, 6: 27, 7: 33}


def test_roster_batch_sizes_match_document_titles(areas):
    assert len(areas) == 165
    assert sorted(areas["batch"].unique()) == list(range(1, 8))
    assert areas.groupby("batch").size().to_dict() == DOC_SIZES
    assert (areas["batch"] <= 4).sum() == 59
    # one document and one signing date per batch
    assert (areas.groupby("batch")["document"].nunique() == 1).all()
    assert (areas.groupby("batch")["signed"].nunique(dropna=False) == 1).all()


def test_roster_matches_fact_sheet_computed_at_test_time(areas):
    src = pd.read_csv(_fact_sheet(), dtype=str, keep_default_na=False)
    assert src.groupby("batch").size().rename(index=int).to_dict() == (
        areas.groupby("batch").size().to_dict()
    )
    assert src["area"].tolist() == areas["area_zh"].tolist()
    assert src["document"].tolist() == areas["document"].tolist()
    ours = areas["signed"].dt.strftime("%Y-%m-%d").fillna("").tolist()
    assert src["signed"].tolist() == ours
    assert src["verified"].tolist() == areas["verified"].tolist()


def test_sub_prefecture_areas_and_their_prefectures(areas, cities):
    sub = areas[areas["area_type"].isin(ref.SUB_PREFECTURE_TYPES)]
    expected = {  # area -> prefecture it lies in (administrative fact)
        "义乌": "金华",
        "珲春": "延边",
        "绥芬河": "牡丹江",
        "满洲里": "呼伦贝尔",
        "同江": "佳木斯",
        "延吉": "延边",
        "阿拉山口市": "博尔塔拉",
        "雄安新区": "保定",
    }
    assert dict(zip(sub["area_zh"], sub["prefecture_zh"], strict=True)) == expected
    for area, pref in expected.items():
        row = sub[sub["area_zh"] == area].iloc[0]
        assert row["city_id"] == _id(cities, pref)
        assert "dropped under county_pilot_rule=drop" in row["handling"]
        assert pref in row["handling"]
    assert set(areas["city_id"]) <= set(cities["city_id"])
    # 吉林 is the city, not the province
    jilin = areas.loc[areas["area_zh"] == "吉林", "city_id"].item()
    assert jilin == 220200


def test_roster_known_dates(areas):
    hz = areas[areas["area_zh"] == "杭州"].iloc[0]
    assert hz["document"] == "国函〔2015〕44号"
    assert hz["signed"] == pd.Timestamp("2015-03-07")
    b6 = areas[areas["batch"] == 6]
    assert b6["signed"].isna().all() and (b6["first_posted"] == pd.Timestamp("2022-02-08")).all()
    haidong = areas[areas["area_zh"] == "海东"].iloc[0]
    assert "missing data" in haidong["handling"]


# ============================================================================ city registry
def test_registry_structure(cities):
    assert tuple(cities.columns) == ref.CITY_COLUMNS
    assert 330 <= len(cities) <= 345
    assert cities["city_id"].is_unique
    assert cities["city_id"].between(110000, 659999).all()
    assert (cities["province_code"] == cities["city_id"] // 10000).all()
    assert cities["province_code"].nunique() == 31
    assert set(cities["level"]) == set(ref.PREFECTURE_LEVELS)
    counts = cities["level"].value_counts().to_dict()
    # 30 autonomous prefectures and 3 leagues throughout; 7 地区 after Nagqu's conversion
    assert counts["autonomous_prefecture"] == 30
    assert counts["league"] == 3
    assert counts["prefecture_region"] == 7
    assert counts["municipality"] == 4
    assert cities["short_zh"].is_unique


def test_ranks(cities):
    by_rank = cities.groupby("admin_rank")["city_id"].apply(set)
    assert by_rank[4] == {110000, 120000, 310000, 500000}
    sub_provincial = {
        "沈阳", "大连", "长春", "哈尔滨", "南京", "杭州", "宁波", "厦门",
        "济南", "青岛", "武汉", "广州", "深圳", "成都", "西安",
    }  # fmt: skip
    assert set(cities.loc[cities["admin_rank"] == 3, "short_zh"]) == sub_provincial
    # 27 capitals of provinces and autonomous regions, 10 of them sub-provincial
    caps = cities[cities["admin_rank"] == 2]
    assert len(caps) == 17
    assert caps["province_code"].is_unique
    assert {"石家庄", "拉萨", "乌鲁木齐", "海口", "呼和浩特"} <= set(caps["short_zh"])
    label = {4: "municipality", 3: "sub_provincial", 2: "provincial_capital", 1: "other"}
    assert (cities["admin_rank"].map(label) == cities["rank_label"]).all()


def test_coordinates_inside_china(cities):
    # China's extent: 73.5-135.1 E, 3.8-53.6 N
    assert cities["lon"].between(73.4, 135.1).all()
    assert cities["lat"].between(3.8, 53.6).all()
    beijing = cities.set_index("city_id").loc[110000]
    assert abs(beijing["lon"] - 116.4) < 0.1 and abs(beijing["lat"] - 39.9) < 0.1
    # every unit lies within 1,200 km of its province's mean seat (no swapped lon/lat)
    centre = cities.groupby("province_code")[["lon", "lat"]].transform("mean")
    d = geo.haversine_km(cities["lon"], cities["lat"], centre["lon"], centre["lat"])
    assert d.max() < 1200


def test_regions(cities):
    prov = cities.drop_duplicates("province_code").set_index("province_pinyin")
    assert prov["region4"].value_counts().to_dict() == {
        "west": 12,
        "east": 10,
        "central": 6,
        "northeast": 3,
    }
    assert prov["region3"].value_counts().to_dict() == {"west": 12, "east": 11, "central": 8}
    assert prov.loc["Liaoning", "region3"] == "east"
    assert prov.loc["Heilongjiang", "region3"] == "central"
    assert prov.loc["Neimenggu", "region4"] == "west"
    assert (cities.groupby("province_code")[["region3", "region4"]].nunique() == 1).all().all()


def test_pinyin_labels(cities):
    names = ref.city_names(cities)
    assert len(names) == len(cities) and len(set(names.values())) == len(names)
    assert names[330100] == "Hangzhou" and names[610100] == "Xi'an"
    assert all(re.fullmatch(r"[A-Z][a-zü' ]*( \([A-Z][a-z]+\))?", v) for v in names.values())
    assert names == ref.city_names()


def test_city_since_and_vintage_corrections(cities):
    since = cities.set_index("short_zh")["city_since"]
    facts = {"毕节": 2011, "铜仁": 2011, "三沙": 2012, "海东": 2013, "日喀则": 2014,
             "昌都": 2014, "儋州": 2015, "林芝": 2015, "吐鲁番": 2015, "哈密": 2016,
             "山南": 2016, "那曲": 2018}  # fmt: skip
    assert since[list(facts)].astype(int).to_dict() == facts
    assert since.drop(list(facts)).isna().all()
    row = cities.set_index("city_id")
    assert row.loc[540600, "name_zh"] == "那曲市" and 542400 not in row.index
    assert "Jinan" in row.loc[371200, "notes"] and "襄樊" in row.loc[420600, "notes"]
    assert row.loc[341400, "name_zh"] == "巢湖市"


def test_unit_exists(cities):
    ids = cities["city_id"]
    e = ref.unit_exists(cities, 2010, 2019)
    assert set(ids[~e]) == {341400, 371200, 460300, 460400}
    e = ref.unit_exists(cities, 2005, 2010)
    assert set(ids[~e]) == {460300, 460400}
    e = ref.unit_exists(cities, 2012, 2018)
    assert set(ids[~e]) == {341400, 460400}


# =========================================================================== treatment year
@pytest.mark.parametrize(
    ("signed", "approval", "first_full", "date_rule"),
    [
        ("2015-03-07", 2015, 2016, 2015),
        ("2019-12-15", 2019, 2020, 2020),
        ("2016-01-12", 2016, 2017, 2016),
        ("2018-07-24", 2018, 2019, 2019),
        ("2020-01-01", 2020, 2020, 2020),
        ("2019-06-30", 2019, 2020, 2019),
        ("2019-07-01", 2019, 2020, 2020),
    ],
)
def test_treatment_year_hand_cases(signed, approval, first_full, date_rule):
    for value in (signed, dt.date.fromisoformat(signed), pd.Timestamp(signed)):
        assert ref.treatment_year(value, "approval") == approval
        assert ref.treatment_year(value, "first_full") == first_full
        assert ref.treatment_year(value, "date_rule") == date_rule
        assert isinstance(ref.treatment_year(value, "approval"), int)


def test_treatment_year_series_and_errors():
    s = pd.Series(["2015-03-07", None, "2019-12-15"])
    out = ref.treatment_year(s, "first_full")
    assert str(out.dtype) == "Int64"
    assert out.tolist()[0] == 2016 and out.isna().tolist() == [False, True, False]
    assert out.tolist()[2] == 2020
    with pytest.raises(ValueError, match="rule must be one of"):
        ref.treatment_year("2015-03-07", "signed")
    with pytest.raises(ValueError, match="missing"):
        ref.treatment_year(None, "approval")
    with pytest.raises(ValueError, match="cannot parse"):
        ref.treatment_year("15th March", "approval")


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_treatment_year_rules_order(day):
    a = ref.treatment_year(day, "approval")
    f = ref.treatment_year(day, "first_full")
    d = ref.treatment_year(day, "date_rule")
    assert a == day.year
    assert a <= d <= f <= a + 1
    assert (f == a) == (day.month == 1 and day.day == 1)
    assert (d == a) == (day.month < 7)


# ============================================================================ pilot cities
def test_pilot_cities_county_rule(cities, areas):
    drop = ref.pilot_cities(Spec(), cities, areas)
    mapped = ref.pilot_cities(Spec(county_pilot_rule="map_to_prefecture"), cities, areas)
    n_sub = areas["area_type"].isin(ref.SUB_PREFECTURE_TYPES).sum()
    assert n_sub == 8
    assert len(drop) == 165 - n_sub  # no prefecture hosts two prefecture-level areas
    # 延边 hosts 珲春 and 延吉, 金华 hosts 义乌 and itself
    assert len(mapped) == 165 - 2
    assert drop["city_id"].is_unique and drop["city_id"].is_monotonic_increasing
    jh = _id(cities, "金华")
    assert drop.set_index("city_id").loc[jh, "batch"] == 6
    row = mapped.set_index("city_id").loc[jh]
    assert row["batch"] == 3 and row["treat_year"] == 2018 and row["areas"] == "义乌; 金华"
    yb = mapped.set_index("city_id").loc[_id(cities, "延边")]
    assert row["in_window_batch"] and yb["batch"] == 4 and yb["areas"] == "珲春; 延吉"
    assert _id(cities, "延边") not in set(drop["city_id"])
    # batch 6 has no signing day: first_posted (2022-02-08) stands in
    b6 = drop[drop["batch"] == 6]
    assert b6["signed"].isna().all() and (b6["treat_year"] == 2022).all()
    ff = ref.pilot_cities(Spec(treat_year_rule="first_full"), cities, areas)
    assert (ff.loc[ff["batch"] == 6, "treat_year"] == 2023).all()
    assert (drop["in_window_batch"] == (drop["batch"] <= 4)).all()


# ============================================================================== universes
def _independent_paper254(cities: pd.DataFrame, areas: pd.DataFrame) -> tuple[set, set]:
    """The paper254 rule re-implemented from the tables (3-D chord distances)."""
    a = areas[(areas["batch"] <= 4) & ~areas["area_type"].isin(["county_level_city", "new_area"])]
    pilots = set(a["city_id"]) - {630200}  # Haidong dropped [paper]
    gone = {341400, 371200, 460300, 460400}  # abolished or created inside 2010-2019
    cand = cities[
        cities["level"].isin(["prefecture_city", "municipality"])
        & ~(cities["city_since"] > 2010).fillna(False).astype(bool)
        & ~cities["city_id"].isin(gone | pilots | {630200})
    ]

    def xyz(df: pd.DataFrame) -> np.ndarray:
        lon, lat = np.radians(df["lon"].to_numpy()), np.radians(df["lat"].to_numpy())
        return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])

    pc = xyz(cities[cities["city_id"].isin(pilots)])
    cc = xyz(cand)
    chord = np.linalg.norm(cc[:, None, :] - pc[None, :, :], axis=2).min(axis=1)
    order = np.lexsort((cand["city_id"].to_numpy(), chord))
    controls = set(cand["city_id"].to_numpy()[order[:199]])
    return pilots, controls


def test_paper254_counts(paper, cities, areas):
    universe, audit = paper
    assert len(universe) == 254
    assert universe["pilot"].sum() == 55
    assert (~universe["pilot"]).sum() == 199
    assert universe["city_id"].is_monotonic_increasing and universe["city_id"].is_unique
    pilots, controls = _independent_paper254(cities, areas)
    assert len(pilots) == 55
    assert set(universe.loc[universe["pilot"], "city_id"]) == pilots
    assert set(universe.loc[~universe["pilot"], "city_id"]) == controls
    assert set(universe["level"]) <= {"prefecture_city", "municipality"}


def test_paper254_audit_partitions_registry(paper, cities):
    universe, audit = paper
    assert tuple(audit.columns) == AUDIT_COLUMNS
    assert len(universe) + len(audit) == len(cities)
    assert not set(universe["city_id"]) & set(audit["city_id"])
    assert (audit["file"] == "reference").all() and (audit["stage"] == "universe").all()
    assert audit["year"].isna().all() and audit["variable"].isna().all()
    assert (audit["message"].str.len() > 10).all()
    haidong = audit[audit["city_id"] == 630200]
    assert len(haidong) == 1 and "missing data" in haidong["message"].item()
    assert haidong["reason"].item() == "paper_dropped_pilot"
    assert haidong["city"].item() == "Haidong"
    assert audit["message"].str.contains("by distance to the nearest pilot").sum() == 31
    assert (audit["reason"] == "distance_cut").sum() == 31


def test_paper254_pilot_columns(paper):
    u = paper[0]
    pil = u[u["pilot"]]
    assert (pil["batch"] <= 4).all() and pil["treat_year"].notna().all()
    assert pil["later_batch"].isna().all()
    non = u[~u["pilot"]]
    assert non["treat_year"].isna().all()
    assert (non["later_batch"].isna() == non["batch"].isna()).all()
    assert (non["later_batch"].dropna() >= 5).all()
    assert pil["treat_year"].value_counts().to_dict() == {2015: 1, 2016: 12, 2018: 21, 2019: 21}
    hz = u.set_index("city_id").loc[330100]
    assert hz["batch"] == 1 and hz["treat_year"] == 2015
    for col in ("batch", "treat_year", "later_batch"):
        assert str(u[col].dtype) == "Int64"


def test_yiwu_prefecture_only_under_map(cities):
    jinhua, yanbian, mudanjiang = (_id(cities, s) for s in ("金华", "延边", "牡丹江"))
    u_drop = ref.select_universe(Spec())[0].set_index("city_id")
    assert not u_drop.loc[jinhua, "pilot"]
    assert u_drop.loc[jinhua, "later_batch"] == 6
    u_map, audit = ref.select_universe(Spec(county_pilot_rule="map_to_prefecture"))
    u_map = u_map.set_index("city_id")
    for cid in (jinhua, yanbian, mudanjiang):
        assert u_map.loc[cid, "pilot"]
    assert u_map.loc[jinhua, "batch"] == 3 and u_map.loc[jinhua, "treat_year"] == 2018
    assert u_map.loc[yanbian, "treat_year"] == 2019
    assert len(u_map) == 256 and u_map["pilot"].sum() == 58
    assert len(u_map) + len(audit) == len(cities)


def test_last_batch_and_rule_change_flags_not_list(paper):
    u3 = ref.select_universe(Spec(last_batch=3, treat_year_rule="first_full"))[0]
    assert u3["city_id"].tolist() == paper[0]["city_id"].tolist()
    assert u3["pilot"].sum() == 1 + 12 + 21
    assert (u3.loc[u3["batch"] == 4, "later_batch"] == 4).all()
    assert u3.loc[u3["pilot"], "treat_year"].value_counts().to_dict() == {
        2016: 1,
        2017: 12,
        2019: 21,
    }


def test_universe_all(cities):
    u, audit = ref.select_universe(Spec(universe="all"))
    assert len(u) == len(cities) - 4
    assert set(audit["city_id"]) == {341400, 371200, 460300, 460400}
    assert u["pilot"].sum() == 56  # the 55 plus Haidong
    assert set(u["level"]) == set(ref.PREFECTURE_LEVELS)
    early = ref.select_universe(Spec(universe="all", first_year=2005, last_year=2010))[0]
    assert 341400 in set(early["city_id"]) and 460400 not in set(early["city_id"])


def test_available_filters_and_audits(cities):
    have = set(cities["city_id"].iloc[::2]) | {999999}
    u, audit = ref.select_universe(Spec(), available=have)
    assert set(u["city_id"]) <= have
    full = ref.select_universe(Spec())[0]
    lost = set(full["city_id"]) - have
    assert set(audit.loc[audit["reason"] == "no_data_in_panel", "city_id"]) == lost
    stranger = audit[audit["city_id"] == 999999]
    assert stranger["message"].item() == "not a prefecture-level unit in the registry"
    assert stranger["reason"].item() == "not_in_registry"
    assert len(u) + len(audit) == len(cities) + 1
    u_all, _ = ref.select_universe(Spec(universe="all"), available={371200, 330100})
    assert set(u_all["city_id"]) == {371200, 330100}


# ============================================================================ loading
def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="build_reference.py"):
        ref.load_cities(tmp_path)
    (tmp_path / "pilot_areas.csv").write_text("batch,area\n1,杭州\n", encoding="utf-8")
    with pytest.raises(ValueError, match="columns"):
        ref.load_pilot_areas(tmp_path)
    assert ref.reference_dir() == REPO / "data" / "reference"


def test_codebook_documents_every_column():
    text = (REPO / "data" / "reference" / "CODEBOOK.md").read_text(encoding="utf-8")
    for col in ref.CITY_COLUMNS + ref.AREA_COLUMNS:
        assert f"`{col}`" in text, col
    assert "python scripts/build_reference.py" in text and "MIT" in text


# ============================================================================ rebuild
@pytest.mark.slow
def test_roster_rebuilds_from_repository_files_only(tmp_path):
    """No network: from the fact sheet the roster rebuilds byte-identically."""
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--out",
        str(tmp_path),
        "--areas-source",
        str(_fact_sheet()),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pilot_areas.csv"]
    committed = (REPO / "data" / "reference" / "pilot_areas.csv").read_bytes()
    assert (tmp_path / "pilot_areas.csv").read_bytes() == committed


def test_registry_rebuild_is_byte_identical(tmp_path):
    """With the exact cpca 0.5.5 archive (env CBEC_CPCA_ARCHIVE) the registry rebuilds too."""
    archive = os.environ.get("CBEC_CPCA_ARCHIVE")
    if not archive:
        pytest.skip("set CBEC_CPCA_ARCHIVE to cpca-0.5.5-py3-none-any.whl to rebuild cities.csv")
    cmd = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--cpca-archive", archive]
    cmd += ["--areas-source", str(_fact_sheet())]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    for name in ("cities.csv", "pilot_areas.csv"):
        built = (tmp_path / name).read_bytes()
        committed = (REPO / "data" / "reference" / name).read_bytes()
        assert built == committed, name


def test_one_source_of_pilot_dates_and_one_first_full_rule(areas):
    """The twin and the analysis read pilot dates from the roster only; "first_full" keeps
    a 1 January signing in its own year (the whole year is under the pilot)."""
    from cbec.data import twin

    assert not hasattr(twin, "BATCH_SIGNED") and not hasattr(twin, "batch_year")
    dates = ref.designation_dates(areas, county_areas=False)
    world = twin.world_cities().set_index("city_id")["designated"]
    assert world.loc[dates["city_id"]].tolist() == dates["date"].tolist()
    assert ref.treatment_year("2016-01-01", "first_full") == 2016
    assert ref.treatment_year("2016-01-02", "first_full") == 2017
    s = pd.Series(["2016-01-01", "2016-12-31", "2016-06-30", "2016-07-01"])
    assert ref.treatment_year(s, "first_full").tolist() == [2016, 2017, 2017, 2017]
    assert ref.treatment_year(s, "date_rule").tolist() == [2016, 2017, 2016, 2017]
    assert ref.treatment_year(s, "approval").tolist() == [2016] * 4
    u = pd.DataFrame(
        {"city_id": [1, 2], "designated": pd.to_datetime(["2016-01-01", "2016-03-07"])}
    )
    got = twin.onset_years(u, twin.World(onset_rule="first_full")).tolist()
    assert got == [2016, 2017]


def test_row_order_of_inputs_does_not_matter(paper, cities, areas):
    shuffled = cities.sample(frac=1.0, random_state=3)
    u, audit = ref.select_universe(Spec(), cities=shuffled, areas=areas.iloc[::-1])
    pd.testing.assert_frame_equal(u, paper[0])
    assert sorted(audit["city_id"]) == sorted(paper[1]["city_id"])
