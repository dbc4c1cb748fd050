"""The reliability suite (issue 13), against real ``policyqa serve`` processes on loopback: hostile uploads
(generated here, bounded so that a regression fails fast), a storm of the most expensive questions, searches
during uploads and deletes, a damaged index, a read-only folder and a full disk, and nothing of the server's
filesystem in any response. Speed targets are measured by ``experiments/reliability.py``; here only what
must hold on any machine is asserted."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from policyqa.corpus.limits import MIB
from policyqa.eval import hostile
from policyqa.eval.queries import SEED_QUESTIONS, load_queries
from policyqa.eval.server import free_port, policyqa_command
from policyqa.service.schemas import AskResponse

from .conftest import API_KEY, SECOND_DOCUMENT, hermetic_env, serving

PATIENCE_SECONDS = 300  # for a server to finish loading, on a machine as slow as it gets
LIMITS = {
    "api_key": API_KEY,
    "max_upload_bytes": str(2 * MIB),
    "max_archive_member_bytes": str(1 * MIB),
    "max_archive_total_bytes": str(2 * MIB),
    "max_document_chars": "200000",
    "max_document_clauses": "300",
    "max_concurrent_requests": "2",
    "max_queued_requests": "6",
    "request_budget_seconds": "20",
    "max_pending_writes": "2",
}
UPLOAD = """【无锡】(2024)无锡市关于支持低空经济发展的若干措施
时间:2024-03-01

一、支持建设低空飞行服务站。对新建的低空飞行服务站，按照建设投资的百分之三十给予补助。
二、鼓励开通无人机物流航线。对开通常态化无人机物流航线的企业，每条航线给予二十万元奖励。
"""


@dataclass(frozen=True)
class Guarded:
    """A server with small limits over a private copy of the session index."""

    url: str
    index_dir: Path
    temp_dir: Path
    stale: Path  # a leftover upload folder of a dead server, made before the start
    alive: Path  # an upload folder of a running process (the test's own), made before the start
    log: Path  # the server's output (it runs with -v: access lines included)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120.0, headers={"X-API-Key": API_KEY}, **kwargs)


def dead_pid() -> int:
    """The pid of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def wait_for(condition: Callable[[], object], what: str, timeout: float = PATIENCE_SECONDS) -> object:
    """Poll ``condition`` until it returns something true (no fixed sleeps: a slow machine polls longer)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


@pytest.fixture(scope="module")
def guarded(policyqa_home: Path, service_index, tmp_path_factory) -> Iterator[Guarded]:
    index_dir = tmp_path_factory.mktemp("guarded") / "index"
    shutil.copytree(service_index[0], index_dir)
    temp_dir = tmp_path_factory.mktemp("guarded-tmp")
    stale = temp_dir / f"policyqa-upload-{dead_pid()}-leftover"
    alive = temp_dir / f"policyqa-upload-{os.getpid()}-in-use"
    for folder in (stale, alive):
        folder.mkdir()
        (folder / "upload.txt").write_text("半截上传", encoding="utf-8")
    port = free_port()
    env = {**hermetic_env(policyqa_home, **LIMITS), "TMPDIR": str(temp_dir)}
    log = tmp_path_factory.mktemp("guarded-log") / "server.log"
    command = policyqa_command("-v", "serve", "--index-dir", str(index_dir), port=port)
    with serving(command, port, env, log) as url:
        yield Guarded(url, index_dir, temp_dir, stale, alive, log)


def test_upload_folders_left_by_dead_servers_are_removed_at_start(guarded: Guarded) -> None:
    assert not guarded.stale.exists()
    assert (guarded.alive / "upload.txt").exists()  # a running process's folder is left alone


HOSTILE_UPLOADS = [
    (
        "bomb.docx",
        lambda: hostile.docx_bomb(
            16 * MIB
        ),  # 16x the limit: a regression parses 16 MiB, not the probe's 1 GiB
        413,
        "bomb.docx: archive member word/document.xml inflates to more than 1,048,576 bytes, the limit "
        "(POLICYQA_MAX_ARCHIVE_MEMBER_BYTES)",
    ),
    (
        "media.docx",
        lambda: hostile.docx_from_parts(
            ["<w:document/>"], {f"word/media/image{i}.png": bytes(900 * 1024) for i in range(3)}
        ),
        413,
        "media.docx: the archive inflates to more than 2,097,152 bytes",
    ),
    ("forged.docx", lambda: hostile.docx_with_forged_sizes(8 * MIB, 1000), 422, "Bad CRC-32"),
    ("malformed.docx", hostile.docx_with_malformed_xml, 422, "malformed.docx: not a readable .docx file"),
    ("laughs.docx", hostile.docx_with_entity_expansion, 422, "laughs.docx: not a readable .docx file"),
    ("endless.txt", lambda: hostile.many_clauses(400).encode(), 413, "400 clauses; the limit is 300"),
    (
        "long.txt",
        lambda: hostile.many_clauses(12_000).encode(),
        413,
        "characters of text; the limit is 200,000 (POLICYQA_MAX_DOCUMENT_CHARS)",
    ),
    (
        "broken.pdf",
        lambda: b"%PDF-1.7\n" + bytes(range(256)) * 40,
        422,
        "broken.pdf: not a readable .pdf file",
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "status", "message"), HOSTILE_UPLOADS, ids=[u[0] for u in HOSTILE_UPLOADS]
)
def test_hostile_uploads_are_refused_naming_the_reason(guarded: Guarded, name, make, status, message) -> None:
    with guarded.client() as client:
        response = client.post("/documents", files={"file": (name, make())})
        documents = client.get("/documents").json()
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert str(guarded.temp_dir) not in response.text and "/tmp" not in response.json()["detail"]
    assert len(documents) == 2  # nothing was added


def multipart(filename: bytes, content: bytes) -> tuple[bytes, str]:
    """A multipart body with the file name exactly as given (httpx would percent-encode a NUL)."""
    boundary = "policyqa-test-boundary"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_file_names_with_nul_are_422_and_long_ones_are_shortened(guarded: Guarded) -> None:
    with guarded.client() as client:
        body, content_type = multipart(b"policy\x00.txt", UPLOAD.encode())
        nul = client.post("/documents", content=body, headers={"Content-Type": content_type})
        long_name = "关于支持低空经济发展的若干措施" * 10 + ".txt"  # 450 bytes in UTF-8
        uploaded = client.post("/documents", files={"file": (long_name, UPLOAD.encode())})
        assert uploaded.status_code == 201, uploaded.text
        deleted = client.delete(f"/documents/{uploaded.json()['document']['id']}")
    assert nul.status_code == 422 and "file name contains a NUL character" in nul.json()["detail"]
    assert deleted.status_code == 200


def test_a_body_that_is_not_utf8_is_a_4xx_and_the_connection_goes_on(guarded: Guarded) -> None:
    with guarded.client() as client:
        surrogate = client.post(
            "/ask",
            content=b'{"question": "' + b"\xed\xa0\x80" + '孵化器"}'.encode(),  # a UTF-8-encoded surrogate
            headers={"Content-Type": "application/json"},
        )
        assert client.get("/health").status_code == 200
    assert 400 <= surrogate.status_code < 500 and surrogate.json()["detail"]


class HealthWatch:
    """Polls /health in a thread until stopped; records every status (or the error) it got."""

    def __init__(self, url: str):
        self.url = url
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=PATIENCE_SECONDS) as client:
            while not self._stop.is_set():
                try:
                    self.statuses.append(client.get("/health").status_code)
                except httpx.HTTPError as error:
                    self.statuses.append(type(error).__name__)
                self._stop.wait(0.05)


def test_the_bomb_is_refused_while_health_answers(guarded: Guarded) -> None:
    bomb = hostile.docx_bomb(64 * MIB)
    with HealthWatch(guarded.url) as health, guarded.client() as client:
        wait_for(lambda: health.statuses, "the first /health")
        response = client.post("/documents", files={"file": ("bomb.docx", bomb)})
    assert response.status_code == 413
    assert health.statuses and set(health.statuses) == {200}


def metric(text: str, name: str) -> float:
    """The sum of the samples of ``name`` (every label set) in a Prometheus text page."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and line[len(name)] in " {"
    )


def test_forty_concurrent_questions_with_the_largest_k_are_answered_or_told_to_retry(
    guarded: Guarded,
) -> None:
    questions = [query.question for query in load_queries(SEED_QUESTIONS)][:40]
    barrier = threading.Barrier(len(questions))
    with httpx.Client(base_url=guarded.url) as probe:
        rejected_before = metric(probe.get("/metrics").text, "policyqa_rejected_requests_total")

    def ask(question: str) -> httpx.Response:
        with httpx.Client(base_url=guarded.url, timeout=PATIENCE_SECONDS) as client:
            barrier.wait()
            return client.post("/ask", json={"question": question, "k": 10})

    with HealthWatch(guarded.url) as health, ThreadPoolExecutor(len(questions)) as pool:
        responses = list(pool.map(ask, questions))
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 503}, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1" and "try again" in response.json()["detail"]
        else:
            assert set(response.json()) == set(AskResponse.model_fields)
    assert 200 in statuses
    assert health.statuses and set(health.statuses) == {200}
    with httpx.Client(base_url=guarded.url) as probe:
        rejected = metric(probe.get("/metrics").text, "policyqa_rejected_requests_total") - rejected_before
    assert rejected == statuses.count(503)


def test_searches_during_uploads_and_deletes_leave_a_consistent_index(guarded: Guarded) -> None:
    stop = threading.Event()

    def search(_: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=guarded.url, timeout=PATIENCE_SECONDS) as client:
            while not stop.is_set():
                statuses.append(client.get("/search", params={"q": "人才公寓 租金", "k": 10}).status_code)
        return statuses

    with ThreadPoolExecutor(2) as pool, guarded.client() as client:
        searches = [pool.submit(search, n) for n in range(2)]
        for round_ in range(3):
            name = f"措施{round_}.txt"
            text = UPLOAD.replace("若干措施", f"若干措施（第{round_}版）")
            uploaded = client.post("/documents", files={"file": (name, text.encode())})
            assert uploaded.status_code == 201, uploaded.text
            assert client.delete(f"/documents/{uploaded.json()['document']['id']}").status_code == 200
        stop.set()
        statuses = [status for future in searches for status in future.result()]
        ready = client.get("/ready").json()
    assert statuses and set(statuses) == {200}
    assert ready["documents"] == 2
    verified = subprocess.run(
        [sys.executable, "-m", "policyqa.cli", "index", "--verify", str(guarded.index_dir)],
        capture_output=True,
        text=True,
        timeout=PATIENCE_SECONDS,
    )
    assert verified.returncode == 0, verified.stderr
    assert "SQLite integrity ok" in verified.stdout


def test_metrics_count_requests_uploads_and_describe_the_index(guarded: Guarded) -> None:
    with guarded.client() as client:
        client.get("/search", params={"q": "孵化器"})
        client.post("/documents", files={"file": ("tool.exe", b"MZ")})
        client.post("/documents", files={"file": ("endless.txt", hostile.many_clauses(400).encode())})
        page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert 'http_requests_total{handler="/search",method="GET",status="200"}' in text
    assert "http_request_duration_seconds_bucket{" in text
    assert metric(text, 'policyqa_uploads_total{outcome="unsupported_type"}') >= 1
    assert metric(text, 'policyqa_uploads_total{outcome="too_large"}') >= 1
    assert metric(text, "policyqa_index_documents") == 2 and metric(text, "policyqa_index_ready") == 1
    assert metric(text, "policyqa_index_bytes") > 0 and "policyqa_index_info{" in text


def test_access_lines_carry_the_request_id(guarded: Guarded) -> None:
    with guarded.client() as client:
        response = client.get("/search", params={"q": "孵化器"}, headers={"X-Request-ID": "probe-4711"})
    assert response.headers["x-request-id"] == "probe-4711"
    line = wait_for(
        lambda: next(
            (ln for ln in guarded.log.read_text().splitlines() if "request_id=probe-4711" in ln), None
        ),
        "the access line",
    )
    assert "logger=policyqa.access" in line and "path=/search" in line and "status=200" in line


def test_request_ids_are_echoed_or_made(server) -> None:
    with server.client() as client:
        echoed = client.get("/health", headers={"X-Request-ID": "portal-7f3a.1"})
        made = client.get("/health")
        unsafe = client.get("/health", headers={"X-Request-ID": "a b" + "x" * 100})
    assert echoed.headers["x-request-id"] == "portal-7f3a.1"
    assert len(made.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] != "a b" + "x" * 100


def test_the_page_carries_security_headers_and_options_lists_the_methods(server) -> None:
    with server.client() as client:
        page = client.get("/")
        search = client.get("/search", params={"q": "孵化器"})
        options = client.options("/search")
        options_documents = client.options("/documents/some-id")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "object-src 'none'" in policy
    for response in (page, search):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    assert (options.status_code, options.headers["allow"]) == (204, "GET, OPTIONS")
    assert options_documents.headers["allow"] == "DELETE, GET, OPTIONS"


def test_the_openapi_schema_documents_limits_and_errors(server) -> None:
    with server.client() as client:
        spec = client.get("/openapi.json").json()
    ask = spec["components"]["schemas"]["AskRequest"]["properties"]
    assert ask["k"]["maximum"] == 10 and ask["question"]["minLength"] == 1
    search = {parameter["name"]: parameter for parameter in spec["paths"]["/search"]["get"]["parameters"]}
    assert search["q"]["schema"]["minLength"] == 1
    for path, method, statuses in [
        ("/search", "get", {"400", "404", "422", "503"}),
        ("/ask", "post", {"400", "413", "422", "503"}),
        ("/documents", "post", {"400", "401", "403", "413", "415", "422", "503", "507"}),
    ]:
        assert statuses <= set(spec["paths"][path][method]["responses"])


def test_an_unknown_id_names_no_path(server) -> None:
    with server.client() as client:
        response = client.delete("/documents/no-such-document", headers={"X-API-Key": server.api_key})
    assert response.status_code == 404
    assert response.json() == {"detail": "no document with id 'no-such-document'"}


def start_in_namespace(
    prefix: list[str], mounts: str, index_dir: Path, home: Path, log: Path
) -> contextlib.AbstractContextManager[str]:
    """``policyqa serve`` in a mount namespace of its own, after the shell commands ``mounts``; ready when
    /health answers (the index may be meant not to load)."""
    port = free_port()
    serve = " ".join(
        shlex.quote(part) for part in policyqa_command("serve", "--index-dir", str(index_dir), port=port)
    )
    command = [*prefix, "sh", "-c", f"set -e; {mounts}; exec {serve}"]
    return serving(command, port, hermetic_env(home, api_key=API_KEY), log, ready_path="/health")


def ready_reason(url: str) -> str | None:
    """/ready's detail once the loader has finished and failed, else None."""
    response = httpx.get(url + "/ready", timeout=30)
    detail = response.json().get("detail", "")
    return detail if response.status_code == 503 and detail.startswith("index not loaded") else None


def test_a_damaged_index_is_refused_on_ready_without_its_path(
    policyqa_home: Path, service_index, tmp_path: Path
) -> None:
    """A byte flipped in dense.faiss (vectors.npy and bm25/weights.npz: tests/indexer/test_integrity.py)."""
    name = "dense/dense.faiss"
    index_dir = tmp_path / "index"
    shutil.copytree(service_index[0], index_dir)
    version = index_dir / "versions" / (index_dir / "CURRENT").read_text().strip()
    damaged = bytearray((version / name).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (version / name).write_bytes(bytes(damaged))
    port = free_port()
    command = policyqa_command("serve", "--index-dir", str(index_dir), port=port)
    with serving(
        command, port, hermetic_env(policyqa_home), tmp_path / "server.log", ready_path="/health"
    ) as url:
        reason = wait_for(lambda: ready_reason(url), "the index load to fail")
        search = httpx.get(url + "/search", params={"q": "孵化器"}, timeout=30)
    assert reason == (
        f"index not loaded: index version {version.name} is damaged: {name} does not match its sha256 "
        "checksum; rebuild the index or restore it from a backup"
    )
    assert search.status_code == 503 and str(tmp_path) not in search.text


def test_writes_to_a_read_only_index_are_503_with_a_clear_message(
    mount_namespace: list[str], policyqa_home: Path, service_index, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(service_index[0], index_dir)
    read_only = f"mount --bind {index_dir} {index_dir}; mount -o remount,bind,ro {index_dir}"
    with start_in_namespace(mount_namespace, read_only, index_dir, policyqa_home, tmp_path / "log") as url:
        wait_for(lambda: httpx.get(url + "/ready", timeout=30).status_code == 200, "the index to load")
        with httpx.Client(base_url=url, timeout=120, headers={"X-API-Key": API_KEY}) as client:
            upload = client.post("/documents", files={"file": ("措施.txt", UPLOAD.encode())})
            delete = client.delete(f"/documents/{client.get('/documents').json()[0]['id']}")
            search = client.get("/search", params={"q": "人才公寓"})
    for response in (upload, delete):
        assert response.status_code == 503
        assert response.json() == {
            "detail": "cannot write the index at <index_dir>: Read-only file system; "
            "the index in force is unchanged"
        }
    assert search.status_code == 200  # the version in force keeps serving


def test_writes_to_a_full_disk_are_507_with_a_clear_message(
    mount_namespace: list[str], policyqa_home: Path, service_index, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    size = sum(path.stat().st_size for path in service_index[0].rglob("*") if path.is_file())
    full_disk = (  # room for the index in force and 64 kB: the next version does not fit
        f"mount -t tmpfs -o size={size // 1024 + 64}k policyqa-test {disk}; "
        f"cp -r {service_index[0]} {disk}/index"
    )
    with start_in_namespace(
        mount_namespace, full_disk, disk / "index", policyqa_home, tmp_path / "log"
    ) as url:
        wait_for(lambda: httpx.get(url + "/ready", timeout=30).status_code == 200, "the index to load")
        with httpx.Client(base_url=url, timeout=120, headers={"X-API-Key": API_KEY}) as client:
            upload = client.post(
                "/documents", files={"file": ("措施.txt", (UPLOAD + SECOND_DOCUMENT).encode())}
            )
            search = client.get("/search", params={"q": "人才公寓"})
            documents = client.get("/documents").json()
    assert upload.status_code == 507, upload.text
    detail = upload.json()["detail"]
    assert detail.startswith("cannot write the index at <index_dir>: ") and "unchanged" in detail
    assert str(disk) not in detail
    assert search.status_code == 200 and len(documents) == 2


def test_the_reason_an_index_is_missing_names_no_path(keyless_server: str, policyqa_home: Path) -> None:
    detail = httpx.get(keyless_server + "/ready", timeout=30).json()["detail"]
    assert detail.startswith("index not loaded: no index at <index_dir>")
    assert str(policyqa_home) not in detail and json.dumps(str(policyqa_home))[1:-1] not in detail
