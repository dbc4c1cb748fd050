"""Training examples for the embedder from labelled questions: the passages that answer a question, and hard
negatives mined from a loaded index.

A question's *positives* are the clauses that satisfy its labels (``policyqa.eval.labels.judge``); one
example per label, whose positive passage is the label's clause in the latest-dated document (several
versions of one law all satisfy a title + article label). Its *hard negatives* come from the index's own
BM25 and dense rankings (top ``depth``): clauses that look right to a retriever but are not labelled. They are
taken from ranks ``skip + 1`` to ``depth`` only (the very top is where unlabelled right answers hide), never a
clause that satisfies a label, never a near-duplicate of a positive (the same normalised text, or the same
article of another version of the same law), and sampled with a generator seeded by the seed and the
question id, so the same index, questions and seed give the same examples.

Passage texts are what the index embeds (``policyqa.indexer.passages``): the cited title, a newline and the
clause, in windows when a clause is longer than the model's token budget.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from policyqa.corpus.model import Clause, Document
from policyqa.eval.labels import ArticleLabel, ClauseLabel, Label, judge
from policyqa.eval.queries import EvalQuery
from policyqa.indexer import PolicyIndex
from policyqa.indexer.errors import InvalidQueryError, UnknownIdError
from policyqa.indexer.passages import clause_passages
from policyqa.text import article_key, label_form

NEGATIVE_DEPTH = 50  # hard negatives come from each retriever's top 50 …
NEGATIVE_SKIP = 4  # … below its top 4, where unlabelled right answers are likely


@dataclass(frozen=True)
class TrainingExample:
    """A question, the passage of one of its labelled clauses and passages of clauses that are not."""

    query_id: str
    question: str
    positive: str
    negatives: tuple[str, ...]


@dataclass(frozen=True)
class MiningReport:
    """What mining made of the questions: examples, and how many questions gave none (and why)."""

    examples: tuple[TrainingExample, ...]
    questions: int
    unresolved: int  # no label satisfied by any clause of the index
    too_few_negatives: int  # the index holds fewer than ``count`` clauses to use as negatives


class LabelledIndex:
    """A loaded index seen through evaluation labels: which clauses answer a question, and their passages."""

    def __init__(self, index: PolicyIndex):
        self.index = index
        self._by_title: dict[str, list[tuple[Clause, Document]]] = defaultdict(list)
        self._headed: list[tuple[Clause, Document]] = []
        self._all: list[tuple[Clause, Document]] = []
        for document in index.documents():
            for clause in index.clauses_of(document.id):
                self._by_title[label_form(document.title)].append((clause, document))
                self._all.append((clause, document))
                if clause.heading:
                    self._headed.append((clause, document))
        self.max_tokens = int(index.manifest.get("max_tokens", index.embedder.max_tokens))

    @property
    def clauses(self) -> Sequence[tuple[Clause, Document]]:
        """Every clause of the index with its document, in index order."""
        return self._all

    def satisfying(self, label: Label) -> list[tuple[Clause, Document]]:
        """The clauses that satisfy ``label``, in index order."""
        if isinstance(label, ClauseLabel):
            try:
                clause = self.index.clause(label.clause_id)
            except UnknownIdError:
                return []
            return [(clause, self.index.document(clause.document_id))]
        if isinstance(label, ArticleLabel):
            candidates = self._by_title.get(label_form(label.title), [])
        else:
            candidates = self._headed
        return [(clause, document) for clause, document in candidates if label.matches(clause, document)]

    def positives(self, query: EvalQuery) -> dict[int, list[tuple[Clause, Document]]]:
        """For each label index that resolves, the clauses satisfying it (latest-dated document first)."""
        found = {}
        for label_index, label in enumerate(query.relevant):
            clauses = self.satisfying(label)
            if clauses:
                found[label_index] = sorted(clauses, key=lambda pair: pair[1].date or "", reverse=True)
        return found

    def passages(self, clause: Clause) -> list[str]:
        """The texts the index embeds for ``clause`` (one per window)."""
        document = self.index.document(clause.document_id)
        windows = clause_passages(document, [clause], self.index.embedder.count_tokens, self.max_tokens)
        return [passage.text for passage in windows]


def near_duplicate_labels(positives: Sequence[tuple[Clause, Document]]) -> tuple[Label, ...]:
    """Labels of the same article in every version of a positive's law (same title + article number)."""
    return tuple(
        dict.fromkeys(
            ArticleLabel(document.title, clause.number)
            for clause, document in positives
            if article_key(clause.number) is not None
        )
    )


def mine_negatives(
    labelled: LabelledIndex,
    query: EvalQuery,
    positives: Sequence[tuple[Clause, Document]],
    *,
    count: int,
    seed: int,
    depth: int = NEGATIVE_DEPTH,
    skip: int = NEGATIVE_SKIP,
) -> list[Clause]:
    """Up to ``count`` hard negatives for ``query``: clauses of BM25's and the dense retriever's ranks
    ``skip + 1`` … ``depth`` that satisfy no label and duplicate no positive, sampled with a generator seeded
    by ``seed`` and the question id; when those are too few, random other clauses of the index fill up."""
    excluded_labels = (*query.relevant, *near_duplicate_labels(positives))
    positive_texts = {label_form(clause.text) for clause, _document in positives}
    positive_ids = {clause.id for clause, _document in positives}

    def usable(clause: Clause, document: Document) -> bool:
        return (
            clause.id not in positive_ids
            and judge(clause, document, excluded_labels) is None
            and label_form(clause.text) not in positive_texts
        )

    window: dict[str, Clause] = {}
    for mode in ("bm25", "dense"):
        try:
            hits = labelled.index.search(query.question, mode=mode, k=depth)
        except InvalidQueryError:  # a question over the query length limit: no ranking to mine
            hits = []
        for hit in hits[skip:]:
            if hit.clause.id not in window and usable(hit.clause, hit.document):
                window[hit.clause.id] = hit.clause
    rng = random.Random(f"{seed}:{query.id}")
    chosen = [window[clause_id] for clause_id in rng.sample(sorted(window), min(count, len(window)))]
    if len(chosen) < count:  # a small index: any other usable clause, in a seeded random order
        clauses = labelled.clauses
        for row in rng.sample(range(len(clauses)), len(clauses)):
            clause, document = clauses[row]
            if clause.id not in window and usable(clause, document):
                chosen.append(clause)
                if len(chosen) == count:
                    break
    return chosen


def training_examples(
    labelled: LabelledIndex, queries: Sequence[EvalQuery], *, negatives: int, seed: int
) -> MiningReport:
    """One example per resolvable label of each question, each with ``negatives`` hard negatives; questions
    whose labels match nothing in the index, or for which too few negatives exist, give none."""
    examples: list[TrainingExample] = []
    unresolved = too_few = 0
    for query in queries:
        positives = labelled.positives(query)
        if not positives:
            unresolved += 1
            continue
        every_positive = [pair for pairs in positives.values() for pair in pairs]
        mined = mine_negatives(labelled, query, every_positive, count=negatives, seed=seed)
        if len(mined) < negatives:
            too_few += 1
            continue
        negative_texts = tuple(labelled.passages(clause)[0] for clause in mined)
        positive_texts = dict.fromkeys(labelled.passages(pairs[0][0])[0] for pairs in positives.values())
        examples.extend(
            TrainingExample(query.id, query.question, text, negative_texts) for text in positive_texts
        )
    return MiningReport(tuple(examples), len(queries), unresolved, too_few)
