"""`bpa serve` believes X-Forwarded-For only from BPA_TRUSTED_PROXIES (issue 10, item 11).

uvicorn, left to its defaults, trusts the header from 127.0.0.1: every spoofed address got a
fresh rate-limit bucket. Through the real server, as started by the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.common import ROOT, free_port, running


@contextmanager
def serving(data_dir: Path, **env_overrides: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "BPA_DATA_DIR": str(data_dir), "BPA_EMBEDDER": "fake", "PYTHONPATH": str(ROOT),
           "BPA_RATE_LIMIT_PER_MINUTE": "2", **env_overrides}  # fmt: skip
    env.pop("FORWARDED_ALLOW_IPS", None)
    with running(["-m", "bpa", "serve", "--port", str(port)], port, env) as base:
        yield base


def _statuses(base: str, forwarded: list[str]) -> list[int]:
    # No snapshot: an allowed search is 503; the rate limit answers before that (429).
    return [
        httpx.get(f"{base}/v1/search", params={"q": "oi"}, headers={"X-Forwarded-For": ip}, timeout=10).status_code
        for ip in forwarded
    ]


def test_spoofed_forwarded_for_gets_no_fresh_bucket(data_dir: Path) -> None:
    with serving(data_dir) as base:
        assert _statuses(base, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [503, 503, 429]
        head = httpx.head(f"{base}/healthz", timeout=5)
        assert (head.status_code, head.content) == (200, b"")


def test_forwarded_for_from_a_trusted_proxy_names_the_client(data_dir: Path) -> None:
    with serving(data_dir, BPA_TRUSTED_PROXIES='["127.0.0.1"]') as base:
        assert _statuses(base, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [503, 503, 503]
        assert _statuses(base, ["203.0.113.1", "203.0.113.1"]) == [503, 429]
