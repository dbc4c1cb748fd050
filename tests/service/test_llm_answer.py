"""LLM answers end to end: the service (a real uvicorn server in a thread, the session's index and model)
configured with an upstream that is a real OpenAI-compatible HTTP server returning scripted completions,
called with the real ``openai`` client. The grounding check keeps supported sentences, drops invented ones,
falls back to the extractive answer when the reply has no markers or the upstream is too slow, and takes the
LLM's own refusal as a no-answer."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import openai
import pytest
from fastapi import FastAPI, Request

from policyqa.service.answers import NO_ANSWER_TEXT
from policyqa.service.app import create_app
from policyqa.service.llm_answerer import SYSTEM_PROMPT
from policyqa.service.settings import ServiceSettings

QUESTION = "高新区对创新型孵化器有什么支持？"
INCUBATOR = "（十二）发展创新型孵化器"
UPSTREAM_KEY = "upstream-secret-0123456789"
TIMEOUT_SECONDS = 1.0
SLOW_SECONDS = 30.0
SUPPORTED = (
    "支持各高新区围绕发展特色战略产业，设立和引进设计中心、创业中心、孵化中心等形式多样的创新型孵化器。",
    "同时鼓励发展企业总部型、技术中试型、专业园等多种类型的加速器。",
)
INVENTED = "对新认定的创新型孵化器一次性给予500万元奖励。"

Script = Callable[[list[dict]], str]


@dataclass
class Upstream:
    """A scripted OpenAI-compatible server: ``script`` writes each reply from the request's messages after
    ``delay`` seconds; ``requests`` records what it was sent."""

    script: Script = lambda messages: "。"
    delay: float = 0.0
    requests: list[dict] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> dict:
            body = await request.json()
            self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
            await asyncio.sleep(self.delay)
            reply = self.script(body["messages"])
            return {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }

        return app


def number_of(messages: list[dict], phrase: str) -> int:
    """The [n] under which the prompt lists the clause containing ``phrase``."""
    for line in messages[-1]["content"].splitlines():
        match = re.match(r"\[(\d+)\] ", line)
        if match and phrase in line:
            return int(match[1])
    raise AssertionError(f"no clause with {phrase!r} in the prompt")


@pytest.fixture(scope="module")
def upstream(serve_in_thread) -> Iterator[Upstream]:
    scripted = Upstream()
    with serve_in_thread(scripted.app(), ready_path="/docs") as url:
        scripted.url = url
        yield scripted


@pytest.fixture
def script(upstream: Upstream) -> Iterator[Callable[..., None]]:
    """Set the upstream's reply (and delay) for one test."""

    def set_script(reply: Script, delay: float = 0.0) -> None:
        upstream.script, upstream.delay = reply, delay
        upstream.requests.clear()

    yield set_script
    upstream.delay = 0.0


@pytest.fixture(scope="module")
def llm_server(upstream: Upstream, service_index, embedder, policyqa_home, serve_in_thread) -> Iterator[str]:
    index_dir, _documents = service_index
    settings = ServiceSettings(
        home=policyqa_home,
        index_dir=index_dir,
        llm_base_url=upstream.url + "/v1",
        llm_model="scripted",
        llm_api_key=UPSTREAM_KEY,
        llm_timeout=TIMEOUT_SECONDS,
    )
    with serve_in_thread(create_app(settings, embedder=embedder), ready_path="/ready") as url:
        yield url


@pytest.fixture(scope="module")
def client(llm_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm_server + "/v1", api_key="unused", timeout=120, max_retries=0)


def ask_llm(client: openai.OpenAI, *messages: str):
    roles = ["user", "assistant"]
    conversation = [{"role": roles[i % 2], "content": text} for i, text in enumerate(messages)]
    completion = client.chat.completions.create(model="policyqa-llm", messages=conversation)
    message = completion.choices[0].message
    return message.content, message.model_extra["citations"], completion.model_extra["policyqa"]


def verify(url: str, citations: list[dict]) -> None:
    """Every citation's quote is exactly its clause's text[start:end]."""
    for citation in citations:
        clause = httpx.get(f"{url}/clauses/{citation['clause_id']}", timeout=60).json()
        assert clause["text"][citation["start"] : citation["end"]] == citation["quote"]


def test_both_models_are_listed(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["policyqa-extractive", "policyqa-llm"]


def test_a_supported_reply_is_returned_checked_with_verifiable_citations(
    client: openai.OpenAI, llm_server: str, upstream: Upstream, script, caplog: pytest.LogCaptureFixture
) -> None:
    script(lambda messages: "".join(f"{s}[{number_of(messages, INCUBATOR)}]" for s in SUPPORTED))
    with caplog.at_level(logging.DEBUG):
        content, citations, info = ask_llm(client, QUESTION)
    assert info["grounding"] == "checked" and info["debug"] is None and not info["no_answer"]
    assert content.startswith(SUPPORTED[0] + "[1]") and SUPPORTED[1] in content
    assert citations and citations[0]["path"][-1] == INCUBATOR
    verify(llm_server, citations)
    sent = upstream.requests[0]
    assert sent["authorization"] == f"Bearer {UPSTREAM_KEY}" and sent["body"]["model"] == "scripted"
    assert sent["body"]["messages"][0]["content"] == SYSTEM_PROMPT
    assert QUESTION in sent["body"]["messages"][-1]["content"]
    assert UPSTREAM_KEY not in caplog.text


def test_an_invented_sentence_is_dropped(client: openai.OpenAI, llm_server: str, script) -> None:
    def reply(messages: list[dict]) -> str:
        n = number_of(messages, INCUBATOR)
        return f"{SUPPORTED[0]}[{n}]{INVENTED}[{n}]{SUPPORTED[1]}[{n}]"

    script(reply)
    content, citations, info = ask_llm(client, QUESTION)
    assert info["grounding"] == "checked"
    assert INVENTED not in content and "500万元" not in content and SUPPORTED[1] in content
    assert info["debug"] == {"dropped_sentences": [INVENTED]}
    verify(llm_server, citations)


def test_a_reply_without_markers_falls_back_to_the_extractive_answer(client: openai.OpenAI, script) -> None:
    script(lambda messages: "".join(SUPPORTED))
    content, citations, info = ask_llm(client, QUESTION)
    extractive = client.chat.completions.create(
        model="policyqa-extractive", messages=[{"role": "user", "content": QUESTION}]
    )
    assert info["grounding"] == "fallback_extractive"
    assert info["debug"] == {"dropped_sentences": list(SUPPORTED)}
    assert content == extractive.choices[0].message.content
    assert citations[0]["path"][-1] == INCUBATOR


@pytest.mark.parametrize("refusal", [NO_ANSWER_TEXT, "未在已收錄的政策文件中找到相關規定。"])
def test_the_llms_refusal_is_a_no_answer(client: openai.OpenAI, script, refusal: str) -> None:
    """The clauses were found (the relevance threshold passed) but the LLM read them and says they do not
    answer (in simplified or traditional characters): policyqa refuses instead of quoting them."""
    script(lambda messages: refusal)
    content, citations, info = ask_llm(client, QUESTION)
    assert info["no_answer"] and info["grounding"] == "refused" and info["debug"] is None
    assert content == NO_ANSWER_TEXT and citations == []


def test_a_refusal_beside_a_supported_sentence_is_an_answer(client: openai.OpenAI, script) -> None:
    script(lambda messages: f"{SUPPORTED[0]}[{number_of(messages, INCUBATOR)}]{NO_ANSWER_TEXT}")
    content, citations, info = ask_llm(client, QUESTION)
    assert not info["no_answer"] and info["grounding"] == "checked"
    assert content.startswith(SUPPORTED[0] + "[1]") and citations[0]["path"][-1] == INCUBATOR


def test_a_slow_upstream_falls_back_within_the_timeout(client: openai.OpenAI, upstream, script) -> None:
    script(lambda messages: f"{SUPPORTED[0]}[1]", delay=SLOW_SECONDS)
    started = time.monotonic()
    content, citations, info = ask_llm(client, QUESTION)
    elapsed = time.monotonic() - started
    assert info["grounding"] == "fallback_extractive" and citations[0]["path"][-1] == INCUBATOR
    assert upstream.requests and elapsed < SLOW_SECONDS / 2  # it did not wait for the scripted reply
    assert content.startswith("根据《")


def test_the_llm_condenses_a_follow_up(client: openai.OpenAI, upstream: Upstream, script) -> None:
    def reply(messages: list[dict]) -> str:
        if "改写" in messages[0]["content"]:
            return "高新区对人才有哪些支持政策？"
        return "高新区重视人才。"  # no markers: the extractive answer

    script(reply)
    first, _citations, _info = ask_llm(client, QUESTION)
    _content, citations, info = ask_llm(client, QUESTION, first, "那人才方面呢？")
    assert info["rewritten_question"] == "高新区对人才有哪些支持政策？"
    assert "那人才方面呢？" in upstream.requests[-2]["body"]["messages"][-1]["content"]
    assert citations and any("人才" in citation["quote"] for citation in citations)


def test_upstream_errors_fall_back_and_are_never_a_server_error(client: openai.OpenAI, script) -> None:
    def fail(messages: list[dict]) -> str:
        raise RuntimeError("the upstream broke")  # the scripted server answers 500

    script(fail)
    content, citations, info = ask_llm(client, QUESTION)
    assert info["grounding"] == "fallback_extractive" and citations and content.startswith("根据《")
