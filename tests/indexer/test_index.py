"""End to end with the real model, FAISS and SQLite: build, search, filters, updates, swaps, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from policyqa.corpus.parse import parse_text
from policyqa.indexer import PolicyIndex, SearchFilters, add_documents, build_index, remove_documents, store
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidQueryError,
    NothingToIndexError,
    UnknownIdError,
)
from policyqa.indexer.manifest import FORMAT_VERSION
from policyqa.indexer.settings import IndexSettings

DEMO_QUERY = "创业孵化机构能拿到哪些扶持"
INCUBATOR_CLAUSE = "（十二）发展创新型孵化器"
HEAT_NOTICE = """南京市人民政府关于做好夏季高温防暑工作的通知
宁政发〔2021〕60号
2021-06-15

  一、保障劳动者权益

  （一）发放高温津贴。用人单位应当按月向高温作业劳动者发放防暑降温费。
"""


@pytest.fixture(scope="module", params=["folder", "milvus"])
def tiny_index(
    request: pytest.FixtureRequest, tiny_index_dir: Path, index_settings: IndexSettings, embedder: Embedder
) -> PolicyIndex:
    """The tiny index in each store: its folder, and the Milvus collection it was migrated into."""
    settings = (
        index_settings if request.param == "folder" else request.getfixturevalue("tiny_milvus_settings")
    )
    return PolicyIndex.load(tiny_index_dir, settings, embedder=embedder)


def clause_ids(hits) -> list[str]:
    return [hit.clause.id for hit in hits]


def test_manifest_describes_the_build(tiny_index: PolicyIndex, embedder: Embedder) -> None:
    manifest = tiny_index.manifest
    assert manifest["model"] == embedder.model_id and manifest["dimension"] == embedder.dimension
    assert manifest["documents"] == 3
    assert manifest["clauses"] == 5 + 4 + 19
    assert manifest["passages"] == manifest["clauses"]
    assert manifest["ann"] == "flat" and manifest["format_version"] == FORMAT_VERSION
    assert len(manifest["dictionary_hash"]) == 64 and manifest["built_at"]


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_demo_question_finds_the_incubator_clause_first(
    demo_index_dir: Path, index_settings: IndexSettings, embedder: Embedder, mode: str
) -> None:
    demo = PolicyIndex.load(demo_index_dir, index_settings, embedder=embedder)
    assert demo.manifest["documents"] == 1 and demo.manifest["clauses"] == 19
    hits = demo.search(DEMO_QUERY, mode=mode, k=5)
    assert hits[0].clause.path[-1] == INCUBATOR_CLAUSE
    assert len(hits) == 5 and len(set(clause_ids(hits))) == 5
    assert hits[0].score == max(hit.score for hit in hits)


def test_demo_question_in_a_larger_corpus(tiny_index: PolicyIndex) -> None:
    assert tiny_index.search(DEMO_QUERY, k=1)[0].clause.path[-1] == INCUBATOR_CLAUSE


def test_hybrid_hits_carry_ranks_and_scores_per_retriever(tiny_index: PolicyIndex) -> None:
    top = tiny_index.search(DEMO_QUERY, k=1)[0]
    assert set(top.ranks) == {"bm25", "dense"} and set(top.scores) == {"bm25", "dense"}
    for mode in ("bm25", "dense"):
        alone = clause_ids(tiny_index.search(DEMO_QUERY, mode=mode, k=50))
        assert top.ranks[mode] == alone.index(top.clause.id) + 1
    bm25_top = tiny_index.search(DEMO_QUERY, mode="bm25", k=1)[0]
    assert set(bm25_top.ranks) == {"bm25"} and bm25_top.score == bm25_top.scores["bm25"]


def test_arabic_article_number_finds_the_chinese_numbered_article(tiny_index: PolicyIndex) -> None:
    for mode in ("bm25", "hybrid"):
        top = tiny_index.search("第24条", mode=mode, k=3)[0]
        assert top.clause.number == "第二十四条", mode
        assert top.document.title == "中华人民共和国示范促进法"


def test_doc_number_query_finds_its_document(tiny_index: PolicyIndex) -> None:
    hits = tiny_index.search("宁政发〔2021〕45号 物资储备", mode="bm25", k=1)
    assert hits[0].clause.path[-1] == "（二）做好物资储备"


def test_filters(tiny_index: PolicyIndex) -> None:
    notices = tiny_index.search(DEMO_QUERY, k=20, filters=SearchFilters(doc_type="通知"))
    assert notices and {hit.document.doc_type for hit in notices} == {"通知"}
    in_2021 = tiny_index.search(
        "防汛", mode="dense", k=20, filters=SearchFilters(date_from="2021-05-20", date_to="2021-05-20")
    )
    assert {hit.document.date for hit in in_2021} == {"2021-05-20"}
    assert tiny_index.search("防汛", filters=SearchFilters(date_from="2021-05-21")) == [
        hit
        for hit in tiny_index.search("防汛", filters=SearchFilters(date_from="2021-05-21"))
        if hit.document.date and hit.document.date >= "2021-05-21"
    ]
    assert tiny_index.search("防汛", filters=SearchFilters(region="火星")) == []
    for region in ("南京市", "南京"):  # stored as 南京市; 南京 means the same place
        in_nanjing = tiny_index.search("防汛", k=20, filters=SearchFilters(region=region))
        assert in_nanjing and {hit.document.region for hit in in_nanjing} == {"南京市"}
    with pytest.raises(InvalidQueryError, match="yyyy-mm-dd"):
        tiny_index.search("防汛", filters=SearchFilters(date_from="2021/05/01"))
    with pytest.raises(InvalidQueryError, match="yyyy-mm-dd"):  # well-formed, but no 13th month
        tiny_index.search("防汛", filters=SearchFilters(date_to="2021-13-01"))


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_search_inside_one_document(tiny_index: PolicyIndex, mode: str) -> None:
    law = next(document for document in tiny_index.documents() if document.doc_type == "法")
    query = "支持企业开展研发"
    everywhere = tiny_index.search(query, mode=mode, k=5)
    assert {hit.document.id for hit in everywhere} != {law.id}
    inside = tiny_index.search(query, mode=mode, k=5, filters=SearchFilters(document_id=law.id))
    assert inside and {hit.document.id for hit in inside} == {law.id}
    assert inside[0].clause.number == "第二十三条"
    with pytest.raises(UnknownIdError, match="no document with id 'missing'"):
        tiny_index.search(query, mode=mode, filters=SearchFilters(document_id="missing"))


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_search_inside_a_set_of_documents(tiny_index: PolicyIndex, mode: str) -> None:
    notice = next(document for document in tiny_index.documents() if document.doc_type == "通知")
    other = next(document for document in tiny_index.documents() if document.doc_type != "通知")
    chosen = frozenset({notice.id, other.id})
    inside = tiny_index.search("防汛", mode=mode, k=20, filters=SearchFilters(document_ids=chosen))
    assert notice.id in {hit.document.id for hit in inside} <= chosen
    assert tiny_index.search("防汛", mode=mode, filters=SearchFilters(document_ids=frozenset())) == []
    both = SearchFilters(doc_type="通知", document_ids=frozenset({other.id}))  # every field applies
    assert tiny_index.search("防汛", mode=mode, filters=both) == []


@pytest.mark.parametrize(
    ("query", "mode", "k", "message"),
    [
        ("", "hybrid", 10, "empty"),
        ("   ", "bm25", 10, "empty"),
        ("孵化器" * 167, "hybrid", 10, "501 characters long; the limit is 500"),
        ("孵化器", "fuzzy", 10, "bm25, dense, hybrid"),
        ("孵化器", "dense", 0, "k must"),
        ("孵化器", "dense", 101, "k must be an integer from 1 to 100"),
    ],
)
def test_invalid_queries(tiny_index: PolicyIndex, query: str, mode: str, k: int, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        tiny_index.search(query, mode=mode, k=k)


def test_accessors(tiny_index: PolicyIndex) -> None:
    law = next(document for document in tiny_index.documents() if document.doc_type == "法")
    clauses = tiny_index.clauses_of(law.id)
    assert [clause.number for clause in clauses] == [
        "第一条",
        "第二条",
        "第二十三条",
        "第二十四条",
        "第二十五条",
    ]
    assert tiny_index.document(law.id) == law and tiny_index.clause(clauses[1].id) == clauses[1]
    assert tiny_index.neighbours(clauses[0].id) == (None, clauses[1].id)
    assert tiny_index.neighbours(clauses[2].id) == (clauses[1].id, clauses[3].id)
    assert tiny_index.neighbours(clauses[-1].id) == (clauses[-2].id, None)
    catalogue = tiny_index.catalogue
    assert catalogue.numbered(law.id) == [(clause.id, clause.number) for clause in clauses]
    assert catalogue.document_id_of(clauses[2].id) == law.id
    wanted = {clauses[0].id, clauses[3].id}
    clause_of_row = [
        catalogue.fold(np.array([row]), np.zeros(1))[0][0] for row in range(len(catalogue.passage_ids))
    ]
    expected = [
        passage
        for passage, clause in zip(catalogue.passage_ids, clause_of_row, strict=True)
        if clause in wanted
    ]
    assert list(catalogue.passages_of([clauses[3].id, clauses[0].id, clauses[3].id])) == expected
    for lookup in (
        tiny_index.clause,
        tiny_index.document,
        tiny_index.clauses_of,
        tiny_index.neighbours,
        catalogue.numbered,
        catalogue.document_id_of,
    ):
        with pytest.raises(UnknownIdError):
            lookup("no-such-id")


def test_missing_index(tmp_path: Path, index_settings: IndexSettings, embedder: Embedder) -> None:
    with pytest.raises(IndexNotFoundError, match=rf"no index at {tmp_path}.*policyqa index PATH --index-dir"):
        PolicyIndex.load(tmp_path, index_settings, embedder=embedder)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model", "someone/other-model", "built with model someone/other-model .*POLICYQA_MODEL=default"),
        ("dimension", 768, r"\(dim 768\); configured model is .* \(dim 384\)"),
        ("format_version", 99, "format version 99"),
    ],
)
def test_mismatched_index(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder, field: str, value, message: str
) -> None:
    version = tiny_index_copy / "versions" / (tiny_index_copy / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({**manifest, field: value}))
    with pytest.raises(IndexMismatchError, match=message):
        PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    with pytest.raises(IndexMismatchError, match=message):
        add_documents(
            tiny_index_copy, [parse_text(HEAT_NOTICE, "heat.txt")], index_settings, embedder=embedder
        )


def test_add_replace_and_remove(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    before = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    heat = parse_text(HEAT_NOTICE, "heat.txt")
    assert not before.changed()

    added = add_documents(tiny_index_copy, [heat], index_settings, embedder=embedder)
    assert (added["documents"], added["clauses"]) == (4, before.manifest["clauses"] + 1)
    assert added["embedded"] == 1 and added["update"] == "add"
    assert before.changed()  # another version is in force: a server holding `before` reloads
    index = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert not index.changed()
    assert index.search("高温津贴怎么发", k=1)[0].document.id == heat.document.id
    assert before.search(DEMO_QUERY, k=1)[0].clause.path[-1] == INCUBATOR_CLAUSE  # old index keeps answering
    assert before.manifest["documents"] == 3

    changed = HEAT_NOTICE + "\n  （二）调整工作时间。高温天气停止露天作业。\n"
    replacement = parse_text(changed, "heat.txt")
    assert replacement.document.id == heat.document.id
    replaced = add_documents(tiny_index_copy, [replacement], index_settings, embedder=embedder)
    assert (replaced["documents"], replaced["clauses"]) == (4, added["clauses"] + 1)
    assert replaced["embedded"] == 1  # the unchanged clause reuses its stored vector
    index = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert [c.path[-1] for c in index.clauses_of(heat.document.id)] == [
        "（一）发放高温津贴",
        "（二）调整工作时间",
    ]
    assert index.search("露天作业", mode="bm25", k=1)[0].clause.path[-1] == "（二）调整工作时间"

    law_id = next(d.id for d in index.documents() if d.doc_type == "法")
    law_clauses = [clause.id for clause in index.clauses_of(law_id)]
    removed = remove_documents(tiny_index_copy, [law_id], index_settings)
    assert (removed["documents"], removed["clauses"], removed["embedded"]) == (3, replaced["clauses"] - 5, 0)
    index = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert law_id not in {d.id for d in index.documents()}
    with pytest.raises(UnknownIdError):
        index.clause(law_clauses[0])
    assert all(hit.document.id != law_id for hit in index.search("第24条", k=50))
    assert index.search(DEMO_QUERY, k=1)[0].clause.path[-1] == INCUBATOR_CLAUSE
    assert len(list((tiny_index_copy / "versions").iterdir())) == 2  # in force + previous

    with pytest.raises(UnknownIdError, match="no-such-doc"):
        remove_documents(tiny_index_copy, ["no-such-doc"], index_settings)


def test_failed_build_leaves_the_index_in_force(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder, tmp_path: Path
) -> None:
    before = (tiny_index_copy / "CURRENT").read_text()
    (tmp_path / "empty").mkdir()
    with pytest.raises(NothingToIndexError, match="index in force is unchanged"):
        build_index(
            [tmp_path / "empty", tmp_path / "missing.txt"], tiny_index_copy, index_settings, embedder=embedder
        )
    assert (tiny_index_copy / "CURRENT").read_text() == before
    assert len(list((tiny_index_copy / "versions").iterdir())) == 1
    index = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert index.search(DEMO_QUERY, k=1)[0].clause.path[-1] == INCUBATOR_CLAUSE


def test_killed_build_leaves_the_index_in_force(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder, tmp_path: Path
) -> None:
    """A build killed mid-embedding (a real process, SIGKILL) never becomes the index in force."""
    articles = "\n\n".join(
        f"第{i}条 第{i}项示范措施：县级以上人民政府应当按照第{i}号规划，推进示范区{i}建设。"
        for i in range(1, 3001)
    )
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "big-law.txt").write_text("大型示范法\n\n" + articles, encoding="utf-8")
    before = (tiny_index_copy / "CURRENT").read_text()
    versions = tiny_index_copy / "versions"
    command = [
        sys.executable,
        "-m",
        "policyqa.cli",
        "index",
        str(tmp_path / "big"),
        "--index-dir",
        str(tiny_index_copy),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(versions.iterdir())) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # well into parsing/embedding 3,000 articles
        assert process.poll() is None, "the build finished before it could be interrupted"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert (tiny_index_copy / "CURRENT").read_text() == before
    index = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert index.manifest["documents"] == 3
    assert index.search(DEMO_QUERY, k=1)[0].clause.path[-1] == INCUBATOR_CLAUSE
    add_documents(tiny_index_copy, [parse_text(HEAT_NOTICE, "heat.txt")], index_settings, embedder=embedder)
    assert len(list(versions.iterdir())) == 2  # the half-written version was cleaned up


def test_unreadable_index_is_a_clear_error(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    version = tiny_index_copy / "versions" / (tiny_index_copy / "CURRENT").read_text().strip()
    (version / "dense" / "dense.faiss").write_bytes(b"truncated")
    with pytest.raises(IndexCorruptError, match=r"dense/dense.faiss is 9 bytes; .* restore it from a backup"):
        PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["files"]  # written before checksums: the parser's own error, still one line without a path
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match=r"cannot be read \(RuntimeError: .*\); rebuild it") as error:
        PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert str(tiny_index_copy) not in str(error.value)


@pytest.mark.parametrize(("ann", "used"), [("hnsw", "hnsw"), ("ivf", "flat")])
def test_approximate_index_types(
    tiny_corpus: Path, index_settings: IndexSettings, embedder: Embedder, tmp_path: Path, ann: str, used: str
) -> None:
    settings = index_settings.model_copy(update={"ann": ann})
    manifest = build_index([tiny_corpus], tmp_path, settings, embedder=embedder, progress=False)
    assert (manifest["ann"], manifest["ann_requested"], manifest["embedded"]) == (
        used,
        ann,
        manifest["passages"],
    )
    index = PolicyIndex.load(tmp_path, settings, embedder=embedder)
    assert index.search(DEMO_QUERY, k=1)[0].clause.path[-1] == INCUBATOR_CLAUSE
    notices = index.search("防汛", mode="dense", k=3, filters=SearchFilters(doc_type="通知"))
    assert len(notices) == 3 and {hit.document.doc_type for hit in notices} == {"通知"}


def _as_before_validity(index_dir: Path) -> Path:
    """Turn the version in force into what an index written before validity and references looks like:
    no validity columns, no clause_references table (manifest checksums rewritten to match)."""
    version = store.current_version(index_dir)
    with closing(store.connect(version)) as connection, connection:
        connection.execute("DROP TABLE clause_references")
        for column in ("region_basis", "issuer_level", "effective_date", "expires", "repeals_json"):
            connection.execute(f"ALTER TABLE documents DROP COLUMN {column}")
    manifest = store.read_manifest(version)
    manifest.pop("files")
    store.write_manifest(version, manifest)
    return version


def test_an_index_written_before_validity_loads_and_is_upgraded_on_its_next_write(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    old_version = _as_before_validity(tiny_index_copy)
    before = store.read_manifest(old_version)["files"]
    index = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    law = next(document for document in index.documents() if document.doc_type == "法")
    assert law.effective_date == "2020-01-01"  # read from the stored text
    assert index.catalogue.validity_on(law.id, "2019-12-31").status == "尚未施行"
    assert store.read_manifest(old_version)["files"] == before  # loading wrote nothing

    add_documents(tiny_index_copy, [parse_text(HEAT_NOTICE, "heat.txt")], index_settings, embedder=embedder)
    upgraded = store.current_version(tiny_index_copy)
    with closing(store.connect(upgraded)) as connection:
        assert store.read_references(connection) is not None
        columns = {row[1] for row in connection.execute("PRAGMA table_info(documents)")}
    assert {"effective_date", "expires", "repeals_json", "region_basis"} <= columns
    index = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert index.document(law.id).effective_date == "2020-01-01"
    assert index.search("高温津贴怎么发", k=1)[0].validity.status == "现行有效"
