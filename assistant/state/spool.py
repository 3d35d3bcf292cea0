"""The local spool: answered questions waiting for the state store, on disk, in order.

One JSON line per record, its question masked (LGPD) before it is written, in a file of this
process's own under the spool directory (``data_dir/state-spool/``), held with an exclusive
``flock`` while the process lives. A process that died with records spooled left its file
unlocked: the next process to start adopts it, so a crash during an outage loses nothing.
Bounded in size: past ``max_bytes`` an append is refused (the caller logs and counts it).

Used by one writer thread (RecordWriter) at a time; the lock is for the exit flush.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import IO

from assistant.privacy import mask_pii
from assistant.state.store import QuestionRecord

log = logging.getLogger("bpa.state")

SPOOL_MAX_BYTES = 64 * 1024 * 1024  # ~100,000 questions: hours of an outage at a busy desk


class SpoolFull(OSError):
    pass


def _line(record: QuestionRecord) -> bytes:
    fields = dataclasses.asdict(record)
    fields["question"] = mask_pii(record.question)
    fields["chunk_ids"] = list(record.chunk_ids)
    return (json.dumps(fields, ensure_ascii=False) + "\n").encode()


def _record(line: bytes) -> QuestionRecord:
    fields = json.loads(line)
    fields["chunk_ids"] = tuple(fields["chunk_ids"])
    return QuestionRecord(**fields)


class Spool:
    def __init__(self, directory: Path, max_bytes: int = SPOOL_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._read = 0  # offset of the first record not yet written to the store
        self._size = 0

    @property
    def path(self) -> Path | None:
        return Path(self._file.name) if self._file is not None else None

    def _own(self) -> IO[bytes]:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            handle = open(path, "a+b")  # noqa: SIM115 - held open (and locked) for the process' life
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._file = handle
        return self._file

    def pending(self) -> bool:
        with self._lock:
            return self._size > self._read

    def append(self, records: list[QuestionRecord]) -> None:
        """Append in order; raises OSError (SpoolFull past the bound, a full disk...)."""
        data = b"".join(_line(r) for r in records)
        with self._lock:
            if self._size + len(data) > self.max_bytes:
                raise SpoolFull(f"spool cheio ({self.max_bytes // (1024 * 1024)} MB)")
            handle = self._own()
            handle.seek(0, os.SEEK_END)
            try:
                handle.write(data)
                handle.flush()
            except OSError:
                handle.truncate(self._size)  # no half-written line
                raise
            self._size += len(data)

    def peek(self, limit: int) -> tuple[list[QuestionRecord], int]:
        """The next ``limit`` records not yet written, and the offset past them."""
        with self._lock:
            if self._file is None or self._size <= self._read:
                return [], self._read
            self._file.seek(self._read)
            records: list[QuestionRecord] = []
            offset = self._read
            while len(records) < limit and offset < self._size:
                line = self._file.readline()
                if not line.endswith(b"\n"):
                    break
                offset += len(line)
                try:
                    records.append(_record(line))
                except (ValueError, TypeError) as e:  # a damaged line: skipped, not a stuck spool
                    log.error("registro ilegível no spool %s ignorado: %s", self._file.name, e)
            return records, offset

    def advance(self, offset: int) -> None:
        """Mark everything before ``offset`` written; an emptied spool is truncated."""
        with self._lock:
            self._read = offset
            if self._file is not None and self._read >= self._size:
                self._file.truncate(0)
                self._read = self._size = 0

    def adopt(self) -> list[QuestionRecord]:
        """Take over the spool files of processes that died (their lock is free): their
        records are appended to this one's, in their order, and their files removed."""
        adopted: list[QuestionRecord] = []
        if not self.directory.is_dir():
            return adopted
        for path in sorted(self.directory.glob("*.jsonl")):
            if self._file is not None and path == Path(self._file.name):
                continue
            try:
                with open(path, "rb") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: alive
                    found: list[QuestionRecord] = []
                    for line in handle:
                        if line.endswith(b"\n"):
                            try:
                                found.append(_record(line))
                            except (ValueError, TypeError):
                                continue
                    if found:
                        self.append(found)
                    path.unlink()
            except BlockingIOError:
                continue
            except OSError as e:
                log.error("spool %s não adotado: %s", path, e)
                continue
            if found:
                log.warning("%d perguntas do spool de um processo encerrado (%s) adotadas", len(found), path.name)
            adopted.extend(found)
        return adopted
