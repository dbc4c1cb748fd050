"""``policyqa parse``: a readable outline, exact JSON, and one-line errors with exit code 1."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policyqa.cli import main

POLICYQA = Path(sys.executable).with_name("policyqa")


def test_outline(seed_path, capsys):
    assert main(["parse", str(seed_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("《关于加快培育发展高新技术产业开发区“一区一战略产业”的意见》")
    assert "  date: 2018-10-17" in out
    assert "\n  四、健全科技服务体系,构建良好创新创业生态\n    （十一）建设专业化众创空间 [3128:3307] " in out
    assert "\n    （十二）发展创新型孵化器 [3311:3519] (十二)发展创新型孵化器。" in out


def test_json(seed_path, capsys):
    assert main(["parse", str(seed_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"document", "clauses"}
    assert set(result["document"]) == {
        "id", "title", "subtitle", "date", "issuer", "doc_number", "region", "doc_type", "region_basis",
        "issuer_level", "references"
    }  # fmt: skip
    assert result["document"]["date"] == "2018-10-17"
    clause = next(c for c in result["clauses"] if c["number"] == "（十五）")
    assert {"id", "path", "number", "heading", "text", "start", "end"} <= set(clause)
    assert clause["heading"] == "推进“放管服”改革"
    assert clause["path"][-1] == "（十五）推进“放管服”改革"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("binary.txt", b"\x00\x01\x02\x03" * 100, "binary file"),
        ("empty.txt", b"", "empty file"),
        ("broken.docx", b"PK\x03\x04 truncated", "not a readable .docx file"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "not a readable .pdf file"),
    ],
)
def test_bad_files_fail_with_one_line(tmp_path, capsys, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["parse", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"policyqa: error: {path}: {reason}")
    assert captured.err.count("\n") == 1


def test_missing_file_through_the_installed_command(tmp_path):
    if not POLICYQA.exists():
        pytest.skip(f"the policyqa command is not installed next to {sys.executable}")
    missing = tmp_path / "missing.txt"
    result = subprocess.run(
        [str(POLICYQA), "parse", str(missing)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr == f"policyqa: error: {missing}: no such file\n"


def test_missing_path_of_any_type_is_reported_as_missing(tmp_path, capsys):
    missing = tmp_path / "no-such-notice"  # no suffix: "missing" matters more than "unsupported type"
    assert main(["parse", str(missing)]) == 1
    assert capsys.readouterr().err == f"policyqa: error: {missing}: no such file\n"
