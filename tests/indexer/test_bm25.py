"""BM25 scores against a brute-force reference; save/load round trip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from policyqa.indexer.bm25 import BM25Index, BM25Params


def reference_scores(documents: list[list[str]], query: list[str], k1: float, b: float) -> list[float]:
    """Textbook Okapi BM25 (Lucene idf), one document at a time."""
    n = len(documents)
    mean_length = sum(map(len, documents)) / n
    scores = []
    for document in documents:
        score = 0.0
        for term in query:
            df = sum(term in other for other in documents)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = document.count(term)
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(document) / mean_length))
        scores.append(score)
    return scores


@pytest.fixture(scope="module")
def corpus() -> list[list[str]]:
    rng = np.random.default_rng(7)
    vocabulary = ["孵化器", "高新区", "第24条", "专项资金", "扶持", "企业", "创新", "苏政发〔2018〕123号"]
    return [list(rng.choice(vocabulary, size=rng.integers(1, 30))) for _ in range(60)]


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0), (1.5, 0.0)])
def test_scores_match_reference(corpus: list[list[str]], k1: float, b: float) -> None:
    index = BM25Index.build(corpus, BM25Params(k1=k1, b=b))
    for query in (["孵化器"], ["孵化器", "扶持"], ["第24条", "第24条", "企业"], ["不存在", "创新"]):
        np.testing.assert_allclose(index.scores(query), reference_scores(corpus, query, k1, b), rtol=1e-5)


def test_build_reads_token_lists_once(corpus: list[list[str]]) -> None:
    """A build streams passages (a generator, as a full build reads them from SQLite) with the same result."""
    streamed = BM25Index.build((list(tokens) for tokens in corpus), BM25Params(k1=1.1, b=0.6))
    assert streamed.size == len(corpus)
    query = ["孵化器", "扶持", "扶持"]
    np.testing.assert_allclose(streamed.scores(query), reference_scores(corpus, query, 1.1, 0.6), rtol=1e-5)


def test_unknown_terms_score_zero(corpus: list[list[str]]) -> None:
    index = BM25Index.build(corpus)
    assert not index.scores(["没有的词"]).any()
    assert index.scores([]).shape == (len(corpus),)


def test_empty_passage_and_empty_index() -> None:
    index = BM25Index.build([["孵化器"], []])
    assert index.scores(["孵化器"])[1] == 0
    assert BM25Index.build([]).scores(["孵化器"]).shape == (0,)


def test_save_load_round_trip(corpus: list[list[str]], tmp_path: Path) -> None:
    index = BM25Index.build(corpus, BM25Params(k1=1.1, b=0.6))
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.params == BM25Params(k1=1.1, b=0.6)
    assert "孵化器" in (tmp_path / "bm25" / "vocab.json").read_text(encoding="utf-8")  # ensure_ascii=False
    np.testing.assert_array_equal(loaded.scores(["孵化器", "扶持"]), index.scores(["孵化器", "扶持"]))
