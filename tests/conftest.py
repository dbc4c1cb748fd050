"""Session fixtures shared by every test package: one throw-away POLICYQA_HOME and the real default
model, materialised into it once per test run."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from policyqa.indexer import build_index
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.relevance import RelevanceModel
from policyqa.indexer.settings import NO_ADAPTER, IndexSettings

REPO = Path(__file__).resolve().parents[1]
SEED_DOCUMENT = REPO / "corpus" / "samples" / "000_a0c1336e9725a78b.txt"
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def policyqa_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throw-away POLICYQA_HOME for the whole session (models, embedding cache, indexes)."""
    home = tmp_path_factory.mktemp("policyqa-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POLICYQA_HOME", str(home))
        patch.delenv("POLICYQA_INDEX_DIR", raising=False)
        yield home


@pytest.fixture(scope="session")
def index_settings(policyqa_home: Path) -> IndexSettings:
    """Settings pointing at the session home, with the built-in default model and its shipped adapter, on
    torch: the reference the ONNX backends are checked against, and the model object the loading and
    training tests need (the default backend, onnx, runs in tests/indexer/test_encoders.py and in every
    served test: ``policyqa serve`` subprocesses use the default settings)."""
    return IndexSettings(home=policyqa_home, backend="torch")


@pytest.fixture(scope="session")
def embedder(index_settings: IndexSettings) -> Embedder:
    """The default embedder (multilingual-e5-small + the shipped adapter); the first use materialises the
    base model (10-40 s)."""
    return Embedder.from_settings(index_settings, progress=False)


@pytest.fixture(scope="session")
def base_settings(index_settings: IndexSettings) -> IndexSettings:
    """The session settings without the shipped adapter: the bare base model adapters are trained on."""
    return index_settings.model_copy(update={"adapter": NO_ADAPTER})


@pytest.fixture(scope="session")
def base_embedder(base_settings: IndexSettings, embedder: Embedder) -> Embedder:
    """The bare base model (the default embedder is materialised first)."""
    return Embedder.from_settings(base_settings, progress=False)


@pytest.fixture(scope="session")
def relevance_model(embedder: Embedder) -> RelevanceModel:
    """A relevance model for the session's embedder with the fitted model's shape (cosine counts most,
    coverage next; near the tuned default's fit), for tests that ask questions whatever model files are
    shipped."""
    return RelevanceModel(embedder.model_id, (6.3, 3.2), -8.3, 0.03, {})


@pytest.fixture(scope="session")
def seed_document() -> Path:
    """The demo document shipped with the corpus package."""
    return SEED_DOCUMENT


@pytest.fixture(scope="session")
def seed_index(policyqa_home: Path, index_settings: IndexSettings, embedder: Embedder) -> Path:
    """An index of the seed document only."""
    index_dir = policyqa_home / "seed-index"
    build_index([SEED_DOCUMENT], index_dir, index_settings, embedder=embedder, progress=False)
    return index_dir


@pytest.fixture(scope="session")
def mount_namespace() -> list[str]:
    """The command prefix that runs a command in a mount namespace of its own (``unshare --mount
    --map-root-user``), where a test can make a folder read-only or mount a tiny file system that fills up,
    for real, without touching the machine; skips where unprivileged user namespaces are not allowed."""
    command = ["unshare", "--mount", "--map-root-user"]
    if shutil.which("unshare") is None or subprocess.run([*command, "true"], check=False).returncode != 0:
        pytest.skip("needs unshare with user and mount namespaces")
    return command
