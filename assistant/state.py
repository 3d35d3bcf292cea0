"""Mutable app state: asked questions and feedback (SQLite, outside the snapshots).

Everything user-written is masked (LGPD) before it reaches this module's tables.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import UnknownAnswer
from assistant.privacy import mask_pii

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


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Another process (a CLI `bpa ask` beside the server) may hold the write lock briefly.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

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
        with self._lock:
            self._db.execute(
                "INSERT INTO questions VALUES (?,?,?,?,?,?,?,?,?)",
                (answer_id, _now(), channel, mask_pii(question), int(abstained), confidence, snapshot,
                 json.dumps(chunk_ids), latency_ms),
            )  # fmt: skip

    def record_feedback(self, answer_id: str, helpful: bool, comment: str | None, channel: str) -> None:
        with self._lock:
            known = self._db.execute("SELECT 1 FROM questions WHERE answer_id = ?", (answer_id,)).fetchone()
            if not known:
                raise UnknownAnswer(f"resposta {answer_id} não encontrada")
            self._db.execute(
                "INSERT INTO feedback (answer_id, created_at, helpful, comment, channel) VALUES (?,?,?,?,?)",
                (answer_id, _now(), int(helpful), mask_pii(comment) if comment else None, channel),
            )

    def questions(self) -> list[sqlite3.Row]:
        with self._lock:
            self._db.row_factory = sqlite3.Row
            rows = self._db.execute("SELECT * FROM questions ORDER BY created_at").fetchall()
            self._db.row_factory = None
            return rows

    def feedback(self) -> list[sqlite3.Row]:
        with self._lock:
            self._db.row_factory = sqlite3.Row
            rows = self._db.execute("SELECT * FROM feedback ORDER BY id").fetchall()
            self._db.row_factory = None
            return rows
