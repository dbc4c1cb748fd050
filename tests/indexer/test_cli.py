"""`policyqa index` and `policyqa search` through the real dispatcher (exit codes, JSON, messages)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from policyqa.cli import main
from policyqa.eval.hostile import docx_bomb, many_clauses
from policyqa.indexer.jurisdiction import home_boost, step_back
from policyqa.indexer.settings import load_settings

DEMO_QUERY = "创业孵化机构能拿到哪些扶持"
INCUBATOR_CLAUSE = "（十二）发展创新型孵化器"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_search_json_on_the_demo_index(
    demo_index_dir: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    code, out, _err = run(capsys, "search", DEMO_QUERY, "--mode", mode, "-k", "3", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["query"] == DEMO_QUERY and len(payload["hits"]) == 3
    top = payload["hits"][0]
    assert top["path"][-1] == INCUBATOR_CLAUSE and top["heading"] == "发展创新型孵化器"
    assert {"clause_id", "score", "document", "path", "heading", "text"} <= set(top)
    assert set(top["document"]) == {
        "id",
        "title",
        "subtitle",
        "date",
        "issuer",
        "doc_number",
        "region",
        "doc_type",
        "region_basis",
        "issuer_level",
    }
    assert "孵化器" in out  # ensure_ascii=False


def test_search_text_output_and_filters(tiny_index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(
        capsys, "search", "第24条", "--index-dir", str(tiny_index_dir), "--mode", "bm25", "-k", "2"
    )
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith(" 1. ") and "《中华人民共和国示范促进法》" in first and "第二十四条" in first
    assert "县级以上人民政府" in out.splitlines()[1]
    code, out, _err = run(
        capsys,
        "search",
        "防汛",
        "--index-dir",
        str(tiny_index_dir),
        "--doc-type",
        "通知",
        "--date-from",
        "2021-01-01",
        "--json",
    )
    hits = json.loads(out)["hits"]
    assert code == 0 and hits and {hit["document"]["date"] for hit in hits} == {"2021-05-20"}
    notice_id = hits[0]["document"]["id"]
    code, out, _err = run(
        capsys, "search", DEMO_QUERY, "--index-dir", str(tiny_index_dir), "--document", notice_id, "--json"
    )
    assert code == 0 and {hit["document"]["id"] for hit in json.loads(out)["hits"]} == {notice_id}
    code, _out, err = run(capsys, "search", "防汛", "--index-dir", str(tiny_index_dir), "--document", "nope")
    assert code == 1 and err.strip() == "policyqa: error: no document with id 'nope'"


def test_search_home_region_keeps_its_documents_whole_and_forward(
    tiny_index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def scores(*extra: str) -> dict[str | None, list[float]]:
        """Each region's scores, highest first (the learned ranker may swap two national articles' places
        when the ranking around them changes; a place keeps its score)."""
        argv = ("search", "防汛", "--index-dir", str(tiny_index_dir), "-k", "50", "--json", *extra)
        code, out, _err = run(capsys, *argv)
        assert code == 0
        by_region: dict[str | None, list[float]] = {}
        for hit in json.loads(out)["hits"]:
            by_region.setdefault(hit["document"]["region"], []).append(hit["score"])
        return {region: sorted(found, reverse=True) for region, found in by_region.items()}

    elsewhere, at_home = scores(), scores("--home-region", "南京市")
    settings = load_settings()  # the settings the command ran with
    gained = {  # 南京市's own step forward; 江苏's, its province, no longer step back; national keep theirs
        "南京市": step_back(settings) + home_boost(settings),
        "江苏": step_back(settings),
        None: 0.0,
    }
    further = step_back(settings) - step_back(settings, home_known=True)  # other places, the asker known
    assert set(elsewhere) == set(at_home) and {"南京市", "江苏", None} <= set(at_home)
    for region, found in at_home.items():
        expected = [score + gained.get(region, further) for score in elsewhere[region]]
        assert found == pytest.approx(expected, abs=1e-5)


def test_index_command_prints_a_summary(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    (corpus / "broken.pdf").write_bytes(b"not a pdf at all")
    code, out, _err = run(capsys, "index", str(corpus), "--index-dir", str(tmp_path / "index"))
    assert code == 0
    assert out.startswith("indexed 3 documents, 28 clauses, 28 passages")
    assert "skipped 1 files:" in out and "broken.pdf" in out


def test_index_skips_files_over_the_parse_limits_with_the_reason(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    (corpus / "endless.txt").write_text(many_clauses(120), encoding="utf-8")
    (corpus / "bomb.docx").write_bytes(docx_bomb(4 * 1024 * 1024))
    monkeypatch.setenv("POLICYQA_MAX_DOCUMENT_CLAUSES", "100")
    monkeypatch.setenv("POLICYQA_MAX_ARCHIVE_MEMBER_BYTES", str(1024 * 1024))
    code, out, _err = run(capsys, "index", str(corpus), "--index-dir", str(tmp_path / "index"))
    assert code == 0 and out.startswith("indexed 3 documents, 28 clauses")
    assert "skipped 2 files:" in out
    assert f"{corpus / 'endless.txt'}: 120 clauses; the limit is 100 (POLICYQA_MAX_DOCUMENT_CLAUSES)" in out
    assert f"{corpus / 'bomb.docx'}: archive member word/document.xml inflates to more than 1,048,576" in out


SPLIT_LAW = """# 中华人民共和国民法典
# 物权编

<!-- INFO END -->

## 第一分编 通则

第二百零五条 本编调整因物的归属和利用产生的民事关系。
"""


def test_a_split_law_is_cited_with_its_subtitle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "物权编.md").write_text(SPLIT_LAW, encoding="utf-8")
    index_dir = str(tmp_path / "index")
    assert run(capsys, "index", str(tmp_path / "物权编.md"), "--index-dir", index_dir)[0] == 0
    code, out, _err = run(capsys, "search", "物的归属", "--index-dir", index_dir, "--json")
    assert code == 0
    document = json.loads(out)["hits"][0]["document"]
    assert (document["title"], document["subtitle"]) == ("中华人民共和国民法典", "物权编")
    code, out, _err = run(capsys, "search", "物的归属", "--index-dir", index_dir)
    assert code == 0 and "《中华人民共和国民法典》物权编 第一分编 通则 › 第二百零五条" in out


def test_missing_index_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "search", DEMO_QUERY, "--index-dir", str(tmp_path / "nowhere"))
    assert code == 1 and out == ""
    assert err.startswith(f"policyqa: error: no index at {tmp_path / 'nowhere'}")
    assert "policyqa index PATH --index-dir" in err and "Traceback" not in err


def test_mismatched_index_is_a_clear_error(tiny_index_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = tiny_index_copy / "versions" / (tiny_index_copy / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({**manifest, "model": "someone/other-model"}))
    code, _out, err = run(capsys, "search", DEMO_QUERY, "--index-dir", str(tiny_index_copy))
    assert code == 1 and "Traceback" not in err
    assert "was built with model someone/other-model (dim 384)" in err and "POLICYQA_MODEL=default" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [(("search", " "), "the query is empty"), (("search", "孵化器", "-k", "0"), "k must")],
)
def test_bad_search_arguments(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == 1 and message in err


def test_index_of_nothing_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, _out, err = run(capsys, "index", str(tmp_path / "empty"), "--index-dir", str(tmp_path / "index"))
    assert code == 1 and "no document could be indexed" in err


@pytest.mark.parametrize(
    ("variable", "value", "argv"),
    [
        ("POLICYQA_OTHER_REGION_PENALTY", "2", ("search", DEMO_QUERY)),
        ("POLICYQA_BM25_WEIGHT", "-1", ("search", DEMO_QUERY, "--mode", "bm25")),
        ("POLICYQA_ANN", "lsh", ("index", "corpus/samples", "--index-dir", "/nonexistent/never-written")),
        ("POLICYQA_BATCH_SIZE", "many", ("eval", "--queries", "eval/data/seed_questions.jsonl")),
    ],
)
def test_an_invalid_setting_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    argv: tuple[str, ...],
) -> None:
    monkeypatch.setenv(variable, value)
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith(f"policyqa: error: invalid setting: {variable}: ")
