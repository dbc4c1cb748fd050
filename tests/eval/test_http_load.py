"""The HTTP load driver against a real (tiny, stdlib) HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from policyqa.eval.errors import EvalError
from policyqa.eval.http_load import load_test, send_each
from policyqa.eval.server import LOOPBACK, free_port


class Handler(BaseHTTPRequestHandler):
    """``GET /search`` answers 200 when ``q`` is present; ``POST /ask`` always fails with 500."""

    seen_queries: list[str] = []  # noqa: RUF012 - shared on purpose: the test inspects what arrived

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query).get("q", [""])[0]
        self.seen_queries.append(query)
        self._reply(200 if query else 422, {"hits": []})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        json.loads(self.rfile.read(length))
        self._reply(500, {"detail": "boom"})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer((LOOPBACK, free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_search_load_counts_requests_and_cycles_questions(server):
    Handler.seen_queries.clear()
    result = load_test(server, "/search", ["孵化器", "审批"], concurrency=3, duration=0.5)
    assert result.requests > 0
    assert result.errors == 0
    assert result.requests_per_second == pytest.approx(result.requests / result.seconds)
    assert 0 < result.latency_ms_p50 <= result.latency_ms_p95 <= result.latency_ms_p99
    assert set(Handler.seen_queries) == {"孵化器", "审批"}
    assert len(Handler.seen_queries) == result.requests


def test_send_each_sends_every_question_exactly_once(server):
    Handler.seen_queries.clear()
    questions = [f"问题{number}" for number in range(25)] + [""]  # the empty one answers 422
    result = send_each(server, "/search", questions, concurrency=4)
    assert sorted(Handler.seen_queries) == sorted(questions)
    assert result.requests == len(questions)
    assert result.errors == 1


def test_failed_requests_are_errors(server):
    result = load_test(server, "/ask", ["孵化器有什么扶持？"], concurrency=2, duration=0.3)
    assert result.requests > 0
    assert result.errors == result.requests


def test_unreachable_server_counts_errors_instead_of_crashing():
    result = load_test(f"http://{LOOPBACK}:{free_port()}", "/search", ["问"], concurrency=2, duration=0.2)
    assert result.errors == result.requests > 0


def test_unknown_endpoint_is_rejected(server):
    with pytest.raises(EvalError, match="unknown endpoint"):
        load_test(server, "/nope", ["问"], concurrency=1, duration=0.1)
