"""Mutable app state: asked questions, feedback and claimed deliveries (outside the snapshots).

One interface, two backends chosen by ``Settings.state_url``: an SQLite file in the data
directory (the zero-setup default) or PostgreSQL, which several replicas share so that
feedback on an answer given by one replica is accepted by another, and a Slack event retried
to another replica is not answered twice.

Everything user-written is masked (LGPD) before it reaches these tables. The store may be
unreachable (a read-only or full disk, a PostgreSQL outage): StateStore turns every storage
failure into StateUnavailable, and GuardedState (what the assistant uses) keeps such a
failure from ever failing an answer.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from assistant.errors import StateUnavailable
from assistant.privacy import mask_for_log
from assistant.state.sqlite import SqliteStateStore
from assistant.state.store import QuestionRecord, StateStore
from assistant.state.store import Row as Row
from assistant.types import StateHealth

log = logging.getLogger("bpa.state")

__all__ = ["GuardedState", "SqliteStateStore", "StateStore", "open_store"]


def is_postgres(target: Path | str) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def describe(target: Path | str) -> str:
    """Where the state lives, for messages and logs: never a password."""
    if not is_postgres(target):
        return str(target)
    from assistant.state.postgres import describe_url  # psycopg only where PostgreSQL is used

    return describe_url(str(target))


def open_store(target: Path | str) -> StateStore:
    """The store at ``target``: a ``postgresql://`` URL, or an SQLite file path."""
    if is_postgres(target):
        from assistant.state.postgres import PostgresStateStore

        return PostgresStateStore(str(target))
    return SqliteStateStore(Path(target))


class GuardedState:
    """The state store as the assistant uses it: opened on first use, failures contained.

    Recording a question never fails its answer: the failure is logged (masked), counted and
    reported as degraded, and the next write tries again (the disk may have been freed, the
    database restarted). Feedback, which the analyst sent on purpose, and delivery claims,
    for which the caller has its own fallback, raise StateUnavailable instead.
    """

    def __init__(self, target: Path | str, store: StateStore | None = None) -> None:
        self.target = target
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
                    self._store = open_store(self.target)
        return self._store

    def record_question(self, record: QuestionRecord) -> bool:
        """Record an asked question; False (logged, counted) when it could not be."""
        try:
            self.store().record_question(record)
        except StateUnavailable as e:
            self._failed(e, f"pergunta {record.answer_id} respondida mas não registrada")
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

    def record_ticket_view(self, ticket_id: str, channel: str, snapshot: str, chunk_ids: list[str]) -> bool:
        """Record the sidebar opened on a ticket; like a question, never fails the suggestion:
        False (logged, counted) when it could not be."""
        try:
            self.store().record_ticket_view(ticket_id, channel, snapshot, chunk_ids)
        except StateUnavailable as e:
            self._failed(e, f"abertura do app no ticket {ticket_id} não registrada")
            return False
        self._succeeded()
        return True

    def record_link(
        self, ticket_id: str, section_key: str, action: str, chunk_id: str, snapshot: str, channel: str
    ) -> Row:
        """StateStore.record_link; raises StateUnavailable (logged, counted), as feedback does."""
        try:
            row = self.store().record_link(ticket_id, section_key, action, chunk_id, snapshot, channel)
        except StateUnavailable as e:
            self._failed(e, f"link no ticket {ticket_id} não registrado")
            raise
        self._succeeded()
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
        """StateStore.record_flag; raises StateUnavailable (logged, counted), as feedback does."""
        try:
            row = self.store().record_flag(
                dedupe_key, section_key, chunk_id, snapshot, reason, comment, ticket_id, channel
            )
        except StateUnavailable as e:
            self._failed(e, f"sinalização da seção {chunk_id} não registrada")
            raise
        self._succeeded()
        return row

    def first_delivery(self, keys: list[str]) -> bool:
        """StateStore.first_delivery; raises StateUnavailable (logged, counted)."""
        try:
            first = self.store().first_delivery(keys)
        except StateUnavailable as e:
            self._failed(e, "entrega não verificada contra duplicatas entre réplicas")
            raise
        self._succeeded()
        return first

    def health(self) -> StateHealth:
        """Degraded while the last attempt failed. A store never opened is opened now, so a
        read-only data directory shows before the first question (not counted as an error);
        an open remote store is probed, so a database outage (and its end) shows without
        waiting for a write."""
        try:
            if self._store is None:
                self.store()
                probed = True  # it failed to open before: it is back
            else:
                probed = self._store.ping()
        except StateUnavailable as e:
            self._failed(e, "registro de perguntas indisponível", count=False)
        else:
            if probed:
                self._succeeded()
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
            log.warning("registro de perguntas e avaliações voltou a funcionar (%s)", describe(self.target))
