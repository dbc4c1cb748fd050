"""Plain text (from .txt, .html, .docx, .pdf): drop web-page chrome, find the title and header lines.

Chrome is navigation text of the page a document was saved from ("EN", "政策纵览", "Policy Overview",
"返回列表", "打印本页"…): known navigation lines anywhere, and lines without any Chinese character
before the title. The title is the first remaining line, continued by up to two more short lines when
a header line (时间:…, 文号, 发布机构:…) follows them — a long title wraps in PDFs. Header lines right
after the title are metadata, not body.
"""

from __future__ import annotations

import re

from policyqa.corpus.source import SourceText
from policyqa.text import CJK_CHARACTER, DOC_NUMBER, fold

CHROME_LINES = frozenset(
    {
        "EN", "English", "中文", "政策纵览", "Policy Overview", "返回列表", "返回", "返回首页", "首页",
        "打印", "打印本页", "【打印】", "[打印]", "关闭", "关闭窗口", "【关闭】", "[关闭]", "【关闭窗口】",
        "分享到", "分享到:", "分享到：", "字号", "字号:大中小", "【大 中 小】", "上一篇", "下一篇", "收藏",
    }
)  # fmt: skip
_DATE = r"(?:19|20)\d{2}\s*(?:年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|[-./]\d{1,2}[-./]\d{1,2})"
_HEADER_LINE = re.compile(
    rf"^(?:(?:发布|成文|印发|发文|施行|实施)?(?:时间|日期)\s*[:：]|(?:发文字号|文号|字号|发文机关|发布机构|发布单位"
    rf"|发文单位|来源|索引号|主题分类|有效性|生效日期)\s*[:：]|{DOC_NUMBER}$|{_DATE}$|\(\s*{_DATE}[^()]*\)$)"
)
_MAX_TITLE_CONTINUATION = 2
_MAX_CONTINUATION_CHARS = 40


def is_chrome(line: str) -> bool:
    """True for a navigation line of a saved web page."""
    return line.strip() in CHROME_LINES


def is_header_line(line: str) -> bool:
    """True for a metadata line that follows a title (时间:2018-10-17, 苏政发〔2018〕123号, 发布机构:…)."""
    return bool(_HEADER_LINE.match(fold(line.strip())))


def read_plain(text: str) -> SourceText:
    """Split plain text into title, header lines and body (chrome removed, other lines unchanged)."""
    lines = [line.rstrip() for line in text.lstrip("\ufeff").split("\n")]
    lines = [line for line in lines if not is_chrome(line)]
    index = 0
    while index < len(lines) and (not lines[index].strip() or not CJK_CHARACTER.search(lines[index])):
        index += 1
    if index == len(lines):
        return SourceText(title="", body="")
    title_lines = [lines[index].strip()]
    index += 1
    continuation = _title_continuation(lines[index:])
    title_lines += [line.strip() for line in continuation]
    index += len(continuation)
    header: list[str] = []
    while index < len(lines) and (not lines[index].strip() or is_header_line(lines[index])):
        if lines[index].strip():
            header.append(lines[index].strip())
        index += 1
    body = "\n".join(lines[index:]).rstrip()
    return SourceText(title="".join(title_lines), body=body, header_lines=tuple(header))


def _title_continuation(lines: list[str]) -> list[str]:
    """The lines that continue a wrapped title: short non-blank lines directly followed by a header line."""
    for count in range(1, _MAX_TITLE_CONTINUATION + 1):
        candidates = lines[:count]
        if len(lines) <= count or not all(
            line.strip() and len(line.strip()) <= _MAX_CONTINUATION_CHARS and not is_header_line(line)
            for line in candidates
        ):
            break
        if is_header_line(lines[count]):
            return candidates
    return []
