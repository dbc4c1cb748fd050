"""Integrity of index versions: the manifest records the size and SHA-256 of every file of its version when
the version is written; loading checks them (in a background thread, while the model and the SQLite rows
load) and refuses a damaged version with a one-line reason; vectors are checked finite and of unit length
before they are written.

SHA-256 because it is the hash operators can check by hand (``sha256sum``) and, with the SHA extensions of
current CPUs, fast enough: about 1.2 GB/s here, so the full index's 525 MB costs ~0.45 s of one core,
overlapping the 3 s model load (docs/decisions/2026-12-01-index-checksums.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from policyqa.indexer.errors import IndexCorruptError

HASH = "sha256"
UNIT_NORM_TOLERANCE = 1e-3  # float32 embeddings normalised by the model are within 1e-6 of length 1


def file_checksums(version: Path, *, exclude: tuple[str, ...]) -> dict[str, dict]:
    """``{relative path: {"size", "sha256"}}`` of every file in ``version`` except ``exclude``."""
    return {
        path.relative_to(version).as_posix(): {"size": path.stat().st_size, HASH: _digest(path)}
        for path in sorted(version.rglob("*"))
        if path.is_file() and path.relative_to(version).as_posix() not in exclude
    }


def verify_files(version: Path, manifest: dict, only: tuple[str, ...] | None = None) -> int:
    """Check the files of ``version`` (or ``only`` these) against the sizes and hashes ``manifest`` records:
    IndexCorruptError naming the first damaged file. Returns the bytes checked; 0 for a version written
    before checksums were recorded (nothing to check against)."""
    recorded: dict[str, dict] = manifest.get("files") or {}
    checked = 0
    for name, expected in recorded.items():
        if only is not None and name not in only:
            continue
        path = version / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise damaged(version, f"{name} is missing") from None
        if size != expected["size"]:
            raise damaged(version, f"{name} is {size:,} bytes; {expected['size']:,} were written")
        try:
            digest = _digest(path)
        except OSError as error:
            raise damaged(version, f"{name} cannot be read ({error.strerror})") from error
        if digest != expected[HASH]:
            raise damaged(version, f"{name} does not match its {HASH} checksum")
        checked += size
    return checked


def damaged(version: Path, reason: str) -> IndexCorruptError:
    """The one-line error for a damaged version (its name, never its path)."""
    return IndexCorruptError(
        f"index version {version.name} is damaged: {reason}; rebuild the index or restore it from a backup"
    )


def check_vectors(vectors: np.ndarray) -> None:
    """IndexCorruptError unless every row of ``vectors`` is finite and of unit length (what inner-product
    search takes for cosine similarity); called before vectors are written into a version."""
    if not len(vectors):
        return
    finite = np.isfinite(vectors).all(axis=1)
    norms = np.linalg.norm(np.where(finite[:, None], vectors, 0), axis=1)
    bad = ~finite | (np.abs(norms - 1) > UNIT_NORM_TOLERANCE)
    if bad.any():
        raise IndexCorruptError(
            f"{int(bad.sum()):,} of {len(vectors):,} passage vectors are not finite or not of unit length "
            f"(first: row {int(np.argmax(bad))}); nothing was written. If they come from the index in force, "
            "it is damaged: rebuild it"
        )


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, HASH).hexdigest()
