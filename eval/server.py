"""Start a real server process on loopback, wait until it answers, stop it: the one implementation behind
``policyqa bench`` (:mod:`policyqa.eval.http_load`) and the service tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from policyqa.eval.errors import EvalError

LOOPBACK = "127.0.0.1"
POLL_SECONDS = 0.3  # between two /ready requests
REQUEST_SECONDS = 5.0  # one /ready request
STOP_SECONDS = 30.0


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def policyqa_command(*arguments: str, port: int) -> list[str]:
    """``python -m policyqa.cli <arguments> --port <port>`` with the running interpreter."""
    return [sys.executable, "-m", "policyqa.cli", *arguments, "--port", str(port)]


@contextlib.contextmanager
def running_server(command: Sequence[str], **options: Any) -> Iterator[str]:
    """:func:`running_process` yielding only the base URL (``options`` are its keyword arguments)."""
    with running_process(command, **options) as (base_url, _process):
        yield base_url


@contextlib.contextmanager
def running_process(
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    ready_path: str = "/ready",
    startup_timeout: float = 600.0,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``command`` (a server that listens on loopback ``port``) and yield its base URL and process once
    ``ready_path`` answers 200; stop it afterwards. Its output goes to ``log`` (or a temporary file);
    EvalError, with the output's tail, if it exits or is not ready within ``startup_timeout`` seconds."""
    base_url = f"http://{LOOPBACK}:{port}"
    with open(log, "w+b") if log else tempfile.TemporaryFile() as out:
        environment = dict(env) if env is not None else None
        process = subprocess.Popen(
            list(command), env=environment, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_until_ready(process, base_url + ready_path, startup_timeout, out)
            yield base_url, process
        finally:
            stop(process)


def wait_until_ready(process: subprocess.Popen, url: str, timeout: float, log: IO[bytes]) -> None:
    """Poll ``url`` until it answers 200, for at most ``timeout`` seconds; EvalError (with the tail of
    ``log``) if ``process`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    last_answer = "no answer"
    while True:
        if process.poll() is not None:
            raise EvalError(f"server exited with code {process.returncode}: {_shown(process)}\n{_tail(log)}")
        try:
            response = httpx.get(url, timeout=REQUEST_SECONDS)
            if response.status_code == 200:
                return
            last_answer = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            last_answer = type(exc).__name__
        if time.monotonic() >= deadline:
            raise EvalError(
                f"server not ready within {timeout:.0f} s (last {url}: {last_answer}): {_shown(process)}\n"
                f"{_tail(log)}"
            )
        time.sleep(POLL_SECONDS)


def stop(process: subprocess.Popen) -> None:
    """Terminate ``process``, killing it if it has not exited within STOP_SECONDS."""
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _shown(process: subprocess.Popen) -> str:
    return " ".join(map(str, process.args)) if isinstance(process.args, list) else str(process.args)


def _tail(log: IO[bytes], size: int = 4000) -> str:
    """The last ``size`` bytes of ``log``, read without moving the offset the server writes at."""
    end = os.fstat(log.fileno()).st_size
    return os.pread(log.fileno(), size, max(0, end - size)).decode("utf-8", "replace")
