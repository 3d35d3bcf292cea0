"""Two `bpa serve` replicas behind an imaginary load balancer: one data directory (the
snapshots on shared storage), one PostgreSQL state store (a throwaway cluster).

What one replica did, the other knows: feedback on A's answer is accepted by B, a Slack
retry delivered to B after A answered is not answered again, and a reindex through A's admin
API is served by both once they reload.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.common import ROOT, SEED, free_port, running
from tests.support.slack import MockSlackServer, signature_headers

SECRET = "test-signing-secret"
ADMIN = {"Authorization": "Bearer admin-secret"}
NEW_PAGE = (
    "<h1>Plantão de feriados</h1><h2>Escala</h2>"
    "<p>No plantão de feriados, o analista escalado confirma a escala com o coordenador até sexta-feira.</p>"
)


def slack_event(event_id: str, ts: str, text: str) -> dict[str, Any]:
    return {
        "token": "x", "team_id": "T0000TEST", "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()),
        "event": {"type": "app_mention", "user": "U123", "text": f"<@UBOT0001> {text}",
                  "ts": ts, "channel": "C123", "event_ts": ts},
    }  # fmt: skip


def deliver(base: str, event: dict[str, Any], retry: int | None = None) -> httpx.Response:
    raw = json.dumps(event)
    headers = {**signature_headers(raw, SECRET), "Content-Type": "application/json"}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return httpx.post(f"{base}/slack/events", content=raw, headers=headers, timeout=30)


def served_snapshot(base: str) -> str | None:
    ready = httpx.get(f"{base}/readyz", timeout=10)
    return ready.json()["snapshot"] if ready.status_code == 200 else None


@pytest.fixture
def replicas(data_dir: Path, tmp_path: Path, postgres_url: str) -> Iterator[tuple[str, str, MockSlackServer, Path]]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / "seed.html")
    (corpus / "sources.toml").write_text('[[source]]\nname = "local"\ntype = "files"\npath = "*.html"\n')
    with MockSlackServer() as slack, ExitStack() as stack:
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "BPA_DATA_DIR": str(data_dir), "BPA_EMBEDDER": "fake",
            "BPA_SOURCES": str(corpus / "sources.toml"), "BPA_STATE_URL": postgres_url,
            "BPA_ADMIN_TOKEN": "admin-secret", "BPA_RELOAD_INTERVAL": "0.2",
            "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET, "BPA_SLACK_API_URL": slack.api_url,
        }  # fmt: skip
        subprocess.run([sys.executable, "-m", "bpa", "ingest"], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        bases = []
        for name in ("a", "b"):
            port = free_port()
            log = stack.enter_context((tmp_path / f"{name}.log").open("wb"))
            serve = ["-m", "bpa", "serve", "--port", str(port)]
            bases.append(stack.enter_context(running(serve, port, env, ready="/readyz", out=log)))
        yield bases[0], bases[1], slack, corpus


def test_two_replicas_share_answers_events_and_snapshots(
    replicas: tuple[str, str, MockSlackServer, Path], tmp_path: Path, data_dir: Path, postgres_url: str
) -> None:
    a, b, slack, corpus = replicas

    # An answer given by A gets feedback through B.
    asked = httpx.post(f"{a}/v1/ask", json={"question": "cliente parado, o que faço?"}, timeout=30)
    assert asked.status_code == 200, asked.text
    feedback = {"answer_id": asked.json()["answer_id"], "helpful": True, "comment": "ajudou"}
    assert httpx.post(f"{b}/v1/feedback", json=feedback, timeout=30).status_code == 201
    unknown = httpx.post(f"{b}/v1/feedback", json={**feedback, "answer_id": "nunca-dada"}, timeout=30)
    assert unknown.status_code == 404

    # A handles a Slack event; Slack's retry of it lands on B, which must not answer again.
    first = slack_event("Ev0001", "1700000000.000100", "o que é o ESN?")
    assert deliver(a, first).status_code == 200
    slack.wait_for("chat.postMessage", timeout=30)
    assert deliver(b, first, retry=1).status_code == 200
    assert "Ignoring a duplicate Slack event Ev0001" in (tmp_path / "b.log").read_text(encoding="utf-8")
    # A fence: B answers a new event, so an answer to the retry would have been posted by now too.
    assert deliver(b, slack_event("Ev0002", "1700000000.000200", "cliente parado?")).status_code == 200
    slack.wait_for("chat.postMessage", count=2, timeout=30)
    posts = slack.calls_to("chat.postMessage")
    assert sorted(p.body["thread_ts"] for p in posts) == ["1700000000.000100", "1700000000.000200"]

    # A reindex through A's admin API publishes a snapshot that both replicas serve.
    before = served_snapshot(a)
    assert before is not None and served_snapshot(b) == before
    (corpus / "plantao.html").write_text(NEW_PAGE, encoding="utf-8")
    job = httpx.post(f"{a}/v1/admin/reindex", headers=ADMIN, timeout=30)
    assert job.status_code == 202, job.text
    status = "running"
    deadline = time.monotonic() + 120
    while status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = httpx.get(f"{a}/v1/admin/reindex/{job.json()['job_id']}", headers=ADMIN, timeout=10).json()["status"]
    assert status == "succeeded"
    deadline = time.monotonic() + 30  # bounded; a replica reloads within reload_interval of a request
    while before in (served_snapshot(a), served_snapshot(b)) and time.monotonic() < deadline:
        time.sleep(0.2)
    after = served_snapshot(a)
    assert after != before and served_snapshot(b) == after
    for base in (a, b):
        hits = httpx.get(f"{base}/v1/search", params={"q": "plantão de feriados escala"}, timeout=30).json()
        assert hits["results"][0]["title"] == "Plantão de feriados", base

    # All of it lives in the shared database, not in a file of the data directory.
    with psycopg.connect(postgres_url) as db:
        recorded = [db.execute(f"SELECT count(*) FROM {table}").fetchone() for table in ("questions", "feedback")]
        claimed = db.execute("SELECT count(*) FROM deliveries WHERE key = 'event:Ev0001'").fetchone()
    assert recorded == [(3,), (1,)] and claimed == (1,)  # the /v1/ask and the two Slack answers
    assert not (data_dir / "state.sqlite").exists()
