"""The embedded default store: an SQLite file in the data directory (one machine's processes)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.errors import StateUnavailable
from assistant.state.store import SCHEMA, Execute, Row, StateStore


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteStateStore(StateStore):
    """The embedded default: ``data_dir/state.sqlite``, shared only by processes on one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self._lock = threading.Lock()
        with self._storage():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Another process (a CLI `bpa ask` beside the server) may hold the write lock briefly.
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
            try:
                self._db.row_factory = _dict_row
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(SCHEMA.format(id_type="INTEGER"))
            except sqlite3.Error:
                self._db.close()
                raise

    @contextmanager
    def _storage(self) -> Iterator[None]:
        """Storage failures (read-only or full disk, a path that is not a directory) as StateUnavailable."""
        try:
            yield
        except (OSError, sqlite3.Error) as e:
            raise StateUnavailable(f"registro de perguntas indisponível em {self.where}: {e}") from e

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        with self._lock, self._storage():
            # IMMEDIATE: the write lock is taken up front, so a read-then-write is atomic.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db.execute
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
