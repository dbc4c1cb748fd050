"""Version folders, the CURRENT pointer, clean-up and SQLite round trips."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest

from policyqa.corpus.model import Clause, Document, ParsedDocument, Span
from policyqa.indexer import store
from policyqa.indexer.errors import IndexNotFoundError
from policyqa.indexer.passages import Passage


def publish_new(index_dir: Path, marker: str) -> Path:
    version = store.new_version(index_dir)
    (version / store.MANIFEST).write_text(f'{{"marker": "{marker}"}}', encoding="utf-8")
    store.publish(index_dir, version)
    return version


def test_missing_index_has_a_hint(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match=r"policyqa index PATH --index-dir"):
        store.current_version(tmp_path / "none")


def test_unpublished_version_is_not_in_force(tmp_path: Path) -> None:
    store.new_version(tmp_path)
    with pytest.raises(IndexNotFoundError):
        store.current_version(tmp_path)


def test_publish_swaps_and_keeps_one_previous_version(tmp_path: Path) -> None:
    first = publish_new(tmp_path, "1")
    stale = store.new_version(tmp_path)  # e.g. left by a crashed build
    second = publish_new(tmp_path, "2")
    assert store.current_version(tmp_path) == second
    assert first.exists() and not stale.exists()
    third = publish_new(tmp_path, "3")
    assert store.current_version(tmp_path) == third
    assert not first.exists() and second.exists()
    assert store.read_manifest(third) == {"marker": "3"}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "CURRENT",
        "versions",
    ]  # no staged pointer left


def test_database_round_trip_and_cascading_delete(tmp_path: Path) -> None:
    version = store.new_version(tmp_path)
    store.create_database(version)
    document = Document(
        id="d1",
        title="标题",
        subtitle="物权编",
        text="第一条 甲。第二条 乙。",
        date="2020-01-02",
        region="江苏省",
        doc_type="法",
        references=("《某法》",),
        source="a.txt",
    )
    clauses = (
        Clause(
            "d1-1",
            "d1",
            ("第一章 总则", "第一条"),
            "第一条",
            "",
            "第一条 甲。",
            0,
            6,
            (Span("第一款", 4, 6),),
        ),
        Clause("d1-2", "d1", ("第一章 总则", "第二条"), "第二条", "", "第二条 乙。", 6, 12),
    )
    passages = [
        (Passage("d1-1", 0, "《标题》\n第一条 甲。", "《标题》 第一章 总则\n第一条 甲。"), ["第1条", "甲"]),
        (Passage("d1-2", 0, "《标题》\n第二条 乙。", "《标题》 第一章 总则\n第二条 乙。"), ["第2条", "乙"]),
    ]
    with closing(store.connect(version)) as connection, connection:
        store.insert_document(connection, ParsedDocument(document, clauses), passages)
    with closing(store.connect(version)) as connection:
        assert store.read_documents(connection) == [document]
        assert store.read_clauses(connection) == list(clauses)
        table = store.read_clause_table(connection)
        assert [table[row] for row in range(len(table))] == list(clauses)
        assert table[1] is table[1]  # built once, then kept
        assert table.ids == ["d1-1", "d1-2"] and table.document_ids == ["d1", "d1"]
        assert table.numbers == ["第一条", "第二条"] and list(table.text_lengths) == [6, 6]
        stored = store.read_passages(connection)
        assert [(p.clause_id, p.text, p.tokens) for p in stored] == [
            (passage.clause_id, passage.text, tokens) for passage, tokens in passages
        ]
    copy = store.new_version(tmp_path)
    store.copy_database(version, copy)
    with closing(store.connect(copy)) as connection, connection:
        store.delete_documents(connection, ["d1"])
    with closing(store.connect(copy)) as connection:
        assert store.read_clauses(connection) == [] and store.read_passages(connection) == []
    with closing(store.connect(version)) as connection:
        assert store.document_ids(connection) == {"d1"}
