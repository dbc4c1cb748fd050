"""A bounded, thread-safe least-recently-used map: the query-embedding and sentence-vector caches."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class LRUCache(Generic[Key, Value]):
    """At most ``max_entries`` values (0: nothing is kept); the least recently used goes first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Value]:
        """The cached values of ``keys`` (the missing ones left out), each marked as just used."""
        with self._lock:
            found = {key: self._entries[key] for key in keys if key in self._entries}
            for key in found:
                self._entries.move_to_end(key)
        return found

    def put_many(self, values: dict[Key, Value]) -> None:
        """Keep ``values``, dropping the least recently used beyond ``max_entries``."""
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries.update(values)
            for key in values:
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
