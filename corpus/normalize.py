"""The matching form of text: one character in, one character out, so offsets stay valid.

Full-width ASCII becomes half-width, ideographic and no-break spaces become spaces and traditional
characters become simplified (zhconv's single-character table). Phrase-level conversions are left
out on purpose: they could change the length and break offsets into the stored text.
"""

from __future__ import annotations

from functools import cache

import zhconv.zhconv as _zhconv

_SPACES = "\u3000\u00a0\u2002\u2003\u2009\u200b\ufeff"


@cache
def _table() -> dict[int, str]:
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
    """``text`` in matching form, same length: （十二） → (十二), 第一條 → 第一条, ｘ → x."""
    return text.translate(_table())
