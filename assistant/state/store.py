"""The state store's interface and its SQL, written once for both backends (SQLite and
PostgreSQL): each backend only opens connections and runs a transaction.

Everything user-written is masked (LGPD) here, before it reaches a table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assistant.errors import StateUnavailable, UnknownAnswer
from assistant.privacy import mask_pii

# How long a claimed delivery is remembered: Slack stops retrying an event after minutes.
DELIVERY_TTL = 3600.0

# The dialects differ only in the feedback id's type.
SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    answer_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, channel TEXT NOT NULL,
    question TEXT NOT NULL, abstained INTEGER NOT NULL, confidence REAL NOT NULL,
    snapshot TEXT NOT NULL, chunk_ids TEXT NOT NULL, latency_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id {id_type} PRIMARY KEY, answer_id TEXT NOT NULL REFERENCES questions(answer_id),
    created_at TEXT NOT NULL, helpful INTEGER NOT NULL, comment TEXT, channel TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (key TEXT PRIMARY KEY, seen_at DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_seen_at ON deliveries (seen_at);
CREATE TABLE IF NOT EXISTS ticket_views (
    ticket_id TEXT PRIMARY KEY, first_at TEXT NOT NULL, last_at TEXT NOT NULL, opens INTEGER NOT NULL,
    channel TEXT NOT NULL, snapshot TEXT NOT NULL, chunk_ids TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ticket_links (
    ticket_id TEXT NOT NULL, section_key TEXT NOT NULL, action TEXT NOT NULL, chunk_id TEXT NOT NULL,
    snapshot TEXT NOT NULL, channel TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, section_key, action)
);
CREATE TABLE IF NOT EXISTS section_flags (
    dedupe_key TEXT PRIMARY KEY, section_key TEXT NOT NULL, chunk_id TEXT NOT NULL, snapshot TEXT NOT NULL,
    reason TEXT NOT NULL, comment TEXT, ticket_id TEXT, channel TEXT NOT NULL, created_at TEXT NOT NULL
);
"""

Row = dict[str, Any]
# Runs one statement (``?`` placeholders) inside the current transaction; returns the cursor.
Execute = Callable[[str, tuple[Any, ...]], Any]


@dataclass(frozen=True)
class QuestionRecord:
    """One answered question, as the store keeps it (the question is masked on write)."""

    answer_id: str
    channel: str
    question: str
    abstained: bool
    confidence: float
    snapshot: str
    chunk_ids: tuple[str, ...]
    latency_ms: float
    # When it was answered (ISO 8601, UTC); empty: when it is written. A record written late
    # (after an outage, from the spool) keeps the time it was answered, so the order holds.
    created_at: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def now_iso() -> str:
    """To the millisecond: questions and feedback sort in the order they were answered."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StateStore:
    """The state tables, written once for both dialects; every storage failure raises
    StateUnavailable. Subclasses provide ``_transaction``: one atomic unit of work."""

    where: str

    def _transaction(self) -> AbstractContextManager[Execute]:
        raise NotImplementedError

    def record_question(self, record: QuestionRecord) -> None:
        self.record_questions([record])

    def record_questions(self, records: list[QuestionRecord]) -> None:
        """Record answered questions in one transaction, in order. Idempotent (keyed by
        answer_id): a record written twice (a write that timed out here but went through
        there, then replayed from the spool) is stored once."""
        with self._transaction() as execute:
            for r in records:
                execute(
                    "INSERT INTO questions VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (answer_id) DO NOTHING",
                    (r.answer_id, r.created_at or now_iso(), r.channel, mask_pii(r.question), int(r.abstained),
                     r.confidence, r.snapshot, json.dumps(list(r.chunk_ids)), r.latency_ms),
                )  # fmt: skip

    def record_feedback(
        self, answer_id: str, helpful: bool, comment: str | None, channel: str, deadline: float | None = None
    ) -> None:
        """``deadline`` (time.monotonic()): past it, roll back instead of committing. The
        caller answered "not recorded" by then (a stopped database resumed meanwhile), so it
        must not land behind that answer and again when the client retries."""
        with self._transaction() as execute:
            if execute("SELECT 1 FROM questions WHERE answer_id = ?", (answer_id,)).fetchone() is None:
                raise UnknownAnswer(f"resposta {answer_id} não encontrada")
            execute(
                "INSERT INTO feedback (answer_id, created_at, helpful, comment, channel) VALUES (?,?,?,?,?)",
                (answer_id, now_iso(), int(helpful), mask_pii(comment) if comment else None, channel),
            )
            if deadline is not None and time.monotonic() > deadline:
                raise StateUnavailable("avaliação não gravada: o registro demorou demais")

    def first_delivery(self, keys: list[str], ttl: float = DELIVERY_TTL) -> bool:
        """Claim ``keys`` (ids of one delivery: a Slack event id, its message); True only when
        none was claimed within ``ttl`` seconds, by this process or any other sharing the
        store. Atomic: of two replicas claiming at once, one sees the other's claim."""
        now = time.time()
        with self._transaction() as execute:
            execute("DELETE FROM deliveries WHERE seen_at <= ?", (now - ttl,))
            new = [
                execute("INSERT INTO deliveries VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, now)).rowcount
                for key in keys
            ]
        return all(n == 1 for n in new)

    # --- KCS: tickets the sidebar was opened on, sections linked or quoted into them, flags ---

    def record_ticket_view(self, ticket_id: str, channel: str, snapshot: str, chunk_ids: list[str]) -> None:
        """The sidebar was opened on ``ticket_id`` and suggested ``chunk_ids``: one row per
        ticket (the latest suggestions, how many opens), the link rate's denominator."""
        now = _now()
        with self._transaction() as execute:
            execute(
                "INSERT INTO ticket_views VALUES (?,?,?,1,?,?,?) ON CONFLICT (ticket_id) DO UPDATE SET "
                "last_at = excluded.last_at, opens = ticket_views.opens + 1, channel = excluded.channel, "
                "snapshot = excluded.snapshot, chunk_ids = excluded.chunk_ids",
                (ticket_id, now, now, channel, snapshot, json.dumps(chunk_ids)),
            )

    def record_link(
        self, ticket_id: str, section_key: str, action: str, chunk_id: str, snapshot: str, channel: str
    ) -> Row:
        """Record a section linked or quoted into a ticket, once per (ticket, section, action):
        a repeat (the analyst clicked twice, the request was replayed) writes nothing and
        returns the first row."""
        with self._transaction() as execute:
            execute(
                "INSERT INTO ticket_links VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT (ticket_id, section_key, action) DO NOTHING",
                (ticket_id, section_key, action, chunk_id, snapshot, channel, _now()),
            )
            row: Row = execute(
                "SELECT * FROM ticket_links WHERE ticket_id = ? AND section_key = ? AND action = ?",
                (ticket_id, section_key, action),
            ).fetchone()
        return row

    def record_flag(
        self,
        dedupe_key: str,
        section_key: str,
        chunk_id: str,
        snapshot: str,
        reason: str,
        comment: str | None,
        ticket_id: str | None,
        channel: str,
    ) -> Row:
        """Record a flag on a section (the comment masked); a repeat of ``dedupe_key`` writes
        nothing and returns the first row."""
        with self._transaction() as execute:
            execute(
                "INSERT INTO section_flags VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (dedupe_key) DO NOTHING",
                (dedupe_key, section_key, chunk_id, snapshot, reason, mask_pii(comment) if comment else None,
                 ticket_id, channel, _now()),
            )  # fmt: skip
            row: Row = execute("SELECT * FROM section_flags WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
        return row

    def ticket_views(self) -> list[Row]:
        with self._transaction() as execute:
            return list(execute("SELECT * FROM ticket_views ORDER BY first_at, ticket_id", ()).fetchall())

    def ticket_links(self) -> list[Row]:
        with self._transaction() as execute:
            return list(
                execute("SELECT * FROM ticket_links ORDER BY created_at, ticket_id, section_key, action", ()).fetchall()
            )

    def section_flags(self) -> list[Row]:
        with self._transaction() as execute:
            return list(execute("SELECT * FROM section_flags ORDER BY created_at, dedupe_key", ()).fetchall())

    def questions(self) -> list[Row]:
        with self._transaction() as execute:
            return list(execute("SELECT * FROM questions ORDER BY created_at, answer_id", ()).fetchall())

    def feedback(self) -> list[Row]:
        with self._transaction() as execute:
            return list(execute("SELECT * FROM feedback ORDER BY id", ()).fetchall())

    def ping(self) -> None:
        """Check the store answers (StateUnavailable if not): a read of the questions table,
        so a table locked by another session counts as not answering."""
        with self._transaction() as execute:
            execute("SELECT 1 FROM questions LIMIT 1", ()).fetchall()

    def close(self) -> None:
        """Release connections (a pool's threads); the store is not used afterwards."""
