"""Measure follow-up questions on the multi-turn dev set (``eval/data/followup_questions.jsonl``, about the
demo's seed document): each conversation is asked turn by turn as ``POST /v1/chat/completions`` answers
it — the earlier questions and the chat content of the earlier answers as history — and each follow-up is
judged twice: rewritten correctly (the searched question holds every ``must`` term and no ``must_not``
term; a ``standalone`` question is not rewritten) and answered correctly (the first citation is one of the
expected ``clauses``; a ``source`` question's answer names the document's title and date).

    .venv/bin/python -m experiments.followup_eval                       # rules (no LLM)
    .venv/bin/python -m experiments.followup_eval --llm-base-url http://127.0.0.1:8001/v1 --llm-model qwen2.5

Without ``--index-dir`` the demo index is used (built on first use). Prints a Markdown table per turn and
the shares: the numbers behind docs/decisions/2026-12-01-chatbot-api.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from policyqa.indexer import PolicyIndex
from policyqa.indexer.demo import ensure_demo_index
from policyqa.service.answers import answerer_from_settings
from policyqa.service.chat_schemas import content_of
from policyqa.service.conversation import Turn, ask_in_conversation, llm_condense
from policyqa.service.llm_client import LLMClient
from policyqa.service.schemas import AskResponse
from policyqa.service.settings import load_settings

DEV_SET = Path(__file__).resolve().parents[1] / "eval" / "data" / "followup_questions.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--llm-base-url", help="condense with this OpenAI-compatible upstream")
    parser.add_argument("--llm-model")
    args = parser.parse_args()
    settings = load_settings(
        index_dir=args.index_dir, llm_base_url=args.llm_base_url, llm_model=args.llm_model
    )
    index = PolicyIndex.load(ensure_demo_index(settings), settings)
    answerer = answerer_from_settings(settings, index.embedder, "extractive")
    client = LLMClient.from_settings(settings)
    condense = llm_condense(client, settings.max_query_chars) if client else None
    print(f"rewrite: {'LLM ' + (settings.llm_model or '') if condense else 'rules'}\n")
    print("| conversation | question | searched | rewritten ok | answered ok |\n|---|---|---|---|---|")
    rewritten_ok = answered_ok = follow_ups = 0
    for line in DEV_SET.read_text(encoding="utf-8").splitlines():
        conversation = json.loads(line)
        history: list[Turn] = []
        for number, turn in enumerate(conversation["turns"]):
            retrieval, answer, resolved = ask_in_conversation(
                index,
                answerer,
                turn["question"],
                history,
                condense=condense,
                min_relevance=settings.answer_min_relevance,
            )
            response = AskResponse.of(retrieval, answer)
            content = content_of(response, answer)
            history += [Turn("user", turn["question"]), Turn("assistant", content)]
            answered = _answered(turn, response, resolved.scope.document if resolved.scope else None)
            if number == 0:
                print(f"| {conversation['id']} | {turn['question']} | (first) | | {_mark(answered)} |")
                continue
            rewritten = _rewritten(turn, resolved.question)
            follow_ups += 1
            rewritten_ok += rewritten
            answered_ok += answered
            print(
                f"| {conversation['id']} | {turn['question']} | {resolved.question} | {_mark(rewritten)} "
                f"| {_mark(answered)} |"
            )
    print(
        f"\n{follow_ups} follow-up turns: rewritten correctly {rewritten_ok}/{follow_ups} "
        f"({rewritten_ok / follow_ups:.0%}), answered correctly {answered_ok}/{follow_ups} "
        f"({answered_ok / follow_ups:.0%})"
    )


def _rewritten(turn: dict, searched: str) -> bool:
    if turn.get("standalone"):
        return searched == turn["question"]
    if turn.get("source"):
        return searched != turn["question"]
    return all(term in searched for term in turn["must"]) and not any(
        term in searched for term in turn.get("must_not", ())
    )


def _answered(turn: dict, response: AskResponse, scope) -> bool:
    if turn.get("source"):
        return (
            scope is not None
            and f"《{scope.title}》" in response.answer
            and (scope.date or "") in response.answer
        )
    return bool(response.citations) and response.citations[0].path[-1] in turn["clauses"]


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    main()
