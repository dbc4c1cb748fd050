"""Evaluation query files: JSON Lines of ``{"id", "question", "relevant": [label, …]}``
(see ``policyqa.eval.labels``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from policyqa.eval.errors import QueryFileError
from policyqa.eval.labels import Label, label_from_json

DATA = Path(__file__).resolve().parent / "data"
SEED_QUESTIONS = DATA / "seed_questions.jsonl"  # 43 plain-language questions about the demo document
OOD_QUESTIONS = DATA / "ood_questions.jsonl"  # questions the demo document does not cover


@dataclass(frozen=True)
class EvalQuery:
    """A question and the labels of the clauses that answer it."""

    id: str
    question: str
    relevant: tuple[Label, ...]


def load_queries(path: Path) -> list[EvalQuery]:
    """Read a query file; a missing or malformed file raises ``QueryFileError`` naming the line."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise QueryFileError(f"{path}: no such query file") from None
    except UnicodeDecodeError:
        raise QueryFileError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise QueryFileError(f"{path}: cannot read ({error.strerror})") from None
    queries: list[EvalQuery] = []
    seen_ids: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            query = _query_from_json(json.loads(line))
        except json.JSONDecodeError as error:
            raise QueryFileError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        except ValueError as error:
            raise QueryFileError(f"{path}:{number}: {error}") from None
        if query.id in seen_ids:
            raise QueryFileError(f"{path}:{number}: duplicate query id {query.id!r}")
        seen_ids.add(query.id)
        queries.append(query)
    if not queries:
        raise QueryFileError(f"{path}: no queries")
    return queries


def _query_from_json(data: object) -> EvalQuery:
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object")
    query_id = data.get("id")
    if not isinstance(query_id, str | int) or isinstance(query_id, bool) or str(query_id).strip() == "":
        raise ValueError('"id" must be a non-empty string or an integer')
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f'query {query_id}: "question" must be a non-empty string')
    relevant = data.get("relevant")
    if not isinstance(relevant, list) or not relevant:
        raise ValueError(f'query {query_id}: "relevant" must be a non-empty list of labels')
    try:
        labels = tuple(dict.fromkeys(label_from_json(item) for item in relevant))
    except ValueError as error:
        raise ValueError(f"query {query_id}: {error}") from None
    return EvalQuery(id=str(query_id).strip(), question=question.strip(), relevant=labels)
