"""Small, thread-safe, bounded in-memory state of the bot.

Listeners run on a thread pool, so every structure here takes a lock. Everything is
bounded: a busy workspace must never grow the process without limit. State is lost on
restart, which is acceptable (Slack's own retries stop after a few minutes).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from assistant.ratelimit import SlidingWindowLimiter

K = TypeVar("K")
V = TypeVar("V")

Clock = Callable[[], float]


class SeenKeys:
    """Remembers keys for ``ttl`` seconds; ``first_time`` says whether a key is new."""

    def __init__(self, ttl: float = 3600.0, max_size: int = 10_000, clock: Clock = time.monotonic) -> None:
        self._ttl = ttl
        self._max_size = max_size
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, *keys: str) -> bool:
        """Record ``keys``; True only when none of them was seen within the TTL."""
        now = self._clock()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) <= now - self._ttl:
                self._seen.popitem(last=False)
            duplicate = any(key in self._seen for key in keys)
            for key in keys:
                self._seen[key] = now
                self._seen.move_to_end(key)
            while len(self._seen) > self._max_size:
                self._seen.popitem(last=False)
            return not duplicate


class BoundedMap(Generic[K, V]):
    """A least-recently-used map holding at most ``max_size`` entries."""

    def __init__(self, max_size: int = 1000) -> None:
        self._max_size = max_size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put_if_absent(self, key: K, value: V) -> None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return
            self._items[key] = value
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)


class RateLimiter(SlidingWindowLimiter):
    """Sliding one-minute window of questions per user: the shared limiter under Slack's names."""

    def __init__(
        self, per_minute: int, window: float = 60.0, max_users: int = 10_000, clock: Clock = time.monotonic
    ) -> None:
        super().__init__(per_minute, window=window, max_keys=max_users, clock=clock)

    @property
    def per_minute(self) -> int:
        return self.limit
