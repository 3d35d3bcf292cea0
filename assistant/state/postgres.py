"""The PostgreSQL backend of the state store, which several replicas share.

One connection per process, serialized by a lock like the SQLite backend's: a state write is
a few milliseconds beside an answer's hundreds. A broken connection (the database restarted,
the network failed) is dropped and opened again on the next call, so an outage lasts as long
as the database's, and meanwhile GuardedState reports degraded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from assistant.errors import StateUnavailable
from assistant.state.store import SCHEMA, Execute, StateStore

# An unreachable or stuck database must not hold an answer for long (recording a question
# waits for the store): connecting, a silent network and a blocked statement are all bounded.
CONNECT_TIMEOUT = 5  # seconds
IO_TIMEOUT_MS = 10_000
SCHEMA_LOCK = 0x6270615F  # advisory lock id: replicas starting together create the tables once


def describe_url(url: str) -> str:
    """``postgresql://host:port/dbname`` without the user's name or password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(URL inválida)"
    return f"postgresql://{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class PostgresStateStore(StateStore):
    def __init__(self, url: str) -> None:
        self.url = url
        self.where = describe_url(url)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        with self._transaction() as execute:
            execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            for statement in SCHEMA.format(id_type="BIGINT GENERATED ALWAYS AS IDENTITY").split(";"):
                if statement.strip():
                    execute(statement, ())

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            conn = psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT,
                tcp_user_timeout=IO_TIMEOUT_MS,
            )  # fmt: skip
            try:
                conn.execute(f"SET statement_timeout = {IO_TIMEOUT_MS}")
            except psycopg.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction():

                    def execute(sql: str, params: tuple[Any, ...]) -> psycopg.Cursor[dict[str, Any]]:
                        # The statements are written once for both dialects, with qmark placeholders.
                        return conn.execute(sql.replace("?", "%s"), params)

                    yield execute
            except psycopg.Error as e:
                if self._conn is not None and (self._conn.broken or isinstance(e, psycopg.OperationalError)):
                    self._conn.close()
                    self._conn = None
                raise StateUnavailable(f"registro de perguntas indisponível em {self.where}: {e}") from e

    def ping(self) -> bool:
        with self._transaction() as execute:
            execute("SELECT 1", ())
        return True
