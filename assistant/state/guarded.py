"""Mutable app state: asked questions, feedback and claimed deliveries (outside the snapshots).

One interface, two backends chosen by ``Settings.state_url``: an SQLite file in the data
directory (the zero-setup default) or PostgreSQL, which several replicas share so that
feedback on an answer given by one replica is accepted by another, and a Slack event retried
to another replica is not answered twice.

Everything user-written is masked (LGPD) before it reaches these tables. The store may be
unreachable (a read-only or full disk, a PostgreSQL outage, a stopped database host):
StateStore turns every storage failure into StateUnavailable, and GuardedState (what the
assistant uses) keeps such a failure, or a store that does not answer, from ever failing or
holding an answer: questions are recorded behind the answer (assistant.state.writer), and
the store's health is kept by a background check that readiness reads.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from assistant.errors import StateUnavailable
from assistant.privacy import mask_for_log
from assistant.state.spool import Spool
from assistant.state.sqlite import SqliteStateStore
from assistant.state.store import QuestionRecord, StateStore, now_iso
from assistant.state.store import Row as Row
from assistant.state.writer import RecordWriter, bounded
from assistant.types import StateHealth

log = logging.getLogger("bpa.state")

__all__ = ["GuardedState", "SqliteStateStore", "StateStore", "open_store"]

T = TypeVar("T")

PROBE_INTERVAL = 0.5  # seconds between health checks
PROBE_TIMEOUT = 1.0  # a check not answered by then is a store not answering: degraded
CALL_TIMEOUT = 3.0  # feedback and delivery claims: a request waits at most this for the store
FEEDBACK_WAIT = 3.0  # feedback on an answer still queued waits this long for its record
EXIT_FLUSH = 3.0  # seconds given to the queue at exit before it is spooled


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

    Recording a question never fails or holds its answer: it is queued for the writer
    (spooled on disk while the store is down). Feedback, which the analyst sent on purpose,
    and delivery claims, for which the caller has its own fallback, are written while the
    request waits, bounded, and raise StateUnavailable when the store is down or slow.
    Feedback on an answer whose record is still queued waits for it (the answer id is valid
    from the moment it was returned). ``health`` reads what the background check last saw.
    """

    def __init__(self, target: Path | str, store: StateStore | None = None, spool_dir: Path | None = None) -> None:
        self.target = target
        self._store = store
        self._open_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._errors = 0
        self._probe_ok = True
        self._write_failed = False
        self._degraded = False
        self._reason = ""
        self._probed = threading.Event()
        self._probe_running: threading.Event | None = None
        if spool_dir is None and not is_postgres(target):
            spool_dir = Path(target).parent / "state-spool"
        # The writer sees this object through a weak reference: no cycle, so a state nobody
        # uses is freed at once, and with it its store's connections.
        me = weakref.ref(self)

        def opened() -> StateStore:
            state = me()
            if state is None:
                raise StateUnavailable("registro de perguntas encerrado")
            return state.store()

        def write_result(error: StateUnavailable | None) -> None:
            state = me()
            if state is not None:
                state._write_result(error)

        self._writer = RecordWriter(
            opened,
            Spool(spool_dir) if spool_dir is not None else None,
            lambda: (state := me()) is not None and state._probe_ok,
            write_result,
        )
        self._started = False
        self.closed = False

    def store(self) -> StateStore:
        """The open store; raises StateUnavailable when it cannot be opened (retried next call)."""
        # Opened on first use, which is often several requests at once: two connections
        # switching the new database to WAL together fail with "database is locked".
        if self._store is None:
            with self._open_lock:
                if self._store is None:
                    self._store = open_store(self.target)
                    # A pool's connections are closed with the state that opened them.
                    # Not at exit: the flush at exit (atexit) still writes through it.
                    weakref.finalize(self, self._store.close).atexit = False
        return self._store

    def _start(self) -> None:
        # Threads start with the first use, not at construction: tools and tests build
        # services that never record anything.
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                self._writer.start()
                threading.Thread(
                    target=_monitor_loop, args=(weakref.ref(self),), name="bpa-state-health", daemon=True
                ).start()
                atexit.register(_flush_at_exit, weakref.ref(self._writer))
                self._started = True

    # --- writes ------------------------------------------------------------------------------
    def record_question(self, record: QuestionRecord) -> bool:
        """Queue an answered question for the writer; False (logged, counted) when even the
        queue is full. Never waits for the store."""
        self._start()
        if not record.created_at:  # when it was answered, whenever it is written
            record = dataclasses.replace(record, created_at=now_iso())
        if self._writer.submit(record):
            return True
        what = f"pergunta {record.answer_id} respondida mas não registrada"
        self._failed(StateUnavailable("fila e spool cheios"), what)
        return False

    def record_feedback(self, answer_id: str, helpful: bool, comment: str | None, channel: str) -> None:
        """Record feedback; raises UnknownAnswer, or StateUnavailable (logged, counted)."""
        self._start()
        what = f"avaliação de {answer_id} não registrada"
        # The store may be back a moment before the check has seen it: wait for the record
        # (bounded) even while degraded, so feedback sent right after an outage is accepted.
        waiting = self._writer.is_pending(answer_id)
        if waiting and not self._writer.wait_written(answer_id, FEEDBACK_WAIT):
            self._failed(StateUnavailable("a resposta ainda aguarda registro"), what)
            raise StateUnavailable(f"a resposta {answer_id} ainda aguarda registro")
        timeout = self._timeout()
        deadline = time.monotonic() + timeout
        self._call(lambda: self.store().record_feedback(answer_id, helpful, comment, channel, deadline), what, timeout)

    def record_ticket_view(self, ticket_id: str, channel: str, snapshot: str, chunk_ids: list[str]) -> bool:
        """Record the sidebar opened on a ticket; like a question, never fails the suggestion
        (bounded like feedback): False (logged, counted) when it could not be."""
        self._start()
        try:
            self._call(
                lambda: self.store().record_ticket_view(ticket_id, channel, snapshot, chunk_ids),
                f"abertura do app no ticket {ticket_id} não registrada",
            )
        except StateUnavailable:
            return False
        return True

    def record_link(
        self, ticket_id: str, section_key: str, action: str, chunk_id: str, snapshot: str, channel: str
    ) -> Row:
        """StateStore.record_link; raises StateUnavailable (logged, counted), as feedback does."""
        self._start()
        return self._call(
            lambda: self.store().record_link(ticket_id, section_key, action, chunk_id, snapshot, channel),
            f"link no ticket {ticket_id} não registrado",
        )

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
        self._start()
        return self._call(
            lambda: self.store().record_flag(
                dedupe_key, section_key, chunk_id, snapshot, reason, comment, ticket_id, channel
            ),
            f"sinalização da seção {chunk_id} não registrada",
        )

    def first_delivery(self, keys: list[str]) -> bool:
        """StateStore.first_delivery; raises StateUnavailable (logged, counted)."""
        self._start()
        return self._call(
            lambda: self.store().first_delivery(keys), "entrega não verificada contra duplicatas entre réplicas"
        )

    def _timeout(self) -> float:
        # Tried even while degraded (the store may be back before the check has seen it),
        # but then with the check's shorter bound: a request is never held for long.
        return CALL_TIMEOUT if self._probe_ok else PROBE_TIMEOUT

    def _call(self, call: Callable[[], T], what: str, timeout: float | None = None) -> T:
        try:
            return bounded(call, timeout or self._timeout())
        except StateUnavailable as e:
            self._failed(e, what)
            raise

    def flush(self, timeout: float = EXIT_FLUSH) -> None:
        """Write what is queued (at most ``timeout`` s), spooling the rest."""
        self._writer.flush(timeout)

    def close(self, timeout: float = EXIT_FLUSH) -> None:
        """A server's shutdown: write what is queued (bounded; the rest waits in the spool),
        then release the store's connections now rather than whenever the collector runs
        (replicas and test suites that build many services would run out of connections)."""
        self.closed = True  # the health check stops: nobody reads this store's health any more
        if self._started:
            self._writer.flush(timeout)
        with self._open_lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    @property
    def backlog(self) -> int:
        """Answered questions not yet in the store (queued or spooled)."""
        return self._writer.backlog()

    # --- health --------------------------------------------------------------------------------
    def health(self) -> StateHealth:
        """What the background check last saw (degraded also while written records wait
        after a failed write). Never touches the store; the very first call waits for the
        first check (at most its timeout), so a read-only data directory shows before the
        first question."""
        self._start()
        self._probed.wait(PROBE_TIMEOUT + 0.5)
        with self._status_lock:
            return StateHealth(degraded=self._degraded, errors=self._errors)

    def probe(self) -> None:
        """One health check, bounded by PROBE_TIMEOUT: opens the store if it is not open yet,
        else reads from it. A check still stuck from before counts as failed."""
        if self._probe_running is not None and not self._probe_running.is_set():
            self._probe_result(StateUnavailable(f"sem resposta há mais de {PROBE_TIMEOUT:.0f} s"))
            return
        finished = threading.Event()
        self._probe_running = finished

        def check() -> None:
            try:
                self.store().ping()
            finally:
                finished.set()

        try:
            bounded(check, PROBE_TIMEOUT, "bpa-state-probe")
        except StateUnavailable as e:
            self._probe_result(e)
        else:
            self._probe_result(None)
        finally:
            self._probed.set()

    def _probe_result(self, error: StateUnavailable | None) -> None:
        with self._status_lock:
            self._probe_ok = error is None
        self._transition(error)

    def _write_result(self, error: StateUnavailable | None) -> None:
        with self._status_lock:
            self._write_failed = error is not None
            self._errors += error is not None
        if error is not None:
            log.debug("%s", mask_for_log(f"gravação adiada para o spool: {error}"))
        self._transition(error)

    def _failed(self, error: StateUnavailable, what: str) -> None:
        with self._status_lock:
            self._errors += 1
        log.log(logging.ERROR if not self._degraded else logging.DEBUG, "%s", mask_for_log(f"{what}: {error}"))

    def _transition(self, error: StateUnavailable | None) -> None:
        """Recompute degraded; a change is logged once each way."""
        with self._status_lock:
            degraded = not self._probe_ok or self._write_failed
            changed = degraded != self._degraded
            self._degraded = degraded
        if not changed:
            return
        if degraded:
            log.error(
                "registro de perguntas indisponível (%s): %s; respostas seguem, registros aguardam no spool",
                describe(self.target), mask_for_log(str(error) if error else "falha de gravação"),
            )  # fmt: skip
        else:
            log.warning(
                "registro de perguntas e avaliações voltou a funcionar (%s); %d registros pendentes",
                describe(self.target), self._writer.backlog(),
            )  # fmt: skip


def _monitor_loop(ref: weakref.ref[GuardedState]) -> None:
    stop = threading.Event()
    while True:
        state = ref()
        if state is None or state.closed:
            return
        try:
            state.probe()
        except Exception:  # the check must outlive any surprise
            log.exception("erro inesperado na verificação do registro de perguntas")
        del state
        stop.wait(PROBE_INTERVAL)


def _flush_at_exit(ref: weakref.ref[RecordWriter]) -> None:
    writer = ref()
    if writer is not None:
        writer.flush(EXIT_FLUSH)
