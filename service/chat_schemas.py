"""Bodies of the OpenAI-compatible routes (``/v1/chat/completions``, ``/v1/models``), in the shape of
OpenAI's Chat Completions API plus policyqa's extensions: the citations of ``POST /ask`` in the message (and
in the last stream chunk), and the answer's question, rewrite, confidence and grounding under ``policyqa``.

Requests accept and ignore the Chat Completions fields policyqa has no use for (``n``, ``top_p``, ``tools``
…), so that every OpenAI client's defaults are accepted."""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from policyqa.indexer.records import SearchFilters
from policyqa.service.answers import Answer, Grounding, clause_label
from policyqa.service.schemas import AskResponse, Citation, IsoDate, Text

ROLES = Literal["system", "developer", "user", "assistant", "tool"]
REFERENCES_HEADING = "参考条款："


class TextPart(BaseModel):
    """A part of a message's content; only text parts are read."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(examples=["text"])
    text: Text | None = None


class ChatMessage(BaseModel):
    """A message of the conversation; ``content`` is a string or a list of text parts."""

    model_config = ConfigDict(extra="ignore")

    role: ROLES
    content: Text | list[TextPart] | None = None

    @property
    def text(self) -> str:
        """The message's text (its text parts joined)."""
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """A chat completion request: the last user message is answered in the context of the ones before."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "model": "policyqa-extractive",
                    "messages": [{"role": "user", "content": "高新区对创新型孵化器有什么支持？"}],
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=100, examples=["policyqa-extractive"])
    messages: list[ChatMessage] = Field(min_length=1, description="the conversation, oldest first")
    stream: bool = Field(default=False, description="answer as server-sent events")
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, description="accepted; answers are grounded")
    max_tokens: int | None = Field(
        default=None, ge=1, description="cut the answer's content after this many characters"
    )
    user: str | None = Field(default=None, max_length=256, description="accepted; not stored")
    as_of: IsoDate | None = Field(
        default=None,
        examples=["2024-03-01"],
        description="policyqa extension: answer from the versions in force on this day (default today)",
    )
    include_history: bool = Field(
        default=False, description="policyqa extension: answer from every version, each labelled"
    )

    def search_filters(self) -> SearchFilters | None:
        """The versions the answer may cite (None: those in force today)."""
        if self.as_of is None and not self.include_history:
            return None
        return SearchFilters(
            as_of=self.as_of.isoformat() if self.as_of else None, include_history=self.include_history or None
        )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    citations: list[Citation] = Field(description="policyqa extension: the citations [n] of the content")


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]


class Usage(BaseModel):
    """Counts in characters (a Chinese character is about one token of most tokenizers)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AnswerInfo(BaseModel):
    """policyqa extension: how the answer was reached, as ``POST /ask`` reports it."""

    question: str = Field(description="the last user message")
    rewritten_question: str | None = Field(description="the standalone question searched, when rewritten")
    no_answer: bool
    confidence: float = Field(ge=0, le=1)
    grounding: Grounding | None
    debug: dict[str, list[str]] | None = Field(
        default=None, description="dropped_sentences: the LLM's sentences the grounding check removed"
    )

    @classmethod
    def of(cls, response: AskResponse) -> AnswerInfo:
        return cls(**response.model_dump(include=set(cls.model_fields)))


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    policyqa: AnswerInfo


class ModelCard(BaseModel):
    id: str = Field(examples=["policyqa-extractive"])
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "policyqa"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIError(BaseModel):
    message: str
    type: str = Field(examples=["invalid_request_error"])
    code: str | None = Field(examples=["model_not_found"])


class OpenAIErrorBody(BaseModel):
    """An error in OpenAI's shape."""

    error: OpenAIError


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def content_of(response: AskResponse, answer: Answer) -> str:
    """The message content: the answer, then a 参考条款 list naming each citation's document and clause,
    so that a plain chat client shows where each [n] comes from."""
    if not answer.quotes:
        return response.answer
    lines = [
        f"[{number}] {quote.document.cited_title}{clause_label(quote.clause)}"
        for number, quote in enumerate(answer.quotes, start=1)
    ]
    return "\n".join([response.answer, "", REFERENCES_HEADING, *lines])


def usage_of(messages: list[ChatMessage], content: str) -> Usage:
    prompt = sum(len(message.text) for message in messages)
    return Usage(prompt_tokens=prompt, completion_tokens=len(content), total_tokens=prompt + len(content))
