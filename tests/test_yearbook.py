"""Tests of cbec.data.yearbook: reading, matching, deriving and auditing a yearbook panel.

Synthetic cases use the messy files of ``cbec/testing/messy.py`` (every expected number is
computed here from the literal rows). Real-data tests (marker ``real``) read the folder
``$CBEC_REAL_DATA/city_panel_gp`` and are skipped when it is absent.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cbec.data import yearbook as yb
from cbec.data.panel import AUDIT_COLUMNS, VARIABLES
from cbec.testing import messy as _messy

CITIES = _messy.stand_in_cities()


def _row(panel, city_id: int, year: int) -> pd.Series:
    d = panel.data
    hit = d[(d.city_id == city_id) & (d.year == year)]
    assert len(hit) == 1, (city_id, year)
    return hit.iloc[0]


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    folder = _messy.write_messy_folder(tmp_path_factory.mktemp("messy"))
    cache = tmp_path_factory.mktemp("cache")
    return folder, yb.load_yearbook(folder, cities=CITIES, cache=cache)


# ============================================================================= headers
@pytest.mark.parametrize(
    ("header", "target", "unit"),
    [
        ("地区生产总值（亿元）", "gdp_nominal", "亿元"),
        ("GDP(万元)", "gdp_nominal", "万元"),
        ("gdp（亿元人民币）", "gdp_nominal", "亿元"),
        ("实际GDP(2010年不变价)", "gdp", None),
        ("实际GDP(2000年不变价)", "gdp_real_any", None),
        ("GDP指数（上年=100）", "gdp_index", None),
        ("GDP指数(2000=100)", "gdp_real_any", None),
        ("常住人口万人", "pop", "万人"),
        ("插值_常住人口（万人）", "pop_interp", "万人"),
        ("行政区域土地面积(平方公里)", "land_area", "平方公里"),
        ("实际使用外资金额【万美元】", "fdi", "万美元"),
        ("第三产业占GDP比重(%)", "service_share", "%"),
        (" 年度标识 ", "year", None),
        ("城市名称", "city", None),
    ],
)
def test_parse_header(header, target, unit):
    info = yb.parse_header(header)
    assert info.target == target
    assert info.unit == unit


def test_parse_header_refuses_district_scope_and_nominal_per_capita():
    district = yb.parse_header("地区生产总值_市辖区（万元）")
    assert district.target is None and "市辖区" in district.note
    per_capita = yb.parse_header("人均GDP（元）")
    assert per_capita.target is None and "per-capita" in per_capita.note
    assert yb.parse_header("产业结构高级化").target is None


def test_headers_reach_every_canonical_variable_but_mechanisms():
    targets = {t for t, _ in yb.HEADERS.values()}
    assert targets <= set(yb.INPUTS) | {
        "city",
        "code",
        "year",
        "province",
        "indicator",
        "unit",
        "meta",
    }
    # each canonical variable is named directly or derived from raw inputs named here
    derived_from = {
        "gdp_pc": {"gdp_nominal", "gdp_index", "pop"},
        "gdp": {"gdp_nominal", "gdp_index"},
        "gdp_growth": {"gdp_index"},
        "fdi_pc": {"fdi", "pop"},
        "fin_dev": {"loans", "deposits", "gdp_nominal"},
        "fai_pc": {"fai"},
        "retail_pc": {"retail"},
        "savings_pc": {"savings"},
        "human_capital": {"students"},
        "info_infra": {"broadband"},
    }
    for name in VARIABLES:
        if name in ("inst_innov", "misallocation"):
            continue
        assert name in targets or derived_from.get(name, {"?"}) <= targets, name


# ========================================================================= read_table
def test_read_gbk_csv_exact_values(tmp_path):
    path = _messy.write_gbk_csv(tmp_path)
    t = yb.read_table(path)
    assert t.attrs["info"]["encoding"] == "gbk"
    assert t.attrs["info"]["sheets"] == {"": "long, header row 2"}
    # rows 3-11 are data (Excel numbering), the two note rows 12-13 are not
    assert t["row"].tolist() == list(range(3, 12))
    assert t["year"].tolist() == [2009, 2010, 2011, 2009, 2010, 2011, 2010, 2010, 2012]
    assert t["year"].dtype == "Int64"
    assert t["gdp_nominal"].tolist()[:3] == [1500.0, 1710.0, 2132.2]  # "1,500.0" etc.
    assert t["city"].tolist()[:3] == ["襄樊市", "襄樊市", "襄阳市"]
    assert math.isnan(t.loc[t.row == 8, "pop"].iloc[0])  # 'abc'
    assert "Unnamed: 6" not in t.columns and set(t.columns) == {
        "source",
        "sheet",
        "row",
        "city",
        "code",
        "province",
        "year",
        "gdp_nominal",
        "pop",
        "gdp_index",
        "land_area",
    }
    audit = t.attrs["audit"]
    assert list(audit.columns) == list(AUDIT_COLUMNS)
    assert audit["reason"].tolist() == ["title_row", "note_row", "note_row", "not_a_number"]
    assert "row 12" in audit.message.iloc[1] and "数据来源" in audit.message.iloc[1]
    assert "row 13" in audit.message.iloc[2] and "公众号" in audit.message.iloc[2]


def test_not_a_number_message_names_file_row_column(tmp_path):
    path = _messy.write_gbk_csv(tmp_path)
    expected = f"{_messy.GBK_NAME}, row 8, column '常住人口（万人）': value 'abc' is not a number"
    audit = yb.read_table(path).attrs["audit"]
    assert audit.loc[audit.reason == "not_a_number", "message"].tolist() == [expected]
    with pytest.raises(yb.YearbookError) as err:
        yb.read_table(path, strict=True)
    assert str(err.value) == expected
    with pytest.raises(yb.YearbookError, match="row 8, column '常住人口（万人）'"):
        yb.load_yearbook(tmp_path, cities=CITIES, strict=True, cache=False)


def test_read_xlsx_title_blank_rows_codes_and_units(tmp_path):
    path = _messy.write_finance_xlsx(tmp_path)
    t = yb.read_table(path, cache=False)
    info = t.attrs["info"]
    assert info["sheets"] == {"数据": "long, header row 3", "说明": "skipped"}
    assert t["row"].tolist() == [4, 5, 6, 7, 8, 9]
    assert t["year"].tolist() == [2010, 2010, 2011, 2015, 2018, 2016]  # 2010.0 -> 2010
    assert t["code"].tolist()[:4] == [420600, 330100, 330102, 652200]
    assert pd.isna(t["code"].iloc[5])
    # 万元 -> 亿元
    assert t["loans"].iloc[0] == pytest.approx(800.0)
    assert t["deposits"].iloc[1] == pytest.approx(10000.0)
    assert t["gdp_nominal"].iloc[0] == pytest.approx(1710.0)
    assert t["fdi"].iloc[0] == 25000.0  # already 万美元
    units = {c["target"]: c["unit"] for c in info["columns"]}
    assert units["loans"].startswith("万元 -> 亿元")
    a = t.attrs["audit"]
    reasons = dict(zip(a.message, a.reason, strict=True))
    assert (
        reasons[f"{_messy.XLSX_NAME} (sheet '数据'), row 6, column 'H': 注:贷款含外币"]
        == "note_cell"
    )
    assert (
        reasons[
            f"{_messy.XLSX_NAME} (sheet '数据'), row 6, column '年末金融机构各项贷款余额（万元）': #DIV/0!"
        ]
        == "excel_error"
    )
    assert sorted(a.reason) == sorted(
        ["title_row", "note_row", "note_cell", "excel_error", "sheet_skipped"]
        + ["missing_marker"] * 10  # the empty value cells of rows 6-9
    )
    blank = a[a.reason == "missing_marker"]
    assert set(blank["value"]) == {"(empty cell)"}
    assert sorted(set(blank["row"])) == [6, 7, 8, 9]


def test_read_wide_table_years_as_columns(tmp_path):
    t = yb.read_table(_messy.write_wide_xlsx(tmp_path), cache=False)
    assert t.attrs["info"]["sheets"] == {"Sheet1": "wide, header row 2"}
    got = t.set_index(["city", "year"])["service_share"]
    for city, *shares in _messy.WIDE_ROWS:
        for year, share in zip((2009, 2010, 2011), shares, strict=True):
            assert got[(city, year)] == share
    assert len(t) == 9


def test_wide_table_without_a_variable_name_is_an_error(tmp_path):
    _messy.write_csv(tmp_path, "表1.csv", ["城市", "2010", "2011"], [["杭州", 1, 2]])
    with pytest.raises(yb.YearbookError, match=r"表1\.csv, row 1: a table with years as columns"):
        yb.read_table(tmp_path / "表1.csv")


def test_wide_table_with_an_indicator_column(tmp_path):
    _messy.write_csv(
        tmp_path,
        "eps.csv",
        ["地区", "指标", "2010年", "2011年"],
        [
            ["杭州市", "地区生产总值(万元)", 59491700, 70118000],
            ["杭州市", "常住人口(万人)", 870.04, 875],
            ["杭州市", "建成区面积(平方公里)", 433, 450],
        ],
    )
    t = yb.read_table(tmp_path / "eps.csv")
    gdp = t.dropna(subset=["gdp_nominal"]).set_index("year")["gdp_nominal"]
    assert gdp.to_dict() == pytest.approx({2010: 5949.17, 2011: 7011.8})
    pop = t.dropna(subset=["pop"]).set_index("year")["pop"]
    assert pop.to_dict() == {2010: 870.04, 2011: 875.0}
    a = t.attrs["audit"]
    assert a.reason.tolist() == ["column_not_used"]
    assert "建成区面积" in a.message.iloc[0]


def test_rows_without_year_or_city(tmp_path):
    _messy.write_csv(
        tmp_path,
        "k.csv",
        ["年份", "城市", "GDP(亿元)"],
        [["2010x", "杭州", 5949], [2010, "", 5949], [2011, "杭州", 7011]],
    )
    a = yb.read_table(tmp_path / "k.csv").attrs["audit"]
    assert a.reason.tolist() == ["bad_year", "missing_city"]
    assert a.message.iloc[0].startswith("k.csv, row 2, column '年份': year '2010x' is not a year")
    assert a.message.iloc[1].startswith("k.csv, row 3: no city name or code")
    with pytest.raises(yb.YearbookError, match=r"^k\.csv, row 2, column '年份': year '2010x'"):
        yb.read_table(tmp_path / "k.csv", strict=True)


def test_utf8_sig_csv_and_fraction_shares(tmp_path):
    _messy.write_csv(
        tmp_path,
        "shares.csv",
        ["year", "city", "第二产业占GDP比重", "第三产业比重(%)"],
        [[2010, "杭州", 0.45, 48.7], [2011, "杭州", 0.4375, 49.3]],
        encoding="utf-8-sig",
    )
    t = yb.read_table(tmp_path / "shares.csv")
    assert t.attrs["info"]["encoding"] == "utf-8"
    assert t["secondary_share"].tolist() == [45.0, 43.75]
    assert t["service_share"].tolist() == [48.7, 49.3]


# ================================================================================ units
def test_unit_missing_but_plausible_is_assumed(tmp_path):
    _messy.write_csv(tmp_path, "g.csv", ["年份", "城市", "GDP"], [[2010, "杭州", 5949.17]])
    t = yb.read_table(tmp_path / "g.csv")
    assert t["gdp_nominal"].tolist() == [5949.17]
    assert "assumed" in t.attrs["info"]["columns"][0]["unit"]


def test_unit_missing_and_implausible_raises_naming_the_column(tmp_path):
    _messy.write_csv(tmp_path, "g.csv", ["年份", "城市", "GDP"], [[2010, "杭州", 59491700]])
    with pytest.raises(yb.YearbookError, match=r"g\.csv, row 1, column 'GDP': no unit stated"):
        yb.read_table(tmp_path / "g.csv")
    t = yb.read_table(tmp_path / "g.csv", units={"GDP": "万元"})
    assert t["gdp_nominal"].iloc[0] == pytest.approx(5949.17)


def test_fdi_needs_a_dollar_unit(tmp_path):
    _messy.write_csv(
        tmp_path, "f.csv", ["年份", "城市", "实际使用外资金额"], [[2010, "杭州", 4300]]
    )
    with pytest.raises(yb.YearbookError, match="column '实际使用外资金额': no unit stated"):
        yb.read_table(tmp_path / "f.csv")
    _messy.write_csv(
        tmp_path, "f.csv", ["年份", "城市", "实际使用外资金额(万元)"], [[2010, "杭州", 1]]
    )
    with pytest.raises(yb.YearbookError, match="unit 万元 is not a US-dollar amount"):
        yb.read_table(tmp_path / "f.csv")


def test_conflicting_units_in_one_header_raise(tmp_path):
    _messy.write_csv(tmp_path, "g.csv", ["年份", "城市", "GDP(万元)(亿元)"], [[2010, "杭州", 1]])
    with pytest.raises(yb.YearbookError, match="ambiguous unit"):
        yb.read_table(tmp_path / "g.csv")


def test_unit_column_converts_row_by_row(tmp_path):
    _messy.write_csv(
        tmp_path,
        "fdi.csv",
        ["year", "地级市", "外商直接投资", "单位"],
        [[2010, "杭州", 4.3, "百万美元"], [2011, "杭州", 47000, "万美元"]],
    )
    t = yb.read_table(tmp_path / "fdi.csv")
    assert t["fdi"].tolist() == pytest.approx([430.0, 47000.0])


def test_unit_row_under_the_header(tmp_path):
    _messy.write_csv(
        tmp_path,
        "u.csv",
        ["年份", "城市", "地区生产总值", "常住人口"],
        [["", "", "万元", "万人"], [2010, "杭州", 59491700, 870.04]],
    )
    t = yb.read_table(tmp_path / "u.csv")
    assert t["gdp_nominal"].iloc[0] == pytest.approx(5949.17)
    assert t["row"].tolist() == [3]


# ======================================================================== match_cities
@pytest.mark.parametrize(
    ("value", "year", "expected"),
    [
        ("襄樊", None, 420600),
        ("襄樊市", 2005, 420600),
        ("襄阳市", None, 420600),
        (" 杭州 ", None, 330100),
        ("哈密\u200b\u200b", None, 650500),
        ("哈密地区", None, 650500),
        ("延边州", None, 222400),
        ("延边朝鲜族自治州", None, 222400),
        ("博州", None, 652700),
        ("Hangzhou", None, 330100),
        (420602, None, 420600),  # district code rolled up
        ("4206", None, 420600),  # 4-digit prefix
        (110105, None, 110000),  # a Beijing district
        (110000000000, None, 110000),  # 12-digit statistical code
        (652200, None, 650500),  # old code of 哈密地区
        ("巢湖市", 2010, 341400),
        ("巢湖", None, 341400),
        ("莱芜", 2018, 371200),
    ],
)
def test_match_cities_finds(value, year, expected):
    got = yb.match_cities(pd.Series([value], dtype=object), CITIES, year=year)
    assert got.iloc[0] == expected


@pytest.mark.parametrize(
    ("value", "year", "reason"),
    [
        ("巢湖市", 2012, "not_prefecture_in_year"),
        ("莱芜市", 2019, "not_prefecture_in_year"),
        ("伊犁地区", None, "unmatched_city"),  # not 伊犁州: abolished 2001
        ("柳州地区", None, "unmatched_city"),  # not 柳州市
        ("中国", None, "not_a_city"),
        ("浙江省", None, "not_a_city"),
        ("新疆维吾尔自治区", None, "not_a_city"),
        ("合计", None, "not_a_city"),
        ("火星市", None, "unmatched_city"),
        (999999, None, "unmatched_city"),
    ],
)
def test_match_cities_refuses(value, year, reason):
    got, rep = yb.match_cities(pd.Series([value], dtype=object), CITIES, year=year, report=True)
    assert pd.isna(got.iloc[0])
    assert rep["reason"].tolist() == [reason]


def test_match_cities_keeps_index_and_uses_yearly_windows():
    s = pd.Series(["巢湖", "巢湖", "襄樊", None], index=[10, 11, 12, 13], dtype=object)
    years = pd.Series([2010, 2011, 2011, 2011], index=[10, 11, 12, 13])
    got = yb.match_cities(s, CITIES, year=years)
    assert got.index.tolist() == [10, 11, 12, 13]
    assert got.dtype == "Int64"
    assert got.tolist()[:3] == [341400, pd.NA, 420600] and pd.isna(got.iloc[3])


def test_alias_table_is_well_formed():
    a = yb.load_aliases()
    assert a["alias"].is_unique
    assert set(a["kind"]) <= set(yb._ALIAS_KINDS)
    same_unit = a[a.kind.isin(["rename", "upgrade", "code", "variant"])]
    assert same_unit["city_id"].notna().all() and (same_unit["name_zh"] != "").all()
    codes = a[a.kind == "code"]["alias"]
    assert codes.str.fullmatch(r"\d{6}").all()


# ======================================================================= load_yearbook
def test_messy_folder_values(messy):
    _, p = messy
    assert p.profile == "real"
    xy2009, xy2010, xy2011 = (_row(p, 420600, y) for y in (2009, 2010, 2011))
    # nominal GDP from "1,500.0" etc. (襄樊 renamed 襄阳 in 2010)
    assert [xy2009.gdp_nominal, xy2010.gdp_nominal, xy2011.gdp_nominal] == [1500.0, 1710.0, 2132.2]
    # real GDP at 2010 prices chained from nominal 2010 and the index
    assert xy2010.gdp == pytest.approx(1710.0)
    assert xy2011.gdp == pytest.approx(1710.0 * 1.152)
    assert xy2009.gdp == pytest.approx(1710.0 / 1.15)
    assert [xy2009.gdp_growth, xy2010.gdp_growth, xy2011.gdp_growth] == pytest.approx(
        [14.0, 15.0, 15.2]
    )
    assert xy2010.gdp_pc == pytest.approx(1710.0 * 1e8 / (550.5 * 1e4))
    assert xy2010.fdi_pc == pytest.approx(25000 / 550.5)  # 万美元 / 万人 = US$ per person
    assert xy2010.fin_dev == pytest.approx((800.0 + 1200.0) / 1710.0)
    assert xy2009.service_share == 38.5  # wide file, 襄樊市
    hz = _row(p, 330100, 2010)
    # 杭州's nominal GDP: the csv (holding the index) is primary; the xlsx's 5000 differs
    assert hz.gdp_nominal == 5949.17
    assert hz.fin_dev == pytest.approx((8000.0 + 10000.0) / 5949.17)
    assert math.isnan(_row(p, 330100, 2011)["pop"])  # 'abc'
    assert _row(p, 222400, 2011).service_share == 47.0  # 延边州
    assert _row(p, 341400, 2010).gdp == 800.0  # 巢湖 in 2010 is kept
    assert not ((p.data.city_id == 341400) & (p.data.year == 2012)).any()
    assert p.data["city_id"].dtype == "int64" and p.data["year"].dtype == "int64"


def test_messy_folder_audit(messy):
    _, p = messy
    a = p.audit
    assert list(a.columns) == list(AUDIT_COLUMNS)
    assert set(a.reason) <= set(yb.REASONS)
    got = a.groupby("reason").size().to_dict()
    assert got == {
        "title_row": 3,  # csv row 1, wide row 1, xlsx row 1
        "note_row": 3,  # csv rows 12-13, xlsx row 10
        "note_cell": 1,
        "excel_error": 1,
        "sheet_skipped": 1,
        "not_a_number": 1,
        "unmatched_city": 1,
        "not_prefecture_in_year": 1,
        "conflict_between_files": 1,
        "missing_marker": 10,  # empty value cells of 金融与外资.xlsx rows 6-9
    }
    unmatched = a[a.reason == "unmatched_city"].iloc[0]
    assert unmatched.city == "火星市" and f"{_messy.GBK_NAME}, row 9" in unmatched.message
    chaohu = a[a.reason == "not_prefecture_in_year"].iloc[0]
    assert (chaohu.city, chaohu.year) == ("巢湖", 2012)
    conflict = a[a.reason == "conflict_between_files"].iloc[0]
    assert (conflict.city_id, conflict.year, conflict.variable) == (330100, 2010, "gdp_nominal")
    assert "5000 not used; kept 5949.17" in conflict.message
    # cell-level rows get their city code after matching (row 6 had only a county code)
    err = a[a.reason == "excel_error"].iloc[0]
    assert err.city_id == 330100
    summary = yb.audit_summary(p)
    assert dict(zip(summary.reason, summary.rows, strict=True)) == got
    assert summary["rows"].is_monotonic_decreasing


def test_messy_folder_unavailable_and_meta(messy):
    folder, p = messy
    assert set(p.unavailable) == set(VARIABLES) - set(p.variables)
    assert {"fai_pc", "wage", "retail_pc", "savings_pc", "secondary_share"} <= set(p.unavailable)
    assert p.meta["files"] == sorted(x.name for x in folder.iterdir() if x.is_file())
    assert p.meta["primary"]["gdp_nominal"] == _messy.GBK_NAME
    assert p.meta["match_methods"]["county_code"] == 1


def test_every_canonical_variable_from_raw_inputs(tmp_path):
    header = [
        "年份",
        "城市代码",
        "城市",
        "地区生产总值(亿元)",
        "地区生产总值指数(上年=100)",
        "常住人口(万人)",
        "行政区域土地面积(平方公里)",
        "第二产业增加值(亿元)",
        "第三产业增加值(亿元)",
        "实际使用外资金额(万美元)",
        "年末金融机构各项贷款余额(亿元)",
        "年末金融机构各项存款余额(亿元)",
        "城乡居民储蓄存款余额(万元)",
        "全社会固定资产投资(亿元)",
        "社会消费品零售总额(亿元)",
        "规模以上工业总产值(亿元)",
        "职工平均工资(元)",
        "普通高等学校在校学生数(人)",
        "互联网宽带接入用户数(万户)",
    ]
    rows = [
        [
            2010,
            110000,
            "北京",
            14000,
            110.3,
            1960,
            16410,
            3400,
            10600,
            636000,
            36000,
            66000,
            2.2e7,
            5400,
            6200,
            13700,
            65000,
            580000,
            460,
        ],
        [
            2011,
            110000,
            "北京",
            16000,
            108.1,
            2019,
            16410,
            3700,
            12300,
            705000,
            39000,
            75000,
            2.4e7,
            5600,
            6900,
            15000,
            75000,
            580000,
            490,
        ],
        [
            2010,
            330100,
            "杭州",
            5950,
            112.0,
            870,
            16596,
            2830,
            2900,
            435000,
            11000,
            13000,
            3.5e6,
            2750,
            2150,
            12000,
            48000,
            420000,
            190,
        ],
    ]
    _messy.write_csv(tmp_path, "all.csv", header, rows)
    p = yb.load_yearbook(tmp_path, cities=CITIES, cache=False)
    assert p.unavailable == ("inst_innov", "misallocation")
    assert p.audit.empty
    bj10, bj11 = _row(p, 110000, 2010), _row(p, 110000, 2011)
    expected11 = {
        "gdp": 14000 * 1.081,
        "gdp_growth": 8.1,
        "gdp_pc": 14000 * 1.081 * 1e8 / (2019 * 1e4),
        "secondary_share": 3700 / 16000 * 100,
        "service_share": 12300 / 16000 * 100,
        "fdi_pc": 705000 / 2019,
        "fin_dev": (39000 + 75000) / 16000,
        "savings_pc": 2.4e7 * 1e4 / (2019 * 1e4),
        "fai_pc": 5600 * 1e8 / (2019 * 1e4),
        "retail_pc": 6900 * 1e8 / (2019 * 1e4),
        "industrial_output": 15000,
        "wage": 75000,
        "human_capital": 580000 / 2019,
        "info_infra": 490 / 2019 * 100,
        "pop": 2019,
        "land_area": 16410,
        "gdp_nominal": 16000,
    }
    for name, value in expected11.items():
        assert bj11[name] == pytest.approx(value, rel=1e-12), name
    assert bj10.gdp == 14000 and bj10.gdp_growth == pytest.approx(10.3)
    assert _row(p, 330100, 2010).gdp_pc == pytest.approx(5950e8 / 870e4)


def _chain_by_loop(nominal_2010: float, index: dict[int, float], year: int) -> float:
    """Independent implementation: multiply (or divide) year by year from 2010."""
    value = nominal_2010
    if year > 2010:
        for s in range(2011, year + 1):
            if s not in index:
                return math.nan
            value *= index[s] / 100.0
    for s in range(year + 1, 2011):
        if s not in index:
            return math.nan
        value /= index[s] / 100.0
    return value


def test_real_gdp_chain_matches_a_loop_with_gaps(tmp_path):
    rng = np.random.default_rng(7)
    rows, truth = [], {}
    for code in (110000, 330100, 420600):
        idx = {y: float(np.round(rng.uniform(100, 116), 2)) for y in range(2005, 2016)}
        for y in rng.choice(range(2005, 2016), size=2, replace=False):
            if y != 2010:
                idx.pop(int(y))
        nominal = {y: float(np.round(rng.uniform(500, 5000), 1)) for y in range(2005, 2016)}
        for y in range(2005, 2016):
            rows.append([y, code, nominal[y], idx.get(y, "")])
            truth[(code, y)] = _chain_by_loop(nominal[2010], idx, y)
    _messy.write_csv(tmp_path, "chain.csv", ["year", "code", "GDP(亿元)", "GDP指数"], rows)
    p = yb.load_yearbook(tmp_path, cities=CITIES, cache=False)
    got = p.data.set_index(["city_id", "year"])["gdp"]
    for key, value in truth.items():
        if math.isnan(value):
            assert key not in got.index or math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12), key
    gaps = p.audit[p.audit.reason == "gdp_chain_gap"]
    expected_gaps = {
        k
        for k, v in truth.items()
        if math.isnan(v) and rows[[(r[1], r[0]) for r in rows].index(k)][3] != ""
    }
    assert set(zip(gaps.city_id, gaps.year, strict=True)) == expected_gaps


def test_duplicates_within_a_file(tmp_path):
    header = ["年份", "城市", "地区生产总值(亿元)", "常住人口(万人)"]
    _messy.write_csv(
        tmp_path,
        "d.csv",
        header,
        [
            [2010, "杭州", 5949.17, 870],
            [2010, "杭州市", 5949.17, 870],
            [2011, "杭州", 7000, 875],
            [2011, "杭州", 7500, 875],
        ],
    )
    p = yb.load_yearbook(tmp_path, cities=CITIES, cache=False)
    a = p.audit
    assert a.reason.tolist() == ["duplicate_row", "duplicate_conflict"]
    assert "row 3 repeat(s) row 2" in a.message.iloc[0]
    assert (a.variable.iloc[1], a.year.iloc[1]) == ("gdp_nominal", 2011)
    assert "row 4: 7000; row 5: 7500" in a.message.iloc[1]
    assert math.isnan(_row(p, 330100, 2011).gdp_nominal)
    assert _row(p, 330100, 2011)["pop"] == 875  # the agreeing variable is kept
    with pytest.raises(yb.YearbookError, match="gdp_nominal of city 330100 in 2011 differs"):
        yb.load_yearbook(tmp_path, cities=CITIES, cache=False, strict=True)


def test_out_of_range_code_name_mismatch_and_years(tmp_path):
    header = ["年份", "城市代码", "城市", "常住人口(万人)", "第三产业占GDP比重(%)"]
    _messy.write_csv(
        tmp_path,
        "r.csv",
        header,
        [
            [2010, 330100, "杭州", -5, 48.7],
            [2011, 330100, "襄阳", 551, 140],
            [2012, 330100, "杭州", 880, 50],
        ],
    )
    p = yb.load_yearbook(tmp_path, cities=CITIES, cache=False)
    a = p.audit.set_index("reason")
    assert set(a.index) == {"out_of_range", "code_name_mismatch"}
    oor = p.audit[p.audit.reason == "out_of_range"]
    assert sorted(oor.variable) == ["pop", "service_share"]
    assert "r.csv, row 2, column '常住人口(万人)': value -5" in " ".join(oor.message)
    assert _row(p, 420600, 2011)["pop"] == 551  # the name wins over the code
    assert math.isnan(_row(p, 420600, 2011).service_share)
    q = yb.load_yearbook(tmp_path, cities=CITIES, cache=False, years=(2011, 2012))
    assert sorted(q.data.year.unique()) == [2011, 2012]
    assert q.meta["city_years_outside_years"] == 1
    with pytest.raises(yb.YearbookError, match="row 2, column '常住人口"):
        yb.load_yearbook(tmp_path, cities=CITIES, cache=False, strict=True)


def test_files_the_loader_cannot_read(tmp_path):
    with pytest.raises(yb.YearbookError, match="no .xlsx or .csv"):
        yb.load_yearbook(tmp_path, cities=CITIES)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf")
    (tmp_path / "~$lock.xlsx").write_bytes(b"")
    _messy.write_csv(tmp_path, "g.csv", ["年份", "城市", "GDP(亿元)"], [[2010, "杭州", 1.0]])
    p = yb.load_yearbook(tmp_path, cities=CITIES, cache=False)
    assert p.meta["files"] == ["g.csv"]
    assert p.audit.reason.tolist() == ["file_skipped"]
    with pytest.raises(yb.YearbookError, match="not a folder"):
        yb.load_yearbook(tmp_path / "nope", cities=CITIES)


def test_workbook_cache_hit_and_invalidation(tmp_path):
    path = _messy.write_finance_xlsx(tmp_path)
    cache = tmp_path / "cache"
    first = yb.read_table(path, cache=cache)
    second = yb.read_table(path, cache=cache)
    assert (first.attrs["info"]["cache"], second.attrs["info"]["cache"]) == ("miss", "hit")
    pd.testing.assert_frame_equal(first, second)
    assert len(list(cache.glob("*.pkl"))) == 1
    _messy.write_wide_xlsx(tmp_path, name=path.name)  # same name, new content
    third = yb.read_table(path, cache=cache)
    assert third.attrs["info"]["cache"] == "miss" and "service_share" in third.columns


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(yb.ENV_CACHE_DIR, str(tmp_path))
    assert yb.cache_dir() == tmp_path / "yearbook"
    monkeypatch.delenv(yb.ENV_CACHE_DIR)
    assert yb.cache_dir() == Path.home() / ".cache" / "cbec" / "yearbook"


# ========================================================================== real data
_REAL = os.environ.get("CBEC_REAL_DATA", "")
REAL_FOLDER = Path(_REAL) / "city_panel_gp" if _REAL else None
needs_real = pytest.mark.skipif(
    REAL_FOLDER is None or not REAL_FOLDER.is_dir(),
    reason="set CBEC_REAL_DATA to a folder holding city_panel_gp/",
)


@pytest.fixture(scope="module")
def real():
    return yb.load_yearbook(REAL_FOLDER)


@pytest.mark.real
@needs_real
def test_real_panel_shape_and_ranges(real):
    d = real.data
    assert d.city_id.nunique() >= 280
    gdp_cities = d.dropna(subset=["gdp"]).groupby("year").city_id.nunique()
    assert all(gdp_cities.get(y, 0) >= 280 for y in range(2005, 2020))
    growth = d.loc[d.year.between(2001, 2019), "gdp_growth"]
    assert 8.0 <= growth.mean() <= 12.0
    assert d.service_share.dropna().between(0, 100).all()
    assert (d["pop"].dropna() > 0).all() and (d.fin_dev.dropna() > 0).all()
    assert {"fai_pc", "retail_pc", "wage", "savings_pc", "industrial_output"} <= set(
        real.unavailable
    )
    assert {
        "gdp",
        "gdp_pc",
        "gdp_growth",
        "pop",
        "land_area",
        "fdi_pc",
        "fin_dev",
        "service_share",
    } <= set(real.variables)


@pytest.mark.real
@needs_real
def test_real_gdp_equals_the_files_real_series_rebased(real):
    # independent route: the file's own real GDP (2000 prices) rebased to nominal 2010
    t = yb.read_table(next(REAL_FOLDER.glob("*GDP*.xlsx")))
    t = t[t.sheet == "Sheet1"].copy()
    t["city_id"] = yb.match_cities(t.city, year=t.year)
    base = t[t.year == 2010].set_index("city_id")
    t["rebased"] = t.gdp_real_any * t.city_id.map(base.gdp_nominal / base.gdp_real_any)
    m = t.merge(real.data[["city_id", "year", "gdp"]], on=["city_id", "year"])
    assert len(m) >= 280 * 20
    assert np.allclose(m.gdp, m.rebased, rtol=1e-5)


@pytest.mark.real
@needs_real
def test_real_audit_lists_every_unmatched_name(real):
    a = real.audit
    assert not a.empty and set(a.reason) <= set(yb.REASONS)
    listed = set(
        a.loc[a.reason.isin(["unmatched_city", "not_a_city", "not_prefecture_in_year"]), "city"]
    )
    for path in sorted(REAL_FOLDER.glob("*.xlsx")):
        t = yb.read_table(path)
        ids = yb.match_cities(t.city.where(t.city.notna(), t.code.astype(object)), year=t.year)
        missing = set(t.loc[ids.isna(), "city"].dropna())
        assert missing <= listed, (path.name, missing - listed)
    assert "中国" in listed  # the national total in the FDI file


@pytest.mark.real
@needs_real
def test_real_second_load_comes_from_the_cache(real):
    again = yb.load_yearbook(REAL_FOLDER)
    assert set(again.meta["cache"].values()) == {"hit"}
    pd.testing.assert_frame_equal(again.data, real.data)
