"""Versions, validity and cross-references through the CLI and the API, on two versions of 公司法, 监察法 and
the 行政监察法 it repealed (the validity server: POLICYQA_TODAY=2025-06-01)."""

from __future__ import annotations

import json
from pathlib import Path

from policyqa.cli import main

QUESTION = "有限责任公司股东认缴出资多少年内缴足"
SUPERVISION_QUESTION = "监察机关独立行使职权，不受行政部门干涉"


def ids(server, name: str) -> tuple[str, dict[str, str]]:
    """A document's id and its clause ids by number (第七十五条 → id)."""
    parsed = server.documents[name]
    return parsed.document.id, {clause.number: clause.id for clause in parsed.clauses}


def cli_search(capsys, index_dir: Path, *options: str) -> list[dict]:
    assert main(["search", QUESTION, "--index-dir", str(index_dir), "-k", "10", "--json", *options]) == 0
    return json.loads(capsys.readouterr().out)["hits"]


def test_search_on_a_day_from_the_command_line(validity_index, monkeypatch, capsys) -> None:
    index_dir, documents = validity_index
    old, new = documents["company_2018"].document.id, documents["company_2023"].document.id
    monkeypatch.setenv("POLICYQA_TODAY", "2025-06-01")
    before = cli_search(capsys, index_dir, "--as-of", "2024-03-01")  # 2023 text adopted, not yet in force
    assert before and {hit["document"]["id"] for hit in before} <= {old, documents["supervision"].document.id}
    assert before[0]["document"]["id"] == old and before[0]["validity"]["status"] == "现行有效"
    today = cli_search(capsys, index_dir)
    assert today[0]["document"]["id"] == new and old not in {hit["document"]["id"] for hit in today}
    history = cli_search(capsys, index_dir, "--history")
    statuses = {hit["document"]["id"]: hit["validity"]["status"] for hit in history}
    assert statuses[old] == "已被修订" and statuses[new] == "现行有效"
    assert main(["search", QUESTION, "--index-dir", str(index_dir), "--history"]) == 0
    assert "[已被修订] 《中华人民共和国公司法》" in capsys.readouterr().out
    assert main(["search", QUESTION, "--index-dir", str(index_dir), "--as-of", "2024-02-30"]) == 1
    assert "policyqa: error: dates must be real yyyy-mm-dd dates" in capsys.readouterr().err


def test_a_repealed_law_leaves_default_search_and_stays_in_the_history(validity_server) -> None:
    repealed, _ = ids(validity_server, "administrative_supervision")
    repealing, _ = ids(validity_server, "supervision")
    with validity_server.client() as client:
        found = client.get("/search", params={"q": SUPERVISION_QUESTION, "k": 10}).json()["hits"]
        assert found and repealed not in {hit["document"]["id"] for hit in found}
        history = client.get(
            "/search", params={"q": SUPERVISION_QUESTION, "k": 10, "include_history": "true"}
        )
        labelled = {hit["document"]["id"]: hit["validity"] for hit in history.json()["hits"]}
        assert labelled[repealed]["status"] == "已废止"
        assert labelled[repealed]["repealed_by"] == repealing
        assert labelled[repealed]["effective_to"] == "2018-03-20"  # 监察法: 自公布之日起施行
        before = client.get("/search", params={"q": SUPERVISION_QUESTION, "k": 10, "as_of": "2018-03-19"})
        assert repealed in {hit["document"]["id"] for hit in before.json()["hits"]}
        document = client.get(f"/documents/{repealing}").json()
        assert document["validity"]["repeals"] == [repealed]
        assert client.get("/search", params={"q": "监察", "as_of": "2018-3-1"}).status_code == 422


def test_references_out_and_cited_by_of_the_2023_company_law(validity_server) -> None:
    document_id, articles = ids(validity_server, "company_2023")
    with validity_server.client() as client:
        citing = client.get(f"/clauses/{articles['第六十七条']}").json()
        link = next(link for link in citing["references_out"] if link["text"] == "本法第七十五条")
        assert citing["text"][link["start"] : link["end"]] == "本法第七十五条"
        assert (link["target_document_id"], link["target_clause_id"]) == (document_id, articles["第七十五条"])
        cited = client.get(f"/clauses/{articles['第七十五条']}").json()
        assert articles["第六十七条"] in [entry["clause_id"] for entry in cited["cited_by"]]
        assert cited["validity"]["status"] == "现行有效"
        versions = client.get(f"/documents/{document_id}").json()["versions"]
        assert [entry["validity"]["status"] for entry in versions] == ["已被修订", "现行有效"]


def test_citations_carry_validity_in_ask_chat_and_retrieval(validity_server) -> None:
    old, _ = ids(validity_server, "company_2018")
    with validity_server.client() as client:
        answer = client.post("/ask", json={"question": QUESTION, "filters": {"as_of": "2024-03-01"}}).json()
        assert answer["citations"], answer
        assert {citation["document"]["id"] for citation in answer["citations"]} == {old}
        assert all(citation["validity"]["status"] == "现行有效" for citation in answer["citations"])
        chat = client.post(
            "/v1/chat/completions",
            json={
                "model": "policyqa-extractive",
                "messages": [{"role": "user", "content": QUESTION}],
                "as_of": "2024-03-01",
            },
        ).json()
        cited = chat["choices"][0]["message"]["citations"]
        assert cited and {citation["document"]["id"] for citation in cited} == {old}
        records = client.post(
            "/retrieval",
            json={
                "knowledge_id": "default",
                "query": QUESTION,
                "retrieval_setting": {"top_k": 5, "score_threshold": 0},
                "metadata_condition": {
                    "conditions": [{"name": "as_of", "comparison_operator": "is", "value": "2024-03-01"}]
                },
            },
        ).json()["records"]
        assert records and all(
            record["metadata"]["document_id"] != ids(validity_server, "company_2023")[0] for record in records
        )
        assert records[0]["metadata"]["validity"]["status"] == "现行有效"


VERSION_2016 = """示范市人才公寓管理办法
时间:2016-03-01
示范政规〔2016〕3号

第一条 人才公寓租金按照市场租金的百分之七十确定。
第二条 本办法自公布之日起施行。
"""
VERSION_2020 = """示范市人才公寓管理办法
时间:2020-01-10

第一条 人才公寓租金按照市场租金的百分之五十确定。
第二条 本办法自2020年2月1日起施行。
"""
REPEALING = """示范市人才安居条例
时间:2021-01-10

第一条 人才安居工作按照本条例执行。
第二条 本条例自2021年3月1日起施行，示范政规〔2016〕3号同时废止。
"""


def test_uploading_a_new_version_or_a_repealing_document_updates_the_chain_live(validity_server) -> None:
    headers = {"X-API-Key": validity_server.api_key}
    query = {"q": "人才公寓租金按照市场租金的百分之几确定", "k": 3}

    def upload(client, name: str, text: str) -> str:
        response = client.post(
            "/documents", headers=headers, files={"file": (name, text.encode(), "text/plain")}
        )
        assert response.status_code == 201, response.text
        return response.json()["document"]["id"]

    def statuses(client) -> dict[str, str]:
        hits = client.get("/search", params={**query, "include_history": "true"}).json()["hits"]
        return {hit["document"]["id"]: hit["validity"]["status"] for hit in hits}

    with validity_server.client() as client:
        first = upload(client, "v2016.txt", VERSION_2016)
        assert statuses(client)[first] == "现行有效"
        second = upload(client, "v2020.txt", VERSION_2020)
        after = statuses(client)
        assert (after[first], after[second]) == ("已被修订", "现行有效")
        default = client.get("/search", params=query).json()["hits"]
        assert default[0]["document"]["id"] == second and first not in {
            hit["document"]["id"] for hit in default
        }
        assert client.delete(f"/documents/{second}", headers=headers).status_code == 200
        assert (
            statuses(client)[first] == "现行有效"
        )  # deleting the new version puts the old one back in force
        repealing = upload(client, "repeal.txt", REPEALING)  # matched by its 文号
        hits = client.get("/search", params={**query, "include_history": "true"}).json()["hits"]
        repealed = next(hit for hit in hits if hit["document"]["id"] == first)
        assert (repealed["validity"]["status"], repealed["validity"]["repealed_by"]) == ("已废止", repealing)
        for document_id in (first, repealing):
            assert client.delete(f"/documents/{document_id}", headers=headers).status_code == 200


DEPENDENT = """示范市人才公寓申请办法
时间:2021-05-06

第一条 本办法所称人才，是指具有本科以上学历并在本市连续缴纳社会保险满一年的人员。
第二条 符合本办法第一条规定条件的人才，可以向住房保障部门申请入住人才公寓。
第三条 本办法自公布之日起施行。
"""


def test_an_answer_quoting_a_reference_adds_the_clause_it_depends_on(validity_server) -> None:
    headers = {"X-API-Key": validity_server.api_key}
    with validity_server.client() as client:
        response = client.post(
            "/documents", headers=headers, files={"file": ("apply.txt", DEPENDENT.encode(), "text/plain")}
        )
        document_id = response.json()["document"]["id"]
        try:
            answer = client.post(
                "/ask",
                json={
                    "question": "什么条件的人才可以申请入住人才公寓？",
                    "filters": {"document_id": document_id},
                },
            ).json()
            citations = answer["citations"]
            quoting = next(c for c in citations if "本办法第一条" in c["quote"])
            dependency = next(c for c in citations if c["depends_from"] == quoting["clause_id"])
            assert dependency["clause_id"] == f"{document_id}-0001"
            assert dependency["quote"].startswith("本办法所称人才")
            assert (
                f"[{dependency['n']}]" in answer["answer"] and dependency["validity"]["status"] == "现行有效"
            )
        finally:
            client.delete(f"/documents/{document_id}", headers=headers)
