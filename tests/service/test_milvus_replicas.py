"""Two `policyqa serve` replicas over one milvus-lite gRPC server (POLICYQA_STORE=milvus): what one writes,
the other serves, with no state of its own to synchronise."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from policyqa.eval.server import LOOPBACK, free_port, policyqa_command, stop
from policyqa.indexer.milvus_store import migrate_folder
from policyqa.indexer.settings import IndexSettings

from .conftest import API_KEY, hermetic_env, serving

UPLOAD = """苏州市人民政府关于加快发展低空经济的若干措施
苏府〔2024〕12号
2024-03-01

  一、支持低空飞行器研发

  （一）设立无人机适航审定奖励。对取得适航证的本地企业给予一次性奖励。
"""
QUERY = "无人机适航审定奖励"
STARTUP_SECONDS = 60.0
DEADLINE_SECONDS = 30.0  # the replicas check the collection's generation every 0.2 s


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """milvus-lite's own gRPC server on a free loopback port (what `milvus-lite server` runs)."""
    port = free_port()
    data = tmp_path_factory.mktemp("milvus-server") / "data"
    log = (data.parent / "server.log").open("wb")
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data)]
    process = subprocess.Popen(
        [*command, "--host", LOOPBACK, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    uri = f"http://{LOOPBACK}:{port}"
    try:
        _wait_for(lambda: process.poll() is None and _answers(uri), STARTUP_SECONDS, "milvus-lite server")
        yield uri
    finally:
        stop(process)
        log.close()


def _answers(uri: str) -> bool:
    from pymilvus import MilvusClient

    try:
        MilvusClient(uri=uri, timeout=2).list_collections()
    except Exception:  # not listening yet: pymilvus raises its own connection errors
        return False
    return True


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll ``condition`` until true; returns the seconds it took (fails the test past ``seconds``)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds:.0f} s"
        time.sleep(0.05)
    return time.monotonic() - started


def _found(url: str, document_id: str) -> bool:
    response = httpx.get(f"{url}/search", params={"q": QUERY, "k": 5}, timeout=30)
    response.raise_for_status()
    return any(hit["document"]["id"] == document_id for hit in response.json()["hits"])


def _listed(url: str, document_id: str) -> bool:
    response = httpx.get(f"{url}/documents/{document_id}", timeout=30)
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


@pytest.fixture(scope="module")
def replicas(
    milvus_server: str, service_index: tuple[Path, list], policyqa_home: Path, tmp_path_factory
) -> Iterator[tuple[str, str]]:
    """Two `policyqa serve` processes sharing the collection the session's service index was migrated into."""
    index_dir, _documents = service_index
    settings = IndexSettings(home=policyqa_home, store="milvus", milvus_uri=milvus_server)
    migrate_folder(index_dir, settings)
    env = hermetic_env(policyqa_home, store="milvus", milvus_uri=milvus_server, api_key=API_KEY)
    logs = tmp_path_factory.mktemp("replica-logs")
    with contextlib.ExitStack() as servers:
        urls = []
        for name in ("a", "b"):
            port = free_port()
            command = policyqa_command(
                "serve", "--index-dir", str(tmp_path_factory.mktemp("local")), port=port
            )
            urls.append(servers.enter_context(serving(command, port, env, logs / f"{name}.log")))
        yield urls[0], urls[1]


def test_an_upload_through_one_replica_is_served_by_the_other(
    replicas: tuple[str, str], record_property: Callable[[str, object], None]
) -> None:
    first, second = replicas
    uploaded = httpx.post(
        f"{first}/documents",
        headers={"X-API-Key": API_KEY},
        files={"file": ("low-altitude.txt", UPLOAD.encode(), "text/plain")},
        timeout=120,
    )
    assert uploaded.status_code == 201, uploaded.text
    document_id = uploaded.json()["document"]["id"]
    assert _found(first, document_id)
    seen = _wait_for(
        lambda: _found(second, document_id) and _listed(second, document_id),
        DEADLINE_SECONDS,
        "upload seen by the other replica",
    )
    record_property("upload_seen_after_seconds", round(seen, 3))  # reported with --junitxml

    deleted = httpx.delete(f"{second}/documents/{document_id}", headers={"X-API-Key": API_KEY}, timeout=120)
    assert deleted.status_code == 200, deleted.text
    assert not _found(second, document_id)
    # Milvus drops the passages from every replica's searches at once; the other replica's catalogue
    # follows when it reloads: wait for both (the search alone raced the reload on a busy machine)
    gone = _wait_for(
        lambda: not _found(first, document_id) and not _listed(first, document_id),
        DEADLINE_SECONDS,
        "delete seen by the other replica",
    )
    record_property("delete_seen_after_seconds", round(gone, 3))
