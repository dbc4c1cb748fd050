"""Small file helpers for eval outputs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from policyqa.eval.errors import EvalError


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text via a temporary file in the same folder, then rename it into place, with the
    permissions a plain write would give (the temporary file's own are owner-only, and a model file the
    service's user cannot read would fail its load).

    An unwritable destination raises ``EvalError`` naming it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise EvalError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise EvalError(f"cannot write {path}: {error.strerror}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ensure_writable(path: Path) -> None:
    """Fail early (``EvalError``) when ``path`` could not be written later: its folder cannot be created
    or is not writable."""
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EvalError(f"cannot write {path}: {error.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise EvalError(f"cannot write {path}: folder not writable")


def directory_size(path: Path) -> int:
    """Total bytes of the regular files below ``path`` (symbolic links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file_path = Path(root) / name
            if not file_path.is_symlink():
                total += file_path.stat().st_size
    return total
