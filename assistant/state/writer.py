"""Recording off the answer path: a bounded write-behind queue, drained by one writer thread.

An answer is given, then its record is queued (a lock and an append: nothing on the answer
path waits for the store). The writer writes queued records in batches while the store is
healthy; when a write fails or does not return in time (a stopped database answers nothing,
so only a client-side bound helps), the records go to the spool on disk, and so does every
record after them, so the order holds. Once the health check sees the store answer again,
the spool is written first, in order, then the queue. Writes are idempotent by answer_id: a
write that timed out here but went through there is stored once.

Store calls run on short-lived daemon threads (``bounded``): a call stuck on a stopped server
holds its thread, never the writer, a request, or the process' exit.
"""

from __future__ import annotations

import collections
import logging
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

from assistant.errors import StateUnavailable
from assistant.state.spool import Spool
from assistant.state.store import QuestionRecord, StateStore

log = logging.getLogger("bpa.state")

T = TypeVar("T")

QUEUE_MAX = 10_000  # records in memory; past it (the spool failing too) new records are dropped, counted
BATCH = 200
WRITE_TIMEOUT = 3.0  # seconds a write may take before its records are spooled
TICK = 0.25  # seconds between the writer's looks at the queue and the spool


def bounded(call: Callable[[], T], timeout: float, name: str = "bpa-state-io") -> T:
    """``call()`` on a daemon thread, waited for at most ``timeout`` seconds
    (StateUnavailable after that; the call goes on, and its result is dropped)."""
    box: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append(call())
        except BaseException as e:  # handed to the waiting thread
            error.append(e)
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    if not done.wait(timeout):
        raise StateUnavailable(f"o registro de perguntas não respondeu em {timeout:.0f} s")
    if error:
        raise error[0]
    return box[0]


class RecordWriter:
    """``submit`` from any thread; one writer thread does the rest (started by ``start``).

    ``store`` opens (or returns) the store; ``healthy`` says whether the last health check saw
    it answer; ``on_result`` is told each write's outcome (None: written; else the error)."""

    def __init__(
        self,
        store: Callable[[], StateStore],
        spool: Spool | None,
        healthy: Callable[[], bool],
        on_result: Callable[[StateUnavailable | None], None],
    ) -> None:
        self._store = store
        self._spool = spool
        self._healthy = healthy
        self._on_result = on_result
        self._queue: collections.deque[QuestionRecord] = collections.deque()
        self._pending: set[str] = set()  # answer ids queued or spooled, not yet in the store
        self._cond = threading.Condition()
        self._run_lock = threading.Lock()  # one drain at a time (the thread, the exit flush)
        self._in_flight: threading.Event | None = None  # a write still running after its timeout
        self.dropped = 0
        self._thread: threading.Thread | None = None

    # --- any thread ----------------------------------------------------------------------
    def submit(self, record: QuestionRecord) -> bool:
        """Queue a record (never blocks on the store); False when the queue is full."""
        with self._cond:
            if len(self._queue) >= QUEUE_MAX:
                self.dropped += 1
                return False
            self._queue.append(record)
            self._pending.add(record.answer_id)
            self._cond.notify_all()
        return True

    def is_pending(self, answer_id: str) -> bool:
        with self._cond:
            return answer_id in self._pending

    def backlog(self) -> int:
        with self._cond:
            return len(self._pending)

    def wait_written(self, answer_id: str, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the answer's record is in the store."""
        with self._cond:
            self._cond.notify_all()  # wake the writer: someone is waiting
            return self._cond.wait_for(lambda: answer_id not in self._pending, timeout)

    def start(self) -> None:
        if self._thread is None:
            if self._spool is not None:
                try:
                    adopted = self._spool.adopt()
                except OSError as e:
                    log.error("spool não verificado: %s", e)
                    adopted = []
                with self._cond:
                    self._pending.update(r.answer_id for r in adopted)
            self._thread = threading.Thread(
                target=_writer_loop, args=(weakref.ref(self), self._cond), name="bpa-state-writer", daemon=True
            )
            self._thread.start()

    def flush(self, timeout: float) -> None:
        """Drain what can be drained within ``timeout`` s; spool the rest (at exit)."""
        done = threading.Event()
        timer = threading.Timer(timeout, done.set)
        timer.daemon = True
        timer.start()
        try:
            while not done.is_set() and self.backlog_in_memory():
                self.drain()
                if self.backlog_in_memory():
                    done.wait(TICK)
        finally:
            timer.cancel()
        with self._run_lock:
            self._spool_queue()

    def backlog_in_memory(self) -> int:
        with self._cond:
            return len(self._queue)

    # --- the writer thread ---------------------------------------------------------------
    def drain(self) -> None:
        with self._run_lock:
            self._drain()

    def _drain(self) -> None:
        if self._in_flight is not None:
            if not self._in_flight.is_set():
                self._spool_queue()  # a write is still stuck on the store: nothing else goes there
                return
            self._in_flight = None
        spooled = self._spool is not None and self._spool.pending()
        if spooled and (not self._healthy() or not self._replay()):
            self._spool_queue()  # after what waits there: the order holds
            return
        while True:
            with self._cond:
                batch = list(self._queue)[:BATCH]
            if not batch:
                return
            if not self._healthy():
                self._spool_queue()
                return
            if not self._write(batch):
                self._spool_queue()
                return
            with self._cond:
                for _ in batch:
                    self._queue.popleft()
                self._written(batch)

    def _write(self, records: list[QuestionRecord]) -> bool:
        finished = threading.Event()

        def write() -> None:
            try:
                self._store().record_questions(records)
            finally:
                finished.set()

        try:
            bounded(write, WRITE_TIMEOUT, "bpa-state-write")
        except StateUnavailable as e:
            if not finished.is_set():
                self._in_flight = finished
            self._on_result(e)
            return False
        self._on_result(None)
        return True

    def _replay(self) -> bool:
        assert self._spool is not None
        while True:
            records, offset = self._spool.peek(BATCH)
            if not records:
                self._spool.advance(offset)
                return True
            if not self._write(records):
                return False
            self._spool.advance(offset)
            with self._cond:
                self._written(records)

    def _written(self, records: list[QuestionRecord]) -> None:
        # Called holding self._cond.
        for r in records:
            self._pending.discard(r.answer_id)
        self._cond.notify_all()

    def _spool_queue(self) -> None:
        """Move the queue to the spool (after what is there: the order holds); on a spool
        failure (full disk, over its bound) the records stay queued in memory."""
        if self._spool is None:
            return
        with self._cond:
            records = list(self._queue)
        if not records:
            return
        try:
            self._spool.append(records)
        except OSError as e:
            log.debug("spool indisponível (%s); %d perguntas seguem na memória", e, len(records))
            return
        with self._cond:
            for _ in records:
                self._queue.popleft()


def _writer_loop(ref: weakref.ref[RecordWriter], cond: threading.Condition) -> None:
    # Holds the writer only while draining: a writer nobody uses any more ends its thread.
    while True:
        with cond:
            cond.wait(TICK)
        writer = ref()
        if writer is None:
            return
        try:
            writer.drain()
        except Exception:  # the writer must outlive any surprise
            log.exception("erro inesperado no gravador do registro de perguntas")
        del writer
