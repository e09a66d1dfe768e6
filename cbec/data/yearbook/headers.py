"""Quantities, units and header recognition of yearbook columns."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from cbec.data.panel import VARIABLES
from cbec.data.yearbook.rules import (
    BASE_YEAR,
)


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
