"""The folder loader :func:`load_yearbook` and :func:`audit_summary`."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cbec import audit as _audit
from cbec.data.panel import VARIABLES, CityPanel
from cbec.data.yearbook.derive import (
    _combine,
    _dedupe_file,
    _derive,
    _stack,
)
from cbec.data.yearbook.headers import (
    INPUTS,
)
from cbec.data.yearbook.match import (
    _fill_audit_ids,
    _match_table,
    _Matcher,
    load_aliases,
)
from cbec.data.yearbook.read import (
    _read_table,
)
from cbec.data.yearbook.rules import (
    _UNREADABLE_SUFFIXES,
    BASE_YEAR,
    READ_SUFFIXES,
    YearbookError,
    _Audit,
)
from cbec.data.yearbook.validate import (
    _validate,
)


def _year_set(years: Iterable[int] | tuple[int, int] | None) -> set[int] | None:
    if years is None:
        return None
    if isinstance(years, tuple) and len(years) == 2:
        return set(range(int(years[0]), int(years[1]) + 1))
    return {int(y) for y in years}


#: Codes of a cell read but set missing (a later fill from another file names them).
_SET_MISSING = (
    "missing_marker",
    "not_a_number",
    "excel_error",
    "zero_as_missing",
    "out_of_range",
    "duplicate_conflict",
)


def data_fingerprint(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Content fingerprint of the files :func:`load_yearbook` reads in ``folder``.

    Returns
    -------
    dict
        ``sha256`` of the sorted (file name, content sha256) list, ``files`` (name ->
        content sha256, first 16 hex digits) and ``n_files``. No path, no time stamp: the
        same files give the same fingerprint on any machine.
    """
    folder = Path(folder)
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in READ_SUFFIXES and not p.name.startswith(("~$", ".")):
            files[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    blob = "\n".join(f"{k}\t{v}" for k, v in files.items())
    return dict(
        sha256=hashlib.sha256(blob.encode()).hexdigest(),
        files={k: v[:16] for k, v in files.items()},
        n_files=len(files),
    )


def load_yearbook(
    folder: str | os.PathLike[str],
    cities: pd.DataFrame | None = None,
    years: Iterable[int] | tuple[int, int] | None = None,
    strict: bool = False,
    *,
    aliases: pd.DataFrame | None = None,
    units: Mapping[str, str] | None = None,
    prefer: Mapping[str, str] | None = None,
    use_interpolated: bool = False,
    rtol: float = 0.01,
    cache: bool | str | os.PathLike[str] | None = True,
) -> CityPanel:
    """Read a folder of yearbook files into a real-profile :class:`~cbec.data.panel.CityPanel`.

    Parameters
    ----------
    folder
        Folder whose ``.xlsx``/``.xlsm``/``.csv`` files are read (not recursively; Excel
        lock files ``~$*`` and hidden files are ignored; ``.xls`` etc. are audited).
    cities
        The city registry; default :func:`cbec.data.reference.load_cities`.
    years
        Keep these years (an iterable, or ``(first, last)`` inclusive); default all.
        Derivations use every year first (the 2010 base of real GDP, growth).
    strict
        Raise :class:`YearbookError` on the first bad cell, row without key, conflicting
        duplicate or out-of-range value (reasons :data:`STRICT_REASONS`) instead of
        auditing it. Declared rules still apply and are audited in strict mode: a literal 0
        of a quantity that cannot be 0 is a vendor's missing (``zero_as_missing``), markers
        (``missing_marker``) and Excel errors are missing, the primary file wins over
        another (``conflict_between_files``) and fills its gaps from it
        (``filled_from_other_file``), derivations fill reported gaps (``derived_fill``).

    Raises
    ------
    YearbookError
        A file that is empty or holds a header only, a table whose unit is ambiguous, no
        readable file in the folder, or (``strict``) a strict reason; the message names the
        file (and sheet, row, column).
    aliases
        Alias table; default :func:`load_aliases`.
    units
        Units for headers that state none (see :func:`read_table`).
    prefer
        ``{variable: file-name fragment}``: the primary source of a variable given by
        several files. Default: a file that also holds the GDP index for ``gdp_nominal``
        (:data:`COMPANIONS`), otherwise the file with most values, then file name.
    use_interpolated
        Fill missing resident population from a source column of interpolated population
        (``插值_常住人口``). Default ``False``: vendor interpolations are not data.
    rtol
        Relative tolerance under which repeated values count as equal.
    cache
        Cache of parsed workbooks (see :func:`read_table`).

    Returns
    -------
    CityPanel
        ``profile="real"``; ``data`` has ``city_id``, ``year`` (int64) and the canonical
        variables found (float64, canonical units of :data:`cbec.data.panel.VARIABLES`);
        ``audit`` every exclusion and every value set missing, replaced, filled from
        another file or derived another way (columns :data:`cbec.audit.COLUMNS`, reason
        codes :data:`REASONS`); ``unavailable`` the canonical
        variables no file provides; ``meta`` the files read (``files``), per-file sheets
        and column conversions (``file_info``), each variable's ``primary`` file and
        value counts by file (``sources``), how each variable was made (``derivation``),
        match methods, the cache status per file and the seconds taken.
    """
    t0 = time.perf_counter()
    folder = Path(folder)
    if not folder.is_dir():
        raise YearbookError(f"{folder}: not a folder")
    if cities is None:
        from cbec.data.reference import load_cities

        cities = load_cities()
    aliases = load_aliases() if aliases is None else aliases
    audit = _Audit(strict)
    paths = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(("~$", "."))
    )
    for p in paths:
        if p.suffix.lower() in _UNREADABLE_SUFFIXES:
            audit.add("file_skipped", f"{p.name}: {p.suffix} is not read; save it as .xlsx")
    paths = [p for p in paths if p.suffix.lower() in READ_SUFFIXES]
    if not paths:
        raise YearbookError(f"{folder}: no .xlsx or .csv files")
    matcher = _Matcher(cities, aliases)
    names = dict(zip(cities["city_id"].astype("int64"), cities["name_zh"], strict=True))
    frames, infos, methods = [], [], {}
    for p in paths:
        table, info = _read_table(p, units=units, cache=cache, audit=audit)
        infos.append(info)
        table = _match_table(table, matcher, audit, methods)
        frames.append(table)
    targets = sorted({c for f in frames for c in f.columns if c in INPUTS})
    long = pd.concat([_stack(f, [t for t in targets if t in f]) for f in frames], ignore_index=True)
    long = _dedupe_file(long, rtol, audit)
    if long.empty:
        raise YearbookError(f"{folder}: no value of a recognised variable for a known city")
    early = _fill_audit_ids(audit.frame(), matcher)
    early = early[early["reason"].isin(_SET_MISSING) & early["city_id"].notna()]
    lost = {
        (f, int(c), int(y), v): (str(x or ""), r)
        for f, c, y, v, x, r in zip(
            early["file"],
            early["city_id"],
            early["year"],
            early["variable"],
            early["value"],
            early["reason"],
            strict=True,
        )
        if not pd.isna(y)
    }
    wide, provenance = _combine(long, rtol, prefer or {}, audit, lost)
    wide, how = _derive(wide, use_interpolated, names, audit)
    wide = _validate(wide, names, audit)
    canon = [v for v in VARIABLES if v in wide.columns]
    data = wide[["city_id", "year", *canon]].copy()
    keep_years = _year_set(years)
    n_outside = 0
    if keep_years is not None:
        inside = data["year"].isin(keep_years)
        n_outside = int((~inside).sum())
        data = data[inside]
    data = data.dropna(subset=canon, how="all")
    canon = [v for v in canon if data[v].notna().any()]
    data = data[["city_id", "year", *canon]].astype(
        {"city_id": "int64", "year": "int64", **dict.fromkeys(canon, "float64")}
    )
    data = data.sort_values(["city_id", "year"]).reset_index(drop=True)
    aud = _fill_audit_ids(audit.frame(), matcher)
    if keep_years is not None:
        aud = aud[aud["year"].isna() | aud["year"].isin(keep_years)].reset_index(drop=True)
    unavailable = tuple(v for v in VARIABLES if v not in canon)
    meta = dict(
        files=[p.name for p in paths],
        file_info={i["file"]: i for i in infos},
        primary=provenance["primary"],
        sources=provenance["sources"],
        derivation={k: v for k, v in how.items() if k in canon},
        base_year=BASE_YEAR,
        match_methods=methods,
        cache={i["file"]: i["cache"] for i in infos},
        use_interpolated=use_interpolated,
        city_years_outside_years=n_outside,
        seconds=round(time.perf_counter() - t0, 3),
    )
    return CityPanel(data=data, profile="real", audit=aud, unavailable=unavailable, meta=meta)


def audit_summary(panel: CityPanel) -> pd.DataFrame:
    """Audit rows counted by reason code (:func:`cbec.audit.summary`).

    Returns
    -------
    pandas.DataFrame
        ``stage``, ``reason``, ``rows``, ``cities`` (distinct matched cities),
        ``variables``, ``meaning`` (from :data:`cbec.audit.REASONS`).
    """
    return _audit.summary(panel.audit)
