"""Document metadata from the title, the header lines and the file name; citations from the body.

Only the title, the header lines (时间:…, 文号, 发布机构:…, lawrefbook's dated history lines) and a
``(YYYY-MM-DD)`` file-name suffix describe the document itself. A 文号 or 《title》 in the body is a
citation of another document and goes to ``references``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from policyqa.text import BROKEN_DOC_NUMBER, CJK_BASIC, DOC_NUMBER, chinese_to_int, fold

_PREFIX = re.compile(r"^\s*【([^】]{1,12})】\s*")
_YEAR_PREFIX = re.compile(r"^\s*[(（]\s*((?:19|20)\d{2})\s*[)）]\s*")
_CJK_OR_PUNCTUATION = f"[\u3000-\u303f{CJK_BASIC}\uff00-\uffef“”‘’《》]"
_SPACE_NEAR_CJK = re.compile(rf"\s+(?={_CJK_OR_PUNCTUATION})|(?<={_CJK_OR_PUNCTUATION})\s+")
_ISO_DATE = re.compile(r"((?:19|20)\d{2})\s*[-./年]\s*(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*日?")
_FILE_DATE = re.compile(r"\(((?:19|20)\d{2})-(\d{2})-(\d{2})\)$")
_DATED_EVENT = re.compile(r"^((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(.*)$")
_ISSUER_FIELD = re.compile(r"^(?:发文机关|发布机构|发布单位|发文单位)\s*[:：]\s*(.+)$")
_MEETING = re.compile(r"^(?:第[^第]{1,6}届)?(.+?)(?:第[\d一二三四五六七八九十百零〇]+次|常务会议|会议)")
# Around the body's name in a meeting line: 由…/经…, 第十三届/十四届, a year (…办公室2021年第20次室务会议).
_MEETING_NOISE = re.compile(r"^[由经]|第?[\d一二三四五六七八九十]{1,4}届|(?:19|20)\d{2}年$")
_DOC_NUMBER = re.compile(DOC_NUMBER)
_BROKEN_DOC_NUMBER = re.compile(BROKEN_DOC_NUMBER)  # 国科发高〔201790号 → 国科发高〔2017〕90号
# Words that run into a 文号 from the sentence before it: 根据国办发〔2017〕4号 → 国办发〔2017〕4号.
_LEADING_WORDS = re.compile(
    r"^(?:根据|依据|按照|依照|参照|贯彻落实|贯彻|落实|执行|转发|印发|详见|见|经|和|与|及|或)+"
)
_CITED_TITLE = re.compile(r"《([^《》]{2,80})》")
_TRAILING_NOTE = re.compile(r"[(（][^()（）]*[)）]$")
DOC_TYPES = (
    "实施细则", "实施办法", "实施意见", "指导意见", "若干意见", "意见", "通知", "通告", "公告",
    "办法", "条例", "规定", "决定", "决议", "解释", "批复", "答复", "规则", "细则", "规划", "方案",
    "纲要", "准则", "章程", "法典", "法", "令", "函",
)  # fmt: skip
_DOC_TYPE_NAMES = {
    "实施细则": "细则",
    "实施办法": "办法",
    "实施意见": "意见",
    "指导意见": "意见",
    "若干意见": "意见",
    "法典": "法",
}
PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建",
    "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海",
    "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)  # fmt: skip
# A place name opening a title: 深圳市…, 景宁畲族自治县…; not the 市 of 市场/市容/市政 (人力资源市场暂行条例).
_PLACE_SUFFIX = re.compile(
    rf"^[{CJK_BASIC}]{{2,10}}?(?:省|市|自治区|特别行政区|自治州|县|新区|经济特区)(?![场容政级域])"
)
# Titles and issuers opening like this are national, whatever place they go on to name.
_NATIONAL_OPENINGS = ("中华人民共和国", "中共中央", "中央", "国务院", "全国", "国家", "最高人民")
_NOT_PLACES = frozenset({"地区", "全国", "中央", "国家", "部门"})


@dataclass(frozen=True)
class TitleParts:
    """A displayed title split from its list prefixes: 【江苏】(2018)关于… → region 江苏, year 2018."""

    title: str
    prefix: str | None
    year: str | None


def split_title(raw: str) -> TitleParts:
    """The title without 【…】 and (YYYY) prefixes; spaces next to Chinese characters removed."""
    prefix = year = None
    match = _PREFIX.match(raw)
    if match:
        prefix, raw = match.group(1).strip(), raw[match.end() :]
    match = _YEAR_PREFIX.match(raw)
    if match:
        year, raw = match.group(1), raw[match.end() :]
    return TitleParts(_SPACE_NEAR_CJK.sub("", raw.strip()), prefix, year)


def place_name(text: str | None) -> str | None:
    """``text`` if it names a place (江苏, 江苏省, 苏州市…), else None (e.g. the placeholder 地区)."""
    if not text or text in _NOT_PLACES:
        return None
    if text.startswith(PROVINCES) or _PLACE_SUFFIX.fullmatch(text):
        return text
    return None


def region_of(title: str, prefix: str | None, issuer: str | None = None) -> str | None:
    """The region a document applies to: a 【place】 prefix, else a province or place opening the title,
    else one opening the issuer (郑洛新…条例 by 河南省人民代表大会常务委员会 → 河南). None for national
    documents (中华人民共和国城市房地产管理法, 国务院关于…)."""
    return place_name(prefix) or _opening_place(title) or _opening_place(issuer)


def is_national(title: str, issuer: str | None) -> bool:
    """Whether the title or the issuer opens like a national document's (中华人民共和国…, 国务院…)."""
    return any(fold(text).startswith(_NATIONAL_OPENINGS) for text in (title, issuer) if text)


def _opening_place(text: str | None) -> str | None:
    if not text:
        return None
    folded = fold(text)
    if folded.startswith(_NATIONAL_OPENINGS):
        return None
    for province in PROVINCES:
        if folded.startswith(province):
            return province
    match = _PLACE_SUFFIX.match(folded)
    if match and match.group(0) not in _NOT_PLACES:
        return text[: match.end()].removesuffix("经济特区")
    return None


def doc_type_of(title: str) -> str | None:
    """意见/通知/办法/条例/规定/决定/解释/法… from the title's ending, ignoring notes like （试行）."""
    folded = fold(title).strip()
    while _TRAILING_NOTE.search(folded):
        folded = _TRAILING_NOTE.sub("", folded).strip()
    for ending in DOC_TYPES:
        if folded.endswith(ending):
            return _DOC_TYPE_NAMES.get(ending, ending)
    return None


def iso_date(text: str) -> str | None:
    """The first date in ``text`` as yyyy-mm-dd (2018年10月17日, 2018-10-17, 2018.10.17)."""
    match = _ISO_DATE.search(fold(text))
    if match is None:
        return None
    year, month, day = (int(group) for group in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def date_of(header_lines: tuple[str, ...], file_stem: str, markdown: bool) -> str | None:
    """The document's date: a header date (时间:…), else the file name's (YYYY-MM-DD) suffix, else the last
    dated event of a lawrefbook history that is not an entry into force (施行)."""
    if not markdown:
        for line in header_lines:
            date = iso_date(line)
            if date:
                return date
    match = _FILE_DATE.search(file_stem)
    if match:
        return "-".join(match.groups())
    events = [line for line in header_lines if _DATED_EVENT.match(fold(line))]
    dated = [line for line in events if "施行" not in line] or events
    return iso_date(dated[-1]) if dated else None


def doc_number_of(lines: tuple[str, ...]) -> str | None:
    """The document's own 文号 from its title or header lines."""
    for line in lines:
        match = _DOC_NUMBER.search(line)
        if match:
            return _clean_doc_number(match.group(0))
    return None


def _clean_doc_number(text: str) -> str:
    return _LEADING_WORDS.sub("", _SPACE_NEAR_CJK.sub("", text))


def issuer_of(header_lines: tuple[str, ...]) -> str | None:
    """The issuing body: a 发文机关:/发布机构: header line, or the body that adopted a lawrefbook text
    (2022年12月29日 深圳市第七届人民代表大会常务委员会第十四次会议通过 → 深圳市人民代表大会常务委员会)."""
    for line in header_lines:
        match = _ISSUER_FIELD.match(line.strip())
        if match:
            return match.group(1).strip()
    for line in header_lines:
        event = _DATED_EVENT.match(fold(line).strip().strip("()"))
        if event and "通过" in event.group(4):
            meeting = _MEETING.match(event.group(4).strip())
            if meeting:
                issuer = _MEETING_NOISE.sub("", meeting.group(1)).strip()
                return issuer or None
    return None


def references_in(body: str, own_doc_number: str | None) -> tuple[str, ...]:
    """Titles (《…》) and 文号 cited in the body, in order of first appearance, without the document's own."""
    found: dict[str, None] = {}
    for match in _CITED_TITLE.finditer(body):
        found[_SPACE_NEAR_CJK.sub("", match.group(1)).strip()] = None
    for match in _DOC_NUMBER.finditer(body):
        found[_clean_doc_number(match.group(0))] = None
    for match in _BROKEN_DOC_NUMBER.finditer(body):
        found[_clean_doc_number(f"{match['issuer']}〔{match['year']}〕{match['serial']}号")] = None
    found.pop(own_doc_number or "", None)
    return tuple(found)


# ---- when a document is in force, and what it repeals ----------------------------------------------------

_DATE_TEXT = r"(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日"
# "本法自2024年7月1日起施行", "本意见自印发之日起实施", "自公布之日起执行" at a sentence's start.
_IN_FORCE = re.compile(
    rf"(?:本[{CJK_BASIC}]{{0,8}}|(?:^|(?<=[。；;\n]))\s*)自\s*(?:(?P<date>{_DATE_TEXT})|(?P<event>公布|发布|印发|颁布|"
    rf"下发|发文|公告|印发公布))\s*(?:之日)?\s*起\s*(?:施行|实施|执行|生效)",
    re.M,
)
_EXPIRY = re.compile(
    rf"有效期\s*(?:为|限为|暂定为?)?\s*(?:至\s*(?P<until>{_DATE_TEXT})|(?P<years>[\d一二三四五六七八九十两]+)\s*年)"
)
_OWN_SENTENCE = re.compile(rf"本[{CJK_BASIC}]{{0,8}}(?:自|有效期)")
_SENTENCE = re.compile(r"[^。；;\n]+")
_REPEALED = re.compile(r"同时(?:予以)?废止")


@dataclass(frozen=True)
class ValidityFacts:
    """What a document says of its own validity: its 施行 date, its last day, the documents it repeals."""

    effective_date: str | None
    expires: str | None
    repeals: tuple[str, ...]


def validity_facts(header_lines: tuple[str, ...], body: str, date: str | None) -> ValidityFacts:
    """The 施行 date (a lawrefbook ``2021年11月1日 施行`` history line, else the body's last 自…起施行
    sentence; 自公布/印发之日起 means ``date``), the stated expiry (有效期至…, or 有效期X年 counted from
    the 施行 date) and the titles and 文号 named before "同时废止"."""
    effective = None
    for line in header_lines:
        event = _DATED_EVENT.match(fold(line).strip().strip("()（）"))
        if event and "施行" in event.group(4):
            effective = iso_date(line)
    folded = fold(body)
    if effective is None:
        stated = list(_IN_FORCE.finditer(folded))
        if stated:
            last = stated[-1]
            effective = iso_date(last.group("date")) if last.group("date") else date
    return ValidityFacts(effective, _expiry(folded, effective or date), _repealed(body, folded))


def _expiry(folded: str, start: str | None) -> str | None:
    for sentence in _SENTENCE.finditer(folded):
        text = sentence.group(0)
        if not _OWN_SENTENCE.search(text):
            continue
        match = _EXPIRY.search(text)
        if match is None:
            continue
        if match.group("until"):
            return iso_date(match.group("until"))
        if start is not None:
            years = chinese_to_int(match.group("years"))
            first = datetime.date.fromisoformat(start)
            try:
                end = first.replace(year=first.year + years)
            except ValueError:  # 29 February
                end = first.replace(year=first.year + years, day=28)
            return (end - datetime.timedelta(days=1)).isoformat()
    return None


def _repealed(body: str, folded: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for match in _REPEALED.finditer(folded):
        sentence_start = max(folded.rfind(mark, 0, match.start()) for mark in "。；;\n") + 1
        segment = body[sentence_start : match.start()]
        for title in _CITED_TITLE.finditer(segment):
            found[_SPACE_NEAR_CJK.sub("", title.group(1)).strip()] = None
        for number in _DOC_NUMBER.finditer(segment):
            found[_clean_doc_number(number.group(0))] = None
    return tuple(found)
