"""The OpenAI-compatible routes against the real server process (see conftest.py), called with the real
``openai`` client: answers with verifiable citations, streams, models, follow-ups and errors."""

from __future__ import annotations

import httpx
import openai
import pytest

from policyqa.service.answers import NO_ANSWER_TEXT
from policyqa.service.chat_schemas import REFERENCES_HEADING

QUESTION = "高新区对创新型孵化器有什么支持？"
INCUBATOR = "（十二）发展创新型孵化器"


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", timeout=120, max_retries=0)


def extension(model, name: str):
    """A policyqa extension field of an openai response object."""
    return (model.model_extra or {})[name]


def assert_verifiable(server, citations: list[dict]) -> None:
    """Every citation's quote is exactly its clause's text[start:end]."""
    with server.client() as http:
        for citation in citations:
            clause = http.get(f"/clauses/{citation['clause_id']}").json()
            assert clause["text"][citation["start"] : citation["end"]] == citation["quote"]


def ask(client: openai.OpenAI, *messages: str) -> tuple[str, list[dict], dict]:
    """Ask the conversation ``messages`` (user, assistant, user, …): content, citations, policyqa info."""
    roles = ["user", "assistant"]
    conversation = [{"role": roles[i % 2], "content": text} for i, text in enumerate(messages)]
    completion = client.chat.completions.create(model="policyqa-extractive", messages=conversation)
    message = completion.choices[0].message
    return message.content, extension(message, "citations"), extension(completion, "policyqa")


def test_a_chat_completion_cites_the_clause_verifiably(server, client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="policyqa-extractive", messages=[{"role": "user", "content": QUESTION}]
    )
    choice = completion.choices[0]
    citations = extension(choice.message, "citations")
    assert completion.object == "chat.completion" and completion.model == "policyqa-extractive"
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert citations[0]["path"][-1] == INCUBATOR
    assert set(citations[0]) >= {"n", "clause_id", "document", "path", "quote", "start", "end"}
    assert_verifiable(server, citations)
    content = choice.message.content
    assert f"{citations[0]['quote']}[1]" in content
    assert f"{REFERENCES_HEADING}\n[1] 《{server.seed.document.title}》四、{INCUBATOR}" in content
    info = extension(completion, "policyqa")
    assert info["question"] == QUESTION and info["rewritten_question"] is None and not info["no_answer"]
    assert completion.usage.completion_tokens == len(content)
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + len(content) > len(QUESTION)


def test_a_stream_sends_the_role_first_and_ends_with_the_citations(server, client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(
        model="policyqa-extractive", messages=[{"role": "user", "content": QUESTION}]
    )
    chunks = list(
        client.chat.completions.create(
            model="policyqa-extractive", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant" and not chunks[0].choices[0].delta.content
    assert len(chunks) > 3 and len({chunk.id for chunk in chunks}) == 1
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks[:-1])
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert streamed == plain.choices[0].message.content
    citations = extension(last.choices[0].delta, "citations")
    assert citations == extension(plain.choices[0].message, "citations")
    assert citations[0]["path"][-1] == INCUBATOR
    assert last.usage.completion_tokens == len(streamed)
    assert extension(last, "policyqa")["no_answer"] is False


def test_the_stream_is_server_sent_events_ending_with_done(server) -> None:
    body = {"model": "policyqa-extractive", "messages": [{"role": "user", "content": QUESTION}]}
    body["stream"] = True
    with server.client() as http, http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_the_models_are_listed(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["policyqa-extractive"]  # no LLM configured


def test_a_question_the_documents_do_not_cover_gets_no_answer(client: openai.OpenAI) -> None:
    content, citations, info = ask(client, "如何办理出国签证？")
    assert content == NO_ANSWER_TEXT and citations == [] and info["no_answer"] is True


def test_follow_ups_are_answered_in_the_context_of_the_conversation(server, client: openai.OpenAI) -> None:
    seed = server.seed.document
    first, first_citations, _info = ask(client, QUESTION)
    assert first_citations[0]["path"][-1] == INCUBATOR
    second, second_citations, info = ask(client, QUESTION, first, "那人才方面呢？")
    assert info["rewritten_question"] == "高新区对人才有什么支持？"
    assert second_citations and {c["document"]["id"] for c in second_citations} == {seed.id}
    assert any("人才" in citation["quote"] for citation in second_citations)
    assert_verifiable(server, second_citations)
    turns = (QUESTION, first, "那人才方面呢？", second, "这条是哪个文件规定的？")
    third, third_citations, info = ask(client, *turns)
    assert info["rewritten_question"] and info["rewritten_question"] != "这条是哪个文件规定的？"
    assert third.startswith(f"出自《{seed.title}》") and seed.date in third.split("。")[0]
    assert third_citations and {c["document"]["id"] for c in third_citations} == {seed.id}


def test_ask_takes_a_history_and_says_how_it_read_the_question(server) -> None:
    with server.client() as http:
        first = http.post("/ask", json={"question": QUESTION}).json()
        history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first["answer"]}]
        follow_up = http.post("/ask", json={"question": "那人才方面呢？", "history": history}).json()
        alone = http.post("/ask", json={"question": QUESTION, "history": history}).json()
    assert first["rewritten_question"] is None
    assert follow_up["question"] == "那人才方面呢？"
    assert follow_up["rewritten_question"] == "高新区对人才有什么支持？"
    assert {citation["document"]["id"] for citation in follow_up["citations"]} == {server.seed.document.id}
    assert alone["rewritten_question"] is None and alone["citations"][0]["path"][-1] == INCUBATOR


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": QUESTION}]}, 404, "does not exist"),
        ({"model": "policyqa-extractive", "messages": []}, 400, "messages: List should have at least 1"),
        (
            {"model": "policyqa-extractive", "messages": [{"role": "system", "content": "你是助手"}]},
            400,
            "no user message",
        ),
        ({"model": "policyqa-extractive", "messages": [{"role": "user", "content": "问" * 501}]}, 400, "500"),
        (
            {"model": "policyqa-extractive", "messages": [{"role": "user", "content": "政策" * 4001}]},
            400,
            "characters (the limit is 8000)",
        ),
        (
            {"model": "policyqa-extractive", "messages": [{"role": "user", "content": "人才"}] * 21},
            400,
            "too many messages: 21",
        ),
        ({"model": "policyqa-extractive", "messages": [{"role": "robot", "content": "人才"}]}, 400, "role"),
        ({"messages": [{"role": "user", "content": "人才"}]}, 400, "model: Field required"),
    ],
)
def test_bad_chat_input_is_an_openai_error(server, body: dict, status: int, message: str) -> None:
    with server.client() as http:
        response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert message in error["message"] and error["type"] and set(error) == {"message", "type", "code"}


def test_the_openai_client_sees_typed_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="policyqa-extractive", messages=[])


def test_v1_errors_keep_the_openai_shape_outside_the_routes(server) -> None:
    with server.client() as http:
        missing = http.get("/v1/nothing-here")
        malformed = http.post(
            "/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        oversized = http.post(
            "/v1/chat/completions",
            json={"model": "policyqa-extractive", "messages": [{"role": "user", "content": "人才" * 40_000}]},
        )
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert malformed.status_code == 400 and malformed.json()["error"]["type"] == "invalid_request_error"
    assert oversized.status_code == 413 and oversized.json()["error"]["code"] == "request_too_large"


def test_a_plain_http_client_gets_json(server) -> None:
    body = {"model": "policyqa-extractive", "messages": [{"role": "user", "content": QUESTION}]}
    response = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
