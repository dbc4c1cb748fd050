"""The Milvus store with the real milvus-lite: parity with the folder store, filters pushed down as
expressions, writes, alias swaps, errors and the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from policyqa.cli import main
from policyqa.corpus.parse import parse_text
from policyqa.indexer import PolicyIndex, SearchFilters, add_documents, remove_documents
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import ConfigurationError, IndexNotFoundError, UnknownIdError
from policyqa.indexer.milvus_index import filter_expression
from policyqa.indexer.milvus_store import MilvusStore, migrate_folder, term_codes
from policyqa.indexer.settings import IndexSettings, load_settings

HEAT_NOTICE = """南京市人民政府关于做好夏季高温防暑工作的通知
宁政发〔2021〕60号
2021-06-15

  一、保障劳动者权益

  （一）发放高温津贴。用人单位应当按月向高温作业劳动者发放防暑降温费。
"""
QUERIES = ["创业孵化机构能拿到哪些扶持", "第24条", "宁政发〔2021〕45号 物资储备", "防汛", "支持企业开展研发"]
VERSION = "示范条例\n时间:{day}\n\n第一条 示范补贴{pay}发放。\n第二条 本条例自{start}起施行。\n"
DEADLINE_SECONDS = 30.0  # a replica sees another's write well before this (measured: docs/milvus.md)


@pytest.fixture(scope="module")
def both(
    tiny_index_dir: Path,
    index_settings: IndexSettings,
    tiny_milvus_settings: IndexSettings,
    embedder: Embedder,
) -> tuple[PolicyIndex, PolicyIndex]:
    return (
        PolicyIndex.load(tiny_index_dir, index_settings, embedder=embedder),
        PolicyIndex.load(tiny_index_dir, tiny_milvus_settings, embedder=embedder),
    )


@pytest.fixture
def milvus_copy(tiny_index_dir: Path, tiny_milvus_settings: IndexSettings, tmp_path: Path) -> IndexSettings:
    """A private Milvus database holding the tiny index, free to change."""
    settings = tiny_milvus_settings.model_copy(update={"milvus_uri": str(tmp_path / "copy.db")})
    migrate_folder(tiny_index_dir, settings)
    return settings


def assert_same_ranking(milvus: PolicyIndex, folder: PolicyIndex, query: str, **options) -> None:
    """The same clauses in the same order, scores and relevance within 1e-3 (Milvus holds the float32
    vectors, the folder's flat index float16)."""
    got, wanted = (index.search(query, k=20, **options) for index in (milvus, folder))
    assert [hit.clause.id for hit in got] == [hit.clause.id for hit in wanted], (query, options)
    for field in ("score", "relevance"):
        values = [[getattr(hit, field) or 0.0 for hit in hits] for hits in (got, wanted)]
        assert values[0] == pytest.approx(values[1], abs=1e-3), (query, options, field)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_milvus_ranks_and_scores_as_the_folder_store(
    both: tuple[PolicyIndex, PolicyIndex], mode: str
) -> None:
    folder, milvus = both
    for query in QUERIES:
        assert_same_ranking(milvus, folder, query, mode=mode)


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(region="南京"),
        SearchFilters(region="江苏省"),
        SearchFilters(doc_type="通知", date_from="2021-01-01"),
        SearchFilters(date_to="2021-05-19"),
        SearchFilters(issuer="江苏省人民政府"),
    ],
)
def test_filters_pushed_down_keep_what_the_folder_store_keeps(
    both: tuple[PolicyIndex, PolicyIndex], filters: SearchFilters
) -> None:
    folder, milvus = both
    for mode in ("bm25", "dense", "hybrid"):
        assert_same_ranking(milvus, folder, "防汛 支持", mode=mode, filters=filters)


def test_filter_values_are_quoted_not_evaluated(both: tuple[PolicyIndex, PolicyIndex]) -> None:
    _folder, milvus = both
    hostile = 'x" or document_id != "'
    assert filter_expression(SearchFilters(issuer=hostile), milvus.catalogue) == (
        '(issuer == "x\\" or document_id != \\"")'
    )
    for mode in ("bm25", "dense"):
        assert milvus.search("防汛", mode=mode, filters=SearchFilters(issuer=hostile)) == []
        assert milvus.search("防汛", mode=mode, filters=SearchFilters(doc_type="通知\\")) == []


def test_our_terms_reach_milvus_whole() -> None:
    codes = term_codes(["苏政发〔2018〕123号", "第24条"]).split()
    assert [bytes.fromhex(code).decode() for code in codes] == ["苏政发〔2018〕123号", "第24条"]
    assert all(code.isalnum() and code.isascii() for code in codes)


def test_writes_are_seen_by_an_index_loaded_before(milvus_copy: IndexSettings, embedder: Embedder) -> None:
    before = PolicyIndex.load(Path("unused"), milvus_copy, embedder=embedder)
    heat = parse_text(HEAT_NOTICE, "heat.txt")
    added = add_documents(Path("unused"), [heat], milvus_copy, embedder=embedder)
    assert (added["documents"], added["update"]) == (4, "add")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not before.changed():
        assert time.monotonic() < deadline, "the write never reached the generation token"
        time.sleep(0.05)
    index = PolicyIndex.load(Path("unused"), milvus_copy, embedder=embedder)
    assert index.search("高温津贴怎么发", k=1)[0].document.id == heat.document.id
    assert index.manifest["documents"] == 4 and not index.changed()

    replacement = parse_text(HEAT_NOTICE + "\n  （二）调整工作时间。高温天气停止露天作业。\n", "heat.txt")
    add_documents(Path("unused"), [replacement], milvus_copy, embedder=embedder)
    index = PolicyIndex.load(Path("unused"), milvus_copy, embedder=embedder)
    assert [clause.path[-1] for clause in index.clauses_of(heat.document.id)] == [
        "（一）发放高温津贴",
        "（二）调整工作时间",
    ]
    assert index.search("露天作业", mode="bm25", k=1)[0].clause.path[-1] == "（二）调整工作时间"

    law_id = next(document.id for document in index.documents() if document.doc_type == "法")
    removed = remove_documents(Path("unused"), [law_id], milvus_copy)
    assert removed["documents"] == 3 and removed["clauses"] == index.manifest["clauses"] - 5
    index = PolicyIndex.load(Path("unused"), milvus_copy, embedder=embedder)
    assert law_id not in {document.id for document in index.documents()}
    assert all(hit.document.id != law_id for hit in index.search("第24条", k=50))
    with pytest.raises(UnknownIdError, match="no-such-doc"):
        remove_documents(Path("unused"), ["no-such-doc"], milvus_copy)


def test_a_rebuild_swaps_the_alias_and_drops_the_old_collection(
    tiny_index_dir: Path, milvus_copy: IndexSettings, embedder: Embedder
) -> None:
    milvus = MilvusStore.connect(milvus_copy)
    first = milvus.client.describe_alias(milvus.alias)["collection_name"]
    before = PolicyIndex.load(tiny_index_dir, milvus_copy, embedder=embedder)
    migrate_folder(tiny_index_dir, milvus_copy)
    second = milvus.client.describe_alias(milvus.alias)["collection_name"]
    assert second != first and sorted(milvus.client.list_collections()) == sorted([second, milvus.meta])
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not before.changed():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert PolicyIndex.load(tiny_index_dir, milvus_copy, embedder=embedder).manifest["documents"] == 3


def test_an_empty_milvus_names_the_fix(
    index_settings: IndexSettings, tmp_path: Path, embedder: Embedder
) -> None:
    settings = index_settings.model_copy(update={"store": "milvus", "milvus_uri": str(tmp_path / "empty.db")})
    with pytest.raises(IndexNotFoundError, match="policyqa migrate --to milvus"):
        PolicyIndex.load(tmp_path, settings, embedder=embedder)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("milvus_uri", "milvus.sqlite", "neither a .db path"),
        ("milvus_collection", "9policies", "not a Milvus collection name"),
        ("store", "cloud", "folder"),
    ],
)
def test_invalid_store_settings(setting: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(**{setting: value})


def test_index_migrate_and_search_on_the_command_line(
    tiny_corpus: Path, tiny_index_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = str(tmp_path / "cli.db")
    store = ["--store", "milvus", "--milvus-uri", database, "--milvus-collection", "laws"]
    index_dir = str(tmp_path / "index")
    assert main(["index", str(tiny_corpus), "--index-dir", index_dir, *store]) == 0
    out = capsys.readouterr().out
    assert "indexed 3 documents" in out and f"Milvus {database} (collection laws)" in out
    assert main(["search", "第24条", "--mode", "bm25", "-k", "1", "--json", *store]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["number"] == "第二十四条"
    copy = ["--milvus-uri", database, "--milvus-collection", "copied"]
    assert main(["migrate", "--to", "milvus", "--index-dir", str(tiny_index_dir), *copy]) == 0
    assert "copied 3 documents" in capsys.readouterr().out
    assert main(["search", "防汛", "--region", "南京", "--json", "--store", "milvus", *copy]) == 0
    assert {hit["document"]["region"] for hit in json.loads(capsys.readouterr().out)["hits"]} == {"南京市"}
    missing = ["--index-dir", index_dir, "--milvus-uri", database, "--milvus-collection", "none"]
    assert main(["search", "防汛", "--store", "milvus", *missing]) == 1
    assert "no index in Milvus collection 'none'" in capsys.readouterr().err


def test_an_unreachable_milvus_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from policyqa.eval.server import free_port

    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    arguments = ["search", "防汛", "--index-dir", str(tmp_path), "--store", "milvus", "--milvus-uri", uri]
    assert main(arguments) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"policyqa: error: cannot use Milvus at {uri}") and "Traceback" not in err


def test_milvus_keeps_the_versions_in_force_on_the_day(
    milvus_copy: IndexSettings, embedder: Embedder
) -> None:
    old = parse_text(VERSION.format(day="2010-01-01", pay="按月", start="公布之日"), "v1.txt")
    new = parse_text(VERSION.format(day="2020-01-01", pay="按季", start="2020年6月1日"), "v2.txt")
    add_documents(Path("unused"), [old, new], milvus_copy, embedder=embedder)
    index = PolicyIndex.load(Path("unused"), milvus_copy, embedder=embedder)

    def found(**filters: object) -> set[str]:
        return {
            hit.document.id
            for mode in ("bm25", "dense", "hybrid")
            for hit in index.search("示范补贴", mode=mode, k=50, filters=SearchFilters(**filters))
        } & {old.document.id, new.document.id}

    expression = filter_expression(SearchFilters(as_of="2020-05-31"), index.catalogue)
    assert expression.startswith("(document_id not in [")  # pushed down, with the documents of 2021
    assert new.document.id in expression and old.document.id not in expression
    assert found(as_of="2020-05-31") == {old.document.id}
    assert found(as_of="2020-06-01") == found() == {new.document.id}
    assert found(as_of="2020-06-01", include_history=True) == {old.document.id, new.document.id}
