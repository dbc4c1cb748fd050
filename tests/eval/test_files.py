"""Eval's file helpers: an atomic write leaves the file as a plain write would."""

from __future__ import annotations

import stat
from pathlib import Path

from policyqa.eval.files import write_text_atomic


def test_an_atomic_write_has_a_plain_writes_permissions(tmp_path: Path) -> None:
    plain, atomic = tmp_path / "plain.json", tmp_path / "atomic.json"
    plain.write_text("{}", encoding="utf-8")
    write_text_atomic(atomic, "{}")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert atomic.read_text(encoding="utf-8") == "{}"
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")] == []
