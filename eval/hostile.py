"""Hostile documents, generated on the spot: what the reliability suite and ``experiments/reliability.py``
upload to check that no file can take the server down (a .docx that inflates to gigabytes, one whose zip
headers lie about its size, broken or entity-laden XML, a giant text node, a document of endless clauses).

Everything is written as a stream: a 1 GiB bomb costs a few MB of memory and a few seconds to write.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable
from functools import cache

W_NAMESPACE = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DOCUMENT_XML = "word/document.xml"
_HEAD = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{W_NAMESPACE}"><w:body>'
)
_TAIL = "</w:body></w:document>"
_CHUNK_PARAGRAPHS = 4096


def paragraph(text: str) -> str:
    """One Word paragraph holding ``text``."""
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


@cache
def _skeleton() -> dict[str, bytes]:
    """Every member of a minimal real .docx (written by python-docx) but its document body."""
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name != DOCUMENT_XML}


def docx_from_parts(parts: Iterable[str | bytes], extra_members: dict[str, bytes] | None = None) -> bytes:
    """A .docx whose ``word/document.xml`` is the concatenation of ``parts`` (streamed into the archive),
    with ``extra_members`` added (e.g. media files)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**_skeleton(), **(extra_members or {})}.items():
            archive.writestr(name, data)
        with archive.open(DOCUMENT_XML, "w", force_zip64=True) as body:
            for part in parts:
                body.write(part.encode("utf-8") if isinstance(part, str) else part)
    return buffer.getvalue()


def docx_with_paragraphs(paragraphs: Iterable[str]) -> bytes:
    """A well-formed .docx with these paragraphs."""
    return docx_from_parts([_HEAD, *(paragraph(text) for text in paragraphs), _TAIL])


def docx_bomb(inflated_bytes: int) -> bytes:
    """A valid .docx whose body inflates to about ``inflated_bytes`` of numbered articles (a 1 GiB one is
    about 1 MB: deflate reaches ~1000:1 on repeated markup)."""
    block = "".join(paragraph(f"第{i}条 本条为测试条款，规定测试事项。") for i in range(1, 101)).encode()
    chunk = block * (_CHUNK_PARAGRAPHS // 100)

    def parts() -> Iterable[bytes]:
        yield _HEAD.encode()
        written = 0
        while written < inflated_bytes:
            yield chunk
            written += len(chunk)
        yield _TAIL.encode()

    return docx_from_parts(parts())


def docx_with_forged_sizes(inflated_bytes: int, declared_bytes: int) -> bytes:
    """A bomb whose central directory declares ``declared_bytes`` for a body that inflates to
    ``inflated_bytes`` (a check of declared sizes alone would let it through)."""
    data = bytearray(docx_bomb(inflated_bytes))
    name = DOCUMENT_XML.encode()
    entry = data.find(b"PK\x01\x02")
    while data[entry + 46 : entry + 46 + len(name)] != name:
        entry = data.find(b"PK\x01\x02", entry + 4)
    if struct.unpack_from("<I", data, entry + 24)[0] != 0xFFFFFFFF:  # a 32-bit inflated size
        struct.pack_into("<I", data, entry + 24, declared_bytes)
        return bytes(data)
    name_length, extra_length = struct.unpack_from("<HH", data, entry + 28)
    field = entry + 46 + name_length
    while field < entry + 46 + name_length + extra_length:
        tag, length = struct.unpack_from("<HH", data, field)
        if tag == 0x0001:  # the zip64 extra field: the inflated size comes first
            struct.pack_into("<Q", data, field + 4, declared_bytes)
            return bytes(data)
        field += 4 + length
    raise ValueError("no zip64 size to forge")


def docx_with_malformed_xml() -> bytes:
    """A .docx whose body is not well-formed XML (lxml's XMLSyntaxError)."""
    return docx_from_parts([_HEAD, "<w:p><w:r><w:t>关于测试的通知</w:t></w:r>", "<w:p><unclosed>", _TAIL])


def docx_with_entity_expansion(levels: int = 10) -> bytes:
    """A "billion laughs" .docx: nested entity definitions that would expand to 10**levels strings."""
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, levels)
    ]
    doctype = f"<!DOCTYPE w:document [{''.join(entities)}]>"
    head = _HEAD.replace("\n", f"\n{doctype}\n", 1)
    return docx_from_parts([head, paragraph("关于测试的通知"), paragraph(f"&lol{levels - 1};"), _TAIL])


def docx_with_huge_text_node(chars: int) -> bytes:
    """A .docx with one text node of ``chars`` characters (libxml2 refuses text nodes over 10 MB)."""
    return docx_from_parts(
        [_HEAD, paragraph("关于测试的通知"), "<w:p><w:r><w:t>", "条" * chars, "</w:t></w:r></w:p>", _TAIL]
    )


def many_clauses(count: int, title: str = "关于大量条款的测试办法") -> str:
    """A plain-text law of ``count`` articles."""
    articles = "\n".join(f"第{i}条 本条规定第{i}项测试事项。" for i in range(1, count + 1))
    return f"{title}\n\n{articles}\n"
