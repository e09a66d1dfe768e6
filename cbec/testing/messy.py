"""Small messy yearbook files for the loader's tests, written into a temporary folder.

Each writer returns the path it wrote. The files imitate what users really hold: a GBK csv
with a title row, float years, numbers with thousands separators, trailing empty columns,
note and advert rows, a non-numeric cell, a renamed city (襄樊), an unknown city and an
abolished one (巢湖 after 2011); an xlsx with a title row, a blank row, codes (old, county
and prefecture), 万元 amounts, an Excel error, a note cell in a column without header and
a notes sheet; a wide xlsx with years as columns (float, int and '2011年' headers).

Every number the tests expect is computed by hand from the rows below.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd

#: Header of the GBK csv (row 2 of the file).
GBK_HEADER = [
    "年份",
    "城市",
    "地区生产总值（亿元）",
    "常住人口（万人）",
    "GDP指数（上年=100）",
    "行政区域土地面积(平方公里)",
    "",
    "",
]
#: Data rows of the GBK csv, rows 3-11 of the file.
GBK_ROWS = [
    ["2009.0", "襄樊市", "1,500.0", "550", "114.0", "19728", "", ""],
    ["2010.0", "襄樊市", "1,710.0", "550.5", "115.0", "19728", "", ""],
    ["2011.0", "襄阳市", "2,132.2", "551", "115.2", "19728", "", ""],
    ["2009", "杭州市", "5098.66", "810", "110.0", "16596", "", ""],
    ["2010", "杭州市", "5949.17", "870.04", "112.0", "16596", "", ""],
    ["2011", "杭州市", "7011.8", "abc", "110.1", "16596", "", ""],
    ["2010", "火星市", "100", "10", "110", "100", "", ""],
    ["2010", "巢湖市", "800", "400", "113.5", "9423", "", ""],
    ["2012", "巢湖", "900", "390", "112", "9423", "", ""],
]
GBK_NAME = "城市面板_gbk.csv"


def write_gbk_csv(folder: Path, name: str = GBK_NAME) -> Path:
    """GBK csv: title row 1, header row 2, data rows 3-11, note rows 12-13."""
    lines = [",".join(["表1 部分城市主要经济指标（2009-2011）"] + [""] * 7)]
    lines.append(",".join(GBK_HEADER))
    lines += [",".join(f'"{c}"' if "," in c else c for c in r) for r in GBK_ROWS]
    lines.append(",".join(["数据来源：某市统计年鉴"] + [""] * 7))
    lines.append(",".join(["更多数据请关注微信公众号"] + [""] * 7))
    path = folder / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


XLSX_NAME = "金融与外资.xlsx"
#: Header of the finance/FDI workbook (row 3 of sheet '数据'); column H has no header.
XLSX_HEADER = [
    "城市代码",
    "地级市",
    "年份",
    "实际使用外资金额（万美元）",
    "年末金融机构各项贷款余额（万元）",
    "年末金融机构存款余额（万元）",
    "地区生产总值（万元）",
    None,
]
#: Data rows 4-9 of sheet '数据'.
XLSX_ROWS = [
    [420600, "襄阳", 2010.0, 25000, 8000000, 12000000, 17100000, None],
    [330100, "杭州", 2010.0, 430000, 80000000, 100000000, 50000000, None],
    [330102, None, 2011.0, 470000, "#DIV/0!", 110000000, None, "注：贷款含外币"],
    [652200, "哈密地区", 2015.0, 1000, None, None, None, None],
    [540600, "那曲市", 2018.0, 50, None, None, None, None],
    [None, "博州", 2016.0, 800, None, None, None, None],
]


def write_finance_xlsx(folder: Path, name: str = XLSX_NAME) -> Path:
    """Sheet '数据': title row 1, blank row 2, header row 3, data rows 4-9, note row 10.

    Sheet '说明' holds only notes.
    """
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "数据"
    ws.append(["各市金融与外资数据"])
    ws.append([])
    ws.append(XLSX_HEADER)
    for r in XLSX_ROWS:
        ws.append(r)
    ws.append(["注：本表数据来源于各市统计公报"])
    notes = wb.create_sheet("说明")
    notes.append(["数据说明"])
    notes.append(["贷款、存款为年末余额"])
    path = folder / name
    wb.save(path)
    return path


WIDE_NAME = "第三产业占比.xlsx"
#: Rows 3-5 of the wide workbook: city, then shares for 2009, 2010, 2011.
WIDE_ROWS = [
    ["襄樊市", 38.5, 39.0, 39.9],
    ["杭州市", 48.6, 48.7, 49.3],
    ["延边州", 45.0, 46.0, 47.0],
]


def write_wide_xlsx(folder: Path, name: str = WIDE_NAME) -> Path:
    """Title row 1 names the variable; header row 2 has years 2009.0, 2010 and '2011年'."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["第三产业增加值占GDP比重（%）"])
    ws.append(["城市", 2009.0, 2010, "2011年"])
    for r in WIDE_ROWS:
        ws.append(r)
    path = folder / name
    wb.save(path)
    return path


def write_messy_folder(folder: Path) -> Path:
    """The three messy files together in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_gbk_csv(folder)
    write_finance_xlsx(folder)
    write_wide_xlsx(folder)
    return folder


def write_csv(
    folder: Path, name: str, header: list[str], rows: list[list[object]], encoding: str = "utf-8"
) -> Path:
    """A plain csv (header row 1, data from row 2)."""
    path = folder / name
    pd.DataFrame(rows, columns=header).to_csv(path, index=False, encoding=encoding)
    return path


def stand_in_cities() -> pd.DataFrame:
    """A small registry with the columns of ``cbec.data.reference.load_cities``."""
    rows = [
        (110000, "北京市", "北京", "Beijing", 11, "北京市", "municipality"),
        (330100, "杭州市", "杭州", "Hangzhou", 33, "浙江省", "prefecture_city"),
        (341400, "巢湖市", "巢湖", "Chaohu", 34, "安徽省", "prefecture_city"),
        (370100, "济南市", "济南", "Jinan", 37, "山东省", "prefecture_city"),
        (371200, "莱芜市", "莱芜", "Laiwu", 37, "山东省", "prefecture_city"),
        (420600, "襄阳市", "襄阳", "Xiangyang", 42, "湖北省", "prefecture_city"),
        (450200, "柳州市", "柳州", "Liuzhou", 45, "广西壮族自治区", "prefecture_city"),
        (222400, "延边朝鲜族自治州", "延边", "Yanbian", 22, "吉林省", "autonomous_prefecture"),
        (540600, "那曲市", "那曲", "Naqu", 54, "西藏自治区", "prefecture_city"),
        (650500, "哈密市", "哈密", "Hami", 65, "新疆维吾尔自治区", "prefecture_city"),
        (
            652700,
            "博尔塔拉蒙古自治州",
            "博尔塔拉",
            "Bo'ertala",
            65,
            "新疆维吾尔自治区",
            "autonomous_prefecture",
        ),
        (
            654000,
            "伊犁哈萨克自治州",
            "伊犁",
            "Yili",
            65,
            "新疆维吾尔自治区",
            "autonomous_prefecture",
        ),
    ]
    df = pd.DataFrame(
        rows,
        columns=[
            "city_id",
            "name_zh",
            "short_zh",
            "name_pinyin",
            "province_code",
            "province_zh",
            "level",
        ],
    )
    df["province_pinyin"] = ""
    df["admin_rank"] = 1
    df["rank_label"] = "other"
    df["region3"] = "east"
    df["region4"] = "east"
    df["lon"] = 110.0
    df["lat"] = 30.0
    df["city_since"] = pd.array([None] * len(df), dtype="Int64")
    df["notes"] = ""
    return df


def malformed_copy(src: Path, dest: Path, edit) -> Path:
    """Copy the workbook ``src`` to ``dest`` after ``edit(worksheet)`` changed its first sheet.

    Used on the real panel's GDP workbook (tests marked ``real``) to make the malformed
    copies a user may hold: a duplicated row with another value, a missing-value marker,
    a deleted column, a header-only file.
    """
    wb = openpyxl.load_workbook(src)
    edit(wb.worksheets[0])
    dest.parent.mkdir(parents=True, exist_ok=True)
    wb.save(dest)
    return dest
