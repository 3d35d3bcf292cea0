"""Scheduled re-indexing (issue 13, item 3): BPA_REINDEX_SCHEDULE runs the admin API's
reindex job inside the server; its last result is on /readyz and in /metrics."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from assistant.http import ReindexResult, SubprocessReindexer, create_app
from assistant.service import Assistant
from bpa.cli import EXIT_CONFIG, app
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest
from tests.support.common import ROOT, SEED
from tests.support.fake_assistant import FakeAssistant


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def _wait(client: TestClient, done: object, what: str, seconds: float = 120) -> dict:
    """Poll /readyz until ``done(body)``; bounded (a subprocess ingest takes a few seconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = client.get("/readyz").json()
        if done(body):  # type: ignore[operator]
            return body
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}: {body}")


def test_a_schedule_that_fires_in_seconds_serves_a_new_snapshot_and_updates_the_metrics(
    tmp_path: Path, data_dir: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    page = corpus / SEED.name
    page.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (corpus / "sources.toml").write_text(f'[[source]]\nname = "bp"\ntype = "files"\npath = "{SEED.name}"\n')
    settings = Settings(
        data_dir=data_dir, embedder="fake", sources=corpus / "sources.toml", golden=ROOT / "corpus" / "golden.jsonl",
        glossary=ROOT / "corpus" / "glossary.toml", reload_interval=0.2,
    )  # fmt: skip
    served = run_ingest(settings, FakeEmbedder()).snapshot_id
    page.write_text(page.read_text(encoding="utf-8") + "\n<h2>Novidade</h2><p>Texto novo do mantenedor.</p>\n")

    # Fires once, four seconds from now (croniter's optional sixth field is the second).
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    expression = f"{at.minute} {at.hour} {at.day} {at.month} * {at.second}"
    scheduled = settings.model_copy(update={"reindex_schedule": expression})
    web = create_app(scheduled, Assistant(scheduled, FakeEmbedder()), SubprocessReindexer(scheduled))
    assert web.state.reindex_schedule.next_run == at, "the machine took over 4 s to build the app"
    with TestClient(web) as client:  # the lifespan starts the schedule
        before = client.get("/metrics").text
        assert _metric(before, "bpa_reindex_last_success_timestamp") == 0
        assert _metric(before, "bpa_reindex_failures_total") == 0
        ready = {"status": "ready", "snapshot": served, "state": "ok", "last_reindex": None}
        assert client.get("/readyz").json() == ready

        body = _wait(client, lambda b: b["last_reindex"] is not None, "the scheduled job finish")
        assert body["last_reindex"]["status"] == "succeeded", body["last_reindex"]["summary"]
        body = _wait(client, lambda b: b["snapshot"] != served, "the new snapshot served")
        assert "snapshot publicado" in body["last_reindex"]["summary"]
        after = client.get("/metrics").text
        assert _metric(after, "bpa_reindex_last_success_timestamp") >= at.timestamp()
        assert _metric(after, "bpa_reindex_failures_total") == 0
        assert f'snapshot_id="{body["snapshot"]}"' in after
        hits = client.get("/v1/search", params={"q": "Texto novo do mantenedor"})
        assert hits.status_code == 200 and "Texto novo do mantenedor" in hits.json()["results"][0]["text"]


def test_the_schedule_follows_its_clock_and_failures_are_counted_but_busy_runs_are_not(settings: Settings) -> None:
    results = iter(
        [ReindexResult(False, 1, "falha: fonte inacessível"), ReindexResult(False, 4, "outra indexação"),
         ReindexResult(True, 0, "snapshot publicado")]
    )  # fmt: skip
    web = create_app(
        settings.model_copy(update={"reindex_schedule": "0 */6 * * *"}), FakeAssistant(), lambda: next(results)
    )
    schedule = web.state.reindex_schedule
    now = datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
    schedule.clock = lambda: now
    schedule.next_run = schedule.after(now)
    client = TestClient(web)  # no lifespan: this test is the schedule's thread
    assert schedule.next_run == datetime(2026, 1, 1, 6, 0, tzinfo=UTC)

    def fire_at(moment: datetime) -> dict:
        nonlocal now
        last = client.get("/readyz").json()["last_reindex"]
        now = moment - timedelta(seconds=1)
        assert not schedule.tick()  # not due yet
        now = moment
        assert schedule.tick()
        return _wait(client, lambda b: b["last_reindex"] not in (None, last), "the job finish", 10)["last_reindex"]

    assert fire_at(datetime(2026, 1, 1, 6, 0, tzinfo=UTC))["exit_code"] == 1
    assert _metric(client.get("/metrics").text, "bpa_reindex_failures_total") == 1
    assert schedule.next_run == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert fire_at(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))["exit_code"] == 4  # another replica had the lock
    assert _metric(client.get("/metrics").text, "bpa_reindex_failures_total") == 1
    assert fire_at(datetime(2026, 1, 1, 18, 0, tzinfo=UTC))["status"] == "succeeded"
    metrics = client.get("/metrics").text
    assert _metric(metrics, "bpa_reindex_failures_total") == 1
    assert _metric(metrics, "bpa_reindex_last_success_timestamp") > 0


@pytest.mark.parametrize("expression", ["61 * * * *", "todo dia às 3h", "* * *"])
def test_an_invalid_schedule_stops_serve_with_a_pt_br_message(expression: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPA_EMBEDDER", "fake")
    monkeypatch.setenv("BPA_REINDEX_SCHEDULE", expression)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == EXIT_CONFIG
    assert "BPA_REINDEX_SCHEDULE: expressão cron inválida" in result.output and "0 */6 * * *" in result.output
    assert "Traceback" not in result.output


def test_the_busy_exit_code_the_metrics_skip_is_the_one_bpa_ingest_uses() -> None:
    from assistant.http.admin import INGEST_BUSY_EXIT
    from bpa.cli import EXIT_BUSY

    assert INGEST_BUSY_EXIT == EXIT_BUSY
