"""``policyqa serve`` on a port that another process holds: one error line and exit code 1, before any
first-run work and without printing "serving"."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from policyqa.eval.server import LOOPBACK
from policyqa.service.cli import PortInUseError, bind_socket, listen

from .conftest import REPO, hermetic_env


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port that another socket listens on for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((LOOPBACK, 0))
        holder.listen()
        yield holder.getsockname()[1]


def serve(home: Path, *arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``python -m policyqa.cli serve <arguments>`` with POLICYQA_HOME=``home`` plus ``settings``."""
    command = [sys.executable, "-m", "policyqa.cli", "serve", *arguments]
    env = hermetic_env(home, **settings)
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)


def in_use(port: int) -> str:
    return f"port {port} is in use (set --port or POLICYQA_PORT)"


def test_busy_port_is_one_error_line(busy_port: int, policyqa_home: Path, service_index) -> None:
    index_dir, _documents = service_index
    done = serve(policyqa_home, "--index-dir", str(index_dir), "--port", str(busy_port))
    assert (done.returncode, done.stderr) == (1, f"policyqa: error: {in_use(busy_port)}\n")
    assert "serving" not in done.stdout


def test_busy_port_from_the_environment(busy_port: int, policyqa_home: Path, service_index) -> None:
    index_dir, _documents = service_index
    done = serve(policyqa_home, "--index-dir", str(index_dir), port=str(busy_port))
    assert (done.returncode, done.stderr) == (1, f"policyqa: error: {in_use(busy_port)}\n")


def test_busy_port_is_reported_before_the_first_run_build(busy_port: int, tmp_path: Path) -> None:
    home = tmp_path / "home"  # no model, no index: a first run would build both
    done = serve(home, "--port", str(busy_port))
    assert (done.returncode, done.stderr) == (1, f"policyqa: error: {in_use(busy_port)}\n")
    assert not (home / "index").exists()
    assert not (home / "models").exists()


def test_a_listener_that_appears_after_the_check_is_the_same_error() -> None:
    """Two sockets with SO_REUSEADDR may both bind a port nobody listens on; the second to listen loses."""
    with bind_socket(LOOPBACK, 0) as claimed:
        port = claimed.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.bind((LOOPBACK, port))
            other.listen()
            with pytest.raises(PortInUseError) as raised:
                listen(claimed, port)
    assert str(raised.value) == in_use(port)


def test_connections_to_the_served_socket_send_without_delay() -> None:
    """asyncio sets TCP_NODELAY only on connections of a socket whose protocol is TCP: with Nagle's algorithm
    on, every response written in two parts waited 40 ms for the client's delayed ACK."""

    async def nodelay_of_an_accepted_connection() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connection = writer.get_extra_info("socket")
            accepted.set_result(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        sock = bind_socket(LOOPBACK, 0)
        listen(sock, sock.getsockname()[1])
        server = await asyncio.start_server(connected, sock=sock)
        async with server:
            _reader, writer = await asyncio.open_connection(*sock.getsockname())
            nodelay = await asyncio.wait_for(accepted, timeout=60)
            writer.close()
        return nodelay

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0
