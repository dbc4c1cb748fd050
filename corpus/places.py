"""Where a document without a place in its title or issuer belongs, inferred from its body.

The body of a provincial document names its province (江苏省, 全省, 省政府), the cities under it (各设区市,
南京、苏州 …) and addresses their governments (各设区市人民政府，省各委办厅局); a national one names several
provinces or none. The inference counts the places the body names, each city standing for its province,
and keeps a province only when it clearly dominates. Measured on the lawrefbook local regulations before
use (docs/validity.md).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from policyqa.text import fold

# Prefecture-level cities (and 自治州/地区 in common short form) of each province; municipalities have none.
# Left out: names that are common words too (长治久安, 幸福安康, 大同, 朝阳产业, 阿里).
CITIES: dict[str, tuple[str, ...]] = {
    "河北": ("石家庄", "唐山", "秦皇岛", "邯郸", "邢台", "保定", "张家口", "承德", "沧州", "廊坊", "衡水"),
    "山西": ("太原", "阳泉", "晋城", "朔州", "晋中", "运城", "忻州", "临汾", "吕梁"),
    "内蒙古": ("呼和浩特", "包头", "乌海", "赤峰", "通辽", "鄂尔多斯", "呼伦贝尔", "巴彦淖尔", "乌兰察布"),
    "辽宁": ("沈阳", "大连", "鞍山", "抚顺", "本溪", "丹东", "锦州", "营口", "阜新", "辽阳", "盘锦", "铁岭",
             "葫芦岛"),
    "吉林": ("长春", "吉林市", "四平", "辽源", "通化", "白山", "松原", "白城", "延边"),
    "黑龙江": ("哈尔滨", "齐齐哈尔", "鸡西", "鹤岗", "双鸭山", "大庆", "伊春", "佳木斯", "七台河", "牡丹江",
               "黑河", "绥化", "大兴安岭"),
    "江苏": ("南京", "无锡", "徐州", "常州", "苏州", "南通", "连云港", "淮安", "盐城", "扬州", "镇江", "泰州",
             "宿迁"),
    "浙江": ("杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水"),
    "安徽": ("合肥", "芜湖", "蚌埠", "淮南", "马鞍山", "淮北", "铜陵", "安庆", "黄山", "滁州", "阜阳", "宿州",
             "六安", "亳州", "池州", "宣城"),
    "福建": ("福州", "厦门", "莆田", "三明", "泉州", "漳州", "南平", "龙岩", "宁德"),
    "江西": ("南昌", "景德镇", "萍乡", "九江", "新余", "鹰潭", "赣州", "吉安", "宜春", "抚州", "上饶"),
    "山东": ("济南", "青岛", "淄博", "枣庄", "东营", "烟台", "潍坊", "济宁", "泰安", "威海", "日照", "临沂",
             "德州", "聊城", "滨州", "菏泽"),
    "河南": ("郑州", "开封", "洛阳", "平顶山", "安阳", "鹤壁", "新乡", "焦作", "濮阳", "许昌", "漯河",
             "三门峡", "南阳", "商丘", "信阳", "周口", "驻马店", "济源"),
    "湖北": ("武汉", "黄石", "十堰", "宜昌", "襄阳", "鄂州", "荆门", "孝感", "荆州", "黄冈", "咸宁", "随州",
             "恩施"),
    "湖南": ("长沙", "株洲", "湘潭", "衡阳", "邵阳", "岳阳", "常德", "张家界", "益阳", "郴州", "永州", "怀化",
             "娄底", "湘西"),
    "广东": ("广州", "韶关", "深圳", "珠海", "汕头", "佛山", "江门", "湛江", "茂名", "肇庆", "惠州", "梅州",
             "汕尾", "河源", "阳江", "清远", "东莞", "中山", "潮州", "揭阳", "云浮"),
    "广西": ("南宁", "柳州", "桂林", "梧州", "北海", "防城港", "钦州", "贵港", "玉林", "百色", "贺州", "河池",
             "来宾", "崇左"),
    "海南": ("海口", "三亚", "三沙", "儋州"),
    "四川": ("成都", "自贡", "攀枝花", "泸州", "德阳", "绵阳", "广元", "遂宁", "内江", "乐山", "南充", "眉山",
             "宜宾", "广安", "达州", "雅安", "巴中", "资阳", "阿坝", "甘孜", "凉山"),
    "贵州": ("贵阳", "六盘水", "遵义", "安顺", "毕节", "铜仁", "黔西南", "黔东南", "黔南"),
    "云南": ("昆明", "曲靖", "玉溪", "保山", "昭通", "丽江", "普洱", "临沧", "楚雄", "红河", "文山",
             "西双版纳", "大理", "德宏", "怒江", "迪庆"),
    "西藏": ("拉萨", "日喀则", "昌都", "林芝", "山南", "那曲"),
    "陕西": ("西安", "铜川", "宝鸡", "咸阳", "渭南", "延安", "汉中", "榆林", "商洛"),
    "甘肃": ("兰州", "嘉峪关", "金昌", "白银", "天水", "武威", "张掖", "平凉", "酒泉", "庆阳", "定西", "陇南",
             "临夏", "甘南"),
    "青海": ("西宁", "海东", "海北", "黄南", "海南州", "果洛", "玉树", "海西"),
    "宁夏": ("银川", "石嘴山", "吴忠", "固原", "中卫"),
    "新疆": ("乌鲁木齐", "克拉玛依", "吐鲁番", "哈密", "昌吉", "博尔塔拉", "巴音郭楞", "阿克苏", "克孜勒苏",
             "喀什", "和田", "伊犁", "塔城", "阿勒泰"),
}  # fmt: skip
MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
# 台湾, 香港 and 澳门 are not counted: a mainland regulation on 台湾同胞投资 names 台湾 more than its own
# province (measured: all 6 wrong inferences on the lawrefbook local regulations before they were left out).
# How a provincial document speaks of its own level, and a city's of its own.
_PROVINCIAL = re.compile(r"全省|本省|省政府|省人民政府|省委|省级|各设区市|省各委办厅局|省各有关部门")
_MUNICIPAL = re.compile(r"全市|本市|市政府|市人民政府|市委|各区县|各县（市、区）|各县\(市、区\)|各区人民政府")
MIN_MENTIONS = 3  # fewer place names than this say too little
MIN_SHARE = 0.6  # the province's share of all the provinces the body names


@dataclass(frozen=True)
class InferredPlace:
    """A province inferred from a body, and the level it speaks at (省级 / 市级; None when unclear)."""

    region: str
    level: str | None


def _place_pattern() -> re.Pattern[str]:
    names = [
        *CITIES,
        *MUNICIPALITIES,
        *(city for cities in CITIES.values() for city in cities),
    ]
    return re.compile("|".join(sorted(map(re.escape, names), key=len, reverse=True)))


_PLACES = _place_pattern()
_PROVINCE_OF = {city: province for province, cities in CITIES.items() for city in cities}


def province_of(city: str) -> str | None:
    """The province of a prefecture-level city as ``CITIES`` names it (济南 → 山东, 吉林市 → 吉林, traditional
    characters too); None for a province, a municipality or a place not listed."""
    return _PROVINCE_OF.get(fold(city))


def infer_place(body: str) -> InferredPlace | None:
    """The province ``body`` belongs to, when its place names clearly point at one (at least
    ``MIN_MENTIONS`` of them, ``MIN_SHARE`` for that province), with the level it speaks at; None otherwise
    (a national document names many provinces or none)."""
    folded = fold(body)
    provinces = Counter(_PROVINCE_OF.get(name, name) for name in _PLACES.findall(folded))
    total = sum(provinces.values())
    if total < MIN_MENTIONS:
        return None
    region, count = provinces.most_common(1)[0]
    if count / total < MIN_SHARE:
        return None
    provincial, municipal = len(_PROVINCIAL.findall(folded)), len(_MUNICIPAL.findall(folded))
    level = None
    if region not in MUNICIPALITIES and provincial > municipal:
        level = "省级"
    elif municipal > provincial:
        level = "市级"
    return InferredPlace(region, level)
