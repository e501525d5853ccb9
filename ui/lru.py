"""A small server-wide cache: values by key, the least recently used dropped first, safe across sessions'
threads (every visitor's views share it: the player's bank groups, a race's rows)."""
from __future__ import annotations

import threading


class Lru:
    def __init__(self, most: int):
        self.most, self._d, self._lock = most, {}, threading.Lock()

    def get(self, key):
        with self._lock:
            v = self._d.pop(key, None)
            if v is not None:
                self._d[key] = v
            return v

    def put(self, key, value) -> None:
        with self._lock:
            self._d.pop(key, None)
            self._d[key] = value
            while len(self._d) > self.most:
                self._d.pop(next(iter(self._d)))

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
