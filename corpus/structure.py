"""Finding the numbered structure of a body: headings (编/分编/章/节 or Markdown ``##``), articles
(第X条) and list items (一、 （一） 1. （1） ①).

Only numbering at the start of a line counts, so a reference inside a sentence (依照本条例第十一条,
前款第（二）项) is never structure. A 第X条 must be followed by whitespace or the article body, not by
words that make it a reference ("第十条的规定…", "第三条修改为…"). Numbers must make sense in
sequence: an article number only moves forward (or 之一 after its base, or restarts at 1); a list item
continues its siblings (n + 1), or starts a new level at 1, or continues the numbering of the same
level under the previous parent (（十二） under 四、 after （十一） under 三、).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from policyqa.text import NUMERAL, NUMERAL_CHARS, chinese_to_int, fold, int_to_chinese

ARTICLE = "article"
CN_COMMA = "cn_comma"  # 一、
CN_PAREN = "cn_paren"  # （一）
ARABIC_DOT = "arabic_dot"  # 1.
ARABIC_PAREN = "arabic_paren"  # （1）
CIRCLED = "circled"  # ①

CONTAINER_KINDS = {"编": 1, "分编": 2, "章": 3, "节": 4}
MAX_HEADING_CHARS = 30
_MAX_LIST_NUMBER = 200
_CN = f"[{NUMERAL_CHARS}]+"
_CONTAINER = re.compile(rf"第({NUMERAL})(分编|编|章|节)(?=\s|$)\s*(.*)$")
_CONTAINER_RUN_ON = re.compile(rf"第({NUMERAL})(分编|编|章|节)([^\s，,。；;的]{{1,{MAX_HEADING_CHARS}}})$")
# What may not follow "第X条" in an article label: it would make the label a reference.
_NOT_AFTER_ARTICLE = "的、，,。；;：:.之至及和或与所中第规项款（(修增删改后前所内外以"
_ARTICLE = re.compile(rf"第({NUMERAL})条(?:之({_CN}))?(?=\s|$|[^{_NOT_AFTER_ARTICLE}])")
_LIST_PATTERNS = (
    (CN_COMMA, re.compile(rf"({_CN})(?:、|\.(?!\d))")),
    (CN_PAREN, re.compile(rf"\(({_CN})\)")),
    (ARABIC_PAREN, re.compile(r"\((\d{1,3})\)")),
    (ARABIC_DOT, re.compile(r"(\d{1,3})(?:、|\.(?!\d))")),
    (CIRCLED, re.compile(r"([\u2460-\u2473])")),
)
_SPACE = re.compile(r"\s*")


@dataclass(frozen=True)
class Marker:
    """A structure line of the body.

    ``kind`` is "container" (a heading: 第X章, a Markdown heading) or "unit" (an article or list item).
    ``start`` is where the line's text begins (after indentation), ``end`` where the line ends.
    ``number`` is the canonical label (第二十四条, 四、, （十二）, 1., （1）, ①; "" for an unnumbered heading)
    and ``heading`` the title text in its original characters ("" when there is none).
    ``heading_only`` tells that nothing but number and heading is on the line.
    """

    kind: str
    start: int
    end: int
    number: str
    heading: str
    heading_only: bool
    scheme: str = ""
    level: int = 0  # container level (编 1 … 节 4, Markdown 2..6) or list depth (0 = top)

    @property
    def label(self) -> str:
        """The label used in clause paths: number and heading (第一章 总则, 四、健全…, （十二）发展…)."""
        if not self.heading:
            return self.number
        separator = " " if self.number.startswith("第") else ""
        return f"{self.number}{separator}{self.heading}"


def _canonical(scheme: str, value: int, sub: int = 0) -> str:
    if scheme == ARTICLE:
        return f"第{int_to_chinese(value)}条" + (f"之{int_to_chinese(sub)}" if sub else "")
    if scheme == CN_COMMA:
        return f"{int_to_chinese(value)}、"
    if scheme == CN_PAREN:
        return f"（{int_to_chinese(value)}）"
    if scheme == ARABIC_DOT:
        return f"{value}."
    if scheme == ARABIC_PAREN:
        return f"（{value}）"
    return chr(0x2460 + value - 1)


def _split_heading(text: str) -> tuple[str, bool]:
    """``(heading, heading_only)`` of the text after a number: up to the first 。 when that is short, or
    the whole text when it is short and has no 。. ``heading_only`` means the line is nothing but a
    heading (no sentence, not even one ending in 。)."""
    stripped = text.strip()
    stop = stripped.find("。")
    if 0 < stop <= MAX_HEADING_CHARS:
        return stripped[:stop].strip(), False
    if stop < 0 and len(stripped) <= MAX_HEADING_CHARS:
        return stripped, True
    return "", not stripped


class _Sequencer:
    """Accepts or rejects numbered lines by their place in the numbering sequence."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, int]] = []  # list schemes open under the current article/heading
        self.last_at_depth: dict[tuple[str, int], int] = {}
        self.article: tuple[int, int] | None = None
        self.containers: dict[str, int] = {}

    def reset_lists(self) -> None:
        self.stack.clear()

    def accept_container(self, kind: str, value: int) -> bool:
        previous = self.containers.get(kind)
        if previous is not None and value not in (1, previous + 1):
            return False
        self.containers[kind] = value
        for deeper, level in CONTAINER_KINDS.items():
            if level > CONTAINER_KINDS[kind]:
                self.containers.pop(deeper, None)
        self.reset_lists()
        return True

    def accept_article(self, value: int, sub: int) -> bool:
        previous = self.article
        if previous is not None and not (
            value > previous[0] or (value == previous[0] and sub > previous[1]) or (value == 1 and not sub)
        ):
            return False
        self.article = (value, sub)
        self.stack = [(ARTICLE, value)]
        return True

    def accept_item(self, scheme: str, value: int) -> int | None:
        """The depth of an accepted list item, or None."""
        if value > _MAX_LIST_NUMBER:
            return None
        for depth, (open_scheme, open_value) in enumerate(self.stack):
            if open_scheme == scheme:
                if value != open_value + 1:
                    return None
                del self.stack[depth:]
                return self._push(scheme, value)
        depth = len(self.stack)
        if value != 1 and value != self.last_at_depth.get((scheme, depth), -1) + 1:
            return None
        return self._push(scheme, value)

    def _push(self, scheme: str, value: int) -> int:
        depth = len(self.stack)
        self.stack.append((scheme, value))
        self.last_at_depth[(scheme, depth)] = value
        return depth - (1 if self.stack[0][0] == ARTICLE else 0)


def find_markers(body: str, heading_levels: dict[int, int]) -> list[Marker]:
    """The structure lines of ``body`` in order; ``heading_levels`` marks explicit (Markdown) headings,
    and when there are any, only they are headings."""
    folded = fold(body)
    sequencer = _Sequencer()
    markers: list[Marker] = []
    offset = 0
    for line in body.split("\n"):
        line_start, offset = offset, offset + len(line) + 1
        indent = _SPACE.match(fold(line)).end()
        start, end = line_start + indent, line_start + len(line)
        if start == end:
            continue
        text = folded[start:end]
        if heading_levels:
            if line_start in heading_levels:
                markers.append(_heading_marker(body, text, start, end, heading_levels[line_start]))
                sequencer.reset_lists()
                continue
        else:
            container = _container(body, text, start, end, sequencer)
            if container is not None:
                markers.append(container)
                continue
        marker = _unit(body, text, start, end, sequencer)
        if marker is not None:
            markers.append(marker)
    return markers


def _heading_marker(body: str, text: str, start: int, end: int, level: int) -> Marker:
    for pattern in (_CONTAINER, _CONTAINER_RUN_ON):
        match = pattern.match(text)
        if match:
            number = f"第{int_to_chinese(chinese_to_int(match.group(1)))}{match.group(2)}"
            heading = " ".join(body[start + match.start(3) : end].split())
            return Marker("container", start, end, number, heading, True, level=level)
    for scheme, pattern in _LIST_PATTERNS:
        match = pattern.match(text)
        if match and scheme != CIRCLED:
            value = chinese_to_int(match.group(1))
            number = _canonical(scheme, value)
            return Marker(
                "container", start, end, number, body[start + match.end() : end].strip(), True, level=level
            )
    return Marker("container", start, end, "", " ".join(body[start:end].split()), True, level=level)


def _container(body: str, text: str, start: int, end: int, sequencer: _Sequencer) -> Marker | None:
    match = _CONTAINER.match(text) or _CONTAINER_RUN_ON.match(text)
    if match is None or len(match.group(3)) > MAX_HEADING_CHARS:
        return None
    value, kind = chinese_to_int(match.group(1)), match.group(2)
    if not sequencer.accept_container(kind, value):
        return None
    number = f"第{int_to_chinese(value)}{kind}"
    heading = " ".join(body[start + match.start(3) : end].split())
    return Marker("container", start, end, number, heading, True, level=CONTAINER_KINDS[kind])


def _unit(body: str, text: str, start: int, end: int, sequencer: _Sequencer) -> Marker | None:
    match = _ARTICLE.match(text)
    if match:
        value = chinese_to_int(match.group(1))
        sub = chinese_to_int(match.group(2)) if match.group(2) else 0
        if not sequencer.accept_article(value, sub):
            return None
        return Marker("unit", start, end, _canonical(ARTICLE, value, sub), "", False, ARTICLE)
    for scheme, pattern in _LIST_PATTERNS:
        match = pattern.match(text)
        if match is None or match.end() == len(text):
            continue
        value = chinese_to_int(match.group(1)) if scheme != CIRCLED else ord(match.group(1)) - 0x2460 + 1
        depth = sequencer.accept_item(scheme, value)
        if depth is None:
            return None
        heading, heading_only = _split_heading(body[start + match.end() : end])
        number = _canonical(scheme, value)
        return Marker("unit", start, end, number, heading, heading_only, scheme, level=depth)
    return None
