"""The sliding-window rate limiter both edges use: HTTP per client, Slack per user.

It lives in the assistant's public face because that is what every edge may import
(tests/test_architecture.py). Its memory is bounded twice over: hit times older than the
window are dropped, and at most ``max_keys`` keys are kept, the least recently used going
first, so a flood of new identities cannot grow the process without limit. A key dropped
either way had no hit inside the window (or is the one the flood pushed out, which then
starts over with a fresh budget: the price of the bound).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds per key (a log of hit times), thread-safe."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0 or max_keys < 1:
            raise ValueError(f"limit, window and max_keys must be positive: {limit}, {window}, {max_keys}")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        # Least recently hit first: eviction and expiry both work from the front.
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Record a hit; return None when allowed, else the seconds until one is (not recorded)."""
        now = self._clock()
        with self._lock:
            self._forget_stale(now)
            hits = self._hits.setdefault(key, deque())
            self._hits.move_to_end(key)
            self._expire(hits, now)
            while len(self._hits) > self.max_keys:  # the key just hit is last: never the one evicted
                self._hits.popitem(last=False)
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            return None

    def allow(self, key: str) -> bool:
        """Record a hit when there is budget for it: True if recorded, False if over the limit."""
        return self.hit(key) is None

    def retry_after(self, key: str) -> float | None:
        """Like hit() without recording one: None while ``key`` has budget left."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                return None
            self._expire(hits, now)
            return hits[0] + self.window - now if len(hits) >= self.limit else None

    def key_count(self) -> int:
        """How many keys are remembered (the memory bound, for tests)."""
        with self._lock:
            return len(self._hits)

    def _expire(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - self.window:
            hits.popleft()

    def _forget_stale(self, now: float) -> None:
        # A key whose newest hit left the window behaves exactly like an unknown key: forget it.
        # Only from the front (amortised O(1) per hit); stale keys further in go as they reach it.
        while self._hits:
            oldest = next(iter(self._hits.values()))
            if oldest and oldest[-1] > now - self.window:
                break
            self._hits.popitem(last=False)
