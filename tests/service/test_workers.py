"""`policyqa serve --workers 2`: two processes forked from one loaded index answer on one port; an upload
through either is served by both; SIGTERM stops them all."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from policyqa.eval.server import free_port, policyqa_command, running_process

from .conftest import API_KEY, REPO, STARTUP_SECONDS, hermetic_env

UPLOAD = """苏州市人民政府关于加快发展低空经济的若干措施
苏府〔2024〕12号
2024-03-01

  一、支持低空飞行器研发

  （一）设立无人机适航审定奖励。对取得适航证的本地企业给予一次性奖励。
"""
DEADLINE_SECONDS = 120.0  # for both workers to have answered; each request takes milliseconds


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def ready_until(url: str, done: Callable[[dict[int, dict]], bool]) -> dict[int, dict]:
    """/ready on a new connection each time (so either worker may accept it), by answering pid, until
    ``done`` holds for what the workers said last."""
    answers: dict[int, dict] = {}
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not done(answers):
        assert time.monotonic() < deadline, f"not both workers answered as expected: {answers}"
        body = httpx.get(url + "/ready", timeout=30).json()
        answers[body["pid"]] = body
    return answers


def test_two_workers_share_one_index_and_see_each_others_writes(
    policyqa_home: Path, service_index: tuple[Path, list], tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(service_index[0], index_dir)
    port = free_port()
    command = policyqa_command("serve", "--index-dir", str(index_dir), "--workers", "2", port=port)
    env = hermetic_env(policyqa_home, api_key=API_KEY)
    log = tmp_path / "server.log"
    server = running_process(command, port=port, env=env, cwd=REPO, log=log, startup_timeout=STARTUP_SECONDS)
    with server as (url, master):
        first = ready_until(url, lambda answers: len(answers) == 2)
        workers = set(first)
        assert set(children(master.pid)) == workers  # forked by the process `policyqa serve` started
        documents = {body["documents"] for body in first.values()}
        assert len(documents) == 1

        files = {"file": ("低空经济.txt", UPLOAD.encode("utf-8"), "text/plain")}
        upload = httpx.post(url + "/documents", files=files, headers={"X-API-Key": API_KEY}, timeout=120)
        assert upload.status_code == 201, upload.text
        # the worker that wrote swaps its index; the other finds a newer version in force and reloads it
        grown = documents.pop() + 1
        both_grown = ready_until(
            url, lambda answers: len(answers) == 2 and all(b["documents"] == grown for b in answers.values())
        )
        assert set(both_grown) == workers  # the same two processes: nothing crashed or restarted
        search = httpx.get(url + "/search", params={"q": "无人机适航审定奖励", "k": 1}, timeout=30)
        assert search.json()["hits"][0]["document"]["id"] == upload.json()["document"]["id"]
    assert master.returncode == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert "Traceback" not in log.read_text(encoding="utf-8")


def test_workers_are_refused_where_they_cannot_work(policyqa_home: Path, tmp_path: Path) -> None:
    """`--workers 0`, and several workers over Milvus (its client does not survive a fork): one error line,
    exit code 1, before anything is bound or loaded."""
    for arguments, message in (
        (["--workers", "0"], "POLICYQA_WORKERS"),
        (["--workers", "2", "--store", "milvus", "--milvus-uri", str(tmp_path / "m.db")], "replicas"),
    ):
        command = policyqa_command("serve", *arguments, port=free_port())
        done = subprocess.run(
            command, env=hermetic_env(policyqa_home), cwd=REPO, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 1 and done.stderr.startswith("policyqa: error: "), done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "m.db").exists()


def test_workers_stop_when_their_master_is_killed(
    policyqa_home: Path, service_index: tuple[Path, list], tmp_path: Path
) -> None:
    """SIGKILL leaves the master no time to stop its workers (the OOM killer): they notice at their next
    heartbeat (every 15 s) and stop, freeing the port."""
    port = free_port()
    command = policyqa_command("serve", "--index-dir", str(service_index[0]), "--workers", "2", port=port)
    env = hermetic_env(policyqa_home)
    server = running_process(
        command, port=port, env=env, cwd=REPO, log=tmp_path / "server.log", startup_timeout=STARTUP_SECONDS
    )
    with server as (url, master):
        workers = set(ready_until(url, lambda answers: len(answers) == 2))
        master.kill()
        master.wait()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "workers still running after their master was killed"
            time.sleep(0.5)


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
