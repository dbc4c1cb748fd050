"""The shared server start-up (policyqa bench and the service tests) with small stdlib processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from policyqa.eval import server
from policyqa.eval.errors import EvalError
from policyqa.eval.server import LOOPBACK, free_port, running_server


def test_yields_the_url_once_ready_and_stops_the_server(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", LOOPBACK]
    command += ["--directory", str(tmp_path)]
    with running_server(command, port=port, log=log, ready_path="/", startup_timeout=120) as url:
        assert url == f"http://{LOOPBACK}:{port}"
        assert httpx.get(f"{url}/server.log", timeout=10).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)
    assert '"GET / HTTP/1.1" 200' in log.read_text(encoding="utf-8")


def test_a_server_that_exits_fails_with_its_output() -> None:
    command = [sys.executable, "-c", "import sys; print('cannot start: no index'); sys.exit(4)"]
    with (
        pytest.raises(EvalError, match=r"exited with code 4(.|\n)*cannot start: no index"),
        running_server(command, port=free_port(), startup_timeout=120),
    ):
        pass


def test_a_server_never_ready_fails_after_the_timeout_and_is_stopped(monkeypatch) -> None:
    started: list[subprocess.Popen] = []

    class RecordedPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(server.subprocess, "Popen", RecordedPopen)
    command = [sys.executable, "-c", "import time; time.sleep(600)"]
    with (
        pytest.raises(EvalError, match="not ready within 1 s"),
        server.running_server(command, port=free_port(), startup_timeout=1),
    ):
        pass
    assert [process.returncode is not None for process in started] == [True]
