"""bench/load.py: statistics, and a short run against a live server with the fake service."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from assistant.http import create_app
from index.settings import Settings
from tests.support.fake_assistant import FakeAssistant

LOAD_PY = Path(__file__).resolve().parents[3] / "bench" / "load.py"


@pytest.fixture(scope="module")
def load():
    spec = importlib.util.spec_from_file_location("bench_load", LOAD_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_percentile_nearest_rank(load) -> None:
    values = [float(v) for v in range(1, 101)]
    assert load.percentile(values, 0.50) == 50.0
    assert load.percentile(values, 0.95) == 95.0
    assert load.percentile(values, 0.99) == 99.0
    assert load.percentile([], 0.5) == 0.0
    assert load.percentile([7.0], 0.99) == 7.0


def test_question_list_is_realistic(load) -> None:
    assert 15 <= len(load.QUESTIONS) <= 30
    assert len(set(load.QUESTIONS)) == len(load.QUESTIONS)


def test_rss_of_this_process(load) -> None:
    import os

    assert load.rss_mb(os.getpid()) > 1.0
    assert load.rss_mb(None) is None


def test_short_run_against_a_live_server(load, settings: Settings, capsys: pytest.CaptureFixture) -> None:
    fake = FakeAssistant()
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 100_000}), fake)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        import os

        started = time.monotonic()
        code = load.main(
            [
                "--url",
                f"http://127.0.0.1:{port}",
                "--pid",
                str(os.getpid()),
                "--concurrency",
                "1,4",
                "--duration",
                "0.5",
            ]
        )
        assert time.monotonic() - started < 10
    finally:
        server.should_exit = True
        thread.join(10)
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ["1", "4"]
    for row in rows:
        assert int(row[1]) > 0  # requests answered
        assert row[6] == "0"  # no errors
    assert len(fake.asks) == sum(int(row[1]) for row in rows)
    assert {a.question for a in fake.asks} <= set(load.QUESTIONS)
