"""Mutable app state: asked questions and feedback (SQLite, outside the snapshots).

Everything user-written is masked (LGPD) before it reaches this module's tables. The data
directory may be read-only or full: StateStore turns every storage failure into
StateUnavailable, and GuardedState (what the assistant uses) keeps such a failure from ever
failing an answer.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import StateUnavailable, UnknownAnswer
from assistant.privacy import mask_for_log, mask_pii
from assistant.types import StateHealth

log = logging.getLogger("bpa.state")

SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    answer_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, channel TEXT NOT NULL,
    question TEXT NOT NULL, abstained INTEGER NOT NULL, confidence REAL NOT NULL,
    snapshot TEXT NOT NULL, chunk_ids TEXT NOT NULL, latency_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY, answer_id TEXT NOT NULL REFERENCES questions(answer_id),
    created_at TEXT NOT NULL, helpful INTEGER NOT NULL, comment TEXT, channel TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def _storage(path: Path) -> Iterator[None]:
    """Storage failures (read-only or full disk, a path that is not a directory) as StateUnavailable."""
    try:
        yield
    except (OSError, sqlite3.Error) as e:
        raise StateUnavailable(f"registro de perguntas indisponível em {path}: {e}") from e


class StateStore:
    """The SQLite tables; every storage failure raises StateUnavailable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        with _storage(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Another process (a CLI `bpa ask` beside the server) may hold the write lock briefly.
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(SCHEMA)
            except sqlite3.Error:
                self._db.close()
                raise

    def record_question(
        self,
        answer_id: str,
        channel: str,
        question: str,
        abstained: bool,
        confidence: float,
        snapshot: str,
        chunk_ids: list[str],
        latency_ms: float,
    ) -> None:
        with self._lock, _storage(self.path):
            self._db.execute(
                "INSERT INTO questions VALUES (?,?,?,?,?,?,?,?,?)",
                (answer_id, _now(), channel, mask_pii(question), int(abstained), confidence, snapshot,
                 json.dumps(chunk_ids), latency_ms),
            )  # fmt: skip

    def record_feedback(self, answer_id: str, helpful: bool, comment: str | None, channel: str) -> None:
        with self._lock, _storage(self.path):
            known = self._db.execute("SELECT 1 FROM questions WHERE answer_id = ?", (answer_id,)).fetchone()
            if not known:
                raise UnknownAnswer(f"resposta {answer_id} não encontrada")
            self._db.execute(
                "INSERT INTO feedback (answer_id, created_at, helpful, comment, channel) VALUES (?,?,?,?,?)",
                (answer_id, _now(), int(helpful), mask_pii(comment) if comment else None, channel),
            )

    def questions(self) -> list[sqlite3.Row]:
        with self._lock, _storage(self.path):
            self._db.row_factory = sqlite3.Row
            rows = self._db.execute("SELECT * FROM questions ORDER BY created_at").fetchall()
            self._db.row_factory = None
            return rows

    def feedback(self) -> list[sqlite3.Row]:
        with self._lock, _storage(self.path):
            self._db.row_factory = sqlite3.Row
            rows = self._db.execute("SELECT * FROM feedback ORDER BY id").fetchall()
            self._db.row_factory = None
            return rows


class GuardedState:
    """The state store as the assistant uses it: opened on first use, failures contained.

    Recording a question never fails its answer: the failure is logged (masked), counted and
    reported as degraded, and the next write tries again (the disk may have been freed).
    Feedback, which the analyst sent on purpose, raises StateUnavailable instead.
    """

    def __init__(self, path: Path, store: StateStore | None = None) -> None:
        self.path = path
        self._store = store
        self._open_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._errors = 0
        self._degraded = False

    def store(self) -> StateStore:
        """The open store; raises StateUnavailable when it cannot be opened (retried next call)."""
        # Opened on first use, which is often several requests at once: two connections
        # switching the new database to WAL together fail with "database is locked".
        if self._store is None:
            with self._open_lock:
                if self._store is None:
                    self._store = StateStore(self.path)
        return self._store

    def record_question(
        self,
        answer_id: str,
        channel: str,
        question: str,
        abstained: bool,
        confidence: float,
        snapshot: str,
        chunk_ids: list[str],
        latency_ms: float,
    ) -> bool:
        """Record an asked question; False (logged, counted) when it could not be."""
        try:
            self.store().record_question(
                answer_id, channel, question, abstained, confidence, snapshot, chunk_ids, latency_ms
            )
        except StateUnavailable as e:
            self._failed(e, f"pergunta {answer_id} respondida mas não registrada")
            return False
        self._succeeded()
        return True

    def record_feedback(self, answer_id: str, helpful: bool, comment: str | None, channel: str) -> None:
        """Record feedback; raises UnknownAnswer, or StateUnavailable (logged, counted)."""
        try:
            self.store().record_feedback(answer_id, helpful, comment, channel)
        except StateUnavailable as e:
            self._failed(e, f"avaliação de {answer_id} não registrada")
            raise
        self._succeeded()

    def health(self) -> StateHealth:
        """Degraded while the last attempt failed. A store never opened is opened now, so a
        read-only data directory shows before the first question (not counted as an error)."""
        if self._store is None:
            try:
                self.store()
            except StateUnavailable as e:
                self._failed(e, "registro de perguntas indisponível", count=False)
            else:
                self._succeeded()  # it failed to open before: it is back
        with self._status_lock:
            return StateHealth(degraded=self._degraded, errors=self._errors)

    def _failed(self, error: StateUnavailable, what: str, *, count: bool = True) -> None:
        with self._status_lock:
            self._errors += int(count)
            first = not self._degraded
            self._degraded = True
        # Once per outage at ERROR (the counter tells how many followed), then quieter.
        log.log(logging.ERROR if first else logging.DEBUG, "%s", mask_for_log(f"{what}: {error}"))

    def _succeeded(self) -> None:
        with self._status_lock:
            recovered = self._degraded
            self._degraded = False
        if recovered:
            log.warning("registro de perguntas e avaliações voltou a funcionar (%s)", self.path)
