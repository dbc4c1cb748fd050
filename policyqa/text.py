"""The Chinese text rules every package shares: character ranges, matching forms, numerals, 文号 and 第X条.

Three matching forms, for three jobs:
- ``fold``: one character in, one out (full-width → half-width, odd spaces → space, traditional →
  simplified by zhconv's single-character table). Use it wherever offsets into the original text must
  stay valid: parsing, structure detection, ids, region names.
- ``compatibility_form``: NFKC only (full- and half-width alike, ㈠ → (一)); traditional and simplified
  stay apart and the length may change. Use it to find a parsed label in the text it came from.
- ``normalize``: the search form (NFKC, zhconv's phrase conversion to simplified, lower case); the
  length may change. Use it for BM25 terms and highlights: queries and indexed text must agree on it.
Titles and headings typed by people (evaluation labels, the articles a ranker learned as answers) are compared
in ``label_form``: ``fold(compatibility_form(…))`` without spaces, quotes and trailing punctuation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import zhconv
import zhconv.zhconv as _zhconv

# Chinese characters, for use inside a regex character class: the CJK Unified Ideographs block only
# (文号 issuers, place names) ...
CJK_BASIC = "\u4e00-\u9fff"
# ... and with Extension A (rare characters, e.g. in names and old texts).
CJK = f"\u3400-\u4dbf{CJK_BASIC}"
CJK_CHARACTER = re.compile(f"[{CJK}]")

_SPACES = "\u3000\u00a0\u2002\u2003\u2009\u200b\ufeff"
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_well_formed(text: str) -> bool:
    """True unless ``text`` holds a lone surrogate (``"\\udfff"`` in JSON decodes to one): such a string
    cannot be encoded as UTF-8, so it is refused where text enters (the API), not deep in a tokenizer."""
    return _SURROGATE.search(text) is None


@cache
def _fold_table() -> dict[int, str]:
    _zhconv.loaddict()
    table = {
        ord(traditional): simplified
        for traditional, simplified in _zhconv.zhcdicts["zh2Hans"].items()
        if len(traditional) == 1 and len(simplified) == 1
    }
    table.update({code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)})
    table.update({ord(space): " " for space in _SPACES})
    return table


def fold(text: str) -> str:
    """``text`` folded, same length: （十二） → (十二), 第一條 → 第一条, ｘ → x."""
    return text.translate(_fold_table())


def compatibility_form(text: str) -> str:
    """``text`` in Unicode compatibility form (NFKC): text ``(十二)`` equals the number ``（十二）``."""
    return unicodedata.normalize("NFKC", text)


_LABEL_IGNORED = re.compile(r"[\s\"'“”‘’「」『』]+")
_LABEL_TRAILING = ".。:：;；,，、"


def label_form(text: str) -> str:
    """How a title or heading typed by a person is compared with the parsed one: 《中华人民共和国民法典》 as
    typed in a label equals the document's title whatever its width, quotes or traditional characters."""
    return _LABEL_IGNORED.sub("", fold(compatibility_form(text))).rstrip(_LABEL_TRAILING)


def normalize(text: str) -> str:
    """The search form: NFKC (full-width → half-width), simplified characters, lower case."""
    return zhconv.convert(compatibility_form(text), "zh-hans").lower()


_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_WAN = {"万": 10_000, "亿": 100_000_000}
_LABEL_DIGITS = "零一二三四五六七八九"
# A Chinese numeral (一百二十三, 二〇一八, 两千) or Arabic digits, for use in a regex.
NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS) + "".join(_WAN)
NUMERAL = rf"[{NUMERAL_CHARS}]+|\d+"


def chinese_to_int(text: str) -> int:
    """The value of a Chinese or Arabic numeral: 一百二十三 → 123, 二〇一八 → 2018, 两千 → 2000, "24" → 24.

    Raises ValueError when ``text`` is not a numeral.
    """
    text = fold(text.strip())
    if text.isdigit() and text.isascii():
        return int(text)
    if not text or any(ch not in _DIGITS and ch not in _UNITS and ch not in _WAN for ch in text):
        raise ValueError(f"not a numeral: {text!r}")
    if all(ch in _DIGITS for ch in text) and len(text) > 1:  # digit by digit: 二〇一八
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total = section = digit = 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            section += (digit or 1) * _UNITS[ch]
            digit = 0
        else:
            total += (section + digit) * _WAN[ch]
            section = digit = 0
    return total + section + digit


def int_to_chinese(value: int) -> str:
    """The Chinese numeral used in labels: 12 → 十二, 105 → 一百零五 (0 < value < 10000)."""
    if not 0 < value < 10_000:
        raise ValueError(f"out of range for a label: {value}")
    parts: list[str] = []
    zero_pending = False
    for unit_value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = value // unit_value % 10
        if digit == 0:
            zero_pending = bool(parts)
            continue
        if zero_pending:
            parts.append("零")
            zero_pending = False
        parts.append(_LABEL_DIGITS[digit] + unit)
    label = "".join(parts)
    return label[1:] if label.startswith("一十") else label


# An article reference, spaces tolerated: 第二十四条, 第24条, 第 二十四 条 之 一 (in folded or search form).
ARTICLE_REFERENCE = rf"第\s*(?P<article_number>{NUMERAL})\s*条(?:\s*之\s*(?P<article_sub>{NUMERAL}))?"
_ARTICLE_REFERENCE = re.compile(ARTICLE_REFERENCE)


def article_key(label: str) -> str | None:
    """The comparable key of an article label: 第二十四条 / 第24条 → "24", 第二十四条之一 → "24-1".

    Traditional (第二十四條) and full-width forms are accepted; anything else gives None.
    """
    match = _ARTICLE_REFERENCE.fullmatch(fold(label.strip()))
    if match is None:
        return None
    number = chinese_to_int(match.group("article_number"))
    if match.group("article_sub"):
        return f"{number}-{chinese_to_int(match.group('article_sub'))}"
    return str(number)


# The number or list label opening a clause path label: 第二章, 第十二条, 四、, （十二）, 3. (its numeral
# sets are its own, narrower than NUMERAL's).
LEADING_LABEL = re.compile(
    r"^\s*(第[〇零一二三四五六七八九十百千万两0-9]+(?:分编|[编章节条款])|[一二三四五六七八九十百千]+、"
    r"|[（(][一二三四五六七八九十百千0-9]+[）)]|[0-9]+[.．、])"
)


# 文号: issuer abbreviation, year in brackets, serial number: 苏政发〔2018〕123号, 苏政发[2018]第123号.
_DOC_NUMBER_ISSUER = rf"[{CJK_BASIC}]{{1,12}}"
_DOC_NUMBER_YEAR = r"(?:19|20)\d{2}"


def _bracketed_year_and_serial(space: str) -> str:
    """The 文号 from its opening bracket on, with ``space`` allowed inside the brackets and after 第."""
    return (
        rf"[〔\[【(（]{space}(?P<year>{_DOC_NUMBER_YEAR}){space}[〕\]】)）]"
        rf"\s*第?{space}(?P<serial>\d{{1,5}})\s*号"
    )


# A 文号 as printed (spaces tolerated), issuer included.
DOC_NUMBER = _DOC_NUMBER_ISSUER + _bracketed_year_and_serial(r"\s*")
# A 文号 in search form from its bracket on (the issuer is the word before it): [2018]123号, (2018)第5号.
DOC_NUMBER_FROM_BRACKET = _bracketed_year_and_serial("")
# A 文号 whose closing bracket was lost, the year run into the serial: 国科发高〔201790号.
BROKEN_DOC_NUMBER = (
    rf"(?P<issuer>{_DOC_NUMBER_ISSUER})〔\s*(?P<year>{_DOC_NUMBER_YEAR})(?P<serial>\d{{1,4}})\s*号"
)


_NAMED_PROVISION = re.compile(rf"{ARTICLE_REFERENCE}|{DOC_NUMBER_FROM_BRACKET}")


def names_provision(text: str) -> bool:
    """Does ``text`` name an article (第24条, 第二十四條) or a 文号 (〔2021〕45号): a look-up of a known
    provision rather than a question in words?"""
    return _NAMED_PROVISION.search(fold(text)) is not None


# ---- cross-references ------------------------------------------------------------------------------

# How a document names itself: 本法, 本条例, 本办法, 本意见 …
SELF_NAMES = (
    "实施细则", "实施办法", "条例", "办法", "意见", "规定", "细则", "决定", "解释", "规则", "准则", "通知",
    "措施", "方案", "法",
)  # fmt: skip
_N = rf"(?:{NUMERAL})"
_ARTICLE = rf"第\s*{_N}\s*条(?:\s*之\s*{_N})?"
_PARAGRAPH_ITEM = rf"(?:\s*第\s*(?P<paragraph>{_N})\s*款)?(?:\s*第\s*[(（]?(?P<item>{_N})[)）]?\s*项)?"
_ARTICLE_SPAN = rf"(?P<article>{_ARTICLE}){_PARAGRAPH_ITEM}(?:\s*(?:至|到)\s*(?P<article_end>{_ARTICLE}))?"
_SELF_REFERENCE = re.compile(rf"本(?:{'|'.join(SELF_NAMES)})\s*{_ARTICLE_SPAN}")
_TITLED_REFERENCE = re.compile(
    rf"《(?P<title>[^《》\n]{{2,80}})》\s*"
    rf"(?:[(（]\s*(?P<doc_number>{DOC_NUMBER})\s*[)）])?\s*(?:{_ARTICLE_SPAN})?"
)
_THIS_CLAUSE = re.compile(
    rf"(?:前\s*款|本\s*条\s*第\s*(?P<paragraph>{_N})\s*款)(?:\s*第\s*[(（]?(?P<item>{_N})[)）]?\s*项)?"
)
_PREVIOUS_CLAUSE = re.compile(rf"前\s*条{_PARAGRAPH_ITEM}")
# "、第十三条", "和第十四条第二款", "或者第十五条至第十七条" after a reference: more articles of the
# same work.
_CONTINUATION = re.compile(rf"\s*(?:、|，|,|和|及|以及|或者|或)\s*{_ARTICLE_SPAN}")


@dataclass(frozen=True)
class TextReference:
    """A reference found in a clause's text, offsets into that text.

    ``kind``: ``self`` (本法第十二条: an article of the same document), ``this_clause`` (前款, 本条第二款),
    ``previous_clause`` (前条) or ``titled`` (《title》第X条, 《title》(文号): another document, named by its
    title as written and its 文号 when given). ``article``/``article_end`` are article keys (``article_key``:
    "12", "12-1"); ``article_end`` closes a range (第十二条至第十五条)."""

    text: str
    start: int
    end: int
    kind: str
    title: str | None = None
    doc_number: str | None = None
    article: str | None = None
    article_end: str | None = None
    paragraph: int | None = None
    item: int | None = None


def _number(match: re.Match[str], name: str) -> int | None:
    value = match.group(name)
    return chinese_to_int(value) if value else None


def _article_fields(match: re.Match[str]) -> dict:
    """The article, range end, paragraph and item of an ``_ARTICLE_SPAN`` match (article None if absent)."""
    return {
        "article": article_key(match.group("article")) if match.group("article") else None,
        "article_end": article_key(match.group("article_end")) if match.group("article_end") else None,
        "paragraph": _number(match, "paragraph"),
        "item": _number(match, "item"),
    }


def find_references(text: str) -> list[TextReference]:
    """Every reference in ``text`` in reading order: 本法/本条例/本办法… 第X条(第Y款)(第Z项), ranges
    (第X条至第Y条) and lists (本法第十二条、第十三条) of them, 前款/本条第X款, 前条, 《title》第X条 (with or
    without 中华人民共和国) and 《title》(文号). Matching runs on the folded text (full-width,
    traditional), so offsets point into ``text`` as given."""
    folded = fold(text)
    found: list[TextReference] = []
    taken: list[tuple[int, int]] = []

    def add(match: re.Match[str], kind: str, **extra: object) -> None:
        found.append(
            TextReference(text[match.start() : match.end()], match.start(), match.end(), kind, **extra)
        )
        taken.append((match.start(), match.end()))

    def continue_after(match: re.Match[str], kind: str, **extra: object) -> None:
        position = match.end()
        while (more := _CONTINUATION.match(folded, position)) is not None:
            start = more.start("article")
            found.append(
                TextReference(
                    text[start : more.end()], start, more.end(), kind, **extra, **_article_fields(more)
                )
            )
            taken.append((start, more.end()))
            position = more.end()

    for match in _TITLED_REFERENCE.finditer(folded):
        if not (match.group("doc_number") or match.group("article")):
            continue  # a title alone names a document, not a provision of it
        title = "".join(text[match.start("title") : match.end("title")].split())
        number = match.group("doc_number") and "".join(
            text[match.start("doc_number") : match.end("doc_number")].split()
        )
        add(match, "titled", title=title, doc_number=number, **_article_fields(match))
        if match.group("article"):
            continue_after(match, "titled", title=title, doc_number=found[-1].doc_number)
    for match in _SELF_REFERENCE.finditer(folded):
        add(match, "self", **_article_fields(match))
        continue_after(match, "self")
    for pattern, kind in ((_THIS_CLAUSE, "this_clause"), (_PREVIOUS_CLAUSE, "previous_clause")):
        for match in pattern.finditer(folded):
            if any(start <= match.start() < end for start, end in taken):
                continue
            fields = {"paragraph": _number(match, "paragraph"), "item": _number(match, "item")}
            add(match, kind, **fields)
    return sorted(found, key=lambda reference: reference.start)
