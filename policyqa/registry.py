"""Named, lazily imported implementations: how a backend, stage or answerer is plugged in.

Each seam keeps one ``Registry`` mapping a setting's value to ``"module:attribute"``; adding an
implementation is a new module plus one entry, and nothing is imported until it is chosen (the way
txtai's factories resolve a backend from its configuration).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


class Registry:
    """Implementations of one seam by name (``what`` says which seam in error messages)."""

    def __init__(self, what: str, entries: Mapping[str, str]):
        self.what = what
        self._entries = dict(entries)

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def check(self, name: str) -> str:
        """``name`` when registered; ValueError naming the choices otherwise."""
        if name not in self._entries:
            raise ValueError(f"unknown {self.what} {name!r}; choose one of {', '.join(self._entries)}")
        return name

    def resolve(self, name: str) -> Any:
        """The object registered as ``name`` (its module imported on first use)."""
        module, _, attribute = self._entries[self.check(name)].partition(":")
        return getattr(importlib.import_module(module), attribute)
