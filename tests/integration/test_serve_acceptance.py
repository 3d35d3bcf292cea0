"""Acceptance through the real composition root: `bpa serve` on the default corpus.

Starts the server as a subprocess (fake embedder, so it is quick), then checks the HTTP
answer path and the Slack HTTP mode against a local Slack Web API stand-in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.common import ROOT, free_port, running
from tests.support.slack import MockSlackServer, signature_headers

SECRET = "test-signing-secret"


@pytest.fixture
def server(data_dir: Path):  # type: ignore[no-untyped-def]
    with MockSlackServer() as slack:
        port = free_port()
        env = {
            **os.environ, "BPA_DATA_DIR": str(data_dir), "BPA_EMBEDDER": "fake", "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET, "BPA_SLACK_API_URL": slack.api_url,
        }  # fmt: skip
        subprocess.run([sys.executable, "-m", "bpa", "ingest"], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        with running(["-m", "bpa", "serve", "--port", str(port)], port, env, ready="/readyz") as base:
            yield base, slack


def test_serve_answers_http_and_slack(server) -> None:  # type: ignore[no-untyped-def]
    base, slack = server
    r = httpx.post(f"{base}/v1/ask", json={"question": "cliente parado, o que faço?"}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["snapshot"] and (body["citations"] or body["suggestions"])

    event = {
        "token": "x", "team_id": "T0000TEST", "api_app_id": "A1", "type": "event_callback",
        "event_id": "Ev0001", "event_time": int(time.time()),
        "event": {"type": "app_mention", "user": "U123", "text": "<@UBOT0001> o que é o ESN?",
                  "ts": "1700000000.000100", "channel": "C123", "event_ts": "1700000000.000100"},
    }  # fmt: skip
    raw = json.dumps(event)
    headers = {**signature_headers(raw, SECRET), "Content-Type": "application/json"}
    r = httpx.post(f"{base}/slack/events", content=raw, headers=headers, timeout=30)
    assert r.status_code == 200
    [post] = slack.wait_for("chat.postMessage", timeout=20)
    assert post.body["channel"] == "C123" and post.body["thread_ts"] == "1700000000.000100"
    blocks = json.dumps(post.body.get("blocks", []), ensure_ascii=False)
    assert "/d/" in blocks and post.body.get("text")
