"""Embedder: the persistent cache (hits, misses, resumption), batching, prompts and offline loading."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from policyqa.errors import PolicyQAError
from policyqa.indexer.e5_model import FOLDER_NAME
from policyqa.indexer.embedder import Embedder, padded_batches
from policyqa.indexer.embedding_cache import EmbeddingCache, cache_key
from policyqa.indexer.errors import EmbeddingCacheError, ModelLoadError
from policyqa.indexer.settings import IndexSettings

TEXTS = [
    "第一条　为了规范政府信息公开工作，制定本条例。",
    "行政机关应当及时、准确地公开政府信息。",
    "第三条　各级人民政府应当加强对政府信息公开工作的组织领导。",
    "公民、法人或者其他组织可以向地方各级人民政府申请获取相关政府信息。",
    "第五条",
]


class EncodeRecorder:
    """Wraps the real ``model.encode`` and records the texts of every call."""

    def __init__(self, encode) -> None:
        self.encode = encode
        self.calls: list[list[str]] = []

    def __call__(self, texts, **kwargs):
        self.calls.append(list(texts))
        return self.encode(texts, **kwargs)

    @property
    def texts(self) -> list[str]:
        return [text for call in self.calls for text in call]


@pytest.fixture
def fresh_embedder(embedder: Embedder, tmp_path: Path) -> Embedder:
    """The session model with an empty cache of its own and batches of two."""
    return Embedder(
        embedder.model,
        model_id=embedder.model_id,
        query_prompt=embedder.query_prompt,
        passage_prompt=embedder.passage_prompt,
        cache=EmbeddingCache(tmp_path / "cache.sqlite"),
        batch_size=2,
        progress=False,
    )


@pytest.fixture
def recorder(fresh_embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> EncodeRecorder:
    recorder = EncodeRecorder(fresh_embedder.model.encode)
    monkeypatch.setattr(fresh_embedder.model, "encode", recorder)
    return recorder


def test_second_call_is_served_from_the_cache(fresh_embedder: Embedder, recorder: EncodeRecorder) -> None:
    first = fresh_embedder.embed_passages(TEXTS)
    assert sorted(recorder.texts) == sorted(TEXTS)
    assert len(fresh_embedder.cache) == len(TEXTS)

    recorder.calls.clear()
    second = fresh_embedder.embed_passages(TEXTS)

    assert recorder.calls == []
    assert second.dtype == np.float32 and second.shape == (len(TEXTS), 384)
    assert np.array_equal(first, second)
    assert np.allclose(np.linalg.norm(second, axis=1), 1.0, atol=1e-5)


def test_only_a_changed_text_is_embedded(fresh_embedder: Embedder, recorder: EncodeRecorder) -> None:
    fresh_embedder.embed_passages(TEXTS)
    recorder.calls.clear()
    changed = [*TEXTS[:2], TEXTS[2] + "（修订）", *TEXTS[3:]]

    vectors = fresh_embedder.embed_passages(changed)

    assert recorder.texts == [changed[2]]
    reference = fresh_embedder.model.encode([changed[2]], prompt="passage: ", normalize_embeddings=True)
    assert np.allclose(vectors[2], reference[0], atol=1e-6)


def test_misses_are_embedded_once_in_length_sorted_batches(
    fresh_embedder: Embedder, recorder: EncodeRecorder
) -> None:
    vectors = fresh_embedder.embed_passages([*TEXTS, TEXTS[0]])

    assert [len(call) for call in recorder.calls] == [2, 2, 1]
    tokens = fresh_embedder.count_tokens(recorder.texts)
    assert tokens == sorted(tokens) and len(tokens) == len(TEXTS)
    assert np.array_equal(vectors[0], vectors[-1])


def test_a_token_budget_puts_long_passages_in_smaller_batches(
    fresh_embedder: Embedder, recorder: EncodeRecorder
) -> None:
    short = [f"第{n}条 本条例自公布之日起施行。" for n in range(1, 7)]
    long = [f"{TEXTS[3]}{n}" * 8 for n in range(4)]  # four of one token count
    fresh_embedder.batch_size = 4
    fresh_embedder.batch_tokens = 2 * max(fresh_embedder.count_tokens(long))
    fresh_embedder.embed_passages([*long, *short])
    assert [len(call) for call in recorder.calls] == [4, 2, 2, 2]  # short ones 4 at a time, long ones 2


@pytest.mark.parametrize(
    ("lengths", "batch_size", "batch_tokens", "expected"),
    [
        ([], 4, 100, []),
        ([5, 5, 5, 5, 5], 2, 100, [(0, 2), (2, 4), (4, 5)]),
        ([10, 20, 30, 40], 4, 60, [(0, 2), (2, 3), (3, 4)]),  # 2 × 20 ≤ 60, 3 × 30 > 60
        ([200, 300], 8, 100, [(0, 1), (1, 2)]),  # over the budget alone: a batch of one
    ],
)
def test_padded_batches(lengths, batch_size, batch_tokens, expected) -> None:
    assert list(padded_batches(lengths, batch_size, batch_tokens)) == expected


def test_interrupted_run_resumes_where_it_stopped(
    fresh_embedder: Embedder, recorder: EncodeRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def encode_then_interrupt(texts, **kwargs):
        if recorder.calls:
            raise KeyboardInterrupt
        return recorder(texts, **kwargs)

    monkeypatch.setattr(fresh_embedder.model, "encode", encode_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        fresh_embedder.embed_passages(TEXTS)
    assert len(fresh_embedder.cache) == 2  # the first batch was committed

    monkeypatch.setattr(fresh_embedder.model, "encode", recorder)
    recorder.calls.clear()
    fresh_embedder.embed_passages(TEXTS)
    assert len(recorder.texts) == len(TEXTS) - 2


def test_cache_is_keyed_by_model_and_prompt(fresh_embedder: Embedder) -> None:
    fresh_embedder.embed_passages(TEXTS[:1])
    key = cache_key(fresh_embedder.model_id, "passage: ", TEXTS[0])
    assert set(fresh_embedder.cache.get_many([key], 384)) == {key}
    assert cache_key("other/model", "passage: ", TEXTS[0]) != key
    assert cache_key(fresh_embedder.model_id, "query: ", TEXTS[0]) != key


def test_cache_ignores_rows_of_another_dimension(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    cache.put_many([b"k" * 32], np.ones((1, 8), np.float32))
    assert cache.get_many([b"k" * 32], 384) == {}
    assert np.array_equal(cache.get_many([b"k" * 32], 8)[b"k" * 32], np.ones(8, np.float32))
    with sqlite3.connect(cache.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unusable_cache_file_is_a_clear_error(fresh_embedder: Embedder) -> None:
    fresh_embedder.cache.path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EmbeddingCacheError, match=r"embedding cache .* is unusable"):
        fresh_embedder.embed_passages(TEXTS[:1])


def test_query_embedding_and_token_counts(embedder: Embedder) -> None:
    query = embedder.embed_query("政府信息公开的申请期限是多久？")
    assert query.shape == (384,) and query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    assert embedder.embed_passages([]).shape == (0, 384)
    assert embedder.count_tokens([]) == []
    with_specials = len(embedder.model.tokenizer("第五条")["input_ids"])
    assert embedder.count_tokens(["第五条", ""]) == [with_specials - 2, 0]


def test_batch_query_embedding_matches_single_queries(embedder: Embedder) -> None:
    questions = ["孵化器有什么扶持？", "第二十四条规定了什么", "高新区如何审批项目"]
    batch = embedder.embed_queries(questions)
    assert batch.shape == (3, 384) and batch.dtype == np.float32
    for row, question in zip(batch, questions, strict=True):
        assert float(row @ embedder.embed_query(question)) > 0.9999
    assert embedder.embed_queries([]).shape == (0, 384)


@pytest.mark.parametrize("name", ["no-such-org/no-such-model-xyz", "/nonexistent/policyqa/model"])
def test_model_not_available_offline_is_a_model_load_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelLoadError) as caught:
        Embedder.from_settings(IndexSettings(home=tmp_path, model=name), progress=False)
    assert isinstance(caught.value, PolicyQAError)
    message = str(caught.value)
    assert f"model {name!r} is not available offline" in message
    assert "POLICYQA_MODEL" in message


def test_broken_local_model_folder_is_a_model_load_error(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="is not available offline"):
        Embedder.from_settings(IndexSettings(home=tmp_path, model=str(tmp_path / "model")), progress=False)


def test_another_model_from_a_local_path_with_prompt_override(
    base_embedder: Embedder, index_settings: IndexSettings, tmp_path: Path
) -> None:
    folder = index_settings.model_cache_dir / FOLDER_NAME
    settings = IndexSettings(
        home=tmp_path, model=str(folder), query_prompt="query: ", passage_prompt="", backend="torch"
    )

    other = Embedder.from_settings(settings, progress=False)

    assert other.model_id.startswith(f"local:{FOLDER_NAME}@") and other.model_id != base_embedder.model_id
    assert (other.query_prompt, other.passage_prompt) == ("query: ", "")
    text = TEXTS[1]
    assert float(other.embed_query(text) @ base_embedder.embed_query(text)) > 0.99999
    without_prompt = base_embedder.model.encode([text], normalize_embeddings=True)[0]
    assert np.allclose(other.embed_passages([text])[0], without_prompt, atol=1e-5)


def test_hub_model_is_loaded_from_the_local_cache_without_network(
    base_embedder: Embedder, index_settings: IndexSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--policyqa--e5-test"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(index_settings.model_cache_dir / FOLDER_NAME, snapshot, copy_function=os.symlink)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    lookups: list[object] = []

    def no_network(host, *args, **kwargs):
        lookups.append(host)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)

    settings = IndexSettings(home=tmp_path, model="policyqa/e5-test", backend="torch")
    other = Embedder.from_settings(settings, progress=False)

    assert other.model_id == f"policyqa/e5-test@{commit}"
    assert (other.query_prompt, other.passage_prompt) == ("query: ", "passage: ")
    assert float(other.embed_query(TEXTS[0]) @ base_embedder.embed_query(TEXTS[0])) > 0.99999
    assert lookups == []
