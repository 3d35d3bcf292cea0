"""The state store's contract, run against both backends: SQLite (the default) and a real
PostgreSQL (a throwaway cluster; skipped where PostgreSQL is not installed).

Two store objects on one target stand for two replicas: what one records the other sees.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from assistant.errors import StateUnavailable, UnknownAnswer
from assistant.http import create_app
from assistant.service import Assistant
from assistant.state import GuardedState, QuestionRecord, StateStore, open_store
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest
from tests.support.common import free_port, wait_for
from tests.support.pii_cases import PII_CASES


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    if request.param == "sqlite":
        return tmp_path / "state.sqlite"
    return str(request.getfixturevalue("postgres_url"))


def record(store: StateStore, answer_id: str, question: str = "cliente parado") -> None:
    store.record_question(QuestionRecord(answer_id, "api", question, False, 0.9, "snap", tuple(["c:1"]), 1.0))


def test_stored_text_is_masked(target: Path | str) -> None:
    store = open_store(target)
    for i, (written, _) in enumerate(PII_CASES):
        record(store, f"a{i:03d}", f"cliente {written} parado")
        store.record_feedback(f"a{i:03d}", False, f"me liga: {written}", "web")
    stored = [(q["question"], f["comment"]) for q, f in zip(store.questions(), store.feedback(), strict=True)]
    assert stored == [(f"cliente {p} parado", f"me liga: {p}") for _, p in PII_CASES]


def test_feedback_on_an_answer_recorded_by_another_replica(target: Path | str) -> None:
    a, b = open_store(target), open_store(target)
    record(a, "from-a")
    b.record_feedback("from-a", True, None, "web")
    with pytest.raises(UnknownAnswer):
        b.record_feedback("never-given", True, None, "web")
    [feedback] = a.feedback()
    assert (feedback["answer_id"], feedback["helpful"], feedback["channel"]) == ("from-a", 1, "web")
    assert [q["chunk_ids"] for q in a.questions()] == ['["c:1"]']


def test_a_delivery_is_claimed_once_across_replicas(target: Path | str) -> None:
    a, b = open_store(target), open_store(target)
    assert a.first_delivery(["event:Ev1", "message:C1:1.0"]) is True
    assert b.first_delivery(["event:Ev1"]) is False  # Slack's retry, delivered to the other replica
    assert b.first_delivery(["event:Ev2", "message:C1:1.0"]) is False  # same message, another event
    assert b.first_delivery(["event:Ev3"]) is True
    assert a.first_delivery(["event:Ev1"], ttl=0.0) is True  # forgotten after the TTL


def test_concurrent_claims_of_one_delivery_have_one_winner(target: Path | str) -> None:
    stores = [open_store(target) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    results: list[bool] = []

    def claim(store: StateStore) -> None:
        barrier.wait()
        results.append(store.first_delivery(["event:race"]))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False] * 5 + [True]


def test_postgres_connection_lost_then_back(postgres_url: str) -> None:
    state = GuardedState(postgres_url)
    assert state.record_question(QuestionRecord("a1", "api", "q", False, 0.9, "snap", (), 1.0)) is True
    assert wait_for(lambda: state.backlog == 0)
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # the database restarts
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    assert state.record_question(QuestionRecord("a2", "api", "q", False, 0.9, "snap", (), 1.0)) is True
    assert wait_for(lambda: state.backlog == 0)  # the pool replaced the dead connections
    state.record_feedback("a2", True, None, "api")
    assert [q["answer_id"] for q in state.store().questions()] == ["a1", "a2"]
    assert state.health().degraded is False


def test_postgres_outage_is_degraded_not_a_failed_answer(tmp_path: Path, data_dir: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "p.html").write_text("<h1>Prazos</h1><h2>Aceite</h2><p>O prazo de aceite é de dez dias úteis.</p>")
    (corpus / "s.toml").write_text('[[source]]\nname = "p"\ntype = "files"\npath = "p.html"\n')
    down = f"postgresql://bpa:segredo@127.0.0.1:{free_port()}/bpa"  # nothing listens there
    settings = Settings(data_dir=data_dir, sources=corpus / "s.toml", embedder="fake", state_url=down)
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    client = TestClient(create_app(settings, Assistant(settings, embedder)))

    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["state"] == "degraded"
    asked = client.post("/v1/ask", json={"question": "qual o prazo de aceite?"})
    assert asked.status_code == 200 and asked.json()["snapshot"]
    feedback = client.post("/v1/feedback", json={"answer_id": asked.json()["answer_id"], "helpful": True})
    assert feedback.status_code == 503 and feedback.json()["error"]["code"] == "state_unavailable"
    assert "segredo" not in feedback.text
    with pytest.raises(StateUnavailable, match=r"postgresql://127\.0\.0\.1:\d+/bpa") as raised:
        open_store(down)
    assert "segredo" not in str(raised.value)


def test_an_unknown_state_url_is_refused_in_portuguese() -> None:
    with pytest.raises(ValueError, match="postgresql://… ; o esquema de 'mysql' não é suportado".replace(" ;", ";")):
        Settings(state_url="mysql://u:p@h/db")


def test_feedback_past_its_deadline_is_rolled_back_not_stored(target: Path | str) -> None:
    # The caller has answered 503 by then: a row landing anyway would be stored twice on retry.
    store = open_store(target)
    record(store, "late")
    with pytest.raises(StateUnavailable):
        store.record_feedback("late", True, None, "api", deadline=time.monotonic() - 1)
    assert store.feedback() == []
    store.record_feedback("late", True, None, "api", deadline=time.monotonic() + 60)
    assert len(store.feedback()) == 1


def test_a_question_written_twice_is_stored_once(target: Path | str) -> None:
    # A write that timed out here but went through there, then replayed from the spool.
    store = open_store(target)
    first = QuestionRecord("twice", "api", "q", False, 0.9, "snap", (), 1.0, "2026-01-01T00:00:00.000+00:00")
    store.record_questions([first])
    store.record_questions([first, QuestionRecord("next", "api", "q", False, 0.9, "snap", (), 1.0)])
    assert [q["answer_id"] for q in store.questions()] == ["twice", "next"]
    assert store.questions()[0]["created_at"] == "2026-01-01T00:00:00.000+00:00"  # when it was answered
