"""POST /retrieval, Dify's External Knowledge API, against a real server with read keys and knowledge bases
(see conftest.py for the index: the seed 意见 of 2018 and the 苏州 人才公寓 办法 of 2020)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from policyqa.eval.server import free_port, policyqa_command
from policyqa.service.dify import dify_score

from .conftest import Server, hermetic_env, serving

KEYS = ("dify-key-0123456789", "second-key-abcdefgh")
WRONG_KEY = "not-the-key-ZYXWVUT"
KNOWLEDGE_BASES = {
    "suzhou": {"region": "苏州"},
    "opinions": {"doc_type": "意见"},
    "gone": {"document_id": "no-such-document"},  # a preset naming a document no longer indexed
}
RENT_QUESTION = "人才公寓的租金怎么确定？"
BROAD_QUERY = "人才支持政策"  # matches clauses of both documents
RECORD_METADATA = {
    "clause_id",
    "document_id",
    "path",
    "date",
    "issuer",
    "doc_number",
    "region",
    "doc_type",
    "validity",
    "url",
}


@dataclass(frozen=True)
class DifyServer:
    """``policyqa -vv serve`` with two read keys and two knowledge bases, its log, and ids in its index."""

    url: str
    log: Path
    seed_id: str
    second_id: str
    rent_clause: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0)


@pytest.fixture(scope="module")
def dify(policyqa_home: Path, service_index: tuple[Path, list], tmp_path_factory) -> Iterator[DifyServer]:
    index_dir, (seed, second) = service_index
    port = free_port()
    log = tmp_path_factory.mktemp("dify-log") / "server.log"
    env = hermetic_env(
        policyqa_home,
        read_api_keys=",".join(KEYS),
        knowledge_bases=json.dumps(KNOWLEDGE_BASES, ensure_ascii=False),
    )
    command = policyqa_command("-vv", "serve", "--index-dir", str(index_dir), port=port)
    with serving(command, port, env, log) as url:
        rent = next(clause for clause in second.clauses if clause.number == "第四条")
        yield DifyServer(url, log, seed.document.id, second.document.id, rent.id)


def body(
    query: str = RENT_QUESTION,
    *,
    knowledge_id: str = "default",
    top_k: int = 5,
    score_threshold: float = 0.0,
    conditions: list[dict] | None = None,
    logical_operator: str | None = "and",
) -> dict:
    """A request as Dify sends it."""
    request = {
        "knowledge_id": knowledge_id,
        "query": query,
        "retrieval_setting": {"top_k": top_k, "score_threshold": score_threshold},
    }
    if conditions is not None:
        request["metadata_condition"] = {"logical_operator": logical_operator, "conditions": conditions}
    return request


def retrieve(client: httpx.Client, request: dict, key: str | None = KEYS[0]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return client.post("/retrieval", json=request, headers=headers)


def records(client: httpx.Client, request: dict) -> list[dict]:
    response = retrieve(client, request)
    assert response.status_code == 200, response.text
    return response.json()["records"]


@pytest.mark.parametrize("threshold", [0.0213, 0.3, 0.9])
def test_the_score_is_monotone_in_relevance_with_the_answer_threshold_at_a_half(threshold: float):
    relevances = [i / 1000 for i in range(1001)]
    scores = [dify_score(relevance, threshold) for relevance in relevances]
    assert scores == sorted(scores) and scores[0] == 0.0 and scores[-1] == 1.0
    assert dify_score(threshold, threshold) == 0.5
    assert dify_score(threshold * 0.9, threshold) < 0.5 < dify_score(min(threshold * 1.1, 1), threshold)


def test_records_carry_every_field_of_the_contract(dify: DifyServer):
    with dify.client() as client:
        found = records(client, body(top_k=3))
        top = found[0]
        assert set(top) == {"content", "score", "title", "metadata"}
        assert top["title"] == "《苏州市人才公寓管理办法》"
        validity = top["metadata"]["validity"]
        assert validity["status"] == "现行有效" and validity["effective_from"] == "2020-06-01"
        assert {name: value for name, value in top["metadata"].items() if name != "validity"} == {
            "clause_id": dify.rent_clause,
            "document_id": dify.second_id,
            "path": ["第四条"],
            "date": "2020-05-06",
            "issuer": "苏州市人民政府",
            "doc_number": "苏府规字〔2020〕3号",
            "region": "苏州市",
            "doc_type": "办法",
            "url": f"{dify.url}/#/clause/{dify.rent_clause}",
        }
        clause = client.get(f"/clauses/{dify.rent_clause}").json()
        assert top["content"] == clause["text"] and "百分之五十" in top["content"]
        page = client.get(top["metadata"]["url"])  # the page; it opens the clause named after the #
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    scores = [record["score"] for record in found]
    assert all(0 <= score <= 1 for score in scores)
    assert scores == sorted(scores, reverse=True)
    for record in found:
        assert set(record["metadata"]) == RECORD_METADATA  # an object for every record, never null
        assert record["metadata"]["url"].endswith(f"#/clause/{record['metadata']['clause_id']}")


def test_seed_clause_metadata_is_null_where_the_document_has_none(dify: DifyServer):
    with dify.client() as client:
        found = records(client, body("高新区对创新型孵化器有什么支持？", top_k=1))
    assert found[0]["metadata"]["document_id"] == dify.seed_id
    assert found[0]["metadata"]["path"][-1] == "（十二）发展创新型孵化器"
    assert (found[0]["metadata"]["issuer"], found[0]["metadata"]["region"]) == (None, "江苏")  # inferred
    assert found[0]["title"] == "《关于加快培育发展高新技术产业开发区“一区一战略产业”的意见》"


@pytest.mark.parametrize("top_k", [1, 2, 7])
def test_top_k_is_the_most_records_returned(dify: DifyServer, top_k: int):
    with dify.client() as client:
        assert len(records(client, body(BROAD_QUERY, top_k=top_k))) == top_k


def test_score_threshold_drops_the_records_below_it(dify: DifyServer):
    with dify.client() as client:
        by_threshold = {
            threshold: records(client, body(top_k=10, score_threshold=threshold))
            for threshold in (0.0, 0.5, 0.9)
        }
    assert len(by_threshold[0.0]) == 10
    for threshold, found in by_threshold.items():
        assert all(record["score"] >= threshold for record in found)
    assert len(by_threshold[0.0]) > len(by_threshold[0.5]) >= len(by_threshold[0.9])
    assert by_threshold[0.5][0]["metadata"]["clause_id"] == dify.rent_clause  # the answer stays


@pytest.mark.parametrize("question", ["如何办理出国签证？", "如何申请出国签证？", "今天天气怎么样"])
def test_questions_the_collection_does_not_cover_get_no_records_at_dify_s_usual_threshold(
    dify: DifyServer, question: str
):
    with dify.client() as client:
        assert records(client, body(question, top_k=10, score_threshold=0.5)) == []
        assert records(client, body(question, top_k=10)) != []  # found, but not relevant enough


CONDITIONS = [
    ([{"name": "region", "comparison_operator": "is", "value": "苏州"}], {"second"}),  # 苏州 = 苏州市
    (
        [{"name": "region", "comparison_operator": "empty"}],
        set(),
    ),  # national: none (the seed is 江苏, inferred)
    ([{"name": "region", "comparison_operator": "is", "value": "江苏省"}], {"seed"}),
    ([{"name": "issuer", "comparison_operator": "contains", "value": "人民政府"}], {"second"}),
    ([{"name": "issuer", "comparison_operator": "is not", "value": "苏州市人民政府"}], {"seed"}),
    ([{"name": "doc_number", "comparison_operator": "start with", "value": "苏府"}], {"second"}),
    ([{"name": "title", "comparison_operator": "contains", "value": "高新技術"}], {"seed"}),  # traditional
    ([{"name": "doc_type", "comparison_operator": "in", "value": ["意见", "通知"]}], {"seed"}),
    ([{"name": "doc_type", "comparison_operator": "not in", "value": ["意见"]}], {"second"}),
    ([{"name": "document_id", "comparison_operator": "is", "value": "SECOND"}], {"second"}),
    ([{"name": "date", "comparison_operator": "before", "value": "2019-01-01"}], {"seed"}),
    ([{"name": "date", "comparison_operator": "after", "value": "2019-01-01"}], {"second"}),
    ([{"name": "date", "comparison_operator": "is", "value": "2020-05-06"}], {"second"}),
    ([{"name": "date", "comparison_operator": "before", "value": "2018-10-17"}], set()),  # strictly before
    ([{"name": "date", "comparison_operator": "after", "value": "2020-05-06"}], set()),
    ([], {"seed", "second"}),
]
SUZHOU_OR_OLD = [
    {"name": "region", "comparison_operator": "is", "value": "苏州市"},
    {"name": "date", "comparison_operator": "before", "value": "2019-01-01"},
]


@pytest.mark.parametrize(
    ("conditions", "logical_operator", "documents"),
    [
        *[(conditions, "and", documents) for conditions, documents in CONDITIONS],
        (SUZHOU_OR_OLD, "and", set()),
        (SUZHOU_OR_OLD, None, set()),  # Dify's default is and
        (SUZHOU_OR_OLD, "or", {"seed", "second"}),
    ],
)
def test_metadata_condition_selects_the_documents(dify: DifyServer, conditions, logical_operator, documents):
    ids = {"seed": dify.seed_id, "second": dify.second_id}
    for condition in conditions:
        if condition.get("value") == "SECOND":
            condition["value"] = dify.second_id
    request = body(BROAD_QUERY, top_k=30, conditions=conditions, logical_operator=logical_operator)
    with dify.client() as client:
        found = records(client, request)
    assert {record["metadata"]["document_id"] for record in found} == {ids[name] for name in documents}


def test_knowledge_bases_are_filter_presets(dify: DifyServer):
    with dify.client() as client:
        suzhou = records(client, body(BROAD_QUERY, knowledge_id="suzhou", top_k=30))
        opinions = records(client, body(BROAD_QUERY, knowledge_id="opinions", top_k=30))
        narrowed = records(
            client,
            body(
                BROAD_QUERY,
                knowledge_id="suzhou",
                top_k=30,
                conditions=[{"name": "doc_type", "comparison_operator": "is", "value": "意见"}],
            ),
        )
        unknown = retrieve(client, body(knowledge_id="beijing"))
        gone = retrieve(client, body(knowledge_id="gone"))
    assert suzhou and {record["metadata"]["region"] for record in suzhou} == {"苏州市"}
    assert opinions and {record["metadata"]["document_id"] for record in opinions} == {dify.seed_id}
    assert narrowed == []  # a condition narrows the preset
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error_code": 2001,
        "error_msg": "knowledge base 'beijing' does not exist (known: default, gone, opinions, suzhou)",
    }
    assert gone.status_code == 404
    assert gone.json() == {"error_code": 404, "error_msg": "no document with id 'no-such-document'"}


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            {"name": "date", "comparison_operator": "≥", "value": "2019-01-01"},
            "comparison_operator '≥' is not supported for 'date' (supported: is, before, after, empty, not",
        ),
        (
            {"name": "region", "comparison_operator": "before", "value": "2019-01-01"},
            "not supported for 'region'",
        ),
        (
            {"name": "clause_id", "comparison_operator": "is", "value": "x"},
            "unknown name 'clause_id' (supported:",
        ),
        ({"name": "date", "comparison_operator": "before", "value": "yesterday"}, "needs a yyyy-mm-dd date"),
        ({"name": "date", "comparison_operator": "after", "value": 1700000000}, "needs a yyyy-mm-dd date"),
        ({"name": "region", "comparison_operator": "is", "value": 3}, "needs a non-empty string value"),
        ({"name": "region", "comparison_operator": "contains"}, "needs a non-empty string value"),
        ({"name": "doc_type", "comparison_operator": "in", "value": []}, "needs a list of non-empty strings"),
    ],
)
def test_unsupported_conditions_are_a_400_in_dify_s_error_shape(dify: DifyServer, condition, message):
    with dify.client() as client:
        response = retrieve(client, body(conditions=[condition]))
    assert response.status_code == 400
    assert set(response.json()) == {"error_code", "error_msg"} and response.json()["error_code"] == 400
    assert message in response.json()["error_msg"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": f"Basic {KEYS[0]}"}, {"Authorization": "Bearer"}, {"Authorization": KEYS[0]}],
    ids=["no header", "basic", "no key", "no scheme"],
)
def test_a_missing_or_malformed_authorization_header_is_1001(dify: DifyServer, headers):
    with dify.client() as client:
        response = client.post("/retrieval", json=body(), headers=headers)
    assert response.status_code == 403
    assert response.json() == {
        "error_code": 1001,
        "error_msg": "Invalid Authorization header format. Expected 'Bearer <api-key>' format.",
    }


def test_a_wrong_key_is_1002_before_anything_else_is_looked_at(dify: DifyServer):
    with dify.client() as client:
        wrong = retrieve(client, body(), key=WRONG_KEY)
        wrong_and_invalid = retrieve(client, {"query": ""}, key=WRONG_KEY)
        prefix = retrieve(client, body(), key=KEYS[0][:-1])
        probe = client.post("/retrieval", headers={"Authorization": f"Bearer {WRONG_KEY}"})  # Dify's check
    for response in (wrong, wrong_and_invalid, prefix, probe):
        assert response.status_code == 403
        assert response.json() == {"error_code": 1002, "error_msg": "Authorization failed"}


def test_every_configured_key_is_accepted(dify: DifyServer):
    with dify.client() as client:
        for key in KEYS:
            assert retrieve(client, body(), key=key).status_code == 200
        # Dify registers an endpoint by POSTing without a body: with the right key that is neither 403 nor 404
        probe = client.post("/retrieval", headers={"Authorization": f"Bearer {KEYS[1]}"})
    assert probe.status_code == 400 and probe.json()["error_code"] == 400


def test_without_read_keys_retrieval_is_open(server: Server):
    with server.client() as client:
        anonymous = client.post("/retrieval", json=body())
        any_key = client.post("/retrieval", json=body(), headers={"Authorization": "Bearer whatever"})
    assert anonymous.status_code == any_key.status_code == 200
    assert anonymous.json()["records"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"knowledge_id": "default", "retrieval_setting": {"top_k": 3, "score_threshold": 0.5}},
            "query: Field required",
        ),
        (body(top_k=0), "retrieval_setting.top_k: Input should be greater than or equal to 1"),
        (body(top_k=10**9), "retrieval_setting.top_k: Input should be less than or equal to 100"),
        (
            body(score_threshold=1.5),
            "retrieval_setting.score_threshold: Input should be less than or equal to 1",
        ),
        ({"knowledge_id": "default", "query": "人才"}, "retrieval_setting: Field required"),
        (body(query=""), "query: String should have at least 1 character"),
        (body(query="   "), "the query is empty"),
        (body(query="政" * 501), "the limit is 500"),
        (body(query="孵化\x00器"), "query: Input should be well-formed Unicode text without NUL characters"),
        ({**body(), "metadata_condition": {"logical_operator": "xor", "conditions": []}}, "logical_operator"),
        (
            {**body(), "metadata_condition": {"conditions": [{"name": "region"}]}},
            "comparison_operator: Field req",
        ),
        ([body()], "Input should be a valid dictionary"),
        (b"{not json", "JSON decode error"),
        (b'{"query": "\x83"}', "There was an error parsing the body"),  # not UTF-8
    ],
)
def test_bad_input_is_a_400_never_a_500(dify: DifyServer, content, message):
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    headers = {"Authorization": f"Bearer {KEYS[0]}", "Content-Type": "application/json"}
    with dify.client() as client:
        response = client.post("/retrieval", content=data, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == 400 and message in response.json()["error_msg"]


def test_keys_are_never_written_to_the_log(dify: DifyServer):
    with dify.client() as client:
        assert retrieve(client, body(), key=WRONG_KEY).status_code == 403
        assert retrieve(client, body(), key=KEYS[1]).status_code == 200
        assert retrieve(client, body()).status_code == 200
    log = dify.log.read_text(encoding="utf-8")
    assert "read key refused" in log and 'reason="wrong key"' in log  # the refusal is logged, at -vv
    assert "path=/retrieval" in log and "status=200" in log  # and so is the accepted request
    for secret in (*KEYS, WRONG_KEY):
        assert secret not in log


def test_openapi_declares_the_bearer_scheme_and_the_operation(dify: DifyServer):
    with dify.client() as client:
        spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/retrieval"]["post"]
    assert operation["operationId"] == "dify_retrieval"
    assert operation["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "one of POLICYQA_READ_API_KEYS; not needed when none is configured",
    }
    assert {"400", "403", "404", "503"} <= set(operation["responses"])


def test_the_chat_routes_take_the_same_read_keys(dify: DifyServer):
    chat = openai.OpenAI(base_url=f"{dify.url}/v1", api_key=KEYS[1], max_retries=0)
    assert "policyqa-extractive" in [model.id for model in chat.models.list()]
    completion = chat.chat.completions.create(
        model="policyqa-extractive", messages=[{"role": "user", "content": RENT_QUESTION}]
    )
    assert completion.choices[0].message.content
    refused = openai.OpenAI(base_url=f"{dify.url}/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as wrong:
        refused.models.list()
    assert wrong.value.status_code == 401 and wrong.value.body["type"] == "authentication_error"
    with dify.client() as client:
        missing = client.post("/v1/chat/completions", json={"model": "policyqa-extractive", "messages": []})
    assert missing.status_code == 401 and set(missing.json()["error"]) >= {"message", "type", "code"}
    assert "not-a-key" not in dify.log.read_text(encoding="utf-8")
