"""No request stalls the server: /healthz answers while huge requests are being rejected.

The server runs in a subprocess: in-process, the masking would hold the GIL and stall the
probing client together with the server, hiding the stall.
"""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.common import ROOT, free_port, running

SERVER = """
import sys
import uvicorn
from tests.support.fake_assistant import FakeAssistant
from assistant.http import create_app
from index.settings import Settings

app = create_app(Settings(embedder="fake", rate_limit_per_minute=100_000), FakeAssistant())
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""
# As long a request target as the server's HTTP parser accepts (h11 takes 16 KiB of head).
LONG_TARGET = "/v1/ask?q=" + "1" * 15_000
ONE_MB = 1 << 20


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real uvicorn (access log on, as `bpa serve` runs it) on 127.0.0.1; yields its URL and log."""
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    with log.open("wb") as out, running(["-c", SERVER, str(port)], port, env, cwd=tmp_path, out=out) as base:
        yield base, log


def reject_one_mb(port: int, target: str) -> bytes:
    """Send a request declaring a 1 MB body (the server refuses it); return the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        head = f"POST {target} HTTP/1.1\r\nHost: bpa\r\nContent-Type: application/json\r\n"
        conn.sendall(f"{head}Content-Length: {ONE_MB}\r\nConnection: close\r\n\r\n".encode())
        try:
            conn.sendall(b"x" * (64 * 1024))  # the start of the body; the rest is never read
            return conn.recv(1024).split(b"\r\n")[0]
        except OSError:  # the server answered and closed while the body was still coming
            return b""


def test_healthz_answers_while_huge_requests_are_rejected(server: tuple[str, Path]) -> None:
    base, log = server
    port = int(base.rsplit(":", 1)[1])
    stop = threading.Event()
    statuses: list[bytes] = []

    def attacker() -> None:
        for _ in range(1_000):  # until the probes are done (bounded all the same)
            if stop.is_set():
                return
            statuses.append(reject_one_mb(port, LONG_TARGET))

    attackers = [threading.Thread(target=attacker) for _ in range(2)]
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        client.get("/healthz")  # connect first: only the answer is timed
        for thread in attackers:
            thread.start()
        try:
            for _ in range(5):
                time.sleep(0.2)  # probe at arbitrary points of the attack
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - started)
        finally:
            stop.set()
            for thread in attackers:
                thread.join()
    assert any(s.startswith(b"HTTP/1.1 413") for s in statuses)
    # Normal is a few ms; the threshold is an order of magnitude above (the 100 ms).
    assert statistics.median(latencies) < 0.1, [f"{x * 1000:.0f} ms" for x in latencies]
    logged = log.read_text()
    assert "POST /v1/ask?q=111" in logged and "truncado" in logged  # logged, capped
    assert max(len(line) for line in logged.splitlines()) < 5_000
