"""``policyqa ask``: the answer POST /ask gives, from the shell (same index, same JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policyqa.cli import main

QUESTION = "高新区对新认定的孵化器有什么支持？"


def test_json_is_what_post_ask_returns(server, service_index: tuple[Path, list], capsys) -> None:
    index_dir, _documents = service_index
    with server.client() as client:
        expected = client.post("/ask", json={"question": QUESTION}).json()
    assert main(["ask", QUESTION, "--index-dir", str(index_dir), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == expected
    assert printed["citations"][0]["path"][-1] == "（十二）发展创新型孵化器"


def test_text_names_each_citation_with_its_quote(service_index: tuple[Path, list], capsys) -> None:
    index_dir, _documents = service_index
    assert main(["ask", QUESTION, "--index-dir", str(index_dir), "--doc-type", "意见", "-k", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("根据《关于加快培育发展高新技术产业开发区") and lines[0].endswith("[1]")
    assert lines[1].startswith("（相关度 ")
    assert lines[2].startswith("[1] 《关于加快培育发展") and lines[2].endswith(
        "（十二）发展创新型孵化器  [现行有效]"
    )
    assert lines[3].strip() in lines[0]  # the quote, verbatim


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("ask", "  "), "the query is empty"),
        (("ask", "孵化器", "-k", "101"), "k must be an integer from 1 to 100"),
    ],
)
def test_bad_questions_are_one_line_errors(arguments: tuple[str, ...], message: str, capsys) -> None:
    assert main(list(arguments)) == 1
    error = capsys.readouterr().err
    assert error.startswith("policyqa: error: ") and message in error and "Traceback" not in error
