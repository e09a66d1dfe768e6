"""Malformed yearbook files: the loader never changes a value without an audit row.

Each case of issue 8 on small hand-made files (every expected number is written below),
then the same cases on malformed copies of the real panel's GDP workbook (marker ``real``,
skipped unless ``CBEC_REAL_DATA`` names the shared data folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cbec import audit as audit_mod
from cbec.data import yearbook as yb
from cbec.testing import messy as _messy

CITIES = _messy.stand_in_cities()
HEAD = ["年份", "城市", "地区生产总值（亿元）", "GDP指数（上年=100）", "常住人口（万人）"]


def _load(folder: Path, **kw):
    return yb.load_yearbook(folder, cities=CITIES, cache=False, **kw)


def _value(panel, city_id: int, year: int, var: str) -> float:
    d = panel.data
    return float(d.loc[(d.city_id == city_id) & (d.year == year), var].iloc[0])


def _two_files(tmp_path: Path, gdp_rows: list[list[object]]) -> Path:
    """A primary GDP file (with the index) and a second file with nominal GDP only."""
    _messy.write_csv(tmp_path, "a_gdp.csv", HEAD, gdp_rows)
    _messy.write_csv(
        tmp_path,
        "b_industry.csv",
        ["年份", "城市", "地区生产总值（亿元）", "第三产业增加值（亿元）"],
        [[2009, "杭州", 5000.0, 2500.0], [2010, "杭州", 5775.0, 2900.0]],
    )
    return tmp_path


# ------------------------------------------------------------------ duplicate conflict
def test_conflicting_duplicate_then_refill_has_both_files_values_and_rule(tmp_path):
    rows = [
        [2009, "杭州", 5098.66, 110.0, 810],
        [2010, "杭州", 5949.17, 112.0, 870],
        [2010, "杭州", 6100.00, 112.0, 870],  # the duplicate with another GDP
    ]
    p = _load(_two_files(tmp_path, rows))
    a = p.audit
    dup = a[a.reason == "duplicate_conflict"]
    assert len(dup) == 1
    d = dup.iloc[0]
    assert (d.file, d.variable, d.year, d.city_id) == ("a_gdp.csv", "gdp_nominal", 2010, 330100)
    assert d.value == "5949.17" and d.other_value == 6100.0
    fill = a[a.reason == "filled_from_other_file"]
    assert len(fill) == 1
    f = fill.iloc[0]
    assert (f.file, f.other_file, f.other_value) == ("a_gdp.csv", "b_industry.csv", 5775.0)
    assert "duplicate_conflict" in f.rule and "duplicate_conflict" in f.message
    # the value used is the other file's, and the audit says so
    assert _value(p, 330100, 2010, "gdp_nominal") == 5775.0


def test_strict_stops_on_the_conflicting_duplicate_naming_the_file(tmp_path):
    rows = [[2010, "杭州", 5949.17, 112.0, 870], [2010, "杭州", 6100.0, 112.0, 870]]
    with pytest.raises(yb.YearbookError, match="a_gdp.csv.*differs between rows"):
        _load(_two_files(tmp_path, rows), strict=True)


# ------------------------------------------------------------------- missing markers
@pytest.mark.parametrize("marker", ["—", "..", "缺失", "", "n.a.", "N/A", "-", "暂无"])
def test_every_missing_marker_is_audited(tmp_path, marker):
    rows = [[2009, "杭州", 5098.66, 110.0, 810], [2010, "杭州", marker, 112.0, 870]]
    p = _load(_two_files(tmp_path, rows))
    a = p.audit
    m = a[a.reason == "missing_marker"]
    assert len(m) == 1, a[["reason", "message"]]
    row = m.iloc[0]
    assert (row.file, row.row, row.variable, row.year) == ("a_gdp.csv", 3, "gdp_nominal", 2010)
    assert row.value == (marker if marker else "(empty cell)")
    # the gap is then filled from the other file, and that row names the marker
    f = a[a.reason == "filled_from_other_file"].iloc[0]
    assert f.other_file == "b_industry.csv" and "missing_marker" in f.rule
    assert not (a.reason == "not_a_number").any()


def test_a_text_that_is_no_marker_is_not_a_number(tmp_path):
    rows = [[2010, "杭州", "about 5000", 112.0, 870]]
    a = _load(_two_files(tmp_path, rows)).audit
    assert a.loc[a.reason == "not_a_number", "value"].tolist() == ["about 5000"]


# ------------------------------------------------------------ impossible values, zeros
def test_impossible_value_is_set_missing_and_its_refill_is_audited(tmp_path):
    rows = [[2009, "杭州", 5098.66, 110.0, 810], [2010, "杭州", -5949.17, 112.0, 870]]
    p = _load(_two_files(tmp_path, rows))
    a = p.audit
    oor = a[a.reason == "out_of_range"].iloc[0]
    assert (oor.value, oor.variable, oor.row) == ("-5949.17", "gdp_nominal", 3)
    f = a[a.reason == "filled_from_other_file"].iloc[0]
    assert "out_of_range" in f.rule and f.value == "-5949.17" and f.other_value == 5775.0


def test_literal_zero_of_a_positive_quantity_is_a_rule_not_a_crash(tmp_path):
    _messy.write_csv(
        tmp_path,
        "fin.csv",
        ["年份", "城市", "金融发展水平", "常住人口（万人）"],
        [[2010, "杭州", 0, 870], [2011, "杭州", 2.5, 880]],
    )
    for strict in (False, True):
        p = _load(tmp_path, strict=strict)
        z = p.audit[p.audit.reason == "zero_as_missing"]
        assert len(z) == 1 and z.iloc[0].variable == "fin_dev" and z.iloc[0].value == "0"
        assert np.isnan(_value(p, 330100, 2010, "fin_dev"))
        assert _value(p, 330100, 2011, "fin_dev") == 2.5


# ------------------------------------------------------------ empty and header-only
def test_header_only_file_is_an_error_naming_it(tmp_path):
    _messy.write_csv(tmp_path, "good.csv", HEAD, [[2010, "杭州", 5949.17, 112.0, 870]])
    _messy.write_csv(tmp_path, "only_header.csv", HEAD, [])
    with pytest.raises(yb.YearbookError, match=r"only_header\.csv: header only"):
        _load(tmp_path)


def test_empty_file_is_an_error_naming_it(tmp_path):
    _messy.write_csv(tmp_path, "good.csv", HEAD, [[2010, "杭州", 5949.17, 112.0, 870]])
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(yb.YearbookError, match=r"empty\.csv: the file is empty"):
        _load(tmp_path)


# --------------------------------------------------- growth without the index column
def test_growth_without_index_is_audited_and_the_note_is_true(tmp_path):
    _messy.write_csv(
        tmp_path,
        "gdp.csv",
        ["年份", "城市", "地区生产总值（亿元）", "实际GDP（2000年不变价）", "常住人口（万人）"],
        [
            [2009, "杭州", 5098.66, 100.0, 810],
            [2010, "杭州", 5949.17, 112.0, 870],
            [2011, "杭州", 7011.80, 123.2, 880],
            [2010, "济南", 3910.5, 200.0, 600],
            [2011, "济南", 4406.3, 220.0, 605],
        ],
    )
    p = _load(tmp_path)
    note = p.meta["derivation"]["gdp_growth"]
    assert "index - 100" not in note and "no previous-year=100 index" in note
    a = p.audit
    other = a[a.reason == "derived_other_way"]
    assert sorted(other.city_id) == [330100, 370100]
    lost = a[a.reason == "derived_lost"]
    assert sorted(zip(lost.city_id, lost.year, strict=True)) == [(330100, 2009), (370100, 2010)]
    assert _value(p, 330100, 2010, "gdp_growth") == pytest.approx(12.0)
    assert _value(p, 370100, 2011, "gdp_growth") == pytest.approx(10.0)


# --------------------------------------------------------------- the audit schema
def test_every_row_uses_the_one_schema_and_codes(tmp_path):
    rows = [[2009, "杭州", "..", 110.0, 810], [2010, "杭州", 5949.17, 112.0, 870]]
    a = _load(_two_files(tmp_path, rows)).audit
    assert tuple(a.columns) == audit_mod.COLUMNS
    assert set(a.reason) <= set(audit_mod.REASONS)
    assert set(a.stage) == {"loader"}
    s = audit_mod.summary(a)
    assert s.rows.sum() == len(a)
    assert set(s.reason) == set(a.reason)


# ======================================================= malformed copies of the real GDP
REAL = Path(os.environ.get("CBEC_REAL_DATA", "/nonexistent")) / "city_panel_gp"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="set CBEC_REAL_DATA")


def _real_copy(tmp_path: Path, edit) -> Path:
    """The real folder with its GDP workbook replaced by an edited copy."""
    folder = tmp_path / "panel"
    folder.mkdir()
    for f in REAL.iterdir():
        if "GDP" not in f.name:
            (folder / f.name).symlink_to(f)
    _messy.malformed_copy(next(REAL.glob("*GDP*.xlsx")), folder / "GDP相关数据_copy.xlsx", edit)
    return folder


def _find(ws, name: str, year: int) -> int:
    for r in range(1, ws.max_row + 1):
        vals = [ws.cell(r, c).value for c in range(1, 4)]
        if name in [str(v) for v in vals] and any(
            isinstance(v, int | float) and int(v) == year for v in vals
        ):
            return r
    raise LookupError((name, year))


def _gdp_col(ws) -> int:
    for c in range(1, ws.max_column + 1):
        if str(ws.cell(1, c).value) == "名义GDP":
            return c
    raise LookupError("GDP column")


@pytest.mark.real
@pytest.mark.slow
@needs_real
def test_real_copy_nanjing_duplicate_conflict_is_audited(tmp_path):
    def edit(ws):
        r = _find(ws, "南京市", 2008)
        ws.append([ws.cell(r, c).value for c in range(1, ws.max_column + 1)])
        ws.cell(ws.max_row, _gdp_col(ws)).value = 9999.0

    p = yb.load_yearbook(_real_copy(tmp_path, edit))
    a = p.audit
    dup = a[(a.reason == "duplicate_conflict") & (a.city_id == 320100)]
    assert len(dup) == 1 and dup.iloc[0].year == 2008
    fill = a[(a.reason == "filled_from_other_file") & (a.city_id == 320100) & (a.year == 2008)]
    assert len(fill) == 1 and "duplicate_conflict" in fill.iloc[0].rule
    assert "产业结构" in fill.iloc[0].other_file


@pytest.mark.real
@pytest.mark.slow
@needs_real
def test_real_copy_markers_are_audited(tmp_path):
    markers = ["—", "..", "缺失", None, "n.a."]

    def edit(ws):
        c = _gdp_col(ws)
        for k, m in enumerate(markers):
            ws.cell(_find(ws, "南京市", 2001 + k), c).value = m

    a = yb.load_yearbook(_real_copy(tmp_path, edit)).audit
    got = a[(a.reason == "missing_marker") & (a.city_id == 320100)]
    got = got[got.variable == "gdp_nominal"].sort_values("year")
    assert got.year.tolist() == [2001, 2002, 2003, 2004, 2005]
    assert got.value.tolist() == ["—", "..", "缺失", "(empty cell)", "n.a."]


@pytest.mark.real
@pytest.mark.slow
@needs_real
def test_real_copy_header_only_is_an_error(tmp_path):
    def edit(ws):
        ws.delete_rows(2, ws.max_row)

    with pytest.raises(
        yb.YearbookError, match=r"GDP相关数据_copy.xlsx \(sheet 'Sheet1'\): header only"
    ):
        yb.load_yearbook(_real_copy(tmp_path, edit))


@pytest.mark.real
@pytest.mark.slow
@needs_real
def test_real_strict_mode_loads_the_shared_panel():
    p = yb.load_yearbook(REAL, strict=True)
    assert (p.audit.reason == "zero_as_missing").sum() >= 1
    assert not p.audit.reason.isin(list(yb.STRICT_REASONS)).any()
