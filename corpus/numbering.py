"""Chinese numerals and article labels: 一百二十三 → 123, 第二十四条之一 → "24-1"."""

from __future__ import annotations

import re

from policyqa.corpus.normalize import fold

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
NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS) + "".join(_WAN)
NUMERAL = rf"[{NUMERAL_CHARS}]+|\d+"

_ARTICLE_LABEL = re.compile(rf"第\s*({NUMERAL})\s*条(?:\s*之\s*({NUMERAL}))?")
_CN_NUMBERS = "零一二三四五六七八九"


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
        parts.append(_CN_NUMBERS[digit] + unit)
    label = "".join(parts)
    return label[1:] if label.startswith("一十") else label


def article_key(label: str) -> str | None:
    """The comparable key of an article label: 第二十四条 / 第24条 → "24", 第二十四条之一 → "24-1".

    Traditional (第二十四條) and full-width forms are accepted; anything else gives None.
    """
    match = _ARTICLE_LABEL.fullmatch(fold(label.strip()))
    if match is None:
        return None
    number = chinese_to_int(match.group(1))
    if match.group(2):
        return f"{number}-{chinese_to_int(match.group(2))}"
    return str(number)
