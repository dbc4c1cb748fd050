"""Indexer test fixtures: a tiny corpus written by the tests, and indexes of it built once per session."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from policyqa.indexer.embedder import Embedder
from policyqa.indexer.settings import IndexSettings

LAW_TEXT = """中华人民共和国示范促进法

第一章 总则

第一条 为了规范示范活动，促进创新发展，制定本法。

第二条 本法适用于中华人民共和国境内的示范活动。

第二章 扶持措施

第二十三条 国家设立专项资金，支持科技型中小企业开展研发活动。

第二十四条 县级以上人民政府应当为入驻单位减免场地租金。违反本条规定的，由主管部门责令改正。

第二十五条 本法自2020年1月1日起施行。
"""

NOTICE_TEXT = """南京市人民政府关于做好夏季防汛工作的通知
宁政发〔2021〕45号
2021-05-20

各区人民政府，市府各委办局：

  一、加强组织领导

  （一）落实防汛责任。各区要建立防汛责任制，明确责任人。

  （二）做好物资储备。储备沙袋、水泵等防汛物资。

  二、强化监测预警

  （三）加强雨情监测。气象部门要及时发布暴雨预警信息。
"""


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a law (第X条), a 通知 (一、（一）) and the demo seed document."""
    import shutil

    from policyqa.indexer.demo import DEMO_CORPUS

    folder = tmp_path_factory.mktemp("tiny-corpus")
    (folder / "law.txt").write_text(LAW_TEXT, encoding="utf-8")
    (folder / "notices").mkdir()
    (folder / "notices" / "flood.txt").write_text(NOTICE_TEXT, encoding="gb18030")
    for sample in DEMO_CORPUS.iterdir():
        shutil.copy(sample, folder / sample.name)
    return folder


@pytest.fixture(scope="session")
def tiny_index_dir(
    tiny_corpus: Path,
    index_settings: IndexSettings,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The tiny corpus indexed once per session; tests that change an index copy it first."""
    from policyqa.indexer.index import build_index

    index_dir = tmp_path_factory.mktemp("tiny-index")
    build_index([tiny_corpus], index_dir, index_settings, embedder=embedder, progress=False)
    return index_dir


@pytest.fixture(scope="session")
def tiny_milvus_settings(
    tiny_index_dir: Path, index_settings: IndexSettings, tmp_path_factory: pytest.TempPathFactory
) -> IndexSettings:
    """Settings of the Milvus store (milvus-lite on a .db of its own) holding the tiny index, migrated
    from its folder once per session; tests that change it migrate their own copy."""
    from policyqa.indexer.milvus_store import migrate_folder

    database = tmp_path_factory.mktemp("milvus") / "tiny.db"
    settings = index_settings.model_copy(update={"store": "milvus", "milvus_uri": str(database)})
    migrate_folder(tiny_index_dir, settings)
    return settings


@pytest.fixture
def tiny_index_copy(tiny_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny index, free to update."""
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(tiny_index_dir, copy)
    return copy


@pytest.fixture(scope="session")
def demo_index_dir(index_settings: IndexSettings, embedder: Embedder) -> Path:
    """The demo index at the session home's default location (what `policyqa search` uses by default)."""
    from policyqa.indexer.demo import ensure_demo_index

    return ensure_demo_index(index_settings, embedder=embedder, progress=False)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLI dispatcher configures the root logger; give pytest its handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
