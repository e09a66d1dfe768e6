"""Matching city names and codes to the registry across historical renamings."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cbec.data.yearbook.read import (
    _clean_text,
    _is_empty,
)
from cbec.data.yearbook.rules import (
    _ALIAS_COLUMNS,
    _ALIAS_KINDS,
    _ALIASES_PATH,
    _MUNICIPALITY_PROVINCES,
    _Audit,
)


# ======================================================================= city matching
def load_aliases(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The alias table of historical and variant city names and codes.

    Parameters
    ----------
    path
        CSV with columns ``alias, city_id, name_zh, kind, first_year, last_year,
        successor_id, note``; default ``data/reference/city_aliases.csv``.

    Returns
    -------
    pandas.DataFrame
        ``city_id``, ``first_year``, ``last_year``, ``successor_id`` as Int64, the rest
        strings. ``kind`` is one of ``rename``, ``upgrade``, ``code`` (same unit, any year),
        ``variant``, ``abolished`` (matched only within ``first_year``-``last_year``) and
        ``aggregate`` (never a city).
    """
    p = Path(path) if path is not None else _ALIASES_PATH
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    if tuple(df.columns) != _ALIAS_COLUMNS:
        raise ValueError(f"{p.name}: columns {list(df.columns)}, expected {list(_ALIAS_COLUMNS)}")
    for col in ("city_id", "first_year", "last_year", "successor_id"):
        df[col] = pd.to_numeric(df[col].replace("", None)).astype("Int64")
    bad = sorted(set(df["kind"]) - set(_ALIAS_KINDS))
    if bad:
        raise ValueError(f"{p.name}: unknown kinds {bad}; expected {list(_ALIAS_KINDS)}")
    df["alias"] = df["alias"].map(_clean_text)
    if df["alias"].duplicated().any():
        raise ValueError(f"{p.name}: duplicate aliases {df.loc[df.alias.duplicated(), 'alias']}")
    return df


_ETHNIC = (
    "蒙古族",
    "蒙古",
    "回族",
    "藏族",
    "维吾尔族",
    "维吾尔",
    "苗族",
    "彝族",
    "壮族",
    "布依族",
    "朝鲜族",
    "满族",
    "侗族",
    "瑶族",
    "白族",
    "土家族",
    "哈尼族",
    "哈萨克族",
    "哈萨克",
    "傣族",
    "黎族",
    "傈僳族",
    "佤族",
    "畲族",
    "拉祜族",
    "水族",
    "东乡族",
    "纳西族",
    "景颇族",
    "柯尔克孜族",
    "柯尔克孜",
    "土族",
    "羌族",
    "撒拉族",
    "锡伯族",
    "普米族",
    "怒族",
    "独龙族",
)


_TOTAL_RE = re.compile(r"(省|自治区|特别行政区)$|^(合计|总计|全国|全省|总体|平均)")


def _stem(name: str) -> str:
    """Name without its administrative suffix: 杭州市 -> 杭州, 延边朝鲜族自治州 -> 延边."""
    n = _clean_text(name)
    if n.endswith("自治州"):
        n = n[:-3]
        changed = True
        while changed:
            changed = False
            for e in _ETHNIC:
                if n.endswith(e) and len(n) > len(e):
                    n = n[: -len(e)]
                    changed = True
        return n
    for suf in ("地区", "林区", "盟"):
        if n.endswith(suf) and len(n) > len(suf) + 1:
            return n[: -len(suf)]
    if n.endswith("市") and len(n) >= 3:
        return n[:-1]
    return n


def _pinyin_key(name: Any) -> str:
    s = re.sub(r"[^a-z]", "", unicodedata.normalize("NFKD", str(name)).lower())
    for suf in ("prefecture", "city", "shi", "diqu", "meng", "zizhizhou"):
        if s.endswith(suf) and len(s) > len(suf) + 2:
            s = s[: -len(suf)]
    return s


class _Matcher:
    """Lookups from the registry and the alias table; resolves one value at a time."""

    def __init__(self, cities: pd.DataFrame, aliases: pd.DataFrame) -> None:
        for col in ("city_id", "name_zh"):
            if col not in cities.columns:
                raise ValueError(f"cities lacks column {col!r}")
        ids = cities["city_id"].astype("int64").to_numpy()
        self.ids = set(ids.tolist())
        self.by_name: dict[str, int] = {}
        stems: dict[str, set[int]] = {}
        pin: dict[str, set[int]] = {}
        shorts = cities["short_zh"] if "short_zh" in cities else pd.Series([""] * len(cities))
        pins = cities["name_pinyin"] if "name_pinyin" in cities else pd.Series([""] * len(cities))
        for cid, name, short, py in zip(ids.tolist(), cities["name_zh"], shorts, pins, strict=True):
            name = _clean_text(name)
            self.by_name[name] = cid
            variants = {_stem(name)}
            if isinstance(short, str) and short:
                variants.add(_clean_text(short))
            if name.endswith("自治州"):
                variants |= {v + "州" for v in list(variants)}
            for v in variants:
                stems.setdefault(v, set()).add(cid)
            if isinstance(py, str) and py:
                pin.setdefault(_pinyin_key(py), set()).add(cid)
        self.by_stem = {k: next(iter(v)) if len(v) == 1 else None for k, v in stems.items()}
        self.by_pinyin = {k: next(iter(v)) if len(v) == 1 else None for k, v in pin.items()}
        self.aliases = {r.alias: r for r in aliases.itertuples(index=False)}
        self._memo: dict[tuple[Any, ...], tuple[int | None, str, str]] = {}
        self._year_used = False

    def _target(self, row: Any) -> int | None:
        """Registry id of an alias target: by code, else by name, else by stem."""
        cid = None if pd.isna(row.city_id) else int(row.city_id)
        if cid is not None and cid in self.ids:
            return cid
        name = _clean_text(row.name_zh) if isinstance(row.name_zh, str) else ""
        if name in self.by_name:
            return self.by_name[name]
        return self.by_stem.get(_stem(name)) if name else None

    def _alias(self, key: str, year: int | None) -> tuple[int | None, str, str] | None:
        row = self.aliases.get(key)
        if row is None:
            return None
        if row.kind == "aggregate":
            return None, "", "not_a_city"
        if row.kind == "abolished":
            self._year_used = True
            lo = -np.inf if pd.isna(row.first_year) else row.first_year
            hi = np.inf if pd.isna(row.last_year) else row.last_year
            if year is not None and not (lo <= year <= hi):
                return None, "alias", "not_prefecture_in_year"
        target = self._target(row)
        if target is None:
            return None, "alias", "unmatched_city"
        return target, "alias", ""

    def one(self, value: Any, year: int | None) -> tuple[int | None, str, str]:
        """(city_id or None, method, reason); memoised, by year only where the year matters."""
        key = (type(value).__name__, str(value))
        hit = self._memo.get(key) or self._memo.get((*key, year))
        if hit is not None:
            return hit
        self._year_used = False
        res = self._one(value, year)
        self._memo[(*key, year) if self._year_used else key] = res
        return res

    def note(self, value: Any) -> str:
        """The alias table's note on a name or code ("" if none)."""
        row = self.aliases.get(_clean_text(value))
        return str(row.note) if row is not None and isinstance(row.note, str) else ""

    def year_sensitive(self, value: Any) -> bool:
        """Whether the match of ``value`` depends on the year (an abolished unit's name)."""
        self.one(value, None)
        return (type(value).__name__, str(value)) not in self._memo

    def _one(self, value: Any, year: int | None) -> tuple[int | None, str, str]:
        if _is_empty(value):
            return None, "", "unmatched_city"
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        ):
            f = float(value)
            return (
                self.code(int(f), year)
                if f.is_integer() and f > 0
                else (None, "", "unmatched_city")
            )
        text = _clean_text(value)
        if re.fullmatch(r"\d+(?:\.0+)?", text):
            return self.code(int(float(text)), year)
        hit = self._alias(text, year)
        if hit is not None and (hit[2] or self.aliases[text].kind == "abolished"):
            return hit
        if _TOTAL_RE.search(text):
            return None, "", "not_a_city"
        if text in self.by_name:
            return self.by_name[text], "name", ""
        if hit is not None:
            return hit
        stem = _stem(text)
        hit = self._alias(stem, year)
        if hit is not None and stem != text:
            return hit
        if self.by_stem.get(stem) is not None:
            return self.by_stem[stem], "stem", ""
        if stem in self.by_stem:  # ambiguous
            return None, "stem", "unmatched_city"
        py = _pinyin_key(text)
        if py and self.by_pinyin.get(py) is not None:
            return self.by_pinyin[py], "pinyin", ""
        return None, "", "unmatched_city"

    def code(self, code: int, year: int | None) -> tuple[int | None, str, str]:
        if code >= 10**11:  # 12-digit statistical codes
            code //= 10**6
        elif 10**8 <= code < 10**9:  # 9-digit township-style prefixes
            code //= 10**3
        elif 1000 <= code <= 9999:
            code *= 100
        if not 100000 <= code <= 999999:
            return None, "code", "unmatched_city"
        candidates = [(code, "code")]
        pref = code // 100 * 100
        if pref != code:
            candidates.append((pref, "county_code"))
        if code // 10000 in _MUNICIPALITY_PROVINCES:
            candidates.append((code // 10000 * 10000, "county_code"))
        for c, method in candidates:
            hit = self._alias(str(c), year)
            if hit is not None:
                return hit[0], method if hit[0] is not None else hit[1], hit[2]
            if c in self.ids:
                return c, method, ""
        return None, "code", "unmatched_city"


def match_cities(
    names_or_codes: pd.Series,
    cities: pd.DataFrame | None = None,
    aliases: pd.DataFrame | None = None,
    year: int | pd.Series | None = None,
    *,
    report: bool = False,
) -> pd.Series | tuple[pd.Series, pd.DataFrame]:
    """Registry ``city_id`` of city names or codes, across historical renamings.

    A value is matched, in order, as: a 6-digit code (12-digit statistical codes are cut
    to 6, 4-digit prefixes padded; county codes roll up to their prefecture, district
    codes of the four municipalities to the municipality); an alias of kind ``abolished``
    or ``aggregate``; an exact registry name; another alias (old name, old code, variant);
    the name without its administrative suffix (市, 地区, 盟, 自治州 with its ethnic
    names) against the registry's short names; a pinyin name. Invisible characters and
    full-width forms are normalised first.

    Parameters
    ----------
    names_or_codes
        Names (``"襄樊"``, ``"杭州市"``, ``"Hangzhou"``) or codes (int or digit strings).
    cities
        The registry (columns ``city_id``, ``name_zh``, optionally ``short_zh`` and
        ``name_pinyin``); default :func:`cbec.data.reference.load_cities`.
    aliases
        The alias table; default :func:`load_aliases`.
    year
        Year of each value (scalar or a Series aligned with ``names_or_codes``). An
        abolished unit (巢湖, 莱芜) matches only within its years; without ``year`` it
        always matches.
    report
        Also return one row per distinct (value, year): ``value``, ``year``, ``city_id``,
        ``method`` (code, county_code, name, alias, stem, pinyin) and ``reason`` (empty,
        ``unmatched_city``, ``not_a_city`` or ``not_prefecture_in_year``).

    Returns
    -------
    pandas.Series or (pandas.Series, pandas.DataFrame)
        ``city_id`` (Int64, NA where unmatched) with the index of ``names_or_codes``.
    """
    if cities is None:
        from cbec.data.reference import load_cities

        cities = load_cities()
    if aliases is None:
        aliases = load_aliases()
    matcher = _Matcher(cities, aliases)
    values = pd.Series(names_or_codes)
    if isinstance(year, pd.Series):
        years = pd.to_numeric(year.reindex(values.index)).astype("Int64")
    else:
        years = pd.Series(pd.array([year] * len(values), dtype="Int64"), index=values.index)
    keys = pd.DataFrame({"value": values.astype(object), "year": years})
    keys["vkey"] = keys["value"].map(lambda v: (type(v).__name__, str(v)))
    uniq = keys.drop_duplicates(["vkey", "year"])
    rows = []
    for v, y in zip(uniq["value"], uniq["year"], strict=True):
        cid, method, reason = matcher.one(v, None if pd.isna(y) else int(y))
        rows.append((cid, method, reason))
    res = uniq[["value", "year", "vkey"]].reset_index(drop=True)
    res["city_id"] = pd.array([r[0] for r in rows], dtype="Int64")
    res["method"] = [r[1] for r in rows]
    res["reason"] = [r[2] for r in rows]
    merged = keys.merge(res[["vkey", "year", "city_id"]], on=["vkey", "year"], how="left")
    out = pd.Series(merged["city_id"].to_numpy(), index=values.index, name="city_id", dtype="Int64")
    if report:
        return out, res.drop(columns="vkey")
    return out


def _span(word: str, values: pd.Series) -> str:
    """'row 9', 'rows 9-12 (4)', '2010', '2010-2012' or 'no year'."""
    v = sorted(int(x) for x in values)
    if not v:
        return "no year"
    pre = f"{word}s " if word and v[0] != v[-1] else (f"{word} " if word else "")
    rng = f"{v[0]}" if v[0] == v[-1] else f"{v[0]}-{v[-1]}"
    return pre + rng + (f" ({len(v)})" if word and len(v) > 1 else "")


def _fill_audit_ids(aud: pd.DataFrame, matcher: _Matcher) -> pd.DataFrame:
    """City codes for audit rows recorded before matching (cell-level problems)."""
    todo = (
        aud["city_id"].isna()
        & aud["city"].notna()
        & ~aud["reason"].isin(["unmatched_city", "not_a_city", "not_prefecture_in_year"])
    )
    if todo.any():
        ids = [
            matcher.one(c, None if pd.isna(y) else int(y))[0]
            for c, y in zip(aud.loc[todo, "city"], aud.loc[todo, "year"], strict=True)
        ]
        aud.loc[todo, "city_id"] = pd.array(ids, dtype="Int64")
    return aud


def _match_table(
    table: pd.DataFrame, matcher: _Matcher, audit: _Audit, methods: dict[str, int]
) -> pd.DataFrame:
    """Add ``city_id`` to a read table; drop and audit rows of unmatched cities."""
    none = (None, "", "unmatched_city")

    def pick(city: Any, code: Any, year: int | None) -> tuple[tuple[Any, str, str], Any]:
        by_name = matcher.one(city, year) if city is not None else none
        by_code = matcher.one(int(code), year) if code is not pd.NA else none
        if by_name[0] is not None:
            clash = by_code[0] if by_code[0] not in (None, by_name[0]) else None
            return by_name, clash
        if city is not None and (by_name[2] != "unmatched_city" or by_code[0] is None):
            return by_name, None
        return by_code, None

    pairs = table[["city", "code"]].drop_duplicates().reset_index(drop=True)
    sensitive = np.array(
        [
            (c is not None and matcher.year_sensitive(c))
            or (k is not pd.NA and matcher.year_sensitive(int(k)))
            for c, k in zip(pairs["city"], pairs["code"].astype(object), strict=True)
        ],
        dtype=bool,
    )
    table = table.merge(pairs.assign(sensitive=sensitive), on=["city", "code"], how="left")
    table["ykey"] = table["year"].where(table["sensitive"], pd.NA)
    uniq = table[["city", "code", "ykey"]].drop_duplicates().reset_index(drop=True)
    ids, why = [], []
    for city, code, y in zip(uniq["city"], uniq["code"].astype(object), uniq["ykey"], strict=True):
        yv = None if y is pd.NA else int(y)
        res, clash = pick(city, code, yv)
        if clash is not None:
            src = table.loc[(table.city == city) & (table.code == code), ["source", "row"]]
            audit.add(
                "code_name_mismatch",
                f"{src.source.iloc[0]}, rows {src.row.min()}-{src.row.max()}: code {int(code)} "
                f"is city {clash}, name {city!r} is city {res[0]}; the name was used",
                city_id=res[0],
                city=city,
                year=yv,
                file=src.source.iloc[0],
                row=int(src.row.min()),
                value=str(int(code)),
                rule="the name wins over the code",
            )
        ids.append(res[0])
        why.append(res[2] or "")
        if res[0] is not None:
            methods[res[1]] = methods.get(res[1], 0) + 1
    uniq["city_id"] = pd.array(ids, dtype="Int64")
    uniq["why"] = why
    t = table.merge(uniq, on=["city", "code", "ykey"], how="left").drop(
        columns=["sensitive", "ykey"]
    )
    bad = t["city_id"].isna()
    if bad.any():
        b = t[bad].assign(label=t.loc[bad, "city"].fillna(t.loc[bad, "code"].astype(str)))
        for (src, label, reason), g in b.groupby(["source", "label", "why"], sort=False):
            reason = reason or "unmatched_city"
            sheets = sorted(set(g.sheet) - {""})
            sheet = f" (sheet {', '.join(repr(x) for x in sheets)})" if sheets else ""
            if reason == "not_prefecture_in_year":
                for y, gy in g.groupby("year"):
                    audit.add(
                        reason,
                        f"{src}{sheet}, {_span('row', gy.row)}: {label!r} is not "
                        f"a prefecture-level unit in {int(y)}",
                        city=label,
                        year=int(y),
                        file=src,
                        sheet=sheets[0] if sheets else None,
                        row=int(gy.row.min()),
                    )
                continue
            note = matcher.note(label)
            audit.add(
                reason,
                f"{src}{sheet}, {_span('row', g.row)} ({_span('', g.year.dropna())}): "
                f"{label!r} not in the city registry" + (f" ({note})" if note else ""),
                city=label,
                file=src,
                sheet=sheets[0] if sheets else None,
                row=int(g.row.min()),
            )
    return t[~bad].drop(columns="why").reset_index(drop=True)
