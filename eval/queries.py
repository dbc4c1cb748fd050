"""Evaluation query files: JSON Lines of ``{"id", "question", "relevant": [label, …]}``
(see ``policyqa.eval.labels``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from policyqa.eval.errors import QueryFileError
from policyqa.eval.labels import Label, label_from_json

Parsed = TypeVar("Parsed", "EvalQuery", "OutOfScopeQuestion")

DATA = Path(__file__).resolve().parent / "data"
SEED_QUESTIONS = DATA / "seed_questions.jsonl"  # 43 plain-language questions about the demo document
# questions the demo document does not cover ("answered_by_law": false: no Chinese law answers them either)
OOD_QUESTIONS = DATA / "ood_questions.jsonl"
KEYPHRASE_QUESTIONS = DATA / "keyphrase_questions.jsonl"  # questions whose answer must quote a key phrase


@dataclass(frozen=True)
class EvalQuery:
    """A question and the labels of the clauses that answer it."""

    id: str
    question: str
    relevant: tuple[Label, ...]


@dataclass(frozen=True)
class OutOfScopeQuestion:
    """A question the demo document does not cover; ``answered_by_law``: some Chinese law clause does."""

    id: str
    question: str
    answered_by_law: bool


@dataclass(frozen=True)
class KeyPhraseQuery:
    """A question, the clauses that answer it and the phrase an answer's quotes must contain."""

    query: EvalQuery
    key_phrase: str


def load_queries(path: Path) -> list[EvalQuery]:
    """Read a query file; a missing or malformed file raises ``QueryFileError`` naming the line."""
    return [query for query, _data in _read(path, _query_from_json)]


def load_out_of_scope(path: Path) -> list[OutOfScopeQuestion]:
    """Read a file of out-of-scope questions (``relevant`` empty, ``answered_by_law`` a boolean)."""
    return [question for question, _data in _read(path, _out_of_scope_from_json)]


def load_key_phrase_queries(path: Path) -> list[KeyPhraseQuery]:
    """Read a query file whose every line also has a non-empty ``key_phrase``."""
    queries = []
    for query, data in _read(path, _query_from_json):
        phrase = data.get("key_phrase")
        if not isinstance(phrase, str) or not phrase.strip():
            raise QueryFileError(f'{path}: query {query.id}: "key_phrase" must be a non-empty string')
        queries.append(KeyPhraseQuery(query, phrase.strip()))
    return queries


def _read(path: Path, parse: Callable[[object], Parsed]) -> list[tuple[Parsed, dict]]:
    """Each line parsed, with its JSON object; ``QueryFileError`` naming the file and line when it cannot
    be read, a line is malformed or an id repeats."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise QueryFileError(f"{path}: no such query file") from None
    except UnicodeDecodeError:
        raise QueryFileError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise QueryFileError(f"{path}: cannot read ({error.strerror})") from None
    parsed: list[tuple[Parsed, dict]] = []
    seen_ids: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            item = parse(data)
        except json.JSONDecodeError as error:
            raise QueryFileError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        except ValueError as error:
            raise QueryFileError(f"{path}:{number}: {error}") from None
        if item.id in seen_ids:
            raise QueryFileError(f"{path}:{number}: duplicate query id {item.id!r}")
        seen_ids.add(item.id)
        parsed.append((item, data))
    if not parsed:
        raise QueryFileError(f"{path}: no queries")
    return parsed


def _id_and_question(data: object) -> tuple[str, str]:
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object")
    query_id = data.get("id")
    if not isinstance(query_id, str | int) or isinstance(query_id, bool) or str(query_id).strip() == "":
        raise ValueError('"id" must be a non-empty string or an integer')
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f'query {query_id}: "question" must be a non-empty string')
    return str(query_id).strip(), question.strip()


def _out_of_scope_from_json(data: object) -> OutOfScopeQuestion:
    query_id, question = _id_and_question(data)
    assert isinstance(data, dict)
    if data.get("relevant", []) != []:
        raise ValueError(f'question {query_id}: an out-of-scope question has no "relevant" clauses')
    answered_by_law = data.get("answered_by_law")
    if not isinstance(answered_by_law, bool):
        raise ValueError(f'question {query_id}: "answered_by_law" must be true or false')
    return OutOfScopeQuestion(query_id, question, answered_by_law)


def _query_from_json(data: object) -> EvalQuery:
    query_id, question = _id_and_question(data)
    assert isinstance(data, dict)
    relevant = data.get("relevant")
    if not isinstance(relevant, list) or not relevant:
        raise ValueError(f'query {query_id}: "relevant" must be a non-empty list of labels')
    try:
        labels = tuple(dict.fromkeys(label_from_json(item) for item in relevant))
    except ValueError as error:
        raise ValueError(f"query {query_id}: {error}") from None
    return EvalQuery(id=query_id, question=question, relevant=labels)
