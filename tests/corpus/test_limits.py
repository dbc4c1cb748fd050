"""One document can cost only so much: inflated archive sizes, characters, clauses and parse time are
bounded, and every loader failure is a DocumentError (hostile files generated here, small limits so that a
regression fails fast instead of eating the machine)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from policyqa.corpus.errors import DocumentError, DocumentTooLargeError
from policyqa.corpus.limits import MIB, ParseLimits
from policyqa.corpus.parse import parse_file, parse_text
from policyqa.corpus.worker import ParseWorker
from policyqa.eval import hostile

SMALL = ParseLimits(
    max_archive_member_bytes=1 * MIB,
    max_archive_total_bytes=2 * MIB,
    max_document_chars=50_000,
    max_document_clauses=200,
    max_parse_seconds=60,
)


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_a_well_formed_docx_within_the_limits_parses(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ok.docx",
        hostile.docx_with_paragraphs(["关于测试的通知", "第一条 测试。", "第二条 测试。"]),
    )
    parsed = parse_file(path, SMALL)
    assert parsed.document.title == "关于测试的通知" and [c.number for c in parsed.clauses] == [
        "第一条",
        "第二条",
    ]


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        (
            "bomb.docx",
            lambda: hostile.docx_bomb(
                16 * MIB
            ),  # 16x the member limit: a regression parses 16 MiB, not 1 GiB
            "archive member word/document.xml inflates to more than 1,048,576 bytes, the limit "
            "(POLICYQA_MAX_ARCHIVE_MEMBER_BYTES)",
        ),
        (
            "many-members.docx",
            lambda: hostile.docx_from_parts(
                ["<w:document/>"], {f"word/media/image{i}.png": bytes(900 * 1024) for i in range(3)}
            ),
            "the archive inflates to more than 2,097,152 bytes, the limit (POLICYQA_MAX_ARCHIVE_TOTAL_BYTES)",
        ),
        ("long.txt", lambda: hostile.many_clauses(3000), "characters of text; the limit is 50,000"),
        (
            "many.txt",
            lambda: hostile.many_clauses(300),
            "300 clauses; the limit is 200 (POLICYQA_MAX_DOCUMENT",
        ),
    ],
)
def test_documents_over_a_limit_are_refused_naming_it(tmp_path: Path, name, make, message) -> None:
    path = write(tmp_path, name, make())
    started = time.monotonic()
    with pytest.raises(DocumentTooLargeError) as refused:
        parse_file(path, SMALL)
    assert message in str(refused.value) and str(refused.value).startswith(str(path))
    assert time.monotonic() - started < 60  # generous: a regression that inflates the bomb is far slower


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        # headers that lie: zipfile inflates no more than the declared size, then the CRC check fails
        ("forged.docx", lambda: hostile.docx_with_forged_sizes(8 * MIB, 1000), "Bad CRC-32"),
        ("malformed.docx", hostile.docx_with_malformed_xml, "Opening and ending tag mismatch"),
        ("laughs.docx", hostile.docx_with_entity_expansion, "entity"),
        ("huge-node.docx", lambda: hostile.docx_with_huge_text_node(11_000_000), "Text node too long"),
    ],
)
def test_broken_docx_files_are_a_document_error(tmp_path: Path, name, make, reason) -> None:
    """lxml's and zipfile's own errors (the probe got a 500 for each) become DocumentError, with the
    default limits, which these files are within."""
    path = write(tmp_path, name, make())
    with pytest.raises(DocumentError, match=r"not a readable \.docx file") as refused:
        parse_file(path)
    assert reason in str(refused.value) and "\n" not in str(refused.value)


def test_a_text_file_too_big_for_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "huge.txt", "政" * 70_000)  # 210,000 bytes: over 4 bytes a character for 50,000
    with pytest.raises(DocumentTooLargeError, match="210,000 bytes of text is over the limit of 50,000"):
        parse_file(path, SMALL)


def test_parse_text_applies_the_clause_limit() -> None:
    with pytest.raises(DocumentTooLargeError, match="300 clauses; the limit is 200"):
        parse_text(hostile.many_clauses(300), "many.txt", limits=SMALL)


def test_the_worker_parses_in_a_child_and_keeps_error_types(tmp_path: Path, seed_document: Path) -> None:
    seed = seed_document
    with ParseWorker(SMALL) as worker:
        assert worker.parse(seed).document.title == parse_file(seed).document.title
        with pytest.raises(DocumentTooLargeError, match=r"^upload\.txt: 300 clauses"):
            worker.parse(write(tmp_path, "many.txt", hostile.many_clauses(300)), name="upload.txt")
        with pytest.raises(DocumentError, match="no such file"):
            worker.parse(tmp_path / "missing.txt")
        assert len(worker.parse(seed).clauses) == len(parse_file(seed).clauses)  # the same child goes on


def test_a_parse_over_the_time_limit_is_abandoned_and_the_worker_goes_on(
    tmp_path: Path, seed_document: Path
) -> None:
    """A 1,000,000-character law takes seconds to segment; the limit is a hundredth of a second."""
    slow = write(tmp_path, "slow.txt", hostile.many_clauses(60_000))
    hurried = ParseLimits(max_document_chars=2_000_000, max_document_clauses=100_000, max_parse_seconds=0.01)
    with ParseWorker(hurried) as worker:
        with pytest.raises(
            DocumentError, match=r"parsing took longer than the limit of 0\.01 s \(POLICYQA_MAX_PARSE"
        ):
            worker.parse(slow)
        worker.limits = SMALL  # a new child (the old one was killed), patient enough for the seed
        assert worker.parse(seed_document).clauses
