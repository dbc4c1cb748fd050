"""Sentence vectors stored in the index: where each quotable sentence lies in its clause's passages, how it
is pooled, what builds, updates and loads do with them, and answers using them instead of embedding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from policyqa.corpus.model import Clause, Document
from policyqa.corpus.parse import parse_text
from policyqa.indexer import PolicyIndex, add_documents, remove_documents, store
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.embedding_cache import EmbeddingCache
from policyqa.indexer.encoders import TokenOutputs
from policyqa.indexer.errors import IndexCorruptError
from policyqa.indexer.integrity import file_checksums
from policyqa.indexer.passages import PROMPT_MARGIN, clause_passages, passage_prefix
from policyqa.indexer.relevance import RelevanceModel, RelevanceScorer
from policyqa.indexer.sentence_vectors import (
    MANIFEST_KEY,
    ROWS_FILE,
    passage_sentence_spans,
    pool_sentences,
)
from policyqa.indexer.sentences import SENTENCE_RULE, quotable_sentences
from policyqa.indexer.settings import IndexSettings
from policyqa.service.answers import ask
from policyqa.service.extractive import ExtractiveAnswerer

DOCUMENT = Document(id="d", title="标题", text="")
INCUBATOR = Clause(
    id="c12",
    document_id="d",
    path=("四、健全科技服务体系", "（十二）发展创新型孵化器"),
    number="（十二）",
    heading="发展创新型孵化器",
    text="（十二）发展创新型孵化器。支持高新区建设专业化众创空间。对认定为国家级孵化器的给予100万元奖励。",
    start=0,
    end=49,
)
HEAT_NOTICE = """南京市人民政府关于做好夏季高温防暑工作的通知
宁政发〔2021〕60号
2021-06-15

  一、保障劳动者权益

  （一）发放高温津贴。用人单位应当按月向高温作业劳动者发放防暑降温费。
"""


def count_characters(texts: list[str]) -> list[int]:
    return [len(text) for text in texts]


def located(clause: Clause, budget: int) -> list[str]:
    """The text at every span of the clause's passages, in order."""
    texts = [passage.text for passage in clause_passages(DOCUMENT, [clause], count_characters, budget)]
    spans = passage_sentence_spans(clause, texts)
    return [text[start:end] for text, window in zip(texts, spans, strict=True) for start, end in window]


def test_the_spans_of_a_clause_in_one_passage_are_its_quotable_sentences() -> None:
    assert located(INCUBATOR, 10_000) == [sentence.text for sentence in quotable_sentences(INCUBATOR)]
    assert located(INCUBATOR, 10_000)[0] == "支持高新区建设专业化众创空间。"  # the bare heading is not quoted


def test_a_clause_cut_into_windows_has_each_sentence_once_in_its_window() -> None:
    text = "".join(f"第{i}句规定了一项具体的扶持措施。" for i in range(40))
    long_clause = Clause(
        id="long", document_id="d", path=("一",), number="", heading="", text=text, start=0, end=0
    )
    texts = [p.text for p in clause_passages(DOCUMENT, [long_clause], count_characters, 100 + PROMPT_MARGIN)]
    assert len(texts) > 1
    spans = passage_sentence_spans(long_clause, texts)
    assert all(window for window in spans)
    assert located(long_clause, 100 + PROMPT_MARGIN) == [s.text for s in quotable_sentences(long_clause)]


def test_a_sentence_cut_mid_way_is_pooled_up_to_the_cut_and_held_once() -> None:
    sentence = Clause(
        id="s", document_id="d", path=("一",), number="", heading="", text="甲" * 500, start=0, end=0
    )
    texts = [p.text for p in clause_passages(DOCUMENT, [sentence], count_characters, 100 + PROMPT_MARGIN)]
    assert len(texts) > 1
    assert located(sentence, 100 + PROMPT_MARGIN) == [texts[0].removeprefix(passage_prefix(DOCUMENT))]


def test_texts_that_are_not_the_clause_laid_out_give_no_spans() -> None:
    assert passage_sentence_spans(INCUBATOR, ["《标题》\n别的文字。"]) == [[]]
    assert passage_sentence_spans(INCUBATOR, ["甲" + INCUBATOR.text[:10], "乙" + INCUBATOR.text[10:]]) == [
        [],
        [],
    ]


def test_pooling_averages_the_text_tokens_over_a_span() -> None:
    tokens = TokenOutputs(
        vectors=np.array([[9.0, 9.0], [7.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32),
        spans=np.array([[-4, -4], [-4, 0], [0, 2], [2, 4], [4, 6]]),  # special, prompt, then text tokens
    )
    passage = np.array([0.6, 0.8], dtype=np.float32)
    pooled = pool_sentences(tokens, [(0, 3), (5, 6), (8, 9)], passage)
    assert np.allclose(
        pooled, [[1 / np.sqrt(2), 1 / np.sqrt(2)], [1 / np.sqrt(2), 1 / np.sqrt(2)], [0.6, 0.8]]
    )


@pytest.fixture(scope="module")
def index(tiny_index_dir: Path, index_settings: IndexSettings, embedder: Embedder) -> PolicyIndex:
    return PolicyIndex.load(tiny_index_dir, index_settings, embedder=embedder)


def test_a_build_stores_a_vector_for_every_quotable_sentence_pooled_from_its_passage(
    index: PolicyIndex, embedder: Embedder
) -> None:
    table = index.catalogue.clause_table
    counts = [len(quotable_sentences(table[row])) for row in range(len(table))]
    assert index.manifest[MANIFEST_KEY] == {"rule": SENTENCE_RULE, "sentences": sum(counts)}
    for row, count in enumerate(counts):
        vectors = index.sentence_vectors_of(table.ids[row], count)
        assert vectors is not None and vectors.shape == (count, embedder.dimension), table[row].path
        assert index.sentence_vectors_of(table.ids[row], count + 1) is None

    incubator = next(
        table[row] for row in range(len(table)) if table[row].path[-1] == "（十二）发展创新型孵化器"
    )
    document = index.document(incubator.document_id)
    text = passage_prefix(document) + incubator.text
    vectors, outputs = embedder.encoder.encode_tokens([text], embedder.passage_prompt)
    spans = passage_sentence_spans(incubator, [text])[0]
    expected = pool_sentences(outputs[0], spans, vectors[0])
    stored = index.sentence_vectors_of(incubator.id, len(spans))
    assert np.sum(stored * expected, axis=1).min() > 0.9999  # float16 storage


def test_updates_reuse_the_stored_sentence_vectors_and_add_the_new_ones(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    before = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    heat = parse_text(HEAT_NOTICE, "heat.txt")
    add_documents(tiny_index_copy, [heat], index_settings, embedder=embedder)
    after = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    for clause_id in before.catalogue.clause_table.ids:
        count = len(quotable_sentences(before.clause(clause_id)))
        assert np.array_equal(
            before.sentence_vectors_of(clause_id, count), after.sentence_vectors_of(clause_id, count)
        )
    (added,) = after.clauses_of(heat.document.id)
    assert after.sentence_vectors_of(added.id, len(quotable_sentences(added))).shape == (
        1,
        embedder.dimension,
    )

    law = next(document.id for document in after.documents() if document.doc_type == "法")
    remove_documents(tiny_index_copy, [law], index_settings)
    removed = PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert removed.manifest[MANIFEST_KEY]["sentences"] < after.manifest[MANIFEST_KEY]["sentences"]
    for clause_id in removed.catalogue.clause_table.ids:
        count = len(quotable_sentences(removed.clause(clause_id)))
        assert np.array_equal(
            after.sentence_vectors_of(clause_id, count), removed.sentence_vectors_of(clause_id, count)
        )


def test_a_rebuild_takes_sentence_vectors_from_the_embedding_cache(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = Embedder(
        embedder.model,
        model_id=embedder.model_id,
        query_prompt=embedder.query_prompt,
        passage_prompt=embedder.passage_prompt,
        cache=EmbeddingCache(tmp_path / "cache.sqlite"),
        progress=False,
    )
    texts = [passage_prefix(DOCUMENT) + INCUBATOR.text]
    spans = passage_sentence_spans(INCUBATOR, texts)
    first = fresh.embed_passages_and_sentences(texts, spans)
    monkeypatch.setattr(fresh.encoder, "encode_tokens", None)  # a second run must not run the model
    second = fresh.embed_passages_and_sentences(texts, spans)
    assert np.array_equal(first.vectors, second.vectors)
    assert np.array_equal(first.sentence_vectors, second.sentence_vectors)
    assert second.sentence_rows.tolist() == [0, 2]


def test_sentence_files_that_disagree_with_the_passages_are_a_one_line_error(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    version = store.current_version(tiny_index_copy)
    rows = np.load(version / ROWS_FILE)
    np.save(version / ROWS_FILE, rows[:-1])
    manifest = store.read_manifest(version)
    manifest["files"] = file_checksums(version, exclude=(store.MANIFEST,))  # written so, not damaged since
    (version / store.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="sentence vectors and passages disagree"):
        PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)


def test_an_answer_scores_sentences_with_the_stored_vectors_and_embeds_none(
    index: PolicyIndex, embedder: Embedder, relevance_model: RelevanceModel
) -> None:
    index.relevance = RelevanceScorer(relevance_model, index.vector_store, index.catalogue)
    answerer = ExtractiveAnswerer(embedder)
    _retrieval, answer = ask(index, answerer, "高新区对创新型孵化器有什么支持？", min_relevance=0.0)
    assert not answer.no_answer and "孵化器" in answer.quotes[0].text
    assert len(answerer.sentence_vectors._cache) == 0  # nothing embedded at question time

    stored, index.sentence_vectors = index.sentence_vectors, None  # an index that has none
    try:
        _retrieval, fallback = ask(index, answerer, "高新区对创新型孵化器有什么支持？", min_relevance=0.0)
    finally:
        index.sentence_vectors = stored
    assert not fallback.no_answer and len(answerer.sentence_vectors._cache) > 0
