"""A stuck database stalls nothing and loses nothing (issue 22, items 1 and 7).

The database is a real PostgreSQL cluster, SIGSTOPped whole (a hung host: connections stay
open, nothing answers, no server-side timeout can fire) or with its tables locked by
another session. Every wait here is bounded by ``within``: a request that would hang fails
the test in seconds instead of hanging the suite.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from starlette.testclient import TestClient

from assistant.http import create_app
from assistant.service import Assistant
from assistant.state import GuardedState, QuestionRecord
from assistant.state.spool import Spool
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest
from tests.support.pg_cluster import frozen

T = TypeVar("T")


def within(seconds: float, call: Callable[[], T]) -> T:
    """``call()``, failing the test if it takes longer than ``seconds`` (the call is left running)."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"no answer within {seconds} s"
    return box[0]  # type: ignore[no-any-return]


def until(condition: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``condition()`` held (polled), or None when it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


@pytest.fixture
def served(tmp_path: Path, data_dir: Path, postgres_url: str) -> Iterator[tuple[TestClient, Settings]]:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "p.html").write_text("<h1>Prazos</h1><h2>Aceite</h2><p>O prazo de aceite é de dez dias úteis.</p>")
    (corpus / "s.toml").write_text('[[source]]\nname = "p"\ntype = "files"\npath = "p.html"\n')
    settings = Settings(data_dir=data_dir, sources=corpus / "s.toml", embedder="fake", state_url=postgres_url)
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    yield TestClient(create_app(settings, Assistant(settings, embedder))), settings


def state_of(client: TestClient) -> str:
    return str(within(3, lambda: client.get("/readyz")).json()["state"])


def stored(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT answer_id FROM questions ORDER BY created_at").fetchall()]
        except psycopg.errors.UndefinedTable:
            return []  # not created yet


def test_a_stopped_database_stalls_no_answer_and_loses_no_record(
    served: tuple[TestClient, Settings], postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = served
    ask = {"question": "qual o prazo de aceite? cpf 529.982.247-25"}
    before = within(10, lambda: client.post("/v1/ask", json=ask)).json()["answer_id"]
    assert until(lambda: stored(postgres_url) == [before], 5) is not None
    assert state_of(client) == "ok"

    with caplog.at_level(logging.INFO, logger="bpa.state"), frozen(postgres_url):
        outage = []
        for _ in range(5):
            started = time.monotonic()
            answer = within(3, lambda: client.post("/v1/ask", json=ask))
            assert answer.status_code == 200 and time.monotonic() - started < 2.0
            outage.append(answer.json()["answer_id"])
        healthz_started = time.monotonic()
        assert within(1, lambda: client.get("/healthz")).status_code == 200
        assert time.monotonic() - healthz_started < 0.5
        assert until(lambda: state_of(client) == "degraded", 3.5) is not None
        # Feedback during the outage is refused quickly (503, retry later), never held.
        refused = within(5, lambda: client.post("/v1/feedback", json={"answer_id": outage[0], "helpful": True}))
        assert refused.status_code == 503

    assert until(lambda: state_of(client) == "ok", 3.5) is not None
    assert until(lambda: len(stored(postgres_url)) == 6, 10) is not None
    assert stored(postgres_url) == [before, *outage]  # in the order asked, each once
    for answer_id in outage:  # valid from the moment it was returned
        accepted = within(5, lambda a=answer_id: client.post("/v1/feedback", json={"answer_id": a, "helpful": False}))
        assert accepted.status_code == 201, accepted.text
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM feedback").fetchone() == (5,)
        questions = [r[0] for r in conn.execute("SELECT question FROM questions").fetchall()]
    assert all("529.982.247-25" not in q for q in questions)  # the spool and the store are masked
    # This service's transitions (a service another test left open would log its own, on its own database).
    database = postgres_url.rsplit("/", 1)[-1]
    transitions = [
        r.getMessage()
        for r in caplog.records
        if r.name == "bpa.state" and r.levelno >= logging.WARNING and database in r.getMessage()
    ]
    assert sum("indisponível (" in m for m in transitions) == 1
    assert sum("voltou a funcionar" in m for m in transitions) == 1


def test_feedback_on_an_outage_answer_waits_for_its_record(
    served: tuple[TestClient, Settings], postgres_url: str
) -> None:
    client, _ = served
    with frozen(postgres_url):
        asked = within(3, lambda: client.post("/v1/ask", json={"question": "qual o prazo de aceite?"}))
        answer_id = asked.json()["answer_id"]
        assert until(lambda: state_of(client) == "degraded", 3.5) is not None
    # Sent as soon as the database is back, before the writer has caught up: accepted, not 404.
    sent = within(8, lambda: client.post("/v1/feedback", json={"answer_id": answer_id, "helpful": True}))
    assert sent.status_code == 201, sent.text
    assert stored(postgres_url) == [answer_id]


def test_a_locked_table_is_degraded_and_stalls_no_answer(
    served: tuple[TestClient, Settings], postgres_url: str
) -> None:
    client, _ = served
    within(10, lambda: client.post("/v1/ask", json={"question": "qual o prazo de aceite?"}))
    assert until(lambda: len(stored(postgres_url)) == 1, 5) is not None
    with psycopg.connect(postgres_url) as locker:
        locker.execute("LOCK TABLE questions IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        asked = [
            within(3, lambda: client.post("/v1/ask", json={"question": "qual o prazo de aceite?"})) for _ in range(3)
        ]
        assert all(a.status_code == 200 for a in asked)
        assert until(lambda: state_of(client) == "degraded", 3.5) is not None
        locker.rollback()
    assert until(lambda: state_of(client) == "ok", 3.5) is not None
    assert until(lambda: len(stored(postgres_url)) == 4, 10) is not None


def test_records_spooled_by_a_process_that_died_are_written_by_the_next(tmp_path: Path, postgres_url: str) -> None:
    directory = tmp_path / "spool"
    dead = Spool(directory)  # a replica that spooled during an outage, then was killed
    dead.append([QuestionRecord(f"d{i}", "api", "cpf 529.982.247-25", False, 0.9, "snap", (), 1.0) for i in range(3)])
    assert dead._file is not None
    on_disk = Path(dead._file.name).read_text()
    assert "529.982.247-25" not in on_disk and "[CPF]" in on_disk  # masked before it touches the disk
    dead._file.close()  # its lock goes with it
    heir = GuardedState(postgres_url, spool_dir=directory)
    heir.health()  # starts it: the orphaned spool is adopted
    assert until(lambda: stored(postgres_url) == ["d0", "d1", "d2"], 8) is not None
    heir.record_feedback("d1", True, None, "api")
    assert list(directory.glob("*.jsonl")) == [] or all(p.stat().st_size == 0 for p in directory.glob("*.jsonl"))
