"""A damaged index is refused, not served: checksums recorded at write time and verified at load, vectors
checked before they are written, ``policyqa index --verify`` on demand — on real index files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from policyqa.cli import main
from policyqa.corpus.parse import parse_text
from policyqa.indexer import PolicyIndex, add_documents
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import IndexCorruptError
from policyqa.indexer.integrity import check_vectors
from policyqa.indexer.settings import IndexSettings

REPO = Path(__file__).resolve().parents[2]
DAMAGEABLE = ["dense/dense.faiss", "vectors.npy", "bm25/weights.npz", "index.sqlite"]
NOTICE = "某市关于测试的通知\n2024-01-02\n\n一、测试条款。本通知自发布之日起施行。\n"


def version_of(index_dir: Path) -> Path:
    return index_dir / "versions" / (index_dir / "CURRENT").read_text().strip()


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Invert one byte in the middle of ``path`` (its size stays the same)."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_manifest_records_size_and_sha256_of_every_file(tiny_index_dir: Path) -> None:
    version = version_of(tiny_index_dir)
    files = json.loads((version / "manifest.json").read_text())["files"]
    on_disk = {
        path.relative_to(version).as_posix()
        for path in version.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    }
    assert set(files) == on_disk and set(DAMAGEABLE) <= on_disk
    for name, entry in files.items():
        data = (version / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("name", DAMAGEABLE)
def test_a_byte_flipped_in_any_file_is_refused_at_load_with_one_line(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder, name: str
) -> None:
    version = version_of(tiny_index_copy)
    flip_byte(version / name)
    with pytest.raises(IndexCorruptError) as refused:
        PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    message = str(refused.value)
    assert message == (
        f"index version {version.name} is damaged: {name} does not match its sha256 checksum; "
        "rebuild the index or restore it from a backup"
    )
    assert str(tiny_index_copy) not in message and "\n" not in message


def test_a_manifest_missing_an_entry_is_refused_with_one_line(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    """The manifest is read in the load's worker threads too (the BM25 tokenizer): a missing entry is the
    same one-line error there."""
    manifest_file = version_of(tiny_index_copy) / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    del manifest["tokenizer"]
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(
        IndexCorruptError, match=r"cannot be read \(KeyError: 'tokenizer'\); rebuild it"
    ) as refused:
        PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)
    assert "\n" not in str(refused.value)


def test_zeroed_vectors_and_a_truncated_bm25_file_are_refused(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    version = version_of(tiny_index_copy)
    faiss_file = version / "dense" / "dense.faiss"
    data = bytearray(faiss_file.read_bytes())
    data[-20_000:] = bytes(20_000)  # the probe overwrote 200 kB of the full index's vectors with zeros
    faiss_file.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=r"dense/dense\.faiss does not match its sha256 checksum"):
        PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)

    weights = version / "bm25" / "weights.npz"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])
    with pytest.raises(IndexCorruptError, match=rf"bm25/weights.npz is {size // 2:,} bytes; {size:,} were"):
        PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder)


def test_a_damaged_version_is_not_copied_into_the_next(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    before = (tiny_index_copy / "CURRENT").read_text()
    flip_byte(version_of(tiny_index_copy) / "vectors.npy")
    with pytest.raises(IndexCorruptError, match=r"vectors\.npy does not match its sha256 checksum"):
        add_documents(tiny_index_copy, [parse_text(NOTICE, "notice.txt")], index_settings, embedder=embedder)
    assert (tiny_index_copy / "CURRENT").read_text() == before
    assert len(list((tiny_index_copy / "versions").iterdir())) == 1  # no half-written version left


def test_vectors_that_are_not_finite_or_unit_length_are_never_written(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    """A version written before checksums (nothing to check against) with broken vectors: the next update
    refuses to carry them on."""
    version = version_of(tiny_index_copy)
    vectors = np.load(version / "vectors.npy")
    vectors[3] = np.nan
    vectors[5] *= 3
    np.save(version / "vectors.npy", vectors)
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["files"]
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match=r"2 of [\d,]+ passage vectors are not finite or not of unit"):
        add_documents(tiny_index_copy, [parse_text(NOTICE, "notice.txt")], index_settings, embedder=embedder)


def test_check_vectors_accepts_unit_rows_only() -> None:
    rows = np.eye(4, dtype=np.float32)
    check_vectors(rows)
    check_vectors(np.empty((0, 4), dtype=np.float32))
    for broken in (np.inf, 0.0, 1.01):
        bad = rows.copy()
        bad[2, 2] = broken
        with pytest.raises(IndexCorruptError, match=r"1 of 4 passage vectors .* \(first: row 2\)"):
            check_vectors(bad)


def test_an_index_written_before_checksums_still_loads(
    tiny_index_copy: Path, index_settings: IndexSettings, embedder: Embedder, capsys
) -> None:
    version = version_of(tiny_index_copy)
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["files"]
    (version / "manifest.json").write_text(json.dumps(manifest))
    assert PolicyIndex.load(tiny_index_copy, index_settings, embedder=embedder).manifest["documents"] == 3
    assert main(["index", "--verify", str(tiny_index_copy)]) == 1
    assert "records no checksums" in capsys.readouterr().err


def test_verify_checks_the_index_on_demand(tiny_index_copy: Path, capsys) -> None:
    assert main(["index", "--verify", "--index-dir", str(tiny_index_copy)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"index at {tiny_index_copy} is intact: version {version_of(tiny_index_copy).name}")
    assert "match their checksums, SQLite integrity ok, vectors finite and of unit length" in out

    flip_byte(version_of(tiny_index_copy) / "bm25" / "weights.npz")
    assert main(["index", "--verify", str(tiny_index_copy)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("policyqa: error: index version ") and err.count("\n") == 1
    assert "bm25/weights.npz does not match its sha256 checksum" in err and str(tiny_index_copy) not in err


def test_a_damaged_index_is_one_line_in_every_command(tiny_index_copy: Path) -> None:
    """No traceback from the real command line (the probe saw one for a truncated weights.npz)."""
    weights = version_of(tiny_index_copy) / "bm25" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    result = subprocess.run(
        [sys.executable, "-m", "policyqa.cli", "search", "孵化器", "--index-dir", str(tiny_index_copy)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    # the last line (a fresh home first says it exports the model to ONNX, run alone or first)
    error = result.stderr.splitlines()[-1]
    assert error.startswith("policyqa: error: index version ") and result.stderr.count("error:") == 1
    assert "bm25/weights.npz is 100 bytes" in error and str(tiny_index_copy) not in result.stderr


def test_verify_refuses_two_folders(tmp_path: Path, capsys) -> None:
    assert main(["index", "--verify", str(tmp_path), "--index-dir", str(tmp_path)]) == 1
    assert "--verify checks one index" in capsys.readouterr().err
    assert main(["index"]) == 1
    assert "give the files or folders to index (PATH ...), or --verify" in capsys.readouterr().err
