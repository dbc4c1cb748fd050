"""The HTTP API against a real server process (see conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from policyqa.indexer.jurisdiction import home_boost, step_back
from policyqa.indexer.relevance import load_relevance_model
from policyqa.indexer.settings import IndexSettings
from policyqa.service.answers import MAX_ASK_K, NO_ANSWER_TEXT
from policyqa.text import normalize

UPLOAD_NAME = "低空经济措施.txt"
UPLOAD_DOCUMENT = """【无锡】(2024)无锡市关于支持低空经济发展的若干措施
时间:2024-03-01

一、支持建设低空飞行服务站。对新建的低空飞行服务站，按照建设投资的百分之三十给予补助，最高不超过五百万元。
二、鼓励开通无人机物流航线。对开通常态化无人机物流航线的企业，每条航线给予二十万元奖励。
三、本措施自发布之日起施行。
"""


def clause_by_number(server, number: str):
    return next(clause for clause in server.second.clauses if clause.number == number)


def fitted_threshold(server) -> float:
    """The /ask threshold fitted with the relevance model of the server's embedding model."""
    with server.client() as client:
        model_id = client.get("/ready").json()["model"]
    model = load_relevance_model(model_id)
    assert model is not None, f"no relevance model is fitted for {model_id}: run `policyqa train relevance`"
    return model.threshold


def test_health_and_ready(server):
    with server.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["documents"] == 2
    assert ready["clauses"] == len(server.seed.clauses) + len(server.second.clauses)
    assert ready["model"].startswith("policyqa/multilingual-e5-small")


def test_search_finds_the_clause_and_highlights_the_query_terms(server):
    with server.client() as client:
        body = client.get("/search", params={"q": "人才公寓租金", "k": 3}).json()
    assert body["query"] == "人才公寓租金"
    assert body["took_ms"] >= 0
    top = body["hits"][0]
    assert top["clause_id"] == clause_by_number(server, "第四条").id
    assert top["document"] == {
        "id": server.second.document.id,
        "title": "苏州市人才公寓管理办法",
        "subtitle": None,
        "date": "2020-05-06",
        "issuer": "苏州市人民政府",
        "doc_number": "苏府规字〔2020〕3号",
        "region": "苏州市",
        "doc_type": "办法",
        "region_basis": "stated",
        "issuer_level": None,
    }
    assert top["validity"]["status"] == "现行有效" and top["validity"]["effective_from"] == "2020-06-01"
    assert top["path"] == ["第四条"]
    marked = [top["text"][start:end] for start, end in top["highlights"]]
    assert "人才公寓租金" in marked
    assert all(start < end for start, end in top["highlights"])
    relevance = [hit["relevance"] for hit in body["hits"]]  # its own model: the ranking may differ
    assert all(0 <= value <= 1 for value in relevance) and top["relevance"] == max(relevance)
    assert all(a[1] < b[0] for a, b in zip(top["highlights"], top["highlights"][1:], strict=False))


def test_traditional_and_full_width_queries_highlight_the_simplified_text(server):
    with server.client() as client:
        body = client.get("/search", params={"q": "創新型孵化器", "k": 1}).json()
    top = body["hits"][0]
    assert top["heading"] == "发展创新型孵化器"
    marked = [top["text"][start:end] for start, end in top["highlights"]]
    assert "创新型孵化器" in marked
    assert all(normalize(text) in normalize(top["text"]) for text in marked)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_every_mode_searches(server, mode: str):
    with server.client() as client:
        hits = client.get("/search", params={"q": "人才公寓退出", "mode": mode, "k": 5}).json()["hits"]
    assert 1 <= len(hits) <= 5
    assert clause_by_number(server, "第五条").id in [hit["clause_id"] for hit in hits]


def test_filters_restrict_the_documents(server):
    second_id = server.second.document.id
    with server.client() as client:
        by_region = client.get("/search", params={"q": "创新", "region": "苏州市", "k": 20}).json()["hits"]
        by_type = client.get("/search", params={"q": "人才", "doc_type": "意见", "k": 20}).json()["hits"]
        by_date = client.get("/search", params={"q": "人才", "date_from": "2019-01-01", "k": 20}).json()[
            "hits"
        ]
        before = client.get("/search", params={"q": "人才", "date_to": "2019-01-01", "k": 20}).json()["hits"]
    assert by_region and {hit["document"]["id"] for hit in by_region} == {second_id}
    assert by_type and second_id not in {hit["document"]["id"] for hit in by_type}
    assert by_date and {hit["document"]["id"] for hit in by_date} == {second_id}
    assert before and second_id not in {hit["document"]["id"] for hit in before}


def test_the_askers_home_region_keeps_its_documents_whole_and_forward(server):
    question = "人才公寓的租金怎么确定？"
    with server.client() as client:
        plain = client.get("/search", params={"q": question, "k": 3}).json()["hits"]
        at_home = client.get("/search", params={"q": question, "k": 3, "home_region": "苏州"}).json()["hits"]
        answer = client.post("/ask", json={"question": question, "home_region": "苏州市"}).json()
    rent = clause_by_number(server, "第四条").id
    plain_score = next(hit["score"] for hit in plain if hit["clause_id"] == rent)
    home_score = next(hit["score"] for hit in at_home if hit["clause_id"] == rent)
    settings = IndexSettings()  # the server runs with the default settings
    assert home_score == pytest.approx(plain_score + step_back(settings) + home_boost(settings), abs=1e-5)
    assert answer["citations"][0]["clause_id"] == rent


def test_search_and_ask_inside_one_document(server):
    seed_id = server.seed.document.id
    with server.client() as client:
        hits = client.get("/search", params={"q": "人才", "document_id": seed_id, "k": 20}).json()["hits"]
        answer = client.post(
            "/ask", json={"question": "人才公寓的租金是怎么确定的？", "filters": {"document_id": seed_id}}
        ).json()
        unknown = client.get("/search", params={"q": "人才", "document_id": "no-such-document"})
        unknown_ask = client.post("/ask", json={"question": "人才", "filters": {"document_id": "nope"}})
    assert hits and {hit["document"]["id"] for hit in hits} == {seed_id}
    assert all(citation["document"]["id"] == seed_id for citation in answer["citations"])
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no document with id 'no-such-document'"
    assert unknown_ask.status_code == 404


def test_ask_quotes_the_clause_exactly(server):
    with server.client() as client:
        body = client.post("/ask", json={"question": "人才公寓的租金是怎么确定的？"}).json()
        assert body["no_answer"] is False
        assert fitted_threshold(server) <= body["confidence"] <= 1
        assert body["citations"]
        assert body["confidence"] == max(citation["relevance"] for citation in body["citations"])
        for citation in body["citations"]:
            clause = client.get(f"/clauses/{citation['clause_id']}").json()
            assert clause["text"][citation["start"] : citation["end"]] == citation["quote"]
            assert f"{citation['quote']}[{citation['n']}]" in body["answer"]
    first = body["citations"][0]
    assert first["clause_id"] == clause_by_number(server, "第四条").id
    assert "百分之五十" in first["quote"]
    assert body["answer"].startswith("根据《苏州市人才公寓管理办法》第四条：")


def test_ask_about_the_seed_names_document_and_clause(server):
    with server.client() as client:
        body = client.post(
            "/ask", json={"question": "高新区可以通过哪些方式建设创新型孵化器？", "k": 5}
        ).json()
        assert body["no_answer"] is False
        for citation in body["citations"]:
            clause = client.get(f"/clauses/{citation['clause_id']}").json()
            assert clause["text"][citation["start"] : citation["end"]] == citation["quote"]
    assert body["citations"][0]["path"][-1] == "（十二）发展创新型孵化器"
    assert "四、（十二）发展创新型孵化器：" in body["answer"]


@pytest.mark.parametrize("question", ["今天天气怎么样", "如何申请出国签证"])
def test_questions_the_corpus_does_not_cover_get_no_answer(server, question: str):
    with server.client() as client:
        body = client.post("/ask", json={"question": question}).json()
    assert body["no_answer"] is True
    assert body["answer"] == NO_ANSWER_TEXT
    assert body["citations"] == []
    assert 0 <= body["confidence"] < fitted_threshold(server)


def test_ask_filters_can_exclude_every_document(server):
    with server.client() as client:
        body = client.post(
            "/ask", json={"question": "人才公寓的租金是怎么确定的？", "filters": {"region": "北京市"}}
        ).json()
    assert body["no_answer"] is True and body["citations"] == []


def test_clause_in_its_document_context(server):
    third = clause_by_number(server, "第三条")
    with server.client() as client:
        clause = client.get(f"/clauses/{third.id}").json()
        document = client.get(f"/documents/{server.second.document.id}").json()
        listing = client.get("/documents").json()
    assert clause["text"] == third.text
    assert clause["document"]["title"] == "苏州市人才公寓管理办法"
    assert clause["previous"] == clause_by_number(server, "第二条").id
    assert clause["next"] == clause_by_number(server, "第四条").id
    items = [part for part in clause["parts"] if part["label"].startswith("（")]
    assert [part["label"] for part in items] == ["（一）", "（二）", "（三）"]
    assert all(clause["text"][p["start"] : p["end"]].startswith(p["label"]) for p in items)
    assert [entry["id"] for entry in document["clauses"]] == [c.id for c in server.second.clauses]
    assert document["clauses"][3] == {
        "id": clause["next"],
        "number": "第四条",
        "heading": "",
        "path": ["第四条"],
    }
    counts = {item["id"]: item["clause_count"] for item in listing}
    assert counts[server.second.document.id] == len(server.second.clauses)
    assert counts[server.seed.document.id] == len(server.seed.clauses)


def test_upload_makes_a_document_searchable_and_delete_removes_it(server):
    headers = {"X-API-Key": server.api_key}
    with server.client() as client:
        uploaded = client.post(
            "/documents",
            headers=headers,
            files={"file": (UPLOAD_NAME, UPLOAD_DOCUMENT.encode(), "text/plain")},
        )
        assert uploaded.status_code == 201, uploaded.text
        document = uploaded.json()["document"]
        assert document["title"] == "无锡市关于支持低空经济发展的若干措施"
        assert uploaded.json()["documents"] == 3
        hits = client.get("/search", params={"q": "低空飞行服务站补助", "k": 3}).json()["hits"]
        assert hits[0]["document"]["id"] == document["id"]
        assert client.get(f"/documents/{document['id']}").status_code == 200

        deleted = client.delete(f"/documents/{document['id']}", headers=headers)
        assert deleted.status_code == 200
        assert deleted.json() == {
            "deleted": document["id"],
            "documents": 2,
            "clauses": len(server.seed.clauses) + len(server.second.clauses),
        }
        hits = client.get("/search", params={"q": "低空飞行服务站补助", "k": 10}).json()["hits"]
        assert document["id"] not in {hit["document"]["id"] for hit in hits}
        assert client.get(f"/documents/{document['id']}").status_code == 404
        again = client.delete(f"/documents/{document['id']}", headers=headers)
        assert again.status_code == 404 and document["id"] in again.json()["detail"]


def test_reads_keep_working_while_the_index_is_swapped(server):
    headers = {"X-API-Key": server.api_key}

    def search(_: int) -> int:
        with server.client() as client:
            return client.get("/search", params={"q": "人才公寓", "k": 3}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool, server.client() as client:
        reads = pool.map(search, range(12))
        uploaded = client.post(
            "/documents",
            headers=headers,
            files={"file": (UPLOAD_NAME, UPLOAD_DOCUMENT.encode(), "text/plain")},
        )
        statuses = list(reads)
        assert uploaded.status_code == 201
        assert (
            client.delete(f"/documents/{uploaded.json()['document']['id']}", headers=headers).status_code
            == 200
        )
    assert statuses == [200] * 12


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("policy.exe", b"MZ\x90\x00", 415, "unsupported file type '.exe'"),
        ("noextension", b"text", 415, "unsupported file type"),
        ("empty.txt", b"   \n", 422, "empty.txt: empty file"),
        ("binary.txt", b"\x00\x01\x02" * 100, 422, "binary file"),
        ("broken.docx", b"not a zip archive", 422, "not a readable .docx file"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(server, name, content, status, message):
    with server.client() as client:
        response = client.post(
            "/documents", headers={"X-API-Key": server.api_key}, files={"file": (name, content)}
        )
    assert response.status_code == status
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "size", "message"),
    [
        ("big.txt", 10, "request body of"),  # refused on Content-Length before it is read
        (
            "slightly-big.txt",
            1.01,
            "slightly-big.txt: file is over the upload limit of",
        ),  # refused while saving
    ],
)
def test_uploads_over_the_limit_are_413(server, name, size, message):
    content = "政".encode() * int(server.max_upload_bytes * size / 3 + 1)
    with server.client() as client:
        response = client.post(
            "/documents", headers={"X-API-Key": server.api_key}, files={"file": (name, content)}
        )
    assert response.status_code == 413
    assert message in response.json()["detail"]
    assert str(server.max_upload_bytes) in response.json()["detail"]


def test_writes_need_the_right_key(server):
    files = {"file": (UPLOAD_NAME, UPLOAD_DOCUMENT.encode(), "text/plain")}
    with server.client() as client:
        missing = client.post("/documents", files=files)
        wrong = client.post("/documents", files=files, headers={"X-API-Key": "wrong"})
        delete = client.delete(f"/documents/{server.second.document.id}", headers={"X-API-Key": "wrong"})
        documents = client.get("/documents").json()
    assert (missing.status_code, wrong.status_code, delete.status_code) == (401, 401, 401)
    assert wrong.json() == {"detail": "missing or wrong X-API-Key header"}
    assert len(documents) == 2


def test_without_a_configured_key_writes_are_disabled(keyless_server: str):
    with httpx.Client(base_url=keyless_server, timeout=30) as client:
        upload = client.post("/documents", files={"file": (UPLOAD_NAME, UPLOAD_DOCUMENT.encode())})
        delete = client.delete("/documents/anything", headers={"X-API-Key": "anything"})
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        search = client.get("/search", params={"q": "人才"})
    expected = {"detail": "write endpoints are disabled: set POLICYQA_API_KEY"}
    assert (upload.status_code, upload.json()) == (403, expected)
    assert (delete.status_code, delete.json()) == (403, expected)
    assert ready.status_code == 503 and "index not loaded" in ready.json()["detail"]
    assert search.status_code == 503


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "q: String should have at least 1 character"),
        ({"q": "   "}, "the query is empty"),
        ({"q": "孵化\x00器"}, "q: Input should be well-formed Unicode text without NUL characters"),
        ({"q": "人才", "date_from": "0"}, "date_from: Input should be a valid date in the form yyyy-mm-dd"),
        ({"q": "政" * 501}, "the limit is 500"),
        ({"q": "人才", "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"q": "人才", "k": 101}, "k: Input should be less than or equal to 100"),
        ({"q": "人才", "k": "ten"}, "k: Input should be a valid integer"),
        ({"q": "人才", "mode": "fuzzy"}, "mode: Input should be 'bm25', 'dense' or 'hybrid'"),
        ({"q": "人才", "date_from": "2020-13-01"}, "date_from: Input should be a valid date"),
        ({"q": "人才", "date_from": "2020-05-01", "date_to": "2020-01-01"}, "is after date_to"),
        ({"q": "人才", "home_region": "江" * 51}, "home_region: String should have at most 50 characters"),
        ({}, "q: Field required"),
    ],
)
def test_bad_search_input_is_a_422_with_a_message(server, params, message):
    with server.client() as client:
        response = client.get("/search", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"question": ""}, "question: String should have at least 1 character"),
        ({"question": "  "}, "the query is empty"),
        ({"question": "问" * 501}, "the limit is 500"),
        ({"question": "人才", "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"question": "人才", "k": 11}, "k: Input should be less than or equal to 10"),
        ({"question": "人才", "k": 100}, "k: Input should be less than or equal to 10"),
        ({"question": "\udfff"}, "question: Input should be a valid string, unable to parse raw data"),
        ({"question": "\ud800孵化器"}, "question: Input should be a valid string, unable to parse raw"),
        ({"question": "孵化器\x00"}, "question: Input should be well-formed Unicode text without NUL"),
        (
            {"question": "人才", "filters": {"date_from": 0}},
            "filters.date_from: Input should be a valid date",
        ),
        (
            {"question": "人才", "filters": {"region": "江\udfff"}},
            "filters.region: Input should be well-formed",
        ),
        ({"question": "人才", "home_region": "\ud800苏州"}, "home_region: "),
        ({"question": "人才", "top": 3}, "top: Extra inputs are not permitted"),
        (
            {"question": "人才", "filters": {"date_to": "yesterday"}},
            "filters.date_to: Input should be a valid",
        ),
        ({"question": "人才", "home_region": "江" * 51}, "home_region: String should have at most 50"),
        ({}, "question: Field required"),
    ],
)
def test_bad_ask_input_is_a_422_with_a_message(server, body, message):
    with server.client() as client:  # JSON escapes, as a client sends a lone surrogate
        response = client.post("/ask", content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert client.get("/health").status_code == 200  # the same keep-alive connection still serves
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_malformed_and_oversized_bodies_are_refused(server):
    with server.client() as client:
        malformed = client.post("/ask", content=b"{not json", headers={"Content-Type": "application/json"})
        oversized = client.post("/ask", json={"question": "人才" * 40_000})
    assert malformed.status_code == 422 and malformed.json()["detail"]
    assert oversized.status_code == 413
    assert "request body" in oversized.json()["detail"]


def test_unknown_ids_and_paths_are_404(server):
    with server.client() as client:
        clause = client.get("/clauses/no-such-clause")
        document = client.get("/documents/no-such-document")
        path = client.get("/no-such-endpoint")
    assert (clause.status_code, clause.json()) == (404, {"detail": "no clause with id 'no-such-clause'"})
    assert (document.status_code, document.json()) == (
        404,
        {"detail": "no document with id 'no-such-document'"},
    )
    assert path.status_code == 404 and path.json() == {"detail": "Not Found"}


def test_cors_allows_only_the_configured_origins(server):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    with server.client() as client:
        allowed = client.options("/ask", headers={"Origin": server.cors_origin, **preflight})
        refused = client.options("/ask", headers={"Origin": "http://elsewhere.example", **preflight})
        simple = client.get("/health", headers={"Origin": server.cors_origin})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == server.cors_origin
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == server.cors_origin


def test_openapi_documents_the_endpoints_with_chinese_examples(server):
    with server.client() as client:
        spec = client.get("/openapi.json").json()
    assert {"/search", "/ask", "/clauses/{clause_id}", "/documents", "/documents/{document_id}"} <= set(
        spec["paths"]
    )
    assert (
        spec["components"]["schemas"]["AskRequest"]["examples"][0]["question"]
        == "高新区对新认定的孵化器有什么支持？"
    )
    assert "422" in spec["paths"]["/search"]["get"]["responses"]


def test_the_api_docs_load_nothing_from_other_hosts(server):
    with server.client() as client:
        docs = client.get("/docs")
        redoc = client.get("/redoc")
        script = client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert all("http://" not in page.text and "https://" not in page.text for page in (docs, redoc))
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        ("text/javascript", "application/javascript")
    )
    assert "SwaggerUIBundle" in script.text


def test_the_page_and_its_assets_are_served_locally(server):
    with server.client() as client:
        page = client.get("/")
        script = client.get("/static/app.js")
        style = client.get("/static/style.css")
    assert page.status_code == 200 and "政策文件检索与问答" in page.text
    assert script.status_code == 200
    assert not any(
        sink in script.text for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "eval(")
    )
    assert style.status_code == 200
    for text in (page.text, script.text, style.text):
        assert "http://" not in text and "https://" not in text  # nothing loaded from the internet


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--index-dir", "{tmp}/missing"], "policyqa: error: "),
        (["--port", "99999"], "policyqa: error: invalid setting: POLICYQA_PORT: Input should be less than"),
    ],
)
def test_serve_refuses_bad_options_with_a_clear_error(tmp_path, arguments, message):
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    result = subprocess.run(
        [sys.executable, "-m", "policyqa.cli", "serve", *arguments],
        env={"PATH": "/usr/bin:/bin", "POLICYQA_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_health_answers_while_eight_searches_are_computed(server):
    """No search blocks the event loop: /health is answered while eight questions are being computed (new
    questions each round, so no cache answers them; rounds repeat until one overlaps a health check)."""
    questions = ["人才公寓的租金怎么确定", "申请人才公寓需要什么条件", "高新区产业发展的目标", "孵化器的支持"]
    finished: list[int] = []

    def ask(question: str) -> int:
        with server.client() as client:
            status = client.post("/ask", json={"question": question, "k": MAX_ASK_K}).status_code
        finished.append(status)
        return status

    overlapped = 0
    with server.client() as client:
        for round_number in range(20):
            finished.clear()
            with ThreadPoolExecutor(max_workers=8) as pool:
                asks = [pool.submit(ask, f"{questions[i % 4]}（{round_number}-{i}）") for i in range(8)]
                while not all(future.done() for future in asks):
                    in_flight_before = len(finished) < 8
                    assert client.get("/health").status_code == 200
                    overlapped += in_flight_before and len(finished) < 8
                assert [future.result() for future in asks] == [200] * 8
            if overlapped:
                break
    assert overlapped, "no health check was answered while questions were being computed"
