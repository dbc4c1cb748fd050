"""Key phrases in the quotes of real answers on the seed index."""

from __future__ import annotations

from pathlib import Path

from policyqa.eval.answers import ask_key_phrases, key_phrase_summary, key_phrase_table
from policyqa.eval.labels import HeadingLabel
from policyqa.eval.queries import EvalQuery, KeyPhraseQuery
from policyqa.indexer import Embedder, IndexSettings, PolicyIndex
from policyqa.indexer.relevance import RelevanceModel, RelevanceScorer
from policyqa.service.extractive import ExtractiveAnswerer

REFORM = (HeadingLabel("（十五）推进“放管服”改革"),)


def test_an_answer_counts_when_a_quote_carries_the_key_phrase(
    seed_index: Path, index_settings: IndexSettings, embedder: Embedder, relevance_model: RelevanceModel
) -> None:
    index = PolicyIndex.load(seed_index, index_settings, embedder=embedder)
    index.relevance = RelevanceScorer(relevance_model, index.vector_store, index.catalogue)
    queries = [
        KeyPhraseQuery(EvalQuery("k1", "高新区可以组建什么机构集中行使行政许可权？", REFORM), "行政审批局"),
        KeyPhraseQuery(EvalQuery("k2", "护照丢了怎么补办？", REFORM), "护照"),
    ]
    first, second = ask_key_phrases(index, ExtractiveAnswerer(embedder), queries, min_relevance=0.0)
    assert first.retrieved and first.answered and first.quoted
    assert second.answered and not second.quoted  # answered (threshold 0) from clauses that never say 护照
    assert key_phrase_summary([first, second])["key_phrase_quoted"] == 0.5
    assert key_phrase_table([first, second]).splitlines()[0].startswith("RAK k1 ")
