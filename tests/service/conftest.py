"""A real ``policyqa serve`` process on a free port, over an index built once per session from the seed
document plus a small second document written here; the model materialises once in the session home."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from policyqa.corpus.model import ParsedDocument
from policyqa.corpus.parse import parse_file
from policyqa.eval.server import free_port, policyqa_command, running_server
from policyqa.indexer import Embedder, IndexSettings, build_index

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "corpus" / "samples" / "000_a0c1336e9725a78b.txt"
API_KEY = "test-key-0123456789"
MAX_UPLOAD_BYTES = 50_000
PORTAL_ORIGIN = "http://portal.example.gov.cn"
STARTUP_SECONDS = 300
POLL_SECONDS = 0.1  # between two checks that a server in a thread answers

SECOND_DOCUMENT = """【苏州】(2020)苏州市人才公寓管理办法
时间:2020-05-06
发文机关：苏州市人民政府
苏府规字〔2020〕3号

第一条 为规范人才公寓的建设和管理，吸引和留住各类人才，结合本市实际，制定本办法。
第二条 本办法所称人才公寓，是指由政府主导建设或者筹集，面向符合条件的人才定向出租的住房。
第三条 申请人才公寓应当同时符合下列条件：
（一）与本市用人单位签订一年以上劳动合同；
（二）本人及配偶在本市无自有住房；
（三）具有本科以上学历或者中级以上专业技术职称。
第四条 人才公寓租金按照同地段同类住房市场租金的百分之五十确定。租赁期限最长不超过三年。
第五条 承租人有下列情形之一的，应当退出人才公寓：（一）离开本市工作的；（二）在本市购买住房的。
第六条 本办法自2020年6月1日起施行。
"""


@dataclass(frozen=True)
class Server:
    """A running service: its base URL, the documents it was built from and its log file."""

    url: str
    seed: ParsedDocument
    second: ParsedDocument
    log: Path
    portal_port: int  # a free port whose http://127.0.0.1 origin the server allows (CORS)
    api_key: str = API_KEY
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    cors_origin: str = PORTAL_ORIGIN

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kwargs)


def hermetic_env(home: Path, **settings: str) -> dict[str, str]:
    """The current environment without any POLICYQA_* variable, plus the given settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("POLICYQA_")}
    env.update({"POLICYQA_HOME": str(home), **{f"POLICYQA_{k.upper()}": v for k, v in settings.items()}})
    return env


@pytest.fixture(scope="session")
def service_index(
    policyqa_home: Path, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list]:
    """The session index (seed + second document) and the parsed documents it holds."""
    folder = tmp_path_factory.mktemp("service-docs")
    second = folder / "second.txt"
    second.write_text(SECOND_DOCUMENT, encoding="utf-8")
    settings = IndexSettings(home=policyqa_home)
    index_dir = policyqa_home / "test-index"
    build_index([SEED, second], index_dir, settings, embedder=embedder, progress=False)
    return index_dir, [parse_file(SEED), parse_file(second)]


def serving(
    command: list[str], port: int, env: dict[str, str], log: Path, ready_path: str = "/ready"
) -> contextlib.AbstractContextManager[str]:
    """``command`` running from the repository, its output in ``log``; yields the base URL once
    ``ready_path`` answers 200 (the shared start-up of ``policyqa bench``, with the tests' patience)."""
    return running_server(
        command, port=port, env=env, cwd=REPO, log=log, ready_path=ready_path, startup_timeout=STARTUP_SECONDS
    )


@pytest.fixture(scope="session")
def server(policyqa_home: Path, service_index: tuple[Path, list], tmp_path_factory) -> Iterator[Server]:
    """``policyqa serve`` with an API key, a CORS origin and a small upload limit."""
    index_dir, (seed, second) = service_index
    port, portal_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("server-log") / "server.log"
    env = hermetic_env(
        policyqa_home,
        api_key=API_KEY,
        cors_origins=f"{PORTAL_ORIGIN}, http://127.0.0.1:{portal_port}",
        max_upload_bytes=str(MAX_UPLOAD_BYTES),
    )
    command = policyqa_command("serve", "--index-dir", str(index_dir), port=port)
    with serving(command, port, env, log) as url:
        yield Server(url, seed, second, log, portal_port)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., tuple[str, Path]]]:
    """Start ``python -m policyqa.cli <arguments> --port P`` with POLICYQA_HOME=``home`` and wait for /ready;
    returns (base URL, log file). Every server started is stopped after the test."""
    with contextlib.ExitStack() as servers:

        def start(home: Path, *arguments: str) -> tuple[str, Path]:
            port = free_port()
            log = tmp_path / f"server-{port}.log"
            command = policyqa_command(*arguments, port=port)
            return servers.enter_context(serving(command, port, hermetic_env(home), log)), log

        yield start


@pytest.fixture(scope="session")
def keyless_server(policyqa_home: Path, tmp_path_factory) -> Iterator[str]:
    """The app with no API key and no index (it never becomes ready): write endpoints are disabled."""
    port = free_port()
    log = tmp_path_factory.mktemp("keyless-log") / "server.log"
    env = hermetic_env(policyqa_home, index_dir=str(policyqa_home / "no-index-here"))
    command = [sys.executable, "-m", "uvicorn", "--factory", "policyqa.service.app:create_app"]
    command += ["--port", str(port)]
    with serving(command, port, env, log, ready_path="/health") as url:
        yield url


@pytest.fixture(scope="session")
def serve_in_thread() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``serving_in_thread``, for test modules (they cannot import this file)."""
    return serving_in_thread


@contextlib.contextmanager
def serving_in_thread(app, ready_path: str = "/health") -> Iterator[str]:
    """``app`` served by a real uvicorn server on a free loopback port in a thread of this process; yields
    its base URL once ``ready_path`` answers 200 (within STARTUP_SECONDS), stops it afterwards (requests
    still running are cancelled after a second)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(url + ready_path):
            assert thread.is_alive() and time.monotonic() < deadline, f"{url}{ready_path} never answered 200"
            time.sleep(POLL_SECONDS)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


# ---- versions and validity: two versions of 公司法, 监察法 and the law it repealed ---------------------

LAWREF = REPO.parent / "shared" / "corpus" / "lawrefbook"
VALIDITY_TODAY = "2025-06-01"  # POLICYQA_TODAY of the validity server: after 公司法 (2023) took effect
REPEALED_LAW = """中华人民共和国行政监察法
时间:2010-06-25

第一条 为了加强监察工作，保证政令畅通，维护行政纪律，根据宪法，制定本法。
第二条 监察机关是人民政府行使监察职能的机关，依照本法对国家行政机关实施监察。
第三条 监察机关依照本法第二条的规定独立行使职权，不受其他行政部门的干涉。
第四条 本法自公布之日起施行。
"""


@dataclass(frozen=True)
class ValidityServer:
    """A running service over the validity index, with POLICYQA_TODAY set; ``documents`` by short name
    (company_2018, company_2023, supervision, administrative_supervision)."""

    url: str
    index_dir: Path
    documents: dict[str, ParsedDocument]
    api_key: str = API_KEY

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kwargs)


@pytest.fixture(scope="session")
def validity_index(
    policyqa_home: Path, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, ParsedDocument]]:
    """公司法 (2018-10-26 and 2023-12-29, in force from 2024-07-01), 监察法 (2018, which repeals
    《中华人民共和国行政监察法》) and a short 行政监察法, indexed once per session (a few hundred passages:
    a minute or two)."""
    if not LAWREF.is_dir():
        pytest.skip("needs ../shared/corpus/lawrefbook")
    folder = tmp_path_factory.mktemp("validity-docs")
    repealed = folder / "行政监察法.txt"
    repealed.write_text(REPEALED_LAW, encoding="utf-8")
    files = {
        "company_2018": LAWREF / "民法商法" / "公司法(2018-10-26).md",
        "company_2023": LAWREF / "民法商法" / "公司法(2023-12-29).md",
        "supervision": LAWREF / "宪法相关法" / "监察法(2018-03-20).md",
        "administrative_supervision": repealed,
    }
    index_dir = policyqa_home / "validity-index"
    build_index(
        list(files.values()), index_dir, IndexSettings(home=policyqa_home), embedder=embedder, progress=False
    )
    return index_dir, {name: parse_file(path) for name, path in files.items()}


@pytest.fixture(scope="session")
def validity_server(
    policyqa_home: Path, validity_index: tuple[Path, dict[str, ParsedDocument]], tmp_path_factory
) -> Iterator[ValidityServer]:
    """``policyqa serve`` over a private copy of the validity index (uploads change it), today fixed."""
    import shutil

    source, documents = validity_index
    index_dir = tmp_path_factory.mktemp("validity-served") / "index"
    shutil.copytree(source, index_dir)
    port = free_port()
    log = tmp_path_factory.mktemp("validity-log") / "server.log"
    env = hermetic_env(policyqa_home, api_key=API_KEY, today=VALIDITY_TODAY)
    with serving(policyqa_command("serve", "--index-dir", str(index_dir), port=port), port, env, log) as url:
        yield ValidityServer(url, index_dir, documents)
