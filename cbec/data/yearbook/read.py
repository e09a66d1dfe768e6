"""Reading files: cell parsing, workbook grids (cached), header finding, units."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import pickle
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cbec.data.yearbook.headers import (
    _KEY_KINDS,
    _UNIT_RE,
    INPUTS,
    UNIT_TOKENS,
    HeaderInfo,
    Quantity,
    _target_in_text,
    parse_header,
)
from cbec.data.yearbook.rules import (
    CACHE_VERSION,
    ENV_CACHE_DIR,
    YearbookError,
    _Audit,
    _col_letter,
    _Where,
)

# ========================================================================= cell parsing
_INVISIBLE_RE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff]+")
#: Cell texts read as missing (after NFKC, lower case, invisible characters removed);
#: each one read gets an audit row ``missing_marker``.
MISSING_MARKERS = frozenset(
    {
        "",
        "-",
        "--",
        "---",
        "—",
        "——",
        "–",
        "/",
        "na",
        "n/a",
        "nan",
        "null",
        "none",
        "…",
        "……",
        "...",
        "..",
        ".",
        "缺失",
        "缺",
        "无",
        "暂无",
        "暂无数据",
        "无数据",
        "不详",
        "未公布",
        "n.a.",
        "n.a",
        "na.",
        "n/a.",
        "n.d.",
        "nd",
        "—/—",
        "-/-",
        "空",
        "x",
    }
)
_EXCEL_ERRORS = frozenset(
    {
        "#div/0!",
        "#n/a",
        "#value!",
        "#ref!",
        "#name?",
        "#num!",
        "#null!",
        "#spill!",
        "#calc!",
        "#getting_data",
    }
)
_NOTE_RE = re.compile(
    r"数据来源|资料来源|来源[:：]|^注[:：]|注[:：]|说明|备注|微信|公众号|淘宝|关注|更多数据|"
    r"http|www\.|\.com|制表|整理|版权|qq",
    re.IGNORECASE,
)


def _clean_text(value: Any) -> str:
    return _INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", str(value)))


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not _INVISIBLE_RE.sub("", value)


def _nonempty(arr: np.ndarray) -> np.ndarray:
    """Boolean array of cells holding something (not None, NaN or blank text)."""
    flat = [
        v is not None and v == v and (not isinstance(v, str) or bool(v.strip()))
        for v in arr.ravel()
    ]
    return np.array(flat, dtype=bool).reshape(arr.shape)


def _numbers(cells: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse cells to float: numbers, numbers as text (commas, full width, %), markers.

    Returns values, a status array (0 a number or an empty cell, 1 not a number, 2 Excel
    error, 3 a missing-value marker of :data:`MISSING_MARKERS`, blank text included) and a
    flag of cells written with a percent sign.
    """
    obj = cells.astype(object)
    is_bool = np.array([isinstance(v, bool) for v in obj.to_numpy(object)], dtype=bool)
    vals = pd.to_numeric(obj.where(~is_bool, None), errors="coerce").to_numpy(float, copy=True)
    status = np.zeros(len(obj), dtype=np.int8)
    pct = np.zeros(len(obj), dtype=bool)
    raw = obj.to_numpy(object)
    blank = np.array([isinstance(v, str) and not v.strip() for v in raw], dtype=bool)
    status[blank] = 3
    rest = np.isnan(vals) & _nonempty(raw)
    if rest.any():
        txt = obj[rest].map(_clean_text).str.lower()
        txt = txt.str.replace(",", "", regex=False).str.replace("，", "", regex=False)
        is_pct = txt.str.endswith("%").to_numpy(bool)
        txt = txt.str.rstrip("%")
        parsed = pd.to_numeric(txt, errors="coerce").to_numpy(float)
        marker = txt.isin(MISSING_MARKERS).to_numpy(bool)
        excel = txt.isin(_EXCEL_ERRORS).to_numpy(bool)
        idx = np.flatnonzero(rest)
        vals[idx] = parsed
        pct[idx] = is_pct & ~np.isnan(parsed)
        bad = np.isnan(parsed) & ~marker
        status[idx[marker]] = 3
        status[idx[bad & ~excel]] = 1
        status[idx[bad & excel]] = 2
    return vals, status, pct


def _years(cells: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse year cells (2010, 2010.0, '2010', '2010年', dates); returns years and validity."""

    def one(v: Any) -> int | None:
        if isinstance(v, datetime | date):
            return v.year
        if isinstance(v, bool) or _is_empty(v):
            return None
        if isinstance(v, int | float | np.integer | np.floating):
            f = float(v)
            return int(f) if f.is_integer() else None
        m = re.fullmatch(r"((?:19|20)\d{2})(?:\.0+)?(?:年度?)?", _clean_text(v))
        return int(m.group(1)) if m else None

    ys = pd.Series([one(v) for v in cells.to_numpy(object)], dtype=object)
    ok = ys.notna().to_numpy(bool, copy=True)
    out = np.where(ok, ys.fillna(0).to_numpy(float), 0).astype(np.int64)
    ok &= (out >= 1949) & (out <= 2100)
    return out, ok


def _year_header(value: Any) -> int | None:
    y, ok = _years(pd.Series([value], dtype=object))
    return int(y[0]) if ok[0] else None


def _texts(cells: pd.Series) -> pd.Series:
    """Cleaned text of each cell as an object Series, ``None`` for empty cells."""
    return pd.Series(
        [None if _is_empty(v) else _clean_text(v) for v in cells.to_numpy(object)],
        index=cells.index,
        dtype=object,
    )


def _codes(cells: pd.Series) -> np.ndarray:
    """Parse code cells to int64 (0 where not a code)."""
    vals, _, _ = _numbers(cells)
    ok = np.isfinite(vals) & (vals > 0) & (np.mod(vals, 1) == 0)
    return np.where(ok, vals, 0).astype(np.int64)


# ======================================================================= reading grids
def cache_dir() -> Path:
    """Folder of cached workbook grids: ``$CBEC_CACHE_DIR`` or ``~/.cache/cbec``, + ``yearbook``."""
    base = os.environ.get(ENV_CACHE_DIR) or Path.home() / ".cache" / "cbec"
    return Path(base).expanduser() / "yearbook"


def _cache_path(path: Path, folder: Path) -> Path:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v{CACHE_VERSION}"
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pkl"


def _read_xlsx(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip errors, encrypted files, ...
        raise YearbookError(f"{path.name}: cannot be opened as an xlsx workbook ({exc})") from exc
    sheets: dict[str, list[tuple[Any, ...]]] = {}
    try:
        for ws in wb.worksheets:
            rows = [tuple(r) for r in ws.iter_rows(min_row=1, min_col=1, values_only=True)]
            while rows and all(_is_empty(v) for v in rows[-1]):
                rows.pop()
            sheets[ws.title] = rows
    finally:
        wb.close()
    return sheets


def _read_csv(path: Path) -> tuple[list[tuple[Any, ...]], str]:
    data = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise YearbookError(f"{path.name}: not UTF-8 nor GBK text; save the csv as UTF-8")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    rows = [tuple(r) for r in csv.reader(io.StringIO(text), dialect)]
    while rows and all(_is_empty(v) for v in rows[-1]):
        rows.pop()
    return rows, ("utf-8" if enc == "utf-8-sig" else "gbk")


def _grids(path: Path, cache: bool | str | os.PathLike[str] | None) -> tuple[dict, str, str]:
    """Cell grids of every sheet, with the cache status and the text encoding."""
    if path.suffix.lower() == ".csv":
        rows, enc = _read_csv(path)
        return {"": rows}, "off", enc
    if not cache:
        return _read_xlsx(path), "off", ""
    folder = cache_dir() if cache is True else Path(cache)
    cpath = _cache_path(path, folder)
    if cpath.is_file():
        try:
            with cpath.open("rb") as fh:
                return pickle.load(fh), "hit", ""
        except Exception:  # a corrupt cache entry is read again from the workbook
            pass
    sheets = _read_xlsx(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = cpath.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(sheets, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cpath)
    except OSError as exc:
        warnings.warn(f"cannot write the yearbook cache in {folder}: {exc}", stacklevel=3)
    return sheets, "miss", ""


# ====================================================================== parsing a grid
@dataclass
class _Parsed:
    frame: pd.DataFrame
    columns: list[dict[str, Any]] = field(default_factory=list)
    layout: str = "long"
    header_row: int = 0


def _classify_header_row(cells: tuple[Any, ...]) -> tuple[dict[str, int], list[int]]:
    """Key columns (first of each kind) and year-like columns of a candidate header row."""
    keys: dict[str, int] = {}
    years: list[int] = []
    for j, v in enumerate(cells):
        if _is_empty(v):
            continue
        if _year_header(v) is not None:
            years.append(j)
            continue
        target = parse_header(v).target
        if target in _KEY_KINDS:
            keys.setdefault(target, j)
    return keys, years


def _find_header(rows: list[tuple[Any, ...]], limit: int = 60) -> tuple[int, dict, list] | None:
    """First row (0-based) within ``limit`` naming a city or code column and a year column
    (long table) or at least two year columns (wide table)."""
    for i, cells in enumerate(rows[:limit]):
        keys, years = _classify_header_row(cells)
        if ("city" in keys or "code" in keys) and ("year" in keys or len(years) >= 2):
            return i, keys, years
    return None


def _unit_row(cells: tuple[Any, ...]) -> bool:
    """A row right under the header that only states units ('亿元', '万人', '%')."""
    vals = [_clean_text(v).lower().strip("()") for v in cells if not _is_empty(v)]
    return bool(vals) and all(v in UNIT_TOKENS for v in vals)


def _excerpt(values: Iterable[Any], n: int = 60) -> str:
    s = " | ".join(_clean_text(v) for v in values if not _is_empty(v))
    return s if len(s) <= n else s[: n - 1] + "…"


def _resolve_unit(
    q: Quantity,
    info: HeaderInfo,
    values: np.ndarray,
    pct_cells: np.ndarray,
    where: str,
    override: str | None,
    row_units: pd.Series | None,
) -> tuple[np.ndarray, str]:
    """Convert a column to its canonical unit; returns factors per cell and a description."""
    n = len(values)
    if q.dim in ("index", "relative", "rate"):
        return np.ones(n), q.unit
    tokens = (override,) if override else info.unit_tokens
    if q.dim in ("pct", "ratio"):
        stated = "%" in tokens or pct_cells.any()
        if q.dim == "ratio":
            return np.full(n, 0.01 if stated else 1.0), "percent -> ratio" if stated else "ratio"
        fin = values[np.isfinite(values)]
        if not stated and fin.size and np.nanmax(np.abs(fin)) <= 1.0:
            return np.full(n, 100.0), "fraction -> percent (all values within [-1, 1])"
        return np.ones(n), "percent"
    same = [t for t in tokens if UNIT_TOKENS.get(t, ("", 0))[0] == q.dim]
    money = {"cny", "usd"}
    other = [t for t in tokens if UNIT_TOKENS.get(t, ("", 0))[0] in money and t not in same]
    if q.dim in money and other and not same:
        kind = "a yuan" if q.dim == "cny" else "a US-dollar"
        raise YearbookError(f"{where}: unit {other[0]} is not {kind} amount ({q.name})")
    if len({UNIT_TOKENS[t][1] for t in same}) > 1:
        raise YearbookError(f"{where}: ambiguous unit, the header states {', '.join(same)}")
    if same:
        f = UNIT_TOKENS[same[0]][1] / q.scale
        return np.full(n, f), f"{same[0]} -> {q.unit}" + (f" (x{f:g})" if f != 1 else "")
    if row_units is not None:
        factors = np.full(n, np.nan)
        for unit_text, idx in row_units.groupby(row_units, sort=False).groups.items():
            tok = _UNIT_RE.findall(_clean_text(unit_text).replace("人民币", ""))
            tok = [t for t in tok if UNIT_TOKENS[t][0] == q.dim]
            if len(tok) != 1:
                raise YearbookError(
                    f"{where}: the unit column says {unit_text!r}, not a unit of {q.name} "
                    f"({q.unit})"
                )
            factors[row_units.index.get_indexer(idx)] = UNIT_TOKENS[tok[0]][1] / q.scale
        units = ", ".join(sorted(str(u) for u in row_units.dropna().unique()))
        return np.where(np.isnan(factors), 1.0, factors), f"unit column ({units}) -> {q.unit}"
    fin = values[np.isfinite(values)]
    if fin.size == 0:
        return np.ones(n), f"{q.unit} (assumed, column empty)"
    med = float(np.median(np.abs(fin)))
    if q.needs_unit or q.plausible is None or not (q.plausible[0] <= med <= q.plausible[1]):
        raise YearbookError(
            f"{where}: no unit stated and the values (median {med:g}) do not identify one "
            f"for {q.name}; put the unit in the header, e.g. '{info.text}（{q.unit}）', or "
            f"pass units={{'{info.text}': '<unit>'}}"
        )
    return np.ones(n), f"{q.unit} (assumed: no unit stated; median {med:g} plausible)"


def _parse_grid(
    rows: list[tuple[Any, ...]],
    file: str,
    sheet: str | None,
    context: list[str],
    units: Mapping[str, str],
    audit: _Audit,
) -> _Parsed | None:
    """Parse one sheet; ``None`` when it holds no table of cities."""
    where = _Where(file, sheet)
    found = _find_header(rows)
    if found is None:
        return None
    h, keys, year_cols = found
    header = list(rows[h])
    width = max(len(r) for r in rows)
    header += [None] * (width - len(header))
    for i in range(h):  # title rows
        if any(not _is_empty(v) for v in rows[i]):
            audit.add("title_row", f"{where.at(i + 1)}: {_excerpt(rows[i])}", **where.fields(i + 1))
    start = h + 1
    if start < len(rows) and _unit_row(rows[start]):
        for j, v in enumerate(rows[start]):
            if not _is_empty(v) and not _is_empty(header[j]):
                header[j] = f"{header[j]}({_clean_text(v).strip('()')})"
        start += 1
    body = [tuple(r) + (None,) * (width - len(r)) for r in rows[start:]]
    grid = pd.DataFrame(body, columns=range(width), dtype=object)
    excel_row = np.arange(start + 1, start + 1 + len(body))
    nonempty = _nonempty(grid.to_numpy(object))
    wide = "year" not in keys
    layout = "wide" if wide else "long"

    # key cells -------------------------------------------------------------------
    city = (
        _texts(grid[keys["city"]])
        if "city" in keys
        else pd.Series([None] * len(grid), dtype=object)
    )
    code = _codes(grid[keys["code"]]) if "code" in keys else np.zeros(len(grid), np.int64)
    has_unit = city.notna().to_numpy(bool) | (code > 0)
    note_like = np.array([bool(v) and bool(_NOTE_RE.search(v)) for v in city], dtype=bool)
    if wide:
        year = np.zeros(len(grid), np.int64)
        year_ok = np.ones(len(grid), bool)
    else:
        year, year_ok = _years(grid[keys["year"]])
    row_any = nonempty.any(axis=1) if len(body) else np.zeros(0, bool)
    valid = has_unit & year_ok & ~note_like
    for k in np.flatnonzero(row_any & ~valid):
        cells = body[k]
        text = _excerpt(cells)
        loc = where.at(int(excel_row[k]))
        ycell = None if wide else cells[keys["year"]]
        has_key = has_unit[k] and not note_like[k]
        if note_like[k] or _NOTE_RE.search(text) or (not has_key and (wide or _is_empty(ycell))):
            audit.add("note_row", f"{loc}: {text}", **where.fields(int(excel_row[k])))
        elif not year_ok[k]:
            col = str(header[keys["year"]])
            msg = f"{where.at(int(excel_row[k]), col)}: year {ycell!r} is not a year"
            audit.add(
                "bad_year",
                f"{msg}; row: {text}",
                city=city.iloc[k],
                value=None if _is_empty(ycell) else _clean_text(ycell),
                **where.fields(int(excel_row[k]), col),
            )
        else:
            msg = f"{where.at(int(excel_row[k]))}: no city name or code"
            audit.add("missing_city", f"{msg}; row: {text}", **where.fields(int(excel_row[k])))

    # columns ------------------------------------------------------------------------
    key_cols = set(keys.values())
    used: dict[str, int] = {}
    columns: list[dict[str, Any]] = []
    for j, v in enumerate(header):
        if j in key_cols or (wide and j in year_cols):
            continue
        if _is_empty(v):
            cells = np.flatnonzero(nonempty[:, j] & valid) if len(body) else []
            for k in cells:
                audit.add(
                    "note_cell",
                    f"{where.at(int(excel_row[k]), _col_letter(j))}: {_excerpt([body[k][j]])}",
                    **where.fields(int(excel_row[k]), _col_letter(j)),
                )
            continue
        info = parse_header(v)
        if info.target in _KEY_KINDS:
            if info.target not in ("meta", "unit"):
                info = HeaderInfo(info.text, None, note=f"second {info.target} column")
            else:
                continue
        if info.target is None or wide:
            note = info.note or ("not a year column of a wide table" if wide else "")
            audit.add(
                "column_not_used",
                f"{where.at(h + 1, str(v))}" + (f": {note}" if note else ": not recognised"),
                **where.fields(h + 1, str(v)),
            )
            continue
        if info.target in used:
            audit.add(
                "column_not_used",
                f"{where.at(h + 1, str(v))}: second column for {info.target}",
                variable=info.target,
                **where.fields(h + 1, str(v)),
            )
            continue
        used[info.target] = j
    row_units = None
    if "unit" in keys:
        row_units = _texts(grid[keys["unit"]])

    out = pd.DataFrame(
        {
            "source": file,
            "sheet": sheet or "",
            "row": excel_row,
            "city": city.to_numpy(object),
            "code": pd.array(np.where(code > 0, code, 0), dtype="Int64"),
            "province": (
                _texts(grid[keys["province"]]).to_numpy(object) if "province" in keys else None
            ),
            "year": pd.array(year, dtype="Int64"),
        }
    )
    out.loc[code <= 0, "code"] = pd.NA

    label = [
        c if c is not None else (str(k) if k > 0 else None) for c, k in zip(city, code, strict=True)
    ]

    def convert(
        target: str, j: int, info: HeaderInfo, col_name: str, mask: np.ndarray
    ) -> np.ndarray:
        """Parse column ``j`` for the rows in ``mask``: numbers, unit, range; audit problems."""
        q = INPUTS[target]
        cells = grid[j]
        col_year = _year_header(header[j]) if wide else None

        def yr(k: int) -> int | None:
            return col_year if wide else int(year[k])

        vals, status, pct = _numbers(cells)
        empty = ~_nonempty(cells.to_numpy(object)) & (status == 0)
        for k in np.flatnonzero(mask & ((status > 0) | empty)):
            loc = where.at(int(excel_row[k]), col_name)
            cell = cells.iloc[k]
            text = "" if empty[k] else _clean_text(cell)
            cols = dict(
                city=label[k],
                year=yr(k),
                variable=target,
                value=str(cell).strip() if text else "(empty cell)",
                **where.fields(int(excel_row[k]), col_name),
            )
            if status[k] == 1:
                msg = f"{loc}: value {text!r} is not a number"
                audit.add("not_a_number", msg, rule="set missing", **cols)
            elif status[k] == 2:
                msg = f"{loc}: {text}"
                audit.add("excel_error", msg, rule="Excel error read as missing", **cols)
            else:
                what = f"marker {text!r}" if text else "an empty cell"
                msg = f"{loc}: {what} read as missing"
                audit.add("missing_marker", msg, rule="missing-value marker", **cols)
        vals = np.where(mask, vals, np.nan)
        override = units.get(info.text) or units.get(col_name)
        ru = row_units[mask] if row_units is not None and not info.unit_tokens else None
        factors, desc = _resolve_unit(
            q, info, vals[mask], pct[mask], where.at(h + 1, col_name), override, ru
        )
        full = np.ones(len(vals))
        full[mask] = factors
        vals = vals * full
        lo, hi, excl = q.valid
        zero = (vals == 0) & (lo == 0) & excl
        for k in np.flatnonzero(zero):
            loc = where.at(int(excel_row[k]), col_name)
            msg = f"{loc}: {target} written as 0, which it cannot be; read as missing"
            audit.add(
                "zero_as_missing",
                msg,
                city=label[k],
                year=yr(k),
                variable=target,
                value="0",
                rule=f"a literal 0 of a positive quantity ({target}) is a vendor's missing",
                **where.fields(int(excel_row[k]), col_name),
            )
        vals[zero] = np.nan
        bad = np.isfinite(vals) & ((vals < lo) | (vals > hi) | ((vals == lo) & excl))
        for k in np.flatnonzero(bad):
            loc = where.at(int(excel_row[k]), col_name)
            rng = f"{'(' if excl else '['}{lo:g}, {hi:g}]"
            msg = f"{loc}: value {vals[k]:g} ({q.unit}) outside {rng} for {target}"
            audit.add(
                "out_of_range",
                msg,
                city=label[k],
                year=yr(k),
                variable=target,
                value=f"{vals[k]:g}",
                rule=f"valid range {rng}",
                **where.fields(int(excel_row[k]), col_name),
            )
        vals[bad] = np.nan
        columns.append(
            dict(
                sheet=sheet or "", column=_col_letter(j), header=col_name, target=target, unit=desc
            )
        )
        return vals

    if not wide:
        for target, j in used.items():
            out[target] = convert(target, j, parse_header(header[j]), str(header[j]), valid)
        return _Parsed(out[valid].reset_index(drop=True), columns, layout, h + 1)

    # wide: one variable per row (indicator column) or per table (title, sheet, file) ----
    if "indicator" in keys:
        ind = _texts(grid[keys["indicator"]]).fillna("")
        infos = {t: parse_header(t) for t in ind[valid].unique()}
        for t, info in infos.items():
            if info.target is None or info.target in _KEY_KINDS:
                audit.add(
                    "column_not_used",
                    f"{where.at()}: indicator {t!r} not recognised",
                    value=t,
                    **where.fields(),
                )
    else:
        info = None
        for text in context:
            info = _target_in_text(text)
            if info is not None:
                break
        if info is None:
            raise YearbookError(
                f"{where.at(h + 1)}: a table with years as columns but no variable named in "
                "its title rows, sheet name or file name; name the variable (e.g. "
                "'地区生产总值（亿元）') in a title row or the file name"
            )
        ind = pd.Series([info.text] * len(grid), dtype=object)
        infos = {info.text: info}
    pieces = []
    for text, info in infos.items():
        if info.target is None or info.target in _KEY_KINDS:
            continue
        mask = valid & (ind == text).to_numpy(bool)
        if not mask.any():
            continue
        for j in year_cols:
            vals = convert(info.target, j, info, str(header[j]), mask)
            piece = out[mask].copy()
            piece["year"] = pd.array([_year_header(header[j])] * int(mask.sum()), dtype="Int64")
            piece[info.target] = vals[mask]
            pieces.append(piece)
    frame = pd.concat(pieces, ignore_index=True) if pieces else out.iloc[0:0]
    return _Parsed(frame, columns, layout, h + 1)


def _read_table(
    path: Path,
    *,
    units: Mapping[str, str] | None,
    cache: bool | str | os.PathLike[str] | None,
    audit: _Audit,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise YearbookError(f"{path}: no such file")
    sheets, status, encoding = _grids(path, cache)
    multi = len(sheets) > 1
    frames: list[pd.DataFrame] = []
    info: dict[str, Any] = dict(
        file=path.name, cache=status, encoding=encoding, sheets={}, columns=[]
    )
    for name, rows in sheets.items():
        label = name if multi else None
        where = _Where(path.name, label)
        title_text = [_excerpt(r, 200) for r in rows[:10]]
        context = [*title_text, name, path.stem]
        parsed = _parse_grid(rows, path.name, label, context, units or {}, audit)
        if parsed is None:
            filled = [r for r in rows if any(not _is_empty(v) for v in r)]
            if filled:
                audit.add(
                    "sheet_skipped",
                    f"{where.at()}: no header row with a city column and a year column (or "
                    f"year columns); {len(filled)} non-empty rows, first: {_excerpt(filled[0])}",
                    **where.fields(),
                )
            info["sheets"][name] = "skipped"
            continue
        if not any(any(not _is_empty(v) for v in r) for r in rows[parsed.header_row :]):
            raise YearbookError(
                f"{where.at()}: header only, no data rows below the header (row "
                f"{parsed.header_row}); remove the file or fill it"
            )
        info["sheets"][name] = f"{parsed.layout}, header row {parsed.header_row}"
        info["columns"].extend(parsed.columns)
        frames.append(parsed.frame)
    if not any(any(not _is_empty(v) for v in r) for rows in sheets.values() for r in rows):
        raise YearbookError(f"{path.name}: the file is empty (no cell holds anything)")
    if not frames:
        raise YearbookError(
            f"{path.name}: no sheet holds a table with a city column and a year column "
            "(or years as columns)"
        )
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise YearbookError(
            f"{path.name}: header only, no data rows (a table was found, but no row below "
            "its header names a city and a year); remove the file or fill it"
        )
    return frame, info


def read_table(
    path: str | os.PathLike[str],
    *,
    units: Mapping[str, str] | None = None,
    strict: bool = False,
    cache: bool | str | os.PathLike[str] | None = True,
) -> pd.DataFrame:
    """Read one yearbook file into a long table of recognised quantities.

    Parameters
    ----------
    path
        An ``.xlsx`` workbook (every sheet holding a table of cities is read) or a ``.csv``
        file in UTF-8, UTF-8 with BOM or GBK (GB18030).
    units
        Units for headers that state none, e.g. ``{"名义GDP": "亿元"}``; a unit stated in
        the header wins.
    strict
        Raise :class:`YearbookError` on the first non-numeric cell, unreadable year, row
        without city, or out-of-range value instead of auditing it.
    cache
        ``True``: cache the parsed workbook grid under :func:`cache_dir`; a path: cache
        there; ``False``/``None``: no cache.

    Returns
    -------
    pandas.DataFrame
        One row per source row (long tables) or per row and year column (wide tables):
        ``source`` (file name), ``sheet``, ``row`` (1-based Excel row), ``city`` (name as
        written, cleaned of invisible characters), ``code`` (Int64), ``province``,
        ``year`` (Int64), then one float column per recognised quantity of :data:`INPUTS`
        in its canonical unit. ``attrs["audit"]`` holds the audit rows
        (:data:`cbec.data.panel.AUDIT_COLUMNS`) and ``attrs["info"]`` the sheets read, the cache
        status, the encoding and each column's target and unit conversion.

    Raises
    ------
    YearbookError
        No table found, ambiguous or mismatched unit, or (``strict``) a bad cell; the
        message names file, sheet, row and column.
    """
    audit = _Audit(strict)
    frame, info = _read_table(Path(path), units=units, cache=cache, audit=audit)
    frame.attrs["audit"] = audit.frame()
    frame.attrs["info"] = info
    return frame
