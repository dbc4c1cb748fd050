"""The LLM answerer: an OpenAI-compatible upstream writes the answer from the relevant clauses, and the
reply is checked before it is returned.

The clauses go into a Chinese prompt, numbered [1]..[k] with their document, date and label, that requires
a [n] marker on every sentence. Each sentence of the reply must cite a clause that supports it
(``service.grounding``); unsupported sentences are dropped and listed in ``Answer.dropped``. When fewer than
half of the reply's sentences survive — or the upstream fails, times out or has no time left in the
request's budget — the extractive answer is returned instead (``grounding="fallback_extractive"``); it is
computed before the upstream is asked, so falling back never waits again. A reply that supports nothing
and gives the prompt's refusal (the LLM read the clauses and found no answer in them) is a refusal
(``no_answer``, ``grounding="refused"``): the reader of question and clause together overrules the
relevance threshold, which only sees retrieval signals.

Citations stay verifiable: each [n] of the checked answer quotes the sentence of the cited clause that
shares most of the answer sentence's bigrams, as a span of the clause like every other quote.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from policyqa.indexer.embedder import Embedder
from policyqa.indexer.records import Hit, Query
from policyqa.indexer.sentence_vectors import SentenceVectorLookup
from policyqa.indexer.sentences import quotable_sentences
from policyqa.service.answers import NO_ANSWER_TEXT, Answer, Quote, clause_label
from policyqa.service.extractive import ExtractiveAnswerer
from policyqa.service.grounding import CheckedSentence, check_reply, containment
from policyqa.service.llm_client import LLMClient, LLMUnavailableError
from policyqa.text import normalize

if TYPE_CHECKING:
    from policyqa.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

MIN_KEPT_SHARE = 0.5  # fewer of the reply's sentences than this share supported: the extractive answer

SYSTEM_PROMPT = (
    "你是政策文件问答助手，只根据用户提供的编号条款回答问题，不使用条款以外的任何知识。要求：\n"
    "1. 用简体中文回答，简洁、准确，尽量使用条款原文的表述；\n"
    "2. 每一句话的句末都必须标注所依据条款的编号，如“……。[1]”或“……。[1][2]”；\n"
    "3. 条款没有写到的内容（金额、期限、条件、程序等）一律不写，不推测，不补充建议；\n"
    f"4. 如果条款不能回答问题，只回答：{NO_ANSWER_TEXT}"
)
REFUSAL = normalize(NO_ANSWER_TEXT.rstrip("。"))  # marks the prompt's refusal in a reply in search form


def source_text(hit: Hit) -> str:
    """How a clause is shown to the LLM, and what its sentences are checked against: document, date,
    label and text."""
    document = hit.document
    date = f"（{document.date}）" if document.date else ""
    return f"{document.cited_title}{date}{clause_label(hit.clause)}：{hit.clause.text}"


def prompt_messages(question: str, hits: Sequence[Hit]) -> list[dict[str, str]]:
    """The chat messages asking the upstream to answer ``question`` from ``hits`` ([1] is the first)."""
    sources = "\n".join(f"[{n}] {source_text(hit)}" for n, hit in enumerate(hits, start=1))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"条款：\n{sources}\n\n问题：{question}"},
    ]


class LLMAnswerer:
    """Answers with the upstream LLM's checked reply, or the extractive answer (see the module doc)."""

    def __init__(self, client: LLMClient, fallback: ExtractiveAnswerer):
        self.client = client
        self.fallback = fallback

    @classmethod
    def from_settings(cls, settings: ServiceSettings, embedder: Embedder) -> LLMAnswerer:
        client = LLMClient.from_settings(settings)
        if client is None:
            raise ValueError("the llm answerer needs POLICYQA_LLM_BASE_URL and POLICYQA_LLM_MODEL")
        return cls(client, ExtractiveAnswerer(embedder))

    def answer(self, query: Query, hits: Sequence[Hit], stored: SentenceVectorLookup) -> Answer:
        extractive = replace(self.fallback.answer(query, hits, stored), grounding="fallback_extractive")
        try:
            reply = self.client.complete(prompt_messages(query.text, hits))
        except LLMUnavailableError:
            return extractive
        checked = check_reply(reply, [source_text(hit) for hit in hits])
        kept = [sentence for sentence in checked if sentence.supported_by]
        dropped = tuple(sentence.text for sentence in checked if not sentence.supported_by)
        if not kept and any(REFUSAL in normalize(sentence.text) for sentence in checked):
            logger.info("llm found no answer in the clauses", extra={"clauses": len(hits)})
            return Answer(NO_ANSWER_TEXT, True, extractive.confidence, (), "refused")
        if not kept or len(kept) < MIN_KEPT_SHARE * len(checked):
            logger.info("llm reply not grounded", extra={"sentences": len(checked), "supported": len(kept)})
            return replace(extractive, dropped=dropped)
        text, quotes = compose(kept, hits)
        return Answer(text, False, extractive.confidence, quotes, "checked", dropped)


def compose(kept: Sequence[CheckedSentence], hits: Sequence[Hit]) -> tuple[str, tuple[Quote, ...]]:
    """The checked answer: each kept sentence followed by its citations, renumbered in order of first use;
    one quote per distinct (clause, sentence) span."""
    quotes: list[Quote] = []
    parts = []
    for sentence in kept:
        markers = []
        for n in sentence.supported_by:
            quote = best_quote(sentence.text, hits[n - 1])
            if quote not in quotes:
                quotes.append(quote)
            markers.append(f"[{quotes.index(quote) + 1}]")
        parts.append(sentence.text + "".join(dict.fromkeys(markers)))
    return "".join(parts), tuple(quotes)


def best_quote(claim: str, hit: Hit) -> Quote:
    """The sentence of ``hit``'s clause that contains most of ``claim`` (the whole clause when it has no
    quotable sentence)."""
    sentences = quotable_sentences(hit.clause)
    if not sentences:
        return Quote(hit.clause, hit.document, 0, len(hit.clause.text))
    best = max(sentences, key=lambda sentence: containment(claim, sentence.text))
    return Quote(hit.clause, hit.document, best.start, best.end)
