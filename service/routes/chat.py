"""``POST /v1/chat/completions`` and ``GET /v1/models``: the /ask pipeline behind OpenAI's Chat Completions
API, so that chat front ends (Open WebUI, FastGPT, LangChain, the ``openai`` client) use policyqa as a model.

The last user message is answered in the context of the earlier ones (``service.conversation``); the answer
is what /ask answers, its citations in the message's ``citations`` and, for a plain client, a 参考条款 list
after the text. A stream sends the role at once, then the checked answer in sentence-sized pieces, then a
last chunk with the citations, ``finish_reason`` and usage, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from policyqa.errors import PolicyQAError
from policyqa.service.budget import within
from policyqa.service.chat_schemas import (
    AnswerInfo,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelCard,
    ModelList,
    OpenAIErrorBody,
    completion_id,
    content_of,
    now,
    usage_of,
)
from policyqa.service.conversation import Turn, ask_in_conversation, check_conversation, split_conversation
from policyqa.service.deps import DeadlineDep, IndexDep, ReadAccess, SettingsDep, StateDep
from policyqa.service.errors import UnknownModelError, error_response, status_of, without_paths
from policyqa.service.schemas import ERROR_DESCRIPTIONS, AskResponse
from policyqa.service.settings import ServiceSettings
from policyqa.service.state import ServiceState

logger = logging.getLogger(__name__)

router = APIRouter(tags=["chat"])

# model name → answerer; ``policyqa-llm`` is served only when an upstream LLM is configured
MODELS = {"policyqa-extractive": "extractive", "policyqa-llm": "llm"}
CREATED = 1_764_547_200  # 2025-12-01, when these models were first served
_PIECE = re.compile(r"[^。！？；\n]*[。！？；\n]?")


def openai_error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error statuses of a /v1 route (400 and 503 always), in OpenAI's shape."""
    return {
        status: {"model": OpenAIErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        for status in sorted({400, 503, *statuses})
    }


def served_models(state: ServiceState) -> list[str]:
    """The model names this service answers to."""
    return [model for model, answerer in MODELS.items() if answerer in state.answerer_names]


@router.get(
    "/v1/models",
    operation_id="list_models",
    response_model=ModelList,
    dependencies=[ReadAccess],
    responses=openai_error_responses(401),
)
async def list_models(state: StateDep) -> ModelList:
    """The models: ``policyqa-extractive`` (always) and ``policyqa-llm`` (with an upstream LLM)."""
    return ModelList(data=[ModelCard(id=model, created=CREATED) for model in served_models(state)])


@router.post(
    "/v1/chat/completions",
    operation_id="chat_completions",
    response_model=ChatCompletion,
    dependencies=[ReadAccess],
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **openai_error_responses(401, 404, 413, 503),
    },
)
def chat_completions(
    body: ChatCompletionRequest,
    state: StateDep,
    index: IndexDep,
    settings: SettingsDep,
    deadline: DeadlineDep,
) -> ChatCompletion | StreamingResponse:
    """Answer the last user message from the documents, with [n] citations; a question the documents do
    not cover gets 未在已收录的政策文件中找到相关规定。 and no citations. 404 for an unknown model; 400 for no
    user message or a conversation over POLICYQA_CHAT_MAX_MESSAGES / POLICYQA_CHAT_MAX_CHARS; 503 with
    ``Retry-After`` when the server is saturated or the question runs out of its time budget."""
    if body.model not in served_models(state):
        raise UnknownModelError(
            f"the model {body.model!r} does not exist; choose one of {', '.join(served_models(state))}"
        )
    turns = [Turn(message.role, message.text) for message in body.messages]
    check_conversation(turns, max_messages=settings.chat_max_messages, max_chars=settings.chat_max_chars)
    history, question = split_conversation(turns)
    name = MODELS[body.model]

    def answer() -> ChatCompletion:
        with within(deadline):
            retrieval, found, resolved = ask_in_conversation(
                index,
                state.answerer_named(name),
                question,
                history,
                condense=state.condense if name == "llm" else None,
                min_relevance=settings.answer_min_relevance,
                filters=body.search_filters(),
            )
        response = AskResponse.of(
            retrieval, found, asked=question, rewritten=resolved.question if resolved.rewritten else None
        )
        content = content_of(response, found)
        cut = body.max_tokens is not None and len(content) > body.max_tokens
        return ChatCompletion(
            id=completion_id(),
            created=now(),
            model=body.model,
            choices=[
                Choice(
                    message=AssistantMessage(
                        content=content[: body.max_tokens] if cut else content, citations=response.citations
                    ),
                    finish_reason="length" if cut else "stop",
                )
            ],
            usage=usage_of(body.messages, content),
            policyqa=AnswerInfo.of(response),
        )

    if not body.stream:
        return answer()
    return StreamingResponse(
        _events(body.model, answer, settings),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _events(model: str, answer: Callable[[], ChatCompletion], settings: ServiceSettings) -> Iterator[str]:
    """The stream: the role at once (the first token comes before the answer is computed), the content in
    sentence-sized pieces, a last chunk with the citations, finish reason, usage and answer info, [DONE];
    a failure after the first chunk is an ``error`` event before [DONE]."""
    identity = {"id": completion_id(), "object": "chat.completion.chunk", "created": now(), "model": model}

    def chunk(delta: dict, finish_reason: str | None = None, **extra: object) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return _event({**identity, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    try:
        completion: ChatCompletion = answer()
    except PolicyQAError as error:
        message = without_paths(str(error), (settings.resolved_index_dir, settings.home))
        _status, payload = error_response(
            "/v1/", status_of(error), message, code=getattr(error, "code", None)
        )
        yield _event(payload)
        yield "data: [DONE]\n\n"
        return
    choice = completion.choices[0]
    for piece in _PIECE.findall(choice.message.content):
        if piece:
            yield chunk({"content": piece})
    final = completion.model_dump(include={"usage", "policyqa"}, mode="json")
    citations = [citation.model_dump(mode="json") for citation in choice.message.citations]
    yield chunk({"citations": citations}, choice.finish_reason, **final)
    yield "data: [DONE]\n\n"


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
