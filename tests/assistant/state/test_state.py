"""The state store: what it stores is masked, and an unusable data directory never fails an answer.

The failures are real: sqlite is pointed at a directory, or at a path under a regular file
(chmod would not stop the tests, which may run as root).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from assistant.errors import StateUnavailable
from assistant.http import create_app
from assistant.service import Assistant
from assistant.state import GuardedState, QuestionRecord, SqliteStateStore
from assistant.state.spool import Spool, SpoolFull
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest
from tests.support.common import wait_for
from tests.support.pii_cases import PII_CASES

CPF = "529 982 247 25"


@pytest.mark.parametrize(("written", "placeholder"), PII_CASES)
def test_every_format_is_stored_masked(tmp_path: Path, written: str, placeholder: str) -> None:
    store = SqliteStateStore(tmp_path / "state.sqlite")
    store.record_question(QuestionRecord("a1", "api", f"cliente {written} parado", False, 0.9, "snap", (), 1.0))
    store.record_feedback("a1", False, f"me liga: {written}", "web")
    stored = store.questions()[0]["question"], store.feedback()[0]["comment"]
    assert stored == (f"cliente {placeholder} parado", f"me liga: {placeholder}")


def unusable_path(tmp_path: Path) -> Path:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file")
    return blocker / "state.sqlite"


def test_a_store_that_cannot_open_is_degraded_and_nothing_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = GuardedState(unusable_path(tmp_path))
    with caplog.at_level(logging.DEBUG, logger="bpa.state"):
        # Queued for the writer: the answer never waits for (or fails on) the store.
        assert state.record_question(QuestionRecord("a1", "api", f"cpf {CPF}", False, 0.9, "snap", (), 1.0)) is True
        assert state.health().degraded
        with pytest.raises(StateUnavailable):
            state.record_feedback(f"cpf {CPF}", True, None, "api")  # an id is client text too
    assert state.health().errors >= 1
    assert state.backlog == 1  # still waiting, not lost
    assert "not-a-directory" in caplog.text
    assert "avaliação de cpf [CPF] não registrada" in caplog.text and CPF not in caplog.text


def test_the_store_recovers_when_the_directory_does(tmp_path: Path) -> None:
    path = unusable_path(tmp_path)
    state = GuardedState(path)
    assert state.health().degraded  # known before the first question: readiness tells
    assert state.health().errors == 0  # a probe is not a failed write
    assert state.record_question(QuestionRecord("a1", "api", "q", False, 0.9, "snap", (), 1.0)) is True
    path.parent.unlink()  # the operator fixes the data directory
    assert wait_for(lambda: not state.health().degraded, 3.0)
    state.record_feedback("a1", True, None, "api")  # the answer given while it was down
    assert [q["answer_id"] for q in state.store().questions()] == ["a1"]
    assert state.health().model_dump() == {"degraded": False, "errors": 0}


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_ask_answers_when_the_state_store_cannot_open(
    tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "p.html").write_text("<h1>Prazos</h1><h2>Aceite</h2><p>O prazo de aceite é de dez dias úteis.</p>")
    (corpus / "s.toml").write_text('[[source]]\nname = "p"\ntype = "files"\npath = "p.html"\n')
    settings = Settings(data_dir=data_dir, sources=corpus / "s.toml", embedder="fake")
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    settings.state_db.mkdir()  # sqlite cannot open a directory: "unable to open database file"
    client = TestClient(create_app(settings, Assistant(settings, embedder)))

    with caplog.at_level(logging.INFO):
        asked = client.post("/v1/ask", json={"question": f"qual o prazo de aceite? cpf {CPF}"})
        assert asked.status_code == 200 and asked.json()["snapshot"]  # the analyst gets the answer
        feedback = client.post("/v1/feedback", json={"answer_id": asked.json()["answer_id"], "helpful": True})
    assert feedback.status_code == 503
    assert feedback.json()["error"]["code"] == "state_unavailable"
    assert "indisponível" in feedback.json()["error"]["message"]

    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["state"] == "degraded"
    scraped = client.get("/metrics").text
    assert metric(scraped, "bpa_state_errors_total") >= 1.0  # the feedback, and any write tried
    assert metric(scraped, "bpa_state_degraded") == 1.0
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bpa"))
    assert "aguardam no spool" in logged and "unable to open database file" in logged
    assert CPF not in logged and "Traceback" not in logged


def test_the_spool_is_bounded_ordered_and_masked(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1000)
    spool.append([QuestionRecord(f"s{i}", "api", f"cpf {CPF}", False, 0.9, "snap", ("c:1",), 1.0) for i in range(3)])
    with pytest.raises(SpoolFull):
        spool.append([QuestionRecord("big", "api", "x" * 2000, False, 0.9, "snap", (), 1.0)])
    assert spool.path is not None and CPF not in spool.path.read_text()
    records, offset = spool.peek(2)
    assert [r.answer_id for r in records] == ["s0", "s1"] and records[0].chunk_ids == ("c:1",)
    spool.advance(offset)
    records, offset = spool.peek(10)
    assert [r.answer_id for r in records] == ["s2"]
    spool.advance(offset)
    assert not spool.pending() and spool.path.stat().st_size == 0  # emptied: truncated
