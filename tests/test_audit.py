"""Tests of cbec.audit: one collector, one schema, a summary by reason code."""

from __future__ import annotations

import pandas as pd
import pytest

from cbec import audit
from cbec.data.panel import AUDIT_COLUMNS, empty_audit


def test_every_producer_shares_the_schema():
    assert AUDIT_COLUMNS == audit.COLUMNS
    assert tuple(empty_audit().columns) == audit.COLUMNS
    assert set(audit.STAGES) == set(audit.REASONS)
    assert set(audit.STAGES.values()) == {"loader", "universe", "sample", "index"}


def test_collector_rows_types_and_unknown_codes():
    a = audit.Audit("loader")
    a.add(
        "missing_marker",
        "f.csv, row 3, column 'GDP': marker '—' read as missing",
        file="f.csv",
        row=3,
        column="GDP",
        variable="gdp_nominal",
        value="—",
        year=2010,
    )
    a.add("filled_from_other_file", "gdp of X in 2010 taken from b.csv", file="f.csv",
          other_file="b.csv", other_value=5775.0, value="—", rule="gap filled")  # fmt: skip
    f = a.frame()
    assert tuple(f.columns) == audit.COLUMNS and len(f) == 2 == len(a)
    assert f["row"].dtype == "Int64" and f["year"].dtype == "Int64"
    assert f["other_value"].dtype == "float64"
    assert f.loc[1, "other_file"] == "b.csv" and pd.isna(f.loc[0, "other_value"])
    with pytest.raises(KeyError, match="unknown audit reason"):
        a.add("something else", "x")
    with pytest.raises(KeyError, match="unknown audit columns"):
        a.add("note_row", "x", colour="red")


def test_strict_codes_raise_the_given_error_with_the_message():
    class Stop(ValueError):
        pass

    a = audit.Audit("loader", strict_codes={"duplicate_conflict"}, error=Stop)
    a.add("duplicate_row", "fine")
    with pytest.raises(Stop, match=r"^f.csv: rows 2, 3 differ$"):
        a.add("duplicate_conflict", "f.csv: rows 2, 3 differ")
    assert len(a) == 1


def test_summary_groups_by_code_not_by_message_text():
    a = audit.Audit("loader")
    # 30 duplicate rows whose messages differ right after the first comma
    for k in range(30):
        a.add("duplicate_row", f"gdp.xlsx, row {k + 2}, repeats row {k + 1}", city_id=100 + k % 3)
    a.add("note_row", "gdp.xlsx, row 99: 数据来源, 统计年鉴")
    u = audit.Audit("universe")
    u.add("distance_cut", "control candidate ranked 200, 257 km", city_id=511900)
    s = audit.summary(audit.concat([a.frame(), u.frame(), audit.empty()]))
    assert s[["stage", "reason", "rows", "cities"]].values.tolist() == [
        ["loader", "duplicate_row", 30, 3],
        ["loader", "note_row", 1, 0],
        ["universe", "distance_cut", 1, 1],
    ]
    assert (s["meaning"] == s["reason"].map(audit.REASONS)).all()
    assert audit.summary(audit.empty()).empty


def test_concat_of_nothing_is_the_empty_table():
    out = audit.concat([audit.empty(), None, audit.empty()])
    assert out.empty and tuple(out.columns) == audit.COLUMNS
