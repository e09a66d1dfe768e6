"""Constants, reason codes, strict rules and the loader's audit collector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbec import audit as _audit

#: Price base of the canonical real GDP (``VARIABLES["gdp"]``: 2010 prices).
BASE_YEAR = 2010
#: Environment variable naming the cache folder of parsed workbooks.
ENV_CACHE_DIR = "CBEC_CACHE_DIR"
#: Bump when the cached grid format changes.
CACHE_VERSION = 1
#: File suffixes read by :func:`load_yearbook`; other spreadsheet formats are audited.
READ_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm", ".csv")
_UNREADABLE_SUFFIXES = (".xls", ".xlsb", ".ods", ".dta", ".sav")

#: Audit reason codes of the loader and what they mean (a subset of
#: :data:`cbec.audit.REASONS`, where every producer's codes are declared).
REASONS: dict[str, str] = {k: v for k, v in _audit.REASONS.items() if _audit.STAGES[k] == "loader"}
#: Reasons that raise :class:`YearbookError` when ``strict=True``: a value or row the loader
#: would otherwise have to guess about. Declared rules (a vendor's literal 0 read as missing,
#: an Excel error value, a missing-value marker, the primary file winning over a secondary
#: one, a derivation filling a gap) are applied and audited in strict mode too.
STRICT_REASONS: frozenset[str] = frozenset(
    {"not_a_number", "bad_year", "missing_city", "duplicate_conflict", "out_of_range"}
)

_ALIASES_PATH = Path(__file__).resolve().parents[3] / "data" / "reference" / "city_aliases.csv"
_ALIAS_COLUMNS = (
    "alias",
    "city_id",
    "name_zh",
    "kind",
    "first_year",
    "last_year",
    "successor_id",
    "note",
)
_ALIAS_KINDS = ("rename", "upgrade", "code", "variant", "abolished", "aggregate")
_MUNICIPALITY_PROVINCES = (11, 12, 31, 50)


class YearbookError(ValueError):
    """A yearbook file cannot be read as it stands; the message names file, row and column."""


# ================================================================== quantities and units


# ================================================================================ audit
class _Audit(_audit.Audit):
    """The loader's collector (:class:`cbec.audit.Audit`, stage ``"loader"``).

    ``add(reason, message, **columns)``; strict mode raises :class:`YearbookError` on the
    codes of :data:`STRICT_REASONS`.
    """

    def __init__(self, strict: bool) -> None:
        super().__init__("loader", STRICT_REASONS if strict else (), YearbookError)
        self.strict = strict

    def add(self, reason: str, source: str, *, message: str | None = None, **fields: Any) -> None:
        fields = {k: v for k, v in fields.items() if v is not None}
        super().add(reason, message or source, **fields)


def _col_letter(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


@dataclass
class _Where:
    """Location formatter for messages: file, optional sheet, row and column."""

    file: str
    sheet: str | None

    def fields(self, row: int | None = None, column: str | None = None) -> dict[str, Any]:
        """The location as audit columns (``file``, ``sheet``, ``row``, ``column``)."""
        return dict(file=self.file, sheet=self.sheet or None, row=row, column=column)

    def at(self, row: int | None = None, column: str | None = None) -> str:
        s = self.file + (f" (sheet '{self.sheet}')" if self.sheet else "")
        if row is not None:
            s += f", row {row}"
        if column is not None:
            s += f", column '{column}'"
        return s
