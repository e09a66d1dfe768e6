"""One audit collector, one schema, for everything that leaves the data or is changed.

Every producer of audit rows (the yearbook loader :mod:`cbec.data.yearbook`, the universe
rule :func:`cbec.data.reference.select_universe`, the twin, the study pipeline
:mod:`cbec.study.pipeline`) records rows through :class:`Audit`, so every audit table has
the same columns (:data:`COLUMNS`) and a reason *code* from :data:`REASONS`; a readable
sentence is in ``message``. :func:`summary` counts rows by code (never by parsing text).

Columns
-------
``stage``
    Where the row arose: ``"loader"``, ``"universe"``, ``"sample"`` or ``"index"``.
``reason``
    A code of :data:`REASONS` (``"duplicate_conflict"``, ``"missing_marker"``, ...).
``variable``, ``city_id``, ``city``, ``year``
    What the row is about (empty where it does not apply).
``file``, ``sheet``, ``row``, ``column``
    Where in the user's files (file name only, never a local path; 1-based Excel row,
    column letter or header).
``value``, ``other_value``, ``other_file``, ``rule``
    For a value set missing, replaced or filled from another file: the value as read
    (text for a marker), the value it was replaced by and the file that value came from,
    and the rule applied (``"primary file wins"``, ``"zero read as missing"``, ...).
``message``
    One readable sentence naming the place and what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

#: Columns of every audit table, in order.
COLUMNS: tuple[str, ...] = (
    "stage",
    "reason",
    "variable",
    "city_id",
    "city",
    "year",
    "file",
    "sheet",
    "row",
    "column",
    "value",
    "other_value",
    "other_file",
    "rule",
    "message",
)

_INT_COLUMNS = ("city_id", "year", "row")
_FLOAT_COLUMNS = ("other_value",)

#: Every reason code, by stage, with what it means. Producers may only use these.
REASONS: dict[str, str] = {
    # loader: rows, cells and columns of the files
    "title_row": "non-empty row above the header (title, unit line or advert), dropped",
    "note_row": "non-empty row in the data area without city or year (note, source, advert)",
    "note_cell": "non-empty cell in a column without header, dropped",
    "bad_year": "row whose year cell is missing or not a year, dropped",
    "missing_city": "row without city name or code, dropped",
    "sheet_skipped": "sheet without a table of cities (notes, formulas, empty)",
    "file_skipped": "file in a format the loader does not read",
    "column_not_used": "column not recognised or not used (listed once per file)",
    "missing_marker": "cell holding a missing-value marker (—, .., 缺失, n.a., ...), read as missing",
    "not_a_number": "cell that is not a number, set missing",
    "excel_error": "Excel error value (#DIV/0!, #N/A, ...), set missing",
    "zero_as_missing": "a literal 0 where the quantity cannot be 0 (a vendor's missing), "
    "read as missing",
    # loader: cities
    "unmatched_city": "name or code not in the city registry, rows dropped",
    "not_a_city": "national or provincial total (or a sum row), rows dropped",
    "not_prefecture_in_year": "unit was not a prefecture-level unit that year, rows dropped",
    "code_name_mismatch": "code and name point to different cities; the name was used",
    # loader: values
    "duplicate_row": "city-year repeated in a file with the same values, repeat dropped",
    "duplicate_conflict": "city-year repeated in a file with different values, set missing",
    "conflict_between_files": "value of a secondary file differs from the primary's, not used",
    "filled_from_other_file": "value missing in the primary file, taken from another file",
    "out_of_range": "value outside its plausible range, set missing",
    "derived_fill": "missing reported value filled by a derivation from other variables",
    "derived_other_way": "variable derived by a fallback recipe (its usual input is absent)",
    "derived_lost": "derived value not computed: an input is missing",
    "no_base_year_gdp": "no nominal GDP in the base year: real GDP cannot be chained",
    "gdp_chain_gap": "real GDP not computed: the price index is missing between this year "
    "and the base year",
    # universe (reference)
    "not_prefecture_city": "not a prefecture-level city (level outside the paper's sample)",
    "not_city_throughout": "prefecture-level city only from a year inside the window",
    "not_unit_throughout": "not a prefecture-level unit throughout the window",
    "paper_dropped_pilot": "pilot the paper drops for missing data",
    "distance_cut": "control candidate beyond the paper254 distance cut",
    "no_data_in_panel": "registry unit with no row at all in the user's panel",
    "not_in_registry": "city id of the user's panel not in the registry",
    # sample (pipeline)
    "no_rows_in_years": "city without rows in some year the Spec needs",
    "missing_variable": "city lacking a variable the Spec needs in some needed year",
    "indicator_unavailable": "index indicator absent from the data; index built without it",
}

#: Stage of each code (for the summary and for filtering): the first code of each stage
#: above opens it.
_STAGE_STARTS = {
    "title_row": "loader",
    "not_prefecture_city": "universe",
    "no_rows_in_years": "sample",
    "indicator_unavailable": "index",
}
STAGES: dict[str, str] = {}
_stage = "loader"
for _code in REASONS:
    _stage = _STAGE_STARTS.get(_code, _stage)
    STAGES[_code] = _stage


class AuditError(ValueError):
    """A strict-mode stop: a row whose code is in the collector's ``strict_codes``."""


def empty() -> pd.DataFrame:
    """An audit table with no rows and the columns of :data:`COLUMNS`."""
    return _typed(pd.DataFrame(columns=list(COLUMNS)))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.reindex(columns=list(COLUMNS))
    for col in COLUMNS:
        if col in _INT_COLUMNS:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        elif col in _FLOAT_COLUMNS:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        else:
            s = df[col].astype(object)
            df[col] = s.where(s.notna(), None)
    return df.reset_index(drop=True)


class Audit:
    """Collector of audit rows for one stage.

    Parameters
    ----------
    stage
        Default ``stage`` of the rows (``"loader"``, ``"universe"``, ``"sample"``).
    strict_codes
        Codes that raise ``error`` at once instead of being recorded (strict mode).
    error
        Exception class raised on a strict code (default :class:`AuditError`).
    """

    def __init__(
        self,
        stage: str,
        strict_codes: Iterable[str] = (),
        error: type[Exception] = AuditError,
    ) -> None:
        self.stage = stage
        self.strict_codes = frozenset(strict_codes)
        self.error = error
        self.records: list[dict[str, Any]] = []

    def add(self, reason: str, message: str, **fields: Any) -> None:
        """Record one row (or raise when ``reason`` is a strict code).

        Parameters
        ----------
        reason
            A code of :data:`REASONS`.
        message
            One readable sentence.
        **fields
            Any other column of :data:`COLUMNS`.
        """
        if reason not in REASONS:
            raise KeyError(f"unknown audit reason {reason!r}")
        bad = set(fields) - set(COLUMNS)
        if bad:
            raise KeyError(f"unknown audit columns {sorted(bad)}")
        if reason in self.strict_codes:
            raise self.error(message)
        rec = {"stage": self.stage, "reason": reason, "message": message}
        rec.update(fields)
        self.records.append(rec)

    def extend(self, frame: pd.DataFrame) -> None:
        """Append rows of another audit table (same columns)."""
        self.records.extend(frame.reindex(columns=list(COLUMNS)).to_dict("records"))

    def __len__(self) -> int:
        return len(self.records)

    def frame(self) -> pd.DataFrame:
        """The rows as a table with the columns of :data:`COLUMNS`."""
        if not self.records:
            return empty()
        return _typed(pd.DataFrame.from_records(self.records, columns=list(COLUMNS)))


def concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack audit tables (any may be empty) into one with :data:`COLUMNS`."""
    parts = [f.reindex(columns=list(COLUMNS)) for f in frames if f is not None and len(f)]
    if not parts:
        return empty()
    return _typed(pd.concat(parts, ignore_index=True))


def summary(frame: pd.DataFrame, meanings: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Audit rows counted by stage and reason code.

    Parameters
    ----------
    frame
        An audit table (:data:`COLUMNS`).
    meanings
        Text of each code (default :data:`REASONS`).

    Returns
    -------
    pandas.DataFrame
        ``stage``, ``reason``, ``rows``, ``cities`` (distinct ``city_id``), ``variables``
        (the variables concerned, comma-separated, at most five then "..."), ``meaning``;
        one row per (stage, reason), the largest counts first within a stage.
    """
    meanings = REASONS if meanings is None else meanings
    cols = ["stage", "reason", "rows", "cities", "variables", "meaning"]
    if frame is None or frame.empty:
        return pd.DataFrame({c: [] for c in cols})
    a = frame.reindex(columns=list(COLUMNS)).copy()
    a["stage"] = a["stage"].fillna("")
    order = {s: i for i, s in enumerate(("loader", "universe", "sample", "index"))}

    def names(v: pd.Series) -> str:
        u = sorted({str(x) for x in v.dropna()})
        return ", ".join(u[:5]) + (", ..." if len(u) > 5 else "")

    g = a.groupby(["stage", "reason"], sort=False, dropna=False)
    out = pd.DataFrame(
        {
            "rows": g.size(),
            "cities": g["city_id"].nunique(),
            "variables": g["variable"].agg(names),
        }
    ).reset_index()
    out["meaning"] = out["reason"].map(meanings).fillna("")
    out["_o"] = out["stage"].map(order).fillna(len(order))
    out = out.sort_values(["_o", "rows", "reason"], ascending=[True, False, True])
    return out.drop(columns="_o").reset_index(drop=True)[cols]


__all__ = ["COLUMNS", "REASONS", "STAGES", "Audit", "AuditError", "concat", "empty", "summary"]
