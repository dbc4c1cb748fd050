"""lawrefbook Markdown: YAML front matter (not body), ``# title``, optional ``# subtitle`` (a split law
such as 民法典/物权编), metadata lines up to ``<!-- INFO END -->``, then the body whose ``##``..``######``
headings are structure (编/分编/章/节)."""

from __future__ import annotations

import re

from policyqa.corpus.source import SourceText

INFO_END = "<!-- INFO END -->"
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t]*$")
_HEADING = re.compile(r"^(#{2,6})[ \t]+(.*?)[ \t#]*$")
_HIDDEN_KEYS = re.compile(r"^\s*(draft|bookHidden)\s*:\s*true\s*$", re.M | re.I)


def split_front_matter(text: str) -> tuple[str, str]:
    """``(front_matter, rest)``; front matter is "" when the text has none."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text.lstrip("\ufeff")
    return match.group(1), text[match.end() :]


def is_hidden_page(front_matter: str) -> bool:
    """True for pages marked ``draft: true`` or ``bookHidden: true`` (a template or README, no law)."""
    return bool(_HIDDEN_KEYS.search(front_matter))


def read_markdown(text: str) -> SourceText:
    """Split lawrefbook Markdown into title, subtitle, metadata lines and body; "" title if none."""
    _, text = split_front_matter(text)
    lines = text.split("\n")
    titles: list[str] = []
    index = 0
    while index < len(lines):
        line = _COMMENT.sub("", lines[index]).strip()
        match = _TITLE.match(line)
        if match:
            titles.append(match.group(1).strip())
        elif line and (titles or not line.startswith("#")):
            break
        index += 1
    if INFO_END in text:
        end = next(i for i, line in enumerate(lines) if INFO_END in line)
        header = [_COMMENT.sub("", line).strip() for line in lines[index:end]]
        index = end + 1
    else:
        header = []
    while index < len(lines) and not _COMMENT.sub("", lines[index]).strip():
        index += 1
    body_lines: list[str] = []
    levels: dict[int, int] = {}
    offset = 0
    for raw in lines[index:]:
        if _COMMENT.fullmatch(raw.strip()):
            continue
        line = _COMMENT.sub("", raw).rstrip()
        heading = _HEADING.match(line)
        if heading:
            line = heading.group(2)
            levels[offset] = len(heading.group(1))
        body_lines.append(line)
        offset += len(line) + 1
    return SourceText(
        title=titles[0] if titles else "",
        subtitle=titles[1] if len(titles) > 1 else None,
        header_lines=tuple(line for line in header if line),
        body="\n".join(body_lines).rstrip(),
        heading_levels=levels,
        markdown=True,
    )
