"""Reading, validating and auditing a user's yearbook-style city panel (the real profile).

A typical user holds a folder of spreadsheets compiled from the China City Statistical
Yearbooks: Chinese headers with units in brackets, title and advert rows, float years,
numbers stored as text, trailing ``Unnamed`` columns, cities named by their current or by a
historical name, sometimes by code. :func:`load_yearbook` turns such a folder into a
:class:`~cbec.data.panel.CityPanel` of canonical variables (:data:`cbec.data.panel.VARIABLES`):

1. :func:`read_table` reads each file (xlsx, or csv in UTF-8, UTF-8-SIG or GBK), finds the
   header row, recognises each column through :data:`HEADERS` and :func:`parse_header`,
   converts units to the canonical ones of :data:`INPUTS`, reads long tables (city-year
   rows) and wide ones (years as columns);
2. :func:`match_cities` maps names or codes to the registry's ``city_id`` across the
   historical renamings of ``data/reference/city_aliases.csv``;
3. the tables are merged (within a file duplicates are collapsed, across files one source
   per variable is primary and the others fill gaps), the canonical variables are derived
   from the raw inputs (real GDP chained from the price index, per-capita ratios, shares)
   and every value is checked against a plausible range.

Nothing leaves the data silently: every dropped row, cell, column, city, city-year or value
gets a row in ``CityPanel.audit`` (columns :data:`cbec.data.panel.AUDIT_COLUMNS`), whose
``reason`` is one of :data:`REASONS` and whose ``source`` names the file, sheet, Excel row
and column. :func:`audit_summary` counts them.

Parsed workbooks are cached (openpyxl is slow): the cell grid of each xlsx file is pickled
under ``$CBEC_CACHE_DIR`` (default ``~/.cache/cbec``), in ``yearbook/``, keyed by the file's
path, size and modification time, so an edited file is read again.

Derivations follow the usual practice of the city-panel literature: real GDP at constant
prices is chained from the volume index with the previous year = 100 (the index the
statistical yearbooks publish; National Bureau of Statistics, *China Statistical Yearbook*,
explanatory notes on national accounts); financial development is loans plus deposits over
GDP, a city-level version of Goldsmith's (1969) financial interrelations ratio; FDI per
capita is actually used FDI in US dollars over resident population.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import pickle
import re
import time
import unicodedata
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cbec.data.panel import AUDIT_COLUMNS, VARIABLES, CityPanel

#: Price base of the canonical real GDP (``VARIABLES["gdp"]``: 2010 prices).
BASE_YEAR = 2010
#: Environment variable naming the cache folder of parsed workbooks.
ENV_CACHE_DIR = "CBEC_CACHE_DIR"
#: Bump when the cached grid format changes.
CACHE_VERSION = 1
#: File suffixes read by :func:`load_yearbook`; other spreadsheet formats are audited.
READ_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm", ".csv")
_UNREADABLE_SUFFIXES = (".xls", ".xlsb", ".ods", ".dta", ".sav")

#: Audit reasons and what they mean.
REASONS: dict[str, str] = {
    "title_row": "non-empty row above the header (title, unit line or advert), dropped",
    "note_row": "non-empty row in the data area without city or year (note, source, advert)",
    "note_cell": "non-empty cell in a column without header, dropped",
    "bad_year": "row whose year cell is missing or not a year, dropped",
    "missing_city": "row without city name or code, dropped",
    "sheet_skipped": "sheet without a table of cities (notes, formulas, empty)",
    "file_skipped": "file in a format the loader does not read",
    "column_not_used": "column not recognised or not used (listed once per file)",
    "not_a_number": "cell that is not a number, set missing",
    "excel_error": "Excel error value (#DIV/0!, #N/A, ...), set missing",
    "unmatched_city": "name or code not in the city registry, rows dropped",
    "not_a_city": "national or provincial total (or a sum row), rows dropped",
    "not_prefecture_in_year": "unit was not a prefecture-level unit that year, rows dropped",
    "code_name_mismatch": "code and name point to different cities; the name was used",
    "duplicate_row": "city-year repeated in a file with the same values, repeat dropped",
    "duplicate_conflict": "city-year repeated in a file with different values, set missing",
    "conflict_between_files": "value of a secondary file differs from the primary's, not used",
    "out_of_range": "value outside its plausible range, set missing",
    "no_base_year_gdp": "no nominal GDP in the base year: real GDP cannot be chained",
    "gdp_chain_gap": "real GDP not computed: the price index is missing between this year "
    "and the base year",
}
#: Reasons that raise :class:`YearbookError` when ``strict=True``.
STRICT_REASONS: frozenset[str] = frozenset(
    {"not_a_number", "bad_year", "missing_city", "duplicate_conflict", "out_of_range"}
)

_ALIASES_PATH = Path(__file__).resolve().parents[2] / "data" / "reference" / "city_aliases.csv"
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
@dataclass(frozen=True)
class Quantity:
    """A quantity a column can hold: a canonical variable or a raw input of one.

    Attributes
    ----------
    name
        Canonical variable (:data:`cbec.data.panel.VARIABLES`) or raw input name.
    dim
        ``"cny"``, ``"usd"``, ``"persons"``, ``"area"``, ``"households"`` (converted by
        unit), ``"pct"`` (percent; shares given as fractions are detected and scaled),
        ``"ratio"`` (a header ``%`` divides by 100), ``"index"``, ``"rate"`` (no unit
        conversion) or ``"relative"`` (a series known up to a factor).
    unit
        Canonical unit label.
    scale
        Size of the canonical unit in base units (yuan, US dollars, persons, km2,
        households), e.g. ``1e8`` for 亿元.
    plausible
        Range of a column's median in the canonical unit; a column without a stated unit
        must fall in it, else the unit is ambiguous and :class:`YearbookError` is raised.
    valid
        Range of a single value ``(low, high, low_exclusive)``; values outside are
        audited ``out_of_range`` and set missing.
    needs_unit
        The unit cannot be guessed from magnitudes (FDI: 万美元 or 百万美元).
    """

    name: str
    dim: str
    unit: str
    scale: float = 1.0
    plausible: tuple[float, float] | None = None
    valid: tuple[float, float, bool] = (-np.inf, np.inf, False)
    needs_unit: bool = False


_INF = np.inf
_POS = (0.0, _INF, True)
_NONNEG = (0.0, _INF, False)


def _q(*args: Any, **kwargs: Any) -> tuple[str, Quantity]:
    q = Quantity(*args, **kwargs)
    return q.name, q


#: Every quantity a column can hold, in canonical units.
INPUTS: dict[str, Quantity] = dict(
    (
        _q("gdp_nominal", "cny", "亿元", 1e8, (5.0, 5e4), _POS),
        _q("gdp", "cny", "亿元 (2010 prices)", 1e8, (5.0, 5e4), _POS),
        _q("gdp_real_any", "relative", "constant prices, any base", 1.0, None, _POS),
        _q("gdp_index", "index", "previous year = 100", 1.0, None, (50.0, 200.0, False)),
        _q("gdp_growth", "pct", "percent", 1.0, None, (-50.0, 100.0, False)),
        _q("primary_va", "cny", "亿元", 1e8, (0.5, 5e4), _NONNEG),
        _q("secondary_va", "cny", "亿元", 1e8, (0.5, 5e4), _NONNEG),
        _q("tertiary_va", "cny", "亿元", 1e8, (0.5, 5e4), _NONNEG),
        _q("secondary_share", "pct", "percent of GDP", 1.0, None, (0.0, 100.0, False)),
        _q("service_share", "pct", "percent of GDP", 1.0, None, (0.0, 100.0, False)),
        _q("fdi", "usd", "万美元", 1e4, None, _NONNEG, True),
        _q("fdi_pc", "usd", "美元", 1.0, (0.01, 1e5), (0.0, 1e5, False)),
        _q("loans", "cny", "亿元", 1e8, (5.0, 5e5), _NONNEG),
        _q("deposits", "cny", "亿元", 1e8, (5.0, 5e5), _NONNEG),
        _q("fin_dev", "ratio", "ratio", 1.0, None, (0.0, 100.0, True)),
        _q("savings", "cny", "亿元", 1e8, (2.0, 1e5), _NONNEG),
        _q("savings_pc", "cny", "元", 1.0, (100.0, 2e6), (0.0, 2e6, True)),
        _q("fai", "cny", "亿元", 1e8, (2.0, 5e4), _NONNEG),
        _q("fai_pc", "cny", "元", 1.0, (100.0, 2e6), (0.0, 2e6, True)),
        _q("retail", "cny", "亿元", 1e8, (1.0, 3e4), _NONNEG),
        _q("retail_pc", "cny", "元", 1.0, (100.0, 1e6), (0.0, 1e6, True)),
        _q("industrial_output", "cny", "亿元", 1e8, (1.0, 1e5), _NONNEG),
        _q("wage", "cny", "元", 1.0, (2000.0, 5e5), (0.0, 1e6, True)),
        _q("gdp_pc", "cny", "元 (2010 prices)", 1.0, (500.0, 1e6), (0.0, 1e6, True)),
        _q("pop", "persons", "万人", 1e4, (5.0, 5000.0), (0.0, 1e4, True)),
        _q("pop_interp", "persons", "万人", 1e4, (5.0, 5000.0), (0.0, 1e4, True)),
        _q("land_area", "area", "km2", 1.0, (100.0, 6e5), (0.0, 1e6, True)),
        _q("students", "persons", "人", 1.0, (50.0, 3e6), _NONNEG),
        _q("broadband", "households", "万户", 1e4, (0.5, 5000.0), _NONNEG),
        _q("human_capital", "rate", "students per 10,000", 1.0, None, (0.0, 5000.0, False)),
        _q("info_infra", "rate", "per 100 persons", 1.0, None, (0.0, 300.0, False)),
    )
)

#: Valid ranges of the canonical variables after derivation (same form as Quantity.valid).
RANGES: dict[str, tuple[float, float, bool]] = {
    name: INPUTS[name].valid for name in VARIABLES if name in INPUTS
}

#: Unit words and their (dimension, size in base units). Longest first when matching.
UNIT_TOKENS: dict[str, tuple[str, float]] = {
    "万亿元": ("cny", 1e12),
    "亿元": ("cny", 1e8),
    "百万元": ("cny", 1e6),
    "万元": ("cny", 1e4),
    "千元": ("cny", 1e3),
    "元": ("cny", 1.0),
    "亿": ("cny", 1e8),
    "亿美元": ("usd", 1e8),
    "百万美元": ("usd", 1e6),
    "万美元": ("usd", 1e4),
    "千美元": ("usd", 1e3),
    "美元": ("usd", 1.0),
    "usd": ("usd", 1.0),
    "百万人": ("persons", 1e6),
    "万人": ("persons", 1e4),
    "千人": ("persons", 1e3),
    "人": ("persons", 1.0),
    "万平方公里": ("area", 1e4),
    "平方公里": ("area", 1.0),
    "平方千米": ("area", 1.0),
    "km2": ("area", 1.0),
    "公顷": ("area", 0.01),
    "万户": ("households", 1e4),
    "户": ("households", 1.0),
    "%": ("pct", 1.0),
    "百分比": ("pct", 1.0),
}
_UNIT_RE = re.compile("|".join(re.escape(t) for t in sorted(UNIT_TOKENS, key=len, reverse=True)))
#: Unit words that may end a header without brackets ("常住人口万人").
_TRAILING_UNITS = tuple(
    t for t in sorted(UNIT_TOKENS, key=len, reverse=True) if len(t) >= 2 or t == "%"
)

_KEY_KINDS = ("city", "code", "year", "province", "indicator", "unit", "meta")
_HEADER_SPEC: dict[str, tuple[str, ...]] = {
    # keys
    "city": (
        "城市",
        "城市名称",
        "城市名",
        "地级市",
        "地级市名称",
        "地级市名",
        "地区",
        "地区名称",
        "地市",
        "地市名称",
        "市",
        "市名",
        "所属城市",
        "city",
        "cityname",
        "名称",
        "区域",
    ),
    "code": (
        "城市代码",
        "城市编码",
        "地级市代码",
        "行政区划代码",
        "区划代码",
        "地区代码",
        "代码",
        "code",
        "citycode",
        "adcode",
        "城市id",
        "cityid",
    ),
    "year": ("年份", "年度", "年", "年度标识", "统计年度", "year", "时间"),
    "province": ("省份", "省份名称", "省", "省名", "所属省份", "省级", "省区", "province"),
    "indicator": ("指标", "指标名称", "变量", "变量名", "indicator", "variable"),
    "unit": ("单位", "计量单位", "unit"),
    "meta": (
        "省份代码",
        "省代码",
        "省级代码",
        "所属地域",
        "地域",
        "区域划分",
        "东中西部",
        "城市类别",
        "城市类型",
        "城市等级",
        "数据来源",
        "来源",
        "资料来源",
        "备注",
        "注释",
        "说明",
        "序号",
        "id",
    ),
    # quantities
    "gdp_nominal": (
        "gdp",
        "名义gdp",
        "地区生产总值",
        "生产总值",
        "国内生产总值",
        "gdp总量",
        "名义地区生产总值",
        "地区生产总值当年价",
    ),
    "gdp_real_any": ("实际gdp", "实际地区生产总值", "不变价gdp", "可比价gdp", "不变价地区生产总值"),
    "gdp_index": (
        "gdp指数",
        "地区生产总值指数",
        "实际gdp指数",
        "gdp增长指数",
        "地区生产总值增长指数",
        "gdp发展速度",
    ),
    "gdp_growth": (
        "gdp增长率",
        "gdp增速",
        "实际gdp增长率",
        "gdp实际增长率",
        "地区生产总值增长率",
        "地区生产总值增速",
        "经济增长率",
        "gdpgrowth",
    ),
    "primary_va": ("第一产业增加值", "第一产业产值"),
    "secondary_va": ("第二产业增加值", "第二产业产值"),
    "tertiary_va": ("第三产业增加值", "第三产业产值"),
    "secondary_share": (
        "第二产业占gdp比重",
        "第二产业增加值占gdp比重",
        "第二产业比重",
        "第二产业占比",
        "第二产业增加值比重",
        "第二产业增加值占地区生产总值比重",
    ),
    "service_share": (
        "第三产业占gdp比重",
        "第三产业增加值占gdp比重",
        "第三产业比重",
        "第三产业占比",
        "第三产业增加值比重",
        "第三产业增加值占地区生产总值比重",
        "服务业占gdp比重",
    ),
    "fdi": (
        "外商直接投资",
        "外商直接投资额",
        "实际使用外资金额",
        "实际利用外资",
        "实际使用外资",
        "当年实际使用外资金额",
        "实际利用外商直接投资",
        "实际使用外商直接投资",
        "fdi",
    ),
    "fdi_pc": ("人均fdi", "人均外商直接投资"),
    "loans": (
        "年末金融机构各项贷款余额",
        "金融机构各项贷款余额",
        "年末金融机构贷款余额",
        "各项贷款余额",
        "贷款余额",
    ),
    "deposits": (
        "年末金融机构存款余额",
        "年末金融机构各项存款余额",
        "金融机构各项存款余额",
        "金融机构存款余额",
        "各项存款余额",
        "存款余额",
    ),
    "fin_dev": ("金融发展水平", "金融发展"),
    "savings": (
        "城乡居民储蓄存款余额",
        "年末城乡居民储蓄存款余额",
        "居民储蓄存款余额",
        "住户存款余额",
        "居民人民币储蓄存款余额",
    ),
    "savings_pc": ("人均储蓄存款", "人均储蓄存款余额", "人均居民储蓄存款"),
    "fai": (
        "固定资产投资",
        "全社会固定资产投资",
        "固定资产投资总额",
        "固定资产投资额",
        "全社会固定资产投资总额",
    ),
    "fai_pc": ("人均固定资产投资",),
    "retail": ("社会消费品零售总额",),
    "retail_pc": ("人均社会消费品零售总额",),
    "industrial_output": (
        "规模以上工业总产值",
        "规上工业总产值",
        "工业总产值规模以上",
        "规模以上工业企业总产值",
    ),
    "wage": (
        "职工平均工资",
        "在岗职工平均工资",
        "城镇单位在岗职工平均工资",
        "城镇非私营单位在岗职工平均工资",
        "平均工资",
    ),
    "pop": ("常住人口", "年末常住人口", "常住人口数", "residentpopulation"),
    "pop_interp": ("插值常住人口",),
    "land_area": ("行政区域土地面积", "土地面积", "行政区划面积", "辖区面积", "面积"),
    "students": (
        "普通高等学校在校学生数",
        "普通高校在校学生数",
        "高校在校生数",
        "普通本专科在校学生数",
        "普通高等学校在校生数",
    ),
    "broadband": ("互联网宽带接入用户数", "宽带接入用户数", "国际互联网用户数"),
    "human_capital": ("每万人在校大学生数", "每万人普通高校在校学生数"),
    "info_infra": ("每百人互联网用户数", "每百人宽带接入用户数"),
}


def _norm(text: Any) -> str:
    """Header normal form: NFKC, lower case, no spaces or joiners, round brackets only."""
    s = unicodedata.normalize("NFKC", str(text)).lower()
    s = s.translate(str.maketrans({"【": "(", "】": ")", "[": "(", "]": ")", "{": "(", "}": ")"}))
    return re.sub(r"[\s\u200b-\u200f\u2060\ufeff_\-—:：·'\"“”]+", "", s)


#: Header variants (normal form of the header with any unit removed) -> (target, unit).
#: The target is a key column (city, code, year, province, indicator, unit, meta) or a
#: quantity of :data:`INPUTS`; the unit is the canonical one a stated unit is converted to.
HEADERS: dict[str, tuple[str, str]] = {
    _norm(variant): (target, INPUTS[target].unit if target in INPUTS else "")
    for target, variants in _HEADER_SPEC.items()
    for variant in variants
}
_QUANTITY_KEYS = sorted(
    (k for k, (t, _) in HEADERS.items() if t in INPUTS and len(k) >= 3), key=len, reverse=True
)


@dataclass(frozen=True)
class HeaderInfo:
    """What a header says: its target, stated unit and qualifiers."""

    text: str
    target: str | None
    unit: str | None = None
    unit_tokens: tuple[str, ...] = ()
    qualifier: str = ""
    note: str = ""


_BASE_YEAR_RE = re.compile(
    r"(?:以|按)?((?:19|20)\d{2})年?(?:=100|为基期|为基年|基期|不变价|可比价|价格|价)"
)
_PREV_RE = re.compile(r"上年=100|上年为100|上一年=100|prev")


def parse_header(text: Any) -> HeaderInfo:
    """Recognise a header: the target it names and the unit it states.

    Parameters
    ----------
    text
        Header cell, e.g. ``"GDP（亿元）"``, ``"常住人口（万人）"``, ``"插值_常住人口"``,
        ``"实际GDP(2010年不变价)"`` or ``"GDP指数(上年=100)"``.

    Returns
    -------
    HeaderInfo
        ``target`` is ``None`` when the header is not recognised; ``note`` says why a
        recognised header is not used (municipal-district scope, nominal per-capita GDP).
        ``unit_tokens`` are the unit words found (brackets or a trailing unit word).
    """
    raw = str(text)
    n = _norm(raw)
    brackets = re.findall(r"\(([^()]*)\)", n)
    stem = re.sub(r"\([^()]*\)", "", n).replace("全市", "").replace("人民币", "")
    qualifier = "".join(brackets)
    tokens: list[str] = []
    for b in brackets:
        b2 = b.replace("人民币", "").replace("元/人", "元").replace("美元/人", "美元")
        tokens.extend(_UNIT_RE.findall(b2))
    if stem not in HEADERS:
        for tok in _TRAILING_UNITS:
            if stem.endswith(tok) and stem[: -len(tok)] in HEADERS:
                stem = stem[: -len(tok)]
                tokens.append(tok)
                break
    if "市辖区" in n:
        return HeaderInfo(raw, None, note="municipal-district scope (市辖区), not the whole city")
    hit = HEADERS.get(stem)
    if hit is None:
        note = (
            "nominal per-capita GDP; gdp_pc is derived from real GDP and population"
            if ("人均gdp" in stem or "人均地区生产总值" in stem)
            else ""
        )
        return HeaderInfo(raw, None, note=note)
    target = hit[0]
    target = _qualify(target, stem + qualifier)
    tok = tuple(dict.fromkeys(tokens))
    return HeaderInfo(raw, target, tok[0] if len(tok) == 1 else None, tok, qualifier)


def _qualify(target: str, text: str) -> str:
    """Adjust a GDP target for a price base or index base stated in the header."""
    m = _BASE_YEAR_RE.search(text)
    base = int(m.group(1)) if m else None
    if target == "gdp_nominal" and (base is not None or re.search("不变价|可比价", text)):
        return "gdp" if base == BASE_YEAR else "gdp_real_any"
    if target == "gdp_real_any" and base == BASE_YEAR:
        return "gdp"
    if target == "gdp_index" and base is not None and not _PREV_RE.search(text):
        return "gdp_real_any"  # a fixed-base index is real GDP up to a factor
    return target


def _target_in_text(text: str) -> HeaderInfo | None:
    """Find a quantity named anywhere in a title, sheet name or file name (wide tables).

    The longest header variant contained in the text wins ("地区生产总值增长率" before
    "地区生产总值"); a text about 人均 (per capita) takes only per-capita variants, a text
    about 市辖区 nothing. Units
    are read from the text after the variant.
    """
    n = _norm(text)
    if "市辖区" in n:
        return None
    for key in _QUANTITY_KEYS:
        pos = n.find(key)
        if pos < 0 or ("人均" in n and "人均" not in key):
            continue
        rest = n[pos + len(key) :].replace("人民币", "")
        tokens = tuple(dict.fromkeys(_UNIT_RE.findall(rest)))
        target = _qualify(HEADERS[key][0], n)
        return HeaderInfo(text, target, tokens[0] if len(tokens) == 1 else None, tokens, n)
    return None


# ========================================================================= cell parsing
_INVISIBLE_RE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff]+")
_MISSING_MARKERS = frozenset(
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
        "无",
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

    Returns values, a status array (0 ok or missing, 1 not a number, 2 Excel error) and a
    flag of cells written with a percent sign.
    """
    obj = cells.astype(object)
    is_bool = np.array([isinstance(v, bool) for v in obj.to_numpy(object)], dtype=bool)
    vals = pd.to_numeric(obj.where(~is_bool, None), errors="coerce").to_numpy(float, copy=True)
    status = np.zeros(len(obj), dtype=np.int8)
    pct = np.zeros(len(obj), dtype=bool)
    rest = np.isnan(vals) & _nonempty(obj.to_numpy(object))
    if rest.any():
        txt = obj[rest].map(_clean_text).str.lower()
        txt = txt.str.replace(",", "", regex=False).str.replace("，", "", regex=False)
        is_pct = txt.str.endswith("%").to_numpy(bool)
        txt = txt.str.rstrip("%")
        parsed = pd.to_numeric(txt, errors="coerce").to_numpy(float)
        marker = txt.isin(_MISSING_MARKERS).to_numpy(bool)
        excel = txt.isin(_EXCEL_ERRORS).to_numpy(bool)
        idx = np.flatnonzero(rest)
        vals[idx] = parsed
        pct[idx] = is_pct & ~np.isnan(parsed)
        bad = np.isnan(parsed) & ~marker
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


# ================================================================================ audit
class _Audit:
    """Collects audit records; raises at once on strict reasons when strict."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.records: list[dict[str, Any]] = []

    def add(
        self,
        reason: str,
        source: str,
        *,
        message: str | None = None,
        city_id: Any = None,
        city: Any = None,
        year: Any = None,
        variable: Any = None,
    ) -> None:
        if reason not in REASONS:
            raise KeyError(f"unknown audit reason {reason!r}")
        if self.strict and reason in STRICT_REASONS:
            raise YearbookError(message or source)
        self.records.append(
            dict(
                city_id=city_id,
                city=city,
                year=year,
                variable=variable,
                reason=reason,
                source=source,
            )
        )

    def frame(self) -> pd.DataFrame:
        return _audit_frame(self.records)


def _audit_frame(records: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    df = pd.DataFrame(records, columns=list(AUDIT_COLUMNS))
    df["city_id"] = pd.to_numeric(df["city_id"]).astype("Int64")
    df["year"] = pd.to_numeric(df["year"]).astype("Int64")
    for col in ("city", "variable", "reason", "source"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


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

    def at(self, row: int | None = None, column: str | None = None) -> str:
        s = self.file + (f" (sheet '{self.sheet}')" if self.sheet else "")
        if row is not None:
            s += f", row {row}"
        if column is not None:
            s += f", column '{column}'"
        return s


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
            audit.add("title_row", f"{where.at(i + 1)}: {_excerpt(rows[i])}")
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
            audit.add("note_row", f"{loc}: {text}")
        elif not year_ok[k]:
            col = str(header[keys["year"]])
            msg = f"{where.at(int(excel_row[k]), col)}: year {ycell!r} is not a year"
            audit.add("bad_year", f"{msg}; row: {text}", message=msg, city=city.iloc[k])
        else:
            msg = f"{where.at(int(excel_row[k]))}: no city name or code"
            audit.add("missing_city", f"{msg}; row: {text}", message=msg)

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
                variable=str(v),
            )
            continue
        if info.target in used:
            audit.add(
                "column_not_used",
                f"{where.at(h + 1, str(v))}: second column for {info.target}",
                variable=str(v),
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
        for k in np.flatnonzero(mask & (status > 0)):
            loc = where.at(int(excel_row[k]), col_name)
            cell = cells.iloc[k]
            if status[k] == 1:
                msg = f"{loc}: value {_clean_text(cell)!r} is not a number"
                audit.add(
                    "not_a_number",
                    msg,
                    message=msg,
                    city=label[k],
                    year=yr(k),
                    variable=target,
                )
            else:
                audit.add(
                    "excel_error",
                    f"{loc}: {_clean_text(cell)}",
                    city=label[k],
                    year=yr(k),
                    variable=target,
                )
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
        bad = np.isfinite(vals) & ((vals < lo) | (vals > hi) | ((vals == lo) & excl))
        for k in np.flatnonzero(bad):
            loc = where.at(int(excel_row[k]), col_name)
            rng = f"{'(' if excl else '['}{lo:g}, {hi:g}]"
            msg = f"{loc}: value {vals[k]:g} ({q.unit}) outside {rng} for {target}"
            audit.add(
                "out_of_range",
                msg,
                message=msg,
                city=label[k],
                year=yr(k),
                variable=target,
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
                    "column_not_used", f"{where.at()}: indicator {t!r} not recognised", variable=t
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
                )
            info["sheets"][name] = "skipped"
            continue
        info["sheets"][name] = f"{parsed.layout}, header row {parsed.header_row}"
        info["columns"].extend(parsed.columns)
        frames.append(parsed.frame)
    if not frames:
        raise YearbookError(
            f"{path.name}: no sheet holds a table with a city column and a year column "
            "(or years as columns)"
        )
    frame = pd.concat(frames, ignore_index=True)
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


# ======================================================================== the loader
def _stack(frame: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    """Long (file, sheet, row, city, city_id, year, target, value) of non-missing values."""
    keep = ["source", "sheet", "row", "city", "city_id", "year"]
    long = frame[keep + targets].melt(id_vars=keep, var_name="target", value_name="value")
    return long[long["value"].notna()].reset_index(drop=True)


def _rel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    denom = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.abs(a - b) / denom, 0.0)


def _rows_text(g: pd.DataFrame) -> str:
    pairs = dict.fromkeys(zip(g["sheet"], g["row"], strict=True))
    return ", ".join(f"{f'sheet {s!r} ' if s else ''}row {r}" for s, r in pairs)


def _dedupe_file(long: pd.DataFrame, rtol: float, audit: _Audit) -> pd.DataFrame:
    """Collapse repeated city-year values inside one file."""
    key = ["source", "city_id", "year", "target"]
    dup = long.duplicated(key, keep=False)
    if not dup.any():
        return long
    d = long[dup].sort_values([*key, "sheet", "row"])
    g = d.groupby(key, sort=False)["value"]
    spread = _rel_diff(g.transform("max").to_numpy(float), g.transform("min").to_numpy(float))
    conflict = spread > rtol
    d = d.assign(conflict=conflict)
    first = ~d.duplicated(key, keep="first")
    # identical repeats: one audit row per repeated (file, city, year)
    cy = ["source", "city_id", "year"]
    clash = d.loc[d["conflict"], cy].drop_duplicates()
    rep = d[~d["conflict"] & ~first]
    rep = rep[~pd.MultiIndex.from_frame(rep[cy]).isin(pd.MultiIndex.from_frame(clash))]
    if len(rep):
        orig = d[first & ~d["conflict"]].merge(rep[cy].drop_duplicates(), on=cy)
        orig_text = orig.groupby(cy, sort=False)[["sheet", "row"]].apply(_rows_text)
        for (src, cid, yr), grp in rep.groupby(cy, sort=False):
            audit.add(
                "duplicate_row",
                f"{src}: {_rows_text(grp)} repeat(s) {orig_text.get((src, cid, yr), '?')} "
                f"with the same values ({', '.join(sorted(set(grp.target)))})",
                city_id=int(cid),
                city=grp.city.iloc[0],
                year=int(yr),
            )
    for (src, cid, yr, tgt), grp in d[d["conflict"]].groupby(key, sort=False):
        vals = "; ".join(
            f"{s + ' ' if s else ''}row {r}: {v:g}"
            for s, r, v in zip(grp.sheet, grp.row, grp.value, strict=True)
        )
        msg = f"{src}: {tgt} of city {cid} in {yr} differs between rows ({vals})"
        audit.add(
            "duplicate_conflict",
            msg,
            message=msg,
            city_id=int(cid),
            city=grp.city.iloc[0],
            year=int(yr),
            variable=tgt,
        )
    keep = ~dup
    keep_idx = d.index[first & ~d["conflict"]]
    keep = keep | long.index.isin(keep_idx)
    return long[keep].reset_index(drop=True)


#: Quantities whose primary source should be the file with these companions (a nominal GDP
#: from the same file as the real index keeps the implied deflator consistent).
COMPANIONS: dict[str, tuple[str, ...]] = {"gdp_nominal": ("gdp_index", "gdp_real_any", "gdp")}


def _combine(
    long: pd.DataFrame, rtol: float, prefer: Mapping[str, str], audit: _Audit
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One value per (city_id, year, target): the primary file's, gaps filled by others."""
    counts = long.groupby(["target", "source"]).size()
    tf = long[["source", "target"]].drop_duplicates()
    has = {f: set(g) for f, g in tf.groupby("source")["target"]}
    order: dict[str, list[str]] = {}
    for tgt in long["target"].unique():
        files = counts[tgt].index.tolist()

        def rank(f: str, tgt: str = tgt) -> tuple[int, int, int, str]:
            pref = prefer.get(tgt)
            p = 0 if pref and pref in f else 1
            comp = 0 if set(COMPANIONS.get(tgt, ())) & has[f] else 1
            return (p, comp, -int(counts[(tgt, f)]), f)

        order[tgt] = sorted(files, key=rank)
    rank = {(t, f): i for t, files in order.items() for i, f in enumerate(files)}
    pairs = pd.MultiIndex.from_arrays([long["target"], long["source"]])
    long = long.assign(rank=pd.Series(rank).reindex(pairs).to_numpy()).sort_values(
        ["target", "city_id", "year", "rank"]
    )
    key = ["target", "city_id", "year"]
    first = ~long.duplicated(key, keep="first")
    kept = long[first]
    others = long[~first]
    if len(others):
        ref = others.merge(kept[[*key, "value", "source"]], on=key, suffixes=("", "_kept"))
        diff = _rel_diff(ref["value"].to_numpy(float), ref["value_kept"].to_numpy(float))
        for r in ref[diff > rtol].itertuples(index=False):
            sheet = f" (sheet '{r.sheet}')" if r.sheet else ""
            audit.add(
                "conflict_between_files",
                f"{r.source}{sheet}, row {r.row}: {r.target} {r.value:g} not used; "
                f"kept {r.value_kept:g} from {r.source_kept}",
                city_id=int(r.city_id),
                city=r.city,
                year=int(r.year),
                variable=r.target,
            )
    sources = {t: kept[kept.target == t].groupby("source").size().to_dict() for t in order}
    wide = kept.pivot(index=["city_id", "year"], columns="target", values="value")
    wide.columns.name = None
    return wide.reset_index(), dict(primary={t: o[0] for t, o in order.items()}, sources=sources)


def _chain_gdp(w: pd.DataFrame, names: Mapping[int, str], audit: _Audit) -> pd.Series:
    """Real GDP at BASE_YEAR prices (亿元) from nominal base-year GDP and the volume index.

    ``gdp_t = nominal_b * prod_{s=b+1..t} index_s/100`` for ``t > b`` and
    ``gdp_t = nominal_b / prod_{s=t+1..b} index_s/100`` for ``t < b``; where the index is
    missing the real series of any base (``gdp_real_any``) is rebased instead:
    ``gdp_t = real_t * nominal_b / real_b``.
    """
    out = pd.Series(np.nan, index=w.index)
    if "gdp_nominal" not in w or not ({"gdp_index", "gdp_real_any"} & set(w.columns)):
        return out
    years = np.arange(int(w["year"].min()), int(w["year"].max()) + 1)
    if not years[0] <= BASE_YEAR <= years[-1]:
        return out
    cities = np.sort(w["city_id"].unique())
    ci = np.searchsorted(cities, w["city_id"].to_numpy())
    yi = w["year"].to_numpy(int) - years[0]
    b = BASE_YEAR - years[0]

    def grid(col: str) -> np.ndarray:
        m = np.full((len(cities), len(years)), np.nan)
        if col in w:
            m[ci, yi] = w[col].to_numpy(float)
        return m

    nominal, index, real = grid("gdp_nominal"), grid("gdp_index"), grid("gdp_real_any")
    logi = np.log(index / 100.0)
    res = np.full_like(nominal, np.nan)
    base = nominal[:, b]
    res[:, b] = base
    fwd = np.cumsum(logi[:, b + 1 :], axis=1)  # NaN propagates past a gap
    res[:, b + 1 :] = base[:, None] * np.exp(fwd)
    bwd = np.cumsum(logi[:, b:0:-1], axis=1)  # sum_{s=t+1..b}, t = b-1, b-2, ...
    if b > 0:
        res[:, b - 1 :: -1] = base[:, None] * np.exp(-bwd)
    rebased = real * (base / real[:, b])[:, None]
    res = np.where(np.isnan(res), rebased, res)
    vals = res[ci, yi]
    out[:] = vals
    has_any = (~np.isnan(index)).any(axis=1) | (~np.isnan(real)).any(axis=1)
    for k in np.flatnonzero(np.isnan(base) & has_any):
        cid = int(cities[k])
        audit.add(
            "no_base_year_gdp",
            f"derived: no nominal GDP in {BASE_YEAR}; real GDP (and gdp_pc) not computed",
            city_id=cid,
            city=names.get(cid),
            year=BASE_YEAR,
            variable="gdp",
        )
    inputs = ~np.isnan(index[ci, yi]) | ~np.isnan(real[ci, yi])
    gap = np.isnan(vals) & inputs & ~np.isnan(base[ci])
    for k in np.flatnonzero(gap):
        cid = int(w["city_id"].iloc[k])
        audit.add(
            "gdp_chain_gap",
            f"derived: price index missing between {BASE_YEAR} and {int(w['year'].iloc[k])}",
            city_id=cid,
            city=names.get(cid),
            year=int(w["year"].iloc[k]),
            variable="gdp",
        )
    return out


def _derive(
    w: pd.DataFrame, use_interpolated: bool, names: Mapping[int, str], audit: _Audit
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Canonical variables from raw inputs; a reported canonical column wins over a derived one."""
    col = w.get
    how: dict[str, str] = {}

    def nan() -> pd.Series:
        return pd.Series(np.nan, index=w.index)

    def fill(name: str, derived: pd.Series, recipe: str) -> None:
        if name in w:
            gaps = int((w[name].isna() & derived.notna()).sum())
            w[name] = w[name].fillna(derived)
            how[name] = how.get(name, "reported") + (
                f"; {gaps} missing values filled: {recipe}" if gaps else ""
            )
        elif derived.notna().any():
            w[name] = derived
            how[name] = recipe

    if use_interpolated and "pop_interp" in w:
        fill("pop", w["pop_interp"], "interpolated resident population (source's own)")
    if "gdp" in w:
        how["gdp"] = "reported (2010 prices)"
    fill(
        "gdp",
        _chain_gdp(w, names, audit),
        f"chained from nominal {BASE_YEAR} GDP and the previous-year=100 index",
    )
    growth = col("gdp_index", nan()) - 100.0
    if "gdp" in w:
        prev = w.sort_values("year").groupby("city_id")["gdp"].shift(1).reindex(w.index)
        gap1 = w.sort_values("year").groupby("city_id")["year"].diff().reindex(w.index)
        from_gdp = (w["gdp"] / prev - 1.0) * 100.0
        growth = growth.fillna(from_gdp.where(gap1 == 1))
    fill("gdp_growth", growth, "index - 100 (or real GDP growth)")
    pop = col("pop", nan())
    fill("gdp_pc", col("gdp", nan()) / pop * 1e4, "gdp * 1e8 / (pop * 1e4)")
    gn = col("gdp_nominal", nan())
    fill("service_share", col("tertiary_va", nan()) / gn * 100.0, "tertiary VA / nominal GDP")
    fill("secondary_share", col("secondary_va", nan()) / gn * 100.0, "secondary VA / nominal GDP")
    fill("fdi_pc", col("fdi", nan()) / pop, "FDI (万美元) / pop (万人) = US$ per person")
    fill(
        "fin_dev",
        (col("loans", nan()) + col("deposits", nan())) / gn,
        "(loans + deposits) / nominal GDP",
    )
    for name, raw in (("savings_pc", "savings"), ("fai_pc", "fai"), ("retail_pc", "retail")):
        fill(name, col(raw, nan()) / pop * 1e4, f"{raw} * 1e8 / (pop * 1e4)")
    fill("human_capital", col("students", nan()) / pop, "students / pop (万人)")
    fill("info_infra", col("broadband", nan()) / pop * 100.0, "broadband (万户) / pop * 100")
    for name in ("gdp_nominal", "pop", "land_area", "wage", "industrial_output"):
        if name in w and name not in how:
            how[name] = "reported"
    return w, how


def _validate(w: pd.DataFrame, names: Mapping[int, str], audit: _Audit) -> pd.DataFrame:
    for name, (lo, hi, excl) in RANGES.items():
        if name not in w:
            continue
        v = w[name].to_numpy(float)
        bad = np.isfinite(v) & ((v < lo) | (v > hi) | ((v == lo) & excl))
        for k in np.flatnonzero(bad):
            cid, yr = int(w["city_id"].iloc[k]), int(w["year"].iloc[k])
            rng = f"{'(' if excl else '['}{lo:g}, {hi:g}]"
            msg = (
                f"derived {name} of {names.get(cid, cid)} ({cid}) in {yr}: value "
                f"{v[k]:g} outside {rng}"
            )
            audit.add(
                "out_of_range",
                msg,
                message=msg,
                city_id=cid,
                city=names.get(cid),
                year=yr,
                variable=name,
            )
        if bad.any():
            w.loc[bad, name] = np.nan
    return w


def _year_set(years: Iterable[int] | tuple[int, int] | None) -> set[int] | None:
    if years is None:
        return None
    if isinstance(years, tuple) and len(years) == 2:
        return set(range(int(years[0]), int(years[1]) + 1))
    return {int(y) for y in years}


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
        auditing it.
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
        ``audit`` every exclusion (reasons :data:`REASONS`); ``unavailable`` the canonical
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
    wide, provenance = _combine(long, rtol, prefer or {}, audit)
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
                    )
                continue
            note = matcher.note(label)
            audit.add(
                reason,
                f"{src}{sheet}, {_span('row', g.row)} ({_span('', g.year.dropna())}): "
                f"{label!r} not in the city registry" + (f" ({note})" if note else ""),
                city=label,
            )
    return t[~bad].drop(columns="why").reset_index(drop=True)


def audit_summary(panel: CityPanel) -> pd.DataFrame:
    """Audit rows counted by reason.

    Returns
    -------
    pandas.DataFrame
        ``reason``, ``rows`` (audit rows), ``cities`` (distinct matched cities),
        ``meaning`` (from :data:`REASONS`), sorted by ``rows`` descending.
    """
    a = panel.audit
    if a.empty:
        return pd.DataFrame({"reason": [], "rows": [], "cities": [], "meaning": []})
    g = a.groupby("reason", sort=False)
    out = pd.DataFrame({"rows": g.size(), "cities": g["city_id"].nunique()}).reset_index()
    out["meaning"] = out["reason"].map(REASONS).fillna("")
    return out.sort_values(["rows", "reason"], ascending=[False, True]).reset_index(drop=True)
