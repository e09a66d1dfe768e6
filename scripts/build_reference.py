"""Build the city registry and the pilot roster in ``data/reference/``.

Regenerates two committed tables from their sources, with no network access:

``pilot_areas.csv``
    The 165 cross-border e-commerce comprehensive pilot areas of batches 1-7, read from the
    pilot-area fact sheet ``pilot_areas_by_batch.csv`` (the State Council approvals, cited by
    number in ``data/reference/CODEBOOK.md``; not redistributed here: pass it with
    ``--areas-source`` or ``$CBEC_PILOT_FACT_SHEET``, default
    ``../shared/data/reference/pilot_areas_by_batch.csv`` beside the checkout) and enriched
    with pinyin, area type, the prefecture each area lies in and how the study treats it.
    Besides the fact sheet it needs only the committed ``cities.csv``, and no network. The
    committed ``pilot_areas.csv`` is the one source of pilot dates for the package.

``cities.csv``
    One row per prefecture-level unit and municipality. Codes, Chinese names and
    coordinates come from ``resources/adcodes.csv`` of the PyPI package ``cpca`` 0.5.5
    (MIT licence, (c) 2018 QinYuan Du). Rebuilt only when you pass exactly that file's
    archive, ``cpca-0.5.5-py3-none-any.whl`` (or its sdist) as downloaded from PyPI; the
    member ``cpca/resources/adcodes.csv`` must have SHA-256 :data:`CPCA_ADCODES_SHA256`.
    The archive is read as a zip or tar; ``cpca`` itself is never imported. Everything else
    in the table (pinyin, administrative rank, regions, the year a unit became a
    prefecture-level city, notes on changes after the file's 2016-2017 vintage) is written
    below in this script. Without the archive the committed ``cities.csv`` is kept.

Usage (from the repository root)::

    python scripts/build_reference.py             # pilot_areas.csv from the fact sheet
    python scripts/build_reference.py --check     # rebuild into a temp dir, compare bytes
    python scripts/build_reference.py --cpca-archive cpca-0.5.5-py3-none-any.whl  # both

The output is deterministic: running the script twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import io
import os
import re
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # use this checkout's cbec even if another one is installed

from cbec.data.reference import (  # noqa: E402  (needs the path set above)
    AREA_COLUMNS,
    CITY_COLUMNS,
    PREFECTURE_LEVELS,
    UNIT_YEARS,
)

CPCA_VERSION = "0.5.5"
CPCA_MEMBER = "cpca/resources/adcodes.csv"
#: SHA-256 of ``resources/adcodes.csv`` in cpca 0.5.5; a different file means a different
#: vintage, and every hand-written fact below would have to be checked again.
CPCA_ADCODES_SHA256 = "66948fa1519ba053f22b8c2d05c897c9b19c44cdc3044e464b52f0143ff418fe"

DEFAULT_OUT = REPO / "data" / "reference"
DEFAULT_AREAS_SOURCE = Path(
    os.environ.get(
        "CBEC_PILOT_FACT_SHEET",
        REPO.parent / "shared" / "data" / "reference" / "pilot_areas_by_batch.csv",
    )
)

# --------------------------------------------------------------------------- provinces
#: Hanyu pinyin of the 31 mainland provincial units, by 2-digit code.
PROVINCE_PINYIN: dict[int, str] = {
    11: "Beijing", 12: "Tianjin", 13: "Hebei", 14: "Shanxi", 15: "Neimenggu",
    21: "Liaoning", 22: "Jilin", 23: "Heilongjiang",
    31: "Shanghai", 32: "Jiangsu", 33: "Zhejiang", 34: "Anhui", 35: "Fujian", 36: "Jiangxi",
    37: "Shandong",
    41: "Henan", 42: "Hubei", 43: "Hunan", 44: "Guangdong", 45: "Guangxi", 46: "Hainan",
    50: "Chongqing", 51: "Sichuan", 52: "Guizhou", 53: "Yunnan", 54: "Xizang",
    61: "Shaanxi", 62: "Gansu", 63: "Qinghai", 64: "Ningxia", 65: "Xinjiang",
}  # fmt: skip

# National Bureau of Statistics regional splits, by province code.
# Four-way (NBS, since 2011): east 10, central 6, west 12, northeast 3.
REGION4_EAST = {11, 12, 13, 31, 32, 33, 35, 37, 44, 46}
REGION4_CENTRAL = {14, 34, 36, 41, 42, 43}
REGION4_NORTHEAST = {21, 22, 23}
REGION4_WEST = {15, 45, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65}
# Three-way (the older NBS east/central/west split): Liaoning is east, Jilin and
# Heilongjiang are central, the west is the twelve western-development provinces.
REGION3_EAST = REGION4_EAST | {21}
REGION3_CENTRAL = REGION4_CENTRAL | {22, 23}
REGION3_WEST = REGION4_WEST

# --------------------------------------------------------------------------- ranks
#: The four municipalities directly under the central government (rank 4).
MUNICIPALITIES = {110000: "北京市", 120000: "天津市", 310000: "上海市", 500000: "重庆市"}
#: The 15 sub-provincial cities (副省级城市, rank 3): ten provincial capitals and the five
#: cities specifically designated in the state plan (Dalian, Qingdao, Ningbo, Xiamen, Shenzhen).
SUB_PROVINCIAL = {
    "沈阳", "大连", "长春", "哈尔滨", "南京", "杭州", "宁波", "厦门",
    "济南", "青岛", "武汉", "广州", "深圳", "成都", "西安",
}  # fmt: skip
#: Capitals of the 27 provinces and autonomous regions; the 17 that are not sub-provincial
#: get rank 2.
PROVINCIAL_CAPITALS = {
    "石家庄", "太原", "呼和浩特", "沈阳", "长春", "哈尔滨", "南京", "杭州", "合肥",
    "福州", "南昌", "济南", "郑州", "武汉", "长沙", "广州", "南宁", "海口", "成都",
    "贵阳", "昆明", "拉萨", "西安", "兰州", "西宁", "银川", "乌鲁木齐",
}  # fmt: skip

# --------------------------------------------------------------------------- timing facts
#: Year a unit became a prefecture-level city (地级市), for conversions after 2004.
#: Keys are the short names. Sources: the State Council approvals as listed in the Ministry
#: of Civil Affairs' yearly tables of county-and-above administrative-division changes.
CITY_SINCE: dict[str, int] = {
    "毕节": 2011,  # 毕节地区 -> 毕节市, approved October 2011
    "铜仁": 2011,  # 铜仁地区 -> 铜仁市, approved October 2011
    "三沙": 2012,  # new prefecture-level city (Xisha/Nansha/Zhongsha islands), July 2012
    "海东": 2013,  # 海东地区 -> 海东市, approved February 2013
    "日喀则": 2014,  # 日喀则地区 -> 日喀则市, approved June 2014
    "昌都": 2014,  # 昌都地区 -> 昌都市, approved October 2014
    "儋州": 2015,  # county-level 儋州市 upgraded to prefecture level, February 2015
    "林芝": 2015,  # 林芝地区 -> 林芝市, approved March 2015
    "吐鲁番": 2015,  # 吐鲁番地区 -> 吐鲁番市, approved March 2015
    "山南": 2016,  # 山南地区 -> 山南市, approved January 2016
    "哈密": 2016,  # 哈密地区 -> 哈密市, approved January 2016
    "那曲": 2018,  # 那曲地区 -> 那曲市, approved July 2017, set up in 2018
}
#: Former prefecture codes of units whose code changed when they became cities.
FORMER_CODE: dict[str, int] = {
    "毕节": 522400, "铜仁": 522200, "海东": 632100, "日喀则": 542300, "昌都": 542100,
    "林芝": 542600, "吐鲁番": 652100, "山南": 542200, "哈密": 652200, "那曲": 542400,
}  # fmt: skip
#: Code that the source (2016-2017 vintage) still uses and that changed later.
CODE_UPDATES: dict[int, tuple[int, str]] = {
    542400: (540600, "那曲市"),  # Nagqu became a city after the cpca vintage (see CITY_SINCE)
}
#: Prefecture-level units missing from the source because they were abolished before its
#: vintage: code, full name, the cpca county row whose coordinates mark its former seat.
ABOLISHED_UNITS: dict[int, tuple[str, int]] = {
    341400: ("巢湖市", 340181),  # abolished 2011, split among Hefei, Wuhu and Ma'anshan
}
#: Notes on renames and other changes, by short name.
EXTRA_NOTES: dict[str, str] = {
    "巢湖": (
        "abolished in 2011 (State Council approval, July 2011): its districts and counties went "
        "to Hefei, Wuhu and Ma'anshan and its seat became the county-level 巢湖市 under Hefei; "
        "missing from cpca 0.5.5, row added here at the county-level city's coordinates"
    ),
    "莱芜": (
        "merged into Jinan (approved December 2018, in force January 2019); kept as its own "
        "unit for data up to 2018; yearbooks from 2019 report it inside Jinan"
    ),
    "济南": "absorbed Laiwu in January 2019: figures from 2019 include the former Laiwu",
    "襄阳": "named 襄樊市 until the 2010 rename (same unit, same code)",
    "普洱": "named 思茅市 until the 2007 rename (same unit, same code)",
    "三沙": "set up in July 2012; no city statistics published",
    "儋州": "a county-level city directly under Hainan province before its 2015 upgrade",
    "那曲": "cpca 0.5.5 still lists 那曲地区 (code 542400); name and code updated here",
}

# --------------------------------------------------------------------------- pinyin
#: Pinyin of every short name (Hanyu pinyin, syllables joined, apostrophe before a syllable
#: starting with a, o or e; u-umlaut written as in Lüliang). Four provincial capitals keep
#: their established English names: Harbin, Hohhot, Urumqi, Lhasa. Names that would be
#: spelt alike get the province in brackets.
PINYIN: dict[str, str] = {
    # municipalities
    "北京": "Beijing", "天津": "Tianjin", "上海": "Shanghai", "重庆": "Chongqing",
    # Hebei
    "石家庄": "Shijiazhuang", "唐山": "Tangshan", "秦皇岛": "Qinhuangdao", "邯郸": "Handan",
    "邢台": "Xingtai", "保定": "Baoding", "张家口": "Zhangjiakou", "承德": "Chengde",
    "沧州": "Cangzhou", "廊坊": "Langfang", "衡水": "Hengshui",
    # Shanxi
    "太原": "Taiyuan", "大同": "Datong", "阳泉": "Yangquan", "长治": "Changzhi",
    "晋城": "Jincheng", "朔州": "Shuozhou", "晋中": "Jinzhong", "运城": "Yuncheng",
    "忻州": "Xinzhou", "临汾": "Linfen", "吕梁": "Lüliang",
    # Inner Mongolia
    "呼和浩特": "Hohhot", "包头": "Baotou", "乌海": "Wuhai", "赤峰": "Chifeng",
    "通辽": "Tongliao", "鄂尔多斯": "E'erduosi", "呼伦贝尔": "Hulunbei'er",
    "巴彦淖尔": "Bayannao'er", "乌兰察布": "Wulanchabu", "兴安": "Xing'an",
    "锡林郭勒": "Xilinguole", "阿拉善": "Alashan",
    # Liaoning
    "沈阳": "Shenyang", "大连": "Dalian", "鞍山": "Anshan", "抚顺": "Fushun", "本溪": "Benxi",
    "丹东": "Dandong", "锦州": "Jinzhou", "营口": "Yingkou", "阜新": "Fuxin",
    "辽阳": "Liaoyang", "盘锦": "Panjin", "铁岭": "Tieling", "朝阳": "Chaoyang",
    "葫芦岛": "Huludao",
    # Jilin
    "长春": "Changchun", "吉林": "Jilin", "四平": "Siping", "辽源": "Liaoyuan",
    "通化": "Tonghua", "白山": "Baishan", "松原": "Songyuan", "白城": "Baicheng",
    "延边": "Yanbian",
    # Heilongjiang
    "哈尔滨": "Harbin", "齐齐哈尔": "Qiqiha'er", "鸡西": "Jixi", "鹤岗": "Hegang",
    "双鸭山": "Shuangyashan", "大庆": "Daqing", "伊春": "Yichun (Heilongjiang)",
    "佳木斯": "Jiamusi", "七台河": "Qitaihe", "牡丹江": "Mudanjiang", "黑河": "Heihe",
    "绥化": "Suihua", "大兴安岭": "Daxing'anling",
    # Jiangsu
    "南京": "Nanjing", "无锡": "Wuxi", "徐州": "Xuzhou", "常州": "Changzhou",
    "苏州": "Suzhou (Jiangsu)", "南通": "Nantong", "连云港": "Lianyungang",
    "淮安": "Huai'an", "盐城": "Yancheng", "扬州": "Yangzhou", "镇江": "Zhenjiang",
    "泰州": "Taizhou (Jiangsu)", "宿迁": "Suqian",
    # Zhejiang
    "杭州": "Hangzhou", "宁波": "Ningbo", "温州": "Wenzhou", "嘉兴": "Jiaxing",
    "湖州": "Huzhou", "绍兴": "Shaoxing", "金华": "Jinhua", "衢州": "Quzhou",
    "舟山": "Zhoushan", "台州": "Taizhou (Zhejiang)", "丽水": "Lishui",
    # Anhui
    "合肥": "Hefei", "芜湖": "Wuhu", "蚌埠": "Bengbu", "淮南": "Huainan",
    "马鞍山": "Ma'anshan", "淮北": "Huaibei", "铜陵": "Tongling", "安庆": "Anqing",
    "黄山": "Huangshan", "滁州": "Chuzhou", "阜阳": "Fuyang", "宿州": "Suzhou (Anhui)",
    "巢湖": "Chaohu", "六安": "Lu'an", "亳州": "Bozhou", "池州": "Chizhou",
    "宣城": "Xuancheng",
    # Fujian
    "福州": "Fuzhou (Fujian)", "厦门": "Xiamen", "莆田": "Putian", "三明": "Sanming",
    "泉州": "Quanzhou", "漳州": "Zhangzhou", "南平": "Nanping", "龙岩": "Longyan",
    "宁德": "Ningde",
    # Jiangxi
    "南昌": "Nanchang", "景德镇": "Jingdezhen", "萍乡": "Pingxiang", "九江": "Jiujiang",
    "新余": "Xinyu", "鹰潭": "Yingtan", "赣州": "Ganzhou", "吉安": "Ji'an",
    "宜春": "Yichun (Jiangxi)", "抚州": "Fuzhou (Jiangxi)", "上饶": "Shangrao",
    # Shandong
    "济南": "Jinan", "青岛": "Qingdao", "淄博": "Zibo", "枣庄": "Zaozhuang",
    "东营": "Dongying", "烟台": "Yantai", "潍坊": "Weifang", "济宁": "Jining",
    "泰安": "Tai'an", "威海": "Weihai", "日照": "Rizhao", "莱芜": "Laiwu", "临沂": "Linyi",
    "德州": "Dezhou", "聊城": "Liaocheng", "滨州": "Binzhou", "菏泽": "Heze",
    # Henan
    "郑州": "Zhengzhou", "开封": "Kaifeng", "洛阳": "Luoyang", "平顶山": "Pingdingshan",
    "安阳": "Anyang", "鹤壁": "Hebi", "新乡": "Xinxiang", "焦作": "Jiaozuo",
    "濮阳": "Puyang", "许昌": "Xuchang", "漯河": "Luohe", "三门峡": "Sanmenxia",
    "南阳": "Nanyang", "商丘": "Shangqiu", "信阳": "Xinyang", "周口": "Zhoukou",
    "驻马店": "Zhumadian",
    # Hubei
    "武汉": "Wuhan", "黄石": "Huangshi", "十堰": "Shiyan", "宜昌": "Yichang",
    "襄阳": "Xiangyang", "鄂州": "Ezhou", "荆门": "Jingmen", "孝感": "Xiaogan",
    "荆州": "Jingzhou", "黄冈": "Huanggang", "咸宁": "Xianning", "随州": "Suizhou",
    "恩施": "Enshi",
    # Hunan
    "长沙": "Changsha", "株洲": "Zhuzhou", "湘潭": "Xiangtan", "衡阳": "Hengyang",
    "邵阳": "Shaoyang", "岳阳": "Yueyang", "常德": "Changde", "张家界": "Zhangjiajie",
    "益阳": "Yiyang", "郴州": "Chenzhou", "永州": "Yongzhou", "怀化": "Huaihua",
    "娄底": "Loudi", "湘西": "Xiangxi",
    # Guangdong
    "广州": "Guangzhou", "韶关": "Shaoguan", "深圳": "Shenzhen", "珠海": "Zhuhai",
    "汕头": "Shantou", "佛山": "Foshan", "江门": "Jiangmen", "湛江": "Zhanjiang",
    "茂名": "Maoming", "肇庆": "Zhaoqing", "惠州": "Huizhou", "梅州": "Meizhou",
    "汕尾": "Shanwei", "河源": "Heyuan", "阳江": "Yangjiang", "清远": "Qingyuan",
    "东莞": "Dongguan", "中山": "Zhongshan", "潮州": "Chaozhou", "揭阳": "Jieyang",
    "云浮": "Yunfu",
    # Guangxi
    "南宁": "Nanning", "柳州": "Liuzhou", "桂林": "Guilin", "梧州": "Wuzhou",
    "北海": "Beihai", "防城港": "Fangchenggang", "钦州": "Qinzhou", "贵港": "Guigang",
    "玉林": "Yulin (Guangxi)", "百色": "Baise", "贺州": "Hezhou", "河池": "Hechi",
    "来宾": "Laibin", "崇左": "Chongzuo",
    # Hainan
    "海口": "Haikou", "三亚": "Sanya", "三沙": "Sansha", "儋州": "Danzhou",
    # Sichuan
    "成都": "Chengdu", "自贡": "Zigong", "攀枝花": "Panzhihua", "泸州": "Luzhou",
    "德阳": "Deyang", "绵阳": "Mianyang", "广元": "Guangyuan", "遂宁": "Suining",
    "内江": "Neijiang", "乐山": "Leshan", "南充": "Nanchong", "眉山": "Meishan",
    "宜宾": "Yibin", "广安": "Guang'an", "达州": "Dazhou", "雅安": "Ya'an",
    "巴中": "Bazhong", "资阳": "Ziyang", "阿坝": "Aba", "甘孜": "Ganzi",
    "凉山": "Liangshan",
    # Guizhou
    "贵阳": "Guiyang", "六盘水": "Liupanshui", "遵义": "Zunyi", "安顺": "Anshun",
    "毕节": "Bijie", "铜仁": "Tongren", "黔西南": "Qianxinan", "黔东南": "Qiandongnan",
    "黔南": "Qiannan",
    # Yunnan
    "昆明": "Kunming", "曲靖": "Qujing", "玉溪": "Yuxi", "保山": "Baoshan",
    "昭通": "Zhaotong", "丽江": "Lijiang", "普洱": "Pu'er", "临沧": "Lincang",
    "楚雄": "Chuxiong", "红河": "Honghe", "文山": "Wenshan", "西双版纳": "Xishuangbanna",
    "大理": "Dali", "德宏": "Dehong", "怒江": "Nujiang", "迪庆": "Diqing",
    # Tibet
    "拉萨": "Lhasa", "日喀则": "Rikaze", "昌都": "Changdu", "林芝": "Linzhi",
    "山南": "Shannan", "那曲": "Naqu", "阿里": "Ali",
    # Shaanxi
    "西安": "Xi'an", "铜川": "Tongchuan", "宝鸡": "Baoji", "咸阳": "Xianyang",
    "渭南": "Weinan", "延安": "Yan'an", "汉中": "Hanzhong", "榆林": "Yulin (Shaanxi)",
    "安康": "Ankang", "商洛": "Shangluo",
    # Gansu
    "兰州": "Lanzhou", "嘉峪关": "Jiayuguan", "金昌": "Jinchang", "白银": "Baiyin",
    "天水": "Tianshui", "武威": "Wuwei", "张掖": "Zhangye", "平凉": "Pingliang",
    "酒泉": "Jiuquan", "庆阳": "Qingyang", "定西": "Dingxi", "陇南": "Longnan",
    "临夏": "Linxia", "甘南": "Gannan",
    # Qinghai
    "西宁": "Xining", "海东": "Haidong", "海北": "Haibei", "黄南": "Huangnan",
    "海南": "Hainan (Qinghai)", "果洛": "Guoluo", "玉树": "Yushu", "海西": "Haixi",
    # Ningxia
    "银川": "Yinchuan", "石嘴山": "Shizuishan", "吴忠": "Wuzhong", "固原": "Guyuan",
    "中卫": "Zhongwei",
    # Xinjiang
    "乌鲁木齐": "Urumqi", "克拉玛依": "Kelamayi", "吐鲁番": "Tulufan", "哈密": "Hami",
    "昌吉": "Changji", "博尔塔拉": "Bo'ertala", "巴音郭楞": "Bayinguoleng",
    "阿克苏": "Akesu", "克孜勒苏": "Kezilesu", "喀什": "Kashi", "和田": "Hetian",
    "伊犁": "Yili", "塔城": "Tacheng", "阿勒泰": "Aletai",
}  # fmt: skip

# --------------------------------------------------------------------------- pilot areas
#: Pilot areas that are not prefecture-level units: area -> (prefecture short name,
#: area type, pinyin). County-level cities are administered by the prefecture named;
#: the Xiong'an New Area spans three counties of Baoding.
SUB_PREFECTURE_AREAS: dict[str, tuple[str, str, str]] = {
    "义乌": ("金华", "county_level_city", "Yiwu"),
    "珲春": ("延边", "county_level_city", "Hunchun"),
    "绥芬河": ("牡丹江", "county_level_city", "Suifenhe"),
    "满洲里": ("呼伦贝尔", "county_level_city", "Manzhouli"),
    "同江": ("佳木斯", "county_level_city", "Tongjiang"),
    "延吉": ("延边", "county_level_city", "Yanji"),
    "阿拉山口市": ("博尔塔拉", "county_level_city", "Alashankou"),
    "雄安新区": ("保定", "new_area", "Xiong'an New Area"),
}
#: The paper's own exclusion of a prefecture-level pilot [paper].
PAPER_DROPPED_AREAS = {"海东": "dropped from the paper's sample for missing data [paper]"}
#: State Council approval documents and the number of areas each names (document titles).
DOCUMENT_COUNTS = {
    "国函〔2015〕44号": 1,
    "国函〔2016〕17号": 12,
    "国函〔2018〕93号": 22,
    "国函〔2019〕137号": 24,
    "国函〔2020〕47号": 46,
    "国函〔2022〕8号": 27,
    "国函〔2022〕126号": 33,
}

ETHNIC = "朝鲜|土家|苗|藏|羌|彝|布依|侗|哈尼|壮|傣|白|景颇|傈僳|回|蒙古|柯尔克孜|哈萨克"
AUTONOMOUS_RE = re.compile(rf"^(.+?)(?:(?:{ETHNIC})族?)+自治州$")


# =========================================================================== helpers
def read_adcodes(archive: Path) -> pd.DataFrame:
    """Read ``cpca/resources/adcodes.csv`` from a cpca wheel or sdist without importing cpca.

    The file's SHA-256 is checked against :data:`CPCA_ADCODES_SHA256`.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"cpca archive not found: {archive}")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(CPCA_MEMBER)]
            if not names:
                raise ValueError(f"{archive} has no {CPCA_MEMBER}")
            raw = zf.read(names[0])
    else:
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.name.endswith(CPCA_MEMBER)]
            if not members:
                raise ValueError(f"{archive} has no {CPCA_MEMBER}")
            handle = tf.extractfile(members[0])
            if handle is None:
                raise ValueError(f"{archive}: {CPCA_MEMBER} is not a regular file")
            raw = handle.read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != CPCA_ADCODES_SHA256:
        raise ValueError(
            f"{archive}: adcodes.csv has SHA-256 {digest}, expected {CPCA_ADCODES_SHA256} "
            f"(cpca {CPCA_VERSION}); the hand-written vintage corrections assume that file"
        )
    df = pd.read_csv(io.BytesIO(raw), dtype={"adcode": str})
    df["code"] = df["adcode"].str[:6].astype(int)
    return df


def short_name(name: str, level: str) -> str:
    """Short Chinese name: drop 市, 盟, 地区 or the ethnic designation of an autonomous prefecture."""
    if level == "autonomous_prefecture":
        m = AUTONOMOUS_RE.match(name)
        if m is None:
            raise ValueError(f"cannot shorten autonomous prefecture name {name!r}")
        return m.group(1)
    for suffix in ("地区", "盟", "市"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise ValueError(f"unexpected prefecture name {name!r} (level {level})")


def level_of(code: int, name: str) -> str:
    """Administrative level from the code and the name's suffix."""
    if code in MUNICIPALITIES:
        return "municipality"
    if name.endswith("自治州"):
        return "autonomous_prefecture"
    if name.endswith("地区"):
        return "prefecture_region"
    if name.endswith("盟"):
        return "league"
    if name.endswith("市"):
        return "prefecture_city"
    raise ValueError(f"cannot tell the level of {code} {name!r}")


# =========================================================================== cities
def build_cities(adcodes: pd.DataFrame) -> pd.DataFrame:
    """The city registry from cpca's adcodes plus the facts written in this script."""
    codes = adcodes["code"]
    provinces = adcodes[(codes % 10000 == 0) & (codes // 10000).isin(PROVINCE_PINYIN)]
    prov_zh = dict(zip(provinces["code"] // 10000, provinces["name"], strict=True))

    # prefecture-level rows: code ends in 00 but not 0000; drop the placeholder rows of
    # municipalities' districts/counties (市辖区, 县) and of province-administered
    # county-level units (省直辖县级行政区划, code xx9000), which are not prefectures
    is_pref = (codes % 100 == 0) & (codes % 10000 != 0)
    placeholder = adcodes["name"].isin(["市辖区", "县"]) | (codes % 10000 == 9000)
    pref = adcodes[is_pref & ~placeholder & (codes // 10000).isin(PROVINCE_PINYIN)]
    muni = provinces[provinces["code"].isin(MUNICIPALITIES)]
    base = pd.concat([muni, pref])[["code", "name", "longitude", "latitude"]]

    # units abolished before the source's vintage, placed at their former seat
    extra = []
    for code, (name, seat) in ABOLISHED_UNITS.items():
        row = adcodes.loc[adcodes["code"] == seat, ["longitude", "latitude"]]
        if len(row) != 1:
            raise ValueError(f"seat {seat} of {name} not found once in cpca")
        extra.append({"code": code, "name": name, **row.iloc[0].to_dict()})
    base = pd.concat([base, pd.DataFrame(extra)], ignore_index=True)

    # codes and names that changed after the source's vintage
    for old, (new, name) in CODE_UPDATES.items():
        hit = base["code"] == old
        if hit.sum() != 1:
            raise ValueError(f"code {old} to update not found once")
        base.loc[hit, ["code", "name"]] = [new, name]

    out = pd.DataFrame({"city_id": base["code"].astype(int), "name_zh": base["name"]})
    out["level"] = [level_of(c, n) for c, n in zip(out["city_id"], out["name_zh"], strict=True)]
    out["short_zh"] = [
        short_name(n, lv) for n, lv in zip(out["name_zh"], out["level"], strict=True)
    ]
    missing = sorted(set(out["short_zh"]) - set(PINYIN))
    if missing:
        raise ValueError(f"no pinyin for {missing}")
    unused = sorted(set(PINYIN) - set(out["short_zh"]))
    if unused:
        raise ValueError(f"pinyin table has names not in the registry: {unused}")
    out["name_pinyin"] = out["short_zh"].map(PINYIN)
    out["province_code"] = out["city_id"] // 10000
    out["province_zh"] = out["province_code"].map(prov_zh)
    out["province_pinyin"] = out["province_code"].map(PROVINCE_PINYIN)

    short = out["short_zh"]
    rank = pd.Series(1, index=out.index)
    rank[short.isin(PROVINCIAL_CAPITALS)] = 2
    rank[short.isin(SUB_PROVINCIAL)] = 3
    rank[out["level"] == "municipality"] = 4
    out["admin_rank"] = rank.astype(int)
    out["rank_label"] = out["admin_rank"].map(
        {4: "municipality", 3: "sub_provincial", 2: "provincial_capital", 1: "other"}
    )
    pc = out["province_code"]
    out["region3"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[pc.isin(REGION3_EAST), "region3"] = "east"
    out.loc[pc.isin(REGION3_CENTRAL), "region3"] = "central"
    out.loc[pc.isin(REGION3_WEST), "region3"] = "west"
    out["region4"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[pc.isin(REGION4_EAST), "region4"] = "east"
    out.loc[pc.isin(REGION4_CENTRAL), "region4"] = "central"
    out.loc[pc.isin(REGION4_WEST), "region4"] = "west"
    out.loc[pc.isin(REGION4_NORTHEAST), "region4"] = "northeast"
    out["lon"] = base["longitude"].astype(float).round(6)
    out["lat"] = base["latitude"].astype(float).round(6)
    out["city_since"] = short.map(CITY_SINCE).astype("Int64")
    for name in CITY_SINCE:
        if (short == name).sum() != 1:
            raise ValueError(f"CITY_SINCE names {name!r}, found {(short == name).sum()} rows")
    out["notes"] = [_notes(c, n) for c, n in zip(out["city_id"], short, strict=True)]

    out = out.sort_values("city_id").reset_index(drop=True)
    _check_cities(out)
    return out[list(CITY_COLUMNS)]


def _notes(city_id: int, short: str) -> str:
    """Changes of status, name or code worth knowing when matching yearbook data."""
    parts = []
    if short in CITY_SINCE:
        if short in FORMER_CODE:
            before = f"a 地区 (prefecture region, code {FORMER_CODE[short]})"
        else:
            before = "not a prefecture-level unit"
        parts.append(f"prefecture-level city from {CITY_SINCE[short]}; before that {before}")
    if short in EXTRA_NOTES:
        parts.append(EXTRA_NOTES[short])
    last = UNIT_YEARS.get(city_id, (None, None))[1]
    if last is not None:
        parts.append(f"a prefecture-level unit up to {last}")
    return "; ".join(parts)


def _check_cities(df: pd.DataFrame) -> None:
    """Invariants the registry must meet; a failure stops the build."""
    problems = []
    if not df["city_id"].is_unique:
        problems.append("duplicate city_id")
    if not df["name_pinyin"].is_unique:
        dup = df.loc[df["name_pinyin"].duplicated(keep=False), "name_pinyin"].tolist()
        problems.append(f"duplicate pinyin {dup}")
    if not df["short_zh"].is_unique:
        problems.append("duplicate short_zh")
    counts = df["admin_rank"].value_counts().to_dict()
    if counts.get(4) != 4 or counts.get(3) != 15 or counts.get(2) != 17:
        problems.append(f"rank counts {counts}, expected 4 x4, 15 x3, 17 x2")
    if df[["region3", "region4", "lon", "lat", "province_zh"]].isna().any().any():
        problems.append("missing region, coordinates or province name")
    if not set(df["level"]) <= set(PREFECTURE_LEVELS):
        problems.append(f"unknown levels {set(df['level']) - set(PREFECTURE_LEVELS)}")
    for code in UNIT_YEARS:
        if code not in set(df["city_id"]):
            problems.append(f"UNIT_YEARS code {code} not in the registry")
    if problems:
        raise ValueError("city registry failed its checks: " + "; ".join(problems))


# =========================================================================== pilot areas
def build_pilot_areas(source: Path, cities: pd.DataFrame) -> pd.DataFrame:
    """Enrich the batch fact sheet with pinyin, type, prefecture and default handling."""
    src = pd.read_csv(source, dtype=str, keep_default_na=False)
    expected = [
        "batch",
        "area",
        "document",
        "signed",
        "first_public_posting_seen",
        "verified",
        "note",
    ]
    if list(src.columns) != expected:
        raise ValueError(f"{source}: columns {list(src.columns)}, expected {expected}")
    counts = src.groupby("document").size().to_dict()
    if counts != DOCUMENT_COUNTS:
        raise ValueError(f"{source}: areas per document {counts}, expected {DOCUMENT_COUNTS}")

    by_short = cities.set_index("short_zh")
    by_full = cities.set_index("name_zh")
    rows = []
    for r in src.itertuples(index=False):
        area = r.area
        if area in SUB_PREFECTURE_AREAS:
            pref_short, area_type, area_py = SUB_PREFECTURE_AREAS[area]
            city = by_short.loc[pref_short]
        elif area in by_short.index:
            city = by_short.loc[area]
            area_type, area_py, pref_short = city["level"], city["name_pinyin"], area
        elif area in by_full.index:
            city = by_full.loc[area]
            area_type, area_py = city["level"], city["name_pinyin"]
            pref_short = city["short_zh"]
        else:
            raise ValueError(f"{source}: pilot area {area!r} matches no registry unit")
        rows.append(
            {
                "batch": int(r.batch),
                "area_zh": area,
                "area_pinyin": area_py,
                "document": r.document,
                "signed": r.signed,
                "first_posted": r.first_public_posting_seen,
                "verified": r.verified,
                "area_type": area_type,
                "city_id": int(city["city_id"]),
                "prefecture_zh": pref_short,
                "source_note": r.note,
            }
        )
    df = pd.DataFrame(rows)
    records = df.to_dict("records")
    df["handling"] = [_handling(r, df) for r in records]
    df["note"] = [_area_note(r) for r in records]
    _check_areas(df)
    return df[list(AREA_COLUMNS)]


SUB_TYPES = ("county_level_city", "new_area")


def _handling(r: dict, df: pd.DataFrame) -> str:
    """How the study treats an area by default (``county_pilot_rule="drop"``)."""
    same_city = df[df["city_id"] == r["city_id"]]
    own = same_city[~same_city["area_type"].isin(SUB_TYPES)]
    subs = same_city[same_city["area_type"].isin(SUB_TYPES)]
    pref = r["prefecture_zh"]
    if r["area_type"] in SUB_TYPES:
        kind = "county-level city" if r["area_type"] == "county_level_city" else "new area"
        text = (
            f"{kind}: dropped under county_pilot_rule=drop; its prefecture {pref} becomes a "
            f"pilot only under map_to_prefecture"
        )
        first = int(same_city["batch"].min())
        if first < r["batch"]:
            text += f" (from batch {first}, its earliest area)"
        if len(own):
            text += f"; {pref} is itself a pilot from batch {int(own['batch'].min())}"
        return text
    if r["area_type"] in ("prefecture_city", "municipality"):
        text = "pilot city"
    else:
        text = f"pilot prefecture-level unit ({r['area_type']})"
    if r["area_zh"] in PAPER_DROPPED_AREAS:
        text += f"; {PAPER_DROPPED_AREAS[r['area_zh']]}: outside the paper254 universe"
    earlier = subs[subs["batch"] < r["batch"]].sort_values("batch")
    if len(earlier):
        first = earlier.iloc[0]
        text += (
            f"; its {first['area_zh']} is a batch-{int(first['batch'])} pilot, so under "
            f"map_to_prefecture the city counts from batch {int(first['batch'])}"
        )
    return text


def _area_note(r: dict) -> str:
    """Source caveats plus our own remarks."""
    parts = []
    if r["source_note"]:
        parts.append(r["source_note"])
    if not r["signed"]:
        parts.append(
            "signed date missing: treatment years use first_posted, which gives the same "
            "year under every rule for a January signing"
        )
    if r["area_type"] == "new_area":
        parts.append("state-level new area spanning Xiong, Rongcheng and Anxin counties of Baoding")
    if r["area_zh"] == "吉林":
        parts.append("Jilin city, not the province")
    return "; ".join(parts)


def _check_areas(df: pd.DataFrame) -> None:
    problems = []
    if len(df) != sum(DOCUMENT_COUNTS.values()):
        problems.append(f"{len(df)} areas, expected {sum(DOCUMENT_COUNTS.values())}")
    if df.duplicated(["batch", "area_zh"]).any():
        problems.append("duplicate batch-area rows")
    signed = pd.to_datetime(df["signed"], errors="coerce")
    bad = df["signed"].ne("") & signed.isna()
    if bad.any():
        problems.append(f"unparseable signed dates {df.loc[bad, 'signed'].tolist()}")
    if problems:
        raise ValueError("pilot roster failed its checks: " + "; ".join(problems))


# =========================================================================== main
def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write with fixed formatting so that rebuilds are byte-identical."""
    df.to_csv(path, index=False, lineterminator="\n", float_format="%.6f", encoding="utf-8")


def build(out_dir: Path, archive: Path | None, areas_source: Path) -> list[Path]:
    """Build the tables into ``out_dir``; ``cities.csv`` only when a cpca archive is given.

    Without ``archive`` the roster is built against the committed registry
    (``data/reference/cities.csv``), so only repository files are read.
    """
    if not areas_source.is_file():
        raise FileNotFoundError(
            f"pilot-area fact sheet not found: {areas_source} (pass --areas-source)"
        )
    from cbec.data.reference import load_cities

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if archive is not None:
        cities = build_cities(read_adcodes(archive))
        write_csv(cities, out_dir / "cities.csv")
        written.append(out_dir / "cities.csv")
    else:
        cities = load_cities(DEFAULT_OUT)
    areas = build_pilot_areas(areas_source, cities)
    write_csv(areas, out_dir / "pilot_areas.csv")
    written.append(out_dir / "pilot_areas.csv")
    return written


def check(archive: Path | None, areas_source: Path) -> list[str]:
    """Rebuild into a temporary folder; return the committed tables that differ."""
    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp), archive, areas_source)
        return [p.name for p in built if not filecmp.cmp(p, DEFAULT_OUT / p.name, shallow=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cpca-archive",
        type=Path,
        default=None,
        help="cpca 0.5.5 wheel or sdist from PyPI; rebuilds cities.csv too (default: keep it)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild into a temporary folder and report whether the committed tables match",
    )
    parser.add_argument(
        "--areas-source",
        type=Path,
        default=DEFAULT_AREAS_SOURCE,
        help=f"pilot_areas_by_batch.csv (default: {DEFAULT_AREAS_SOURCE})",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)  # fmt: skip
    if args.check:
        differ = check(args.cpca_archive, args.areas_source)
        print("reference tables up to date" if not differ else f"differ: {', '.join(differ)}")
        return 1 if differ else 0
    paths = build(args.out, args.cpca_archive, args.areas_source)
    for p in paths:
        print(f"wrote {p} ({sum(1 for _ in p.open(encoding='utf-8')) - 1} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
