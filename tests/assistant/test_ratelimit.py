"""The one sliding-window limiter the HTTP edge and the Slack bot share (assistant.ratelimit)."""

from __future__ import annotations

import threading

import pytest

from assistant.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_limit_per_window_and_seconds_until_a_slot_frees() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(3, window=60.0, clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    clock.now += 20
    assert limiter.hit("a") == pytest.approx(40.0)  # the first hit leaves the window in 40 s
    assert limiter.retry_after("a") == pytest.approx(40.0)
    assert not limiter.allow("a")
    assert limiter.allow("b")  # keys are independent


def test_refused_hits_are_not_counted_and_slots_free_one_by_one() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, window=10.0, clock=clock)
    assert limiter.allow("a")
    clock.now += 5
    assert limiter.allow("a")
    for _ in range(5):
        assert not limiter.allow("a")
    clock.now += 5.01  # only the first hit left the window; the refusals never entered it
    assert limiter.allow("a")
    assert not limiter.allow("a")
    clock.now += 10.01
    assert limiter.allow("a") and limiter.allow("a")


def test_retry_after_does_not_record_a_hit() -> None:
    limiter = SlidingWindowLimiter(1, window=60.0, clock=Clock())
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") is None
    assert limiter.key_count() == 0
    assert limiter.hit("a") is None
    assert limiter.retry_after("a") == pytest.approx(60.0)


def test_keys_are_bounded_and_the_least_recently_used_goes_first() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(1, window=60.0, max_keys=3, clock=clock)
    for key in ("a", "b", "c"):
        assert limiter.allow(key)
    assert not limiter.allow("a")  # refused, but "a" is now the most recently used
    assert limiter.allow("d")  # over the bound: "b" (least recently used) is forgotten
    assert limiter.key_count() == 3
    assert limiter.allow("b")  # a fresh budget: it was evicted (this evicts "c")
    assert not limiter.allow("a") and not limiter.allow("d")  # still remembered, still spent
    for n in range(1000):
        limiter.allow(f"flood-{n}")
    assert limiter.key_count() == 3


def test_keys_idle_for_a_window_are_forgotten() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(1, window=60.0, clock=clock)
    for n in range(100):
        limiter.allow(f"k{n}")
    assert limiter.key_count() == 100
    clock.now += 60.5
    assert limiter.allow("new")
    assert limiter.key_count() == 1


def test_concurrent_hits_never_exceed_the_limit() -> None:
    limiter = SlidingWindowLimiter(50, window=3600.0)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(40):
            ok = limiter.allow("shared")
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 50 and len(allowed) == 320


@pytest.mark.parametrize("args", [(0, 60.0, 10), (1, 0.0, 10), (1, 60.0, 0)])
def test_nonsense_bounds_are_refused(args: tuple[int, float, int]) -> None:
    limit, window, max_keys = args
    with pytest.raises(ValueError):
        SlidingWindowLimiter(limit, window=window, max_keys=max_keys)
