"""Answers to questions: the backend-neutral records, the answerer seam and the one way to ask.

An answerer receives the question (with its query vector, already computed by the search) and the hits
of that search relevant enough to answer from (``ask`` refuses when there are none), and returns an
``Answer`` whose every quote is a span of a cited clause. Answerers register
in ``ANSWERERS`` under the name the ``POLICYQA_ANSWERER`` setting gives; each is a class with
``from_settings(settings, embedder)``. ``ask`` is what POST /ask, ``policyqa ask`` and the experiments run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol

from policyqa.corpus.model import Clause, Document
from policyqa.indexer import PolicyIndex
from policyqa.indexer.errors import IndexMismatchError, InvalidQueryError
from policyqa.indexer.records import Hit, Query, Retrieval, SearchFilters
from policyqa.indexer.sentence_vectors import SentenceVectorLookup
from policyqa.indexer.validity import Validity
from policyqa.registry import Registry
from policyqa.service.budget import check_budget
from policyqa.text import LEADING_LABEL

if TYPE_CHECKING:
    from policyqa.indexer.embedder import Embedder
    from policyqa.service.settings import ServiceSettings

NO_ANSWER_TEXT = "未在已收录的政策文件中找到相关规定。"
DEFAULT_ASK_K = 3  # top clauses whose sentences an answer may quote
# An answer quotes 1-3 sentences, and every sentence of every clause read is embedded: k = 100 cost 17-83 s of
# CPU per question, k = 10 about a second.
MAX_ASK_K = 10
MAX_DEPENDENCY_CHARS = 200  # of a clause a quote depends on, added as context

ANSWERERS = Registry(
    "answerer",
    {
        "extractive": "policyqa.service.extractive:ExtractiveAnswerer",
        "llm": "policyqa.service.llm_answerer:LLMAnswerer",
    },
)

# How an LLM's reply was checked: every sentence kept cites a clause that supports it ("checked"); too
# little survived the check, or the upstream failed, and the extractive answer was given instead; or the
# LLM read the clauses and said they do not answer the question ("refused", a no-answer).
Grounding = Literal["checked", "fallback_extractive", "refused"]


@dataclass(frozen=True)
class Quote:
    """A cited span: ``clause.text[start:end]``."""

    clause: Clause
    document: Document
    start: int
    end: int
    cited_from: str | None = None  # a clause the answer quotes refers to this one (依照本法第十二条…)
    validity: Validity | None = None  # of a quote not drawn from the hits

    @property
    def text(self) -> str:
        """The quoted characters, exactly as in the clause."""
        return self.clause.text[self.start : self.end]


@dataclass(frozen=True)
class Answer:
    """The composed answer; ``quotes[i]`` is citation ``[i + 1]``; ``confidence`` is the best relevance
    among the hits it was drawn from (or, for a refusal, among the hits found). ``grounding`` says how an
    LLM's reply was checked (None: no LLM was asked) and ``dropped`` holds the reply's sentences the check
    removed."""

    text: str
    no_answer: bool
    confidence: float
    quotes: tuple[Quote, ...]
    grounding: Grounding | None = None
    dropped: tuple[str, ...] = ()


class Answerer(Protocol):
    """Turns a question and the clauses found for it into a cited answer (or a refusal)."""

    def answer(self, query: Query, hits: Sequence[Hit], stored: SentenceVectorLookup) -> Answer:
        """The answer to ``query.text`` drawn from ``hits`` (search order, at least one, each relevant);
        ``stored`` gives the index's vectors of a clause's sentences, where it has them."""
        ...


def answerer_from_settings(
    settings: ServiceSettings, embedder: Embedder, name: str | None = None
) -> Answerer:
    """The answerer ``name`` (default: the one ``settings.answerer`` names), sharing the index's loaded
    model."""
    return ANSWERERS.resolve(name or settings.answerer).from_settings(settings, embedder)


def ask(
    index: PolicyIndex,
    answerer: Answerer,
    question: str,
    *,
    min_relevance: float | None = None,
    k: int = DEFAULT_ASK_K,
    filters: SearchFilters | None = None,
    home_region: str | None = None,
) -> tuple[Retrieval, Answer]:
    """Search the top ``k`` clauses (hybrid) and answer from those whose relevance reaches ``min_relevance``
    (None: the threshold fitted with the index's relevance model), or refuse when none does: the search and
    the answer, with the question embedded once. InvalidQueryError for an empty or too long question or a
    ``k`` outside 1 to ``MAX_ASK_K``; IndexMismatchError when the index's model has no relevance model;
    BudgetExceededError when the request's time budget (if any) runs out."""
    check_ask_k(k)
    check_budget("before the search")
    retrieval = index.retrieve(question, mode="hybrid", k=k, filters=filters, home_region=home_region)
    threshold = answer_threshold(index, min_relevance)  # after the search: bad input is a 4xx first
    check_budget("after the search")
    relevant = [hit for hit in retrieval.hits if (hit.relevance or 0.0) >= threshold]
    if not relevant:
        top = max((hit.relevance or 0.0 for hit in retrieval.hits), default=0.0)
        return retrieval, Answer(NO_ANSWER_TEXT, True, top, ())
    return retrieval, with_dependencies(
        index, retrieval, answerer.answer(retrieval.query, relevant, index.sentence_vectors_of)
    )


def with_dependencies(index: PolicyIndex, retrieval: Retrieval, answer: Answer) -> Answer:
    """``answer`` with the clauses its quotes depend on added as context and cited: a quote that says
    "依照本法第十二条规定的条件" is followed by 第十二条's first sentence (at most
    ``MAX_DEPENDENCY_CHARS``), once per cited clause."""
    if answer.no_answer or not answer.quotes:
        return answer
    day = next((hit.validity.as_of for hit in retrieval.hits if hit.validity is not None), None)
    links = index.catalogue.links
    cited = {quote.clause.id for quote in answer.quotes}
    added: list[Quote] = []
    for quote in answer.quotes:
        for link in links.references_out(quote.clause.id):
            target = link.target_clause_id
            if target is None or target in cited or link.kind not in ("self", "titled"):
                continue
            if link.end <= quote.start or link.start >= quote.end:
                continue  # a reference outside the quoted sentences
            clause = index.clause(target)
            start, end = _first_sentence(clause)
            added.append(
                Quote(
                    clause,
                    index.document(clause.document_id),
                    start,
                    end,
                    cited_from=quote.clause.id,
                    validity=index.catalogue.validity.on(clause.document_id, day) if day else None,
                )
            )
            cited.add(target)
    if not added:
        return answer
    first = len(answer.quotes) + 1
    context = "".join(
        f"（所引{quote.document.cited_title}{clause_label(quote.clause)}：{quote.text}[{number}]）"
        for number, quote in enumerate(added, start=first)
    )
    return replace(answer, text=answer.text + context, quotes=(*answer.quotes, *added))


def _first_sentence(clause: Clause) -> tuple[int, int]:
    """Offsets into ``clause.text`` of its first sentence after its number (the whole text up to
    ``MAX_DEPENDENCY_CHARS``)."""
    text = clause.text
    start = len(clause.number) if clause.number and text.startswith(clause.number) else 0
    while start < len(text) and text[start].isspace():
        start += 1
    stop = min(len(text), start + MAX_DEPENDENCY_CHARS)
    ends = [position + 1 for position in range(start, stop) if text[position] in "。；;！？"]
    return start, ends[0] if ends else stop


def answer_threshold(index: PolicyIndex, min_relevance: float | None) -> float:
    """The least relevance /ask answers from: ``min_relevance``, else the one fitted with the relevance
    model. IndexMismatchError when the index's embedding model has no relevance model: without one /ask
    cannot tell the questions the collection answers from the others."""
    model = index.relevance.model
    if model is None:
        raise IndexMismatchError(
            f"no relevance model is fitted for the embedding model {index.embedder.model_id}, so questions "
            "cannot be answered (search still works); fit one with `policyqa train relevance`"
        )
    return model.threshold if min_relevance is None else min_relevance


def check_ask_k(k: int) -> None:
    """InvalidQueryError unless ``k`` is an integer from 1 to ``MAX_ASK_K``."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_ASK_K:
        raise InvalidQueryError(f"k must be an integer from 1 to {MAX_ASK_K} for a question, got {k!r}")


def clause_label(clause: Clause) -> str:
    """How a clause is named in prose: the ancestors' numbers, then the clause's own label,
    e.g. ``四、（十二）发展创新型孵化器`` or ``第二章第二十四条``."""
    ancestors = [_short_label(label) for label in clause.path[:-1]]
    own = clause.path[-1] if clause.path else (clause.number + clause.heading)
    return "".join([*ancestors, own.strip()])


def _short_label(label: str) -> str:
    match = LEADING_LABEL.match(label)
    return match.group(1) if match else label.strip()
