"""Tool results cached per tool and arguments for the tool's TTL (bounded, least recently used out first)."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Mapping

CacheKey = tuple[str, str, str]


def cache_key(server: str, name: str, arguments: Mapping[str, object]) -> CacheKey:
    """Same tool, same arguments (in any key order) → same key."""
    return server, name, json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ResultCache:
    """Time comes in as an argument; entries expire at their own deadline."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, tuple[float, str]] = OrderedDict()

    def get(self, key: CacheKey, now: float) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: CacheKey, value: str, ttl_s: float, now: float) -> None:
        if ttl_s <= 0:
            return
        self._entries[key] = (now + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
