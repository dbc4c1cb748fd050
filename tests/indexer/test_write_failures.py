"""A write that the file system refuses — a read-only index folder, a full disk — is one line and exit 1,
and the index in force stays as it was (real mounts, in a mount namespace of the test's own)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTICE = "某市关于测试写入失败的通知\n2024-01-02\n\n一、测试条款。本通知自发布之日起施行。\n"


def policyqa_in_namespace(prefix: list[str], mounts: str, *arguments: str) -> subprocess.CompletedProcess:
    """``policyqa <arguments>`` after the shell commands ``mounts``, in a private mount namespace."""
    command = " ".join(shlex.quote(part) for part in (sys.executable, "-m", "policyqa.cli", *arguments))
    return subprocess.run(
        [*prefix, "sh", "-c", f"set -e; {mounts}; exec {command}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )


def last_line(stderr: str) -> str:
    """The last line written (the progress bars before it end in carriage returns)."""
    return stderr.strip().splitlines()[-1]


def test_a_read_only_index_folder_is_one_line(
    mount_namespace: list[str], tiny_index_dir: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(tiny_index_dir, index_dir)
    (tmp_path / "notice.txt").write_text(NOTICE, encoding="utf-8")
    before = (index_dir / "CURRENT").read_text()
    read_only = f"mount --bind {index_dir} {index_dir}; mount -o remount,bind,ro {index_dir}"
    result = policyqa_in_namespace(
        mount_namespace, read_only, "index", str(tmp_path / "notice.txt"), "--index-dir", str(index_dir)
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert last_line(result.stderr) == (
        f"policyqa: error: cannot write the index at {index_dir}: Read-only file system; "
        "the index in force is unchanged"
    )
    assert (index_dir / "CURRENT").read_text() == before


def test_a_full_disk_is_one_line(mount_namespace: list[str], tiny_corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    tiny_disk = (
        f"mount -t tmpfs -o size=96k policyqa-test {index_dir}"  # fills up while the version is written
    )
    result = policyqa_in_namespace(
        mount_namespace, tiny_disk, "index", str(tiny_corpus), "--index-dir", str(index_dir)
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    error = last_line(result.stderr)
    assert error.startswith(f"policyqa: error: cannot write the index at {index_dir}: ")
    assert error.endswith("; the index in force is unchanged")
    assert any(reason in error for reason in ("No space left on device", "database or disk is full"))
    assert "policyqa: error:" not in result.stderr.replace(error, "")  # one error line (and progress bars)
