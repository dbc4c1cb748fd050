"""Do answers carry the fact asked? Each question of a key-phrase file is asked as /ask asks it; an answer
counts when one of its quotes contains the question's ``key_phrase`` (both in search form: half-width,
simplified, lower case)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policyqa.eval.labels import judge
from policyqa.eval.queries import KeyPhraseQuery
from policyqa.indexer import PolicyIndex
from policyqa.service.answers import Answerer, ask
from policyqa.text import normalize


@dataclass(frozen=True)
class KeyPhraseOutcome:
    """One question: labelled clause among /ask's hits?, answered?, did a quote carry the phrase?"""

    query: KeyPhraseQuery
    retrieved: bool
    answered: bool
    quoted: bool
    quotes: tuple[str, ...]


def ask_key_phrases(
    index: PolicyIndex,
    answerer: Answerer,
    queries: Sequence[KeyPhraseQuery],
    *,
    min_relevance: float | None = None,
) -> list[KeyPhraseOutcome]:
    """Ask every question (``min_relevance`` None: the fitted threshold) and judge its answer."""
    outcomes = []
    for item in queries:
        retrieval, answer = ask(index, answerer, item.query.question, min_relevance=min_relevance)
        phrase = normalize(item.key_phrase)
        outcomes.append(
            KeyPhraseOutcome(
                query=item,
                retrieved=any(
                    judge(hit.clause, hit.document, item.query.relevant) is not None for hit in retrieval.hits
                ),
                answered=not answer.no_answer,
                quoted=any(phrase in normalize(quote.text) for quote in answer.quotes),
                quotes=tuple(quote.text for quote in answer.quotes),
            )
        )
    return outcomes


def key_phrase_summary(outcomes: Sequence[KeyPhraseOutcome]) -> dict[str, float | int]:
    """Shares of all questions: labelled clause retrieved, answered, key phrase quoted."""
    count = len(outcomes)
    return {
        "questions": count,
        "retrieved": round(sum(o.retrieved for o in outcomes) / count, 4) if count else 0.0,
        "answered": round(sum(o.answered for o in outcomes) / count, 4) if count else 0.0,
        "key_phrase_quoted": round(sum(o.quoted for o in outcomes) / count, 4) if count else 0.0,
        "key_phrase_quoted_when_retrieved": (
            round(sum(o.quoted for o in outcomes) / retrieved, 4)
            if (retrieved := sum(o.retrieved for o in outcomes))
            else 0.0
        ),
    }


def key_phrase_table(outcomes: Sequence[KeyPhraseOutcome]) -> str:
    """One line per question (R: clause retrieved, A: answered, K: key phrase quoted) and the summary."""
    lines = []
    for o in outcomes:
        flags = ("R" if o.retrieved else "-") + ("A" if o.answered else "-") + ("K" if o.quoted else "-")
        lines.append(f"{flags} {o.query.query.id} {o.query.query.question} [{o.query.key_phrase}]")
        lines.extend(f"      {quote}" for quote in o.quotes)
    summary = key_phrase_summary(outcomes)
    lines.append(
        f"{summary['questions']} questions: labelled clause retrieved {summary['retrieved']:.1%}, "
        f"answered {summary['answered']:.1%}, key phrase quoted {summary['key_phrase_quoted']:.1%} "
        f"({summary['key_phrase_quoted_when_retrieved']:.1%} of those retrieved)"
    )
    return "\n".join(lines)
