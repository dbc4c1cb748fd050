"""POLICYQA_ADAPTER: a LoRA adapter folder merged into the base model at load, verified by its fingerprint,
recorded in the model id; every unusable folder is a one-line ModelLoadError."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from policyqa.indexer import PolicyIndex, model_loading
from policyqa.indexer.e5_model import default_model_source
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import IndexMismatchError, ModelLoadError
from policyqa.indexer.index import build_index
from policyqa.indexer.model_loading import (
    ADAPTER_MARKER,
    MERGED_MARKER,
    SHIPPED_ADAPTER,
    adapter_digest,
    adapter_fingerprint,
    adapter_folder,
    apply_adapter,
    merged_folder,
)
from policyqa.indexer.settings import IndexSettings, load_settings

QUESTION = "小微企业申请创业担保贷款需要满足哪些条件？"


@pytest.fixture(scope="module")
def adapter(base_embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-made adapter of the default model: random (non-zero) LoRA weights on two layers, saved the way
    peft saves them, with the marker `policyqa train embedder` writes."""
    import torch
    from peft import LoraConfig, get_peft_model

    model = copy.deepcopy(base_embedder.model)
    torch.manual_seed(0)
    lora = LoraConfig(r=2, lora_alpha=2, target_modules=["query", "value"], init_lora_weights=False)
    adapted = get_peft_model(model[0].model, lora)
    folder = tmp_path_factory.mktemp("adapter")
    adapted.save_pretrained(str(folder))
    model[0].model = adapted.merge_and_unload()
    fingerprint = {"vectors": adapter_fingerprint(model).tolist()}
    marker = {"base_model": base_embedder.model_id, "fingerprint": fingerprint}
    (folder / ADAPTER_MARKER).write_text(json.dumps(marker), encoding="utf-8")
    return folder


def _copy(adapter: Path, tmp_path: Path) -> Path:
    target = tmp_path / "adapter"
    shutil.copytree(adapter, target)
    return target


def _marker(folder: Path) -> dict:
    return json.loads((folder / ADAPTER_MARKER).read_text(encoding="utf-8"))


def test_the_adapter_is_merged_and_named_in_the_model_id(
    adapter, base_embedder, base_settings, embedder, seed_index
):
    settings = base_settings.model_copy(update={"adapter": str(adapter)})
    adapted = Embedder.from_settings(settings, progress=False)
    assert adapted.model_id == f"{base_embedder.model_id}+lora@{adapter_digest(adapter)[:12]}"
    assert float(adapted.embed_query(QUESTION) @ base_embedder.embed_query(QUESTION)) < 0.9999
    merged = adapted.model[0].model
    assert not any("lora" in name for name, _parameter in merged.named_parameters())  # nothing extra to run
    with pytest.raises(IndexMismatchError) as raised:
        PolicyIndex.load(seed_index, settings, embedder=adapted)
    assert embedder.model_id in str(raised.value) and adapted.model_id in str(raised.value)


def test_the_setting_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("POLICYQA_ADAPTER", str(tmp_path))
    assert adapter_folder(load_settings()) == tmp_path
    monkeypatch.setenv("POLICYQA_ADAPTER", "none")
    assert adapter_folder(load_settings()) is None
    monkeypatch.setenv("POLICYQA_ADAPTER", "stard")
    assert adapter_folder(load_settings()) == SHIPPED_ADAPTER
    monkeypatch.setenv("POLICYQA_ADAPTER", " ")
    assert adapter_folder(load_settings()) is None
    monkeypatch.delenv("POLICYQA_ADAPTER")
    assert adapter_folder(IndexSettings()) == SHIPPED_ADAPTER  # the default model's default
    assert adapter_folder(IndexSettings(model=str(tmp_path))) is None  # any other model: none


def test_a_tampered_fingerprint_is_refused(adapter, base_embedder, tmp_path):
    folder = _copy(adapter, tmp_path)
    marker = _marker(folder)
    marker["fingerprint"]["vectors"][0] = list(-np.asarray(marker["fingerprint"]["vectors"][0]))
    (folder / ADAPTER_MARKER).write_text(json.dumps(marker), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="does not reproduce its fingerprint"):
        apply_adapter(copy.deepcopy(base_embedder.model), base_embedder.model_id, folder)


def test_an_adapter_of_another_base_names_both(adapter, base_embedder, tmp_path):
    folder = _copy(adapter, tmp_path)
    marker = _marker(folder)
    marker["base_model"] = "someone/else@1"
    (folder / ADAPTER_MARKER).write_text(json.dumps(marker), encoding="utf-8")
    with pytest.raises(ModelLoadError) as raised:
        apply_adapter(base_embedder.model, base_embedder.model_id, folder)  # refused before changing it
    assert "someone/else@1" in str(raised.value) and base_embedder.model_id in str(raised.value)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda folder: shutil.rmtree(folder), "no such folder"),
        (lambda folder: (folder / "adapter_model.safetensors").unlink(), "missing adapter_model.safetensors"),
        (lambda folder: (folder / ADAPTER_MARKER).write_text("{", encoding="utf-8"), "unreadable"),
        (lambda folder: (folder / ADAPTER_MARKER).write_text("{}", encoding="utf-8"), "was trained on"),
    ],
)
def test_an_unusable_folder_is_one_line(adapter, base_embedder, tmp_path, damage, reason):
    folder = _copy(adapter, tmp_path)
    damage(folder)
    with pytest.raises(ModelLoadError, match=reason) as raised:
        apply_adapter(base_embedder.model, base_embedder.model_id, folder)  # refused before changing it
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_missing_adapter_of_the_default_model_is_one_line(
    index_settings: IndexSettings, embedder: Embedder, tmp_path: Path, backend: str
) -> None:
    """Named by POLICYQA_ADAPTER and gone: the adapter is named, not an index to rebuild."""
    settings = index_settings.model_copy(update={"adapter": str(tmp_path / "gone"), "backend": backend})
    with pytest.raises(ModelLoadError, match="no such folder") as raised:
        Embedder.from_settings(settings, progress=False)
    assert "POLICYQA_ADAPTER" in str(raised.value) and "\n" not in str(raised.value)


def test_corrupt_adapter_weights_are_one_line(adapter, base_embedder, tmp_path):
    folder = _copy(adapter, tmp_path)
    (folder / "adapter_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadError, match="cannot be applied") as raised:
        apply_adapter(copy.deepcopy(base_embedder.model), base_embedder.model_id, folder)
    assert "\n" not in str(raised.value)


def test_a_marker_without_fingerprint_is_refused(adapter, base_embedder, tmp_path):
    folder = _copy(adapter, tmp_path)
    (folder / ADAPTER_MARKER).write_text(json.dumps({"base_model": base_embedder.model_id}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="no valid fingerprint"):
        apply_adapter(base_embedder.model, base_embedder.model_id, folder)


def test_the_shipped_adapter_loads_and_matches_its_fingerprint(base_settings, base_embedder):
    marker = _marker(SHIPPED_ADAPTER)
    assert marker["base_model"] == base_embedder.model_id  # trained on the default model, as loaded here
    tuned = Embedder.from_settings(base_settings.model_copy(update={"adapter": "stard"}), progress=False)
    assert tuned.model_id == f"{base_embedder.model_id}+lora@{adapter_digest(SHIPPED_ADAPTER)[:12]}"
    shipped_bytes = sum(path.stat().st_size for path in SHIPPED_ADAPTER.iterdir())
    assert shipped_bytes <= 25 * 1024 * 1024


def test_an_index_built_before_the_default_adapter_names_both_fixes(
    base_embedder, base_settings, embedder, index_settings, seed_document, tmp_path
):
    index_dir = tmp_path / "base-index"
    build_index([seed_document], index_dir, base_settings, embedder=base_embedder, progress=False)
    with pytest.raises(IndexMismatchError) as raised:
        PolicyIndex.load(index_dir, index_settings, embedder=embedder)
    assert "rebuild with `policyqa index PATH" in str(raised.value)
    assert "POLICYQA_ADAPTER=none" in str(raised.value)


def test_the_merged_default_model_is_cached_and_loads_without_merging(index_settings, embedder, monkeypatch):
    folder = merged_folder(index_settings.model_cache_dir, default_model_source().model_id, SHIPPED_ADAPTER)
    assert (folder / MERGED_MARKER).is_file()  # saved when the session's embedder first loaded

    def no_merge(*_args):
        raise AssertionError("the cached merge should have been loaded")

    monkeypatch.setattr(model_loading, "merge_adapter", no_merge)
    cached = Embedder.from_settings(index_settings, progress=False)
    assert cached.model_id == embedder.model_id
    assert np.array_equal(cached.embed_query(QUESTION), embedder.embed_query(QUESTION))


def test_a_damaged_merged_folder_is_merged_again_and_replaced(index_settings, embedder):
    folder = merged_folder(index_settings.model_cache_dir, default_model_source().model_id, SHIPPED_ADAPTER)
    with (folder / "model.safetensors").open("ab") as handle:
        handle.write(b"\0")  # its size no longer matches the marker: not a complete merged folder
    again = Embedder.from_settings(index_settings, progress=False)
    assert again.model_id == embedder.model_id
    assert np.array_equal(again.embed_query(QUESTION), embedder.embed_query(QUESTION))
    marker = json.loads((folder / MERGED_MARKER).read_text(encoding="utf-8"))
    assert marker["files"]["model.safetensors"] == (folder / "model.safetensors").stat().st_size
