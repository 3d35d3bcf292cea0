"""The PostgreSQL backend of the state store, which several replicas share.

A pool of connections (psycopg_pool), each checked before use, with short connect,
statement and lock timeouts: a dead connection is replaced, a locked table fails a write in
seconds instead of holding it. A *stopped* server (a hung host, a partition) answers nothing
and fires no server-side timeout, so no caller waits on this class directly: the writer and
the health check (assistant.state.guarded) run it behind their own bounded calls.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from assistant.errors import StateUnavailable
from assistant.state.store import SCHEMA, Execute, StateStore

CONNECT_TIMEOUT = 3  # seconds: opening a connection
POOL_TIMEOUT = 2.0  # seconds: waiting for a free (or new) connection from the pool
POOL_SIZE = 8  # per process: the writer, the health check, feedback and Slack claims
STATEMENT_TIMEOUT_MS = 5_000
LOCK_TIMEOUT_MS = 2_000  # a table locked by another session fails the write, which is spooled
IO_TIMEOUT_MS = 10_000  # unacknowledged data on a silent network
SCHEMA_LOCK = 0x6270615F  # advisory lock id: replicas starting together create the tables once

# The pool logs every failed connection attempt; an outage is logged once each way by the
# health check (assistant.state.guarded) instead.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


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
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url,
            min_size=0,  # connections made on demand: no reconnection loop (and its log) in an outage
            max_idle=60.0,  # seconds an unused connection is kept
            max_size=POOL_SIZE,
            timeout=POOL_TIMEOUT,
            check=ConnectionPool.check_connection,
            open=False,
            name="bpa-state",
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": CONNECT_TIMEOUT,
                "tcp_user_timeout": IO_TIMEOUT_MS,
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}",
            },
        )
        # Its worker threads keep a pool alive: it is closed when this store is dropped.
        weakref.finalize(self, self._pool.close, 1.0).atexit = False
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT + 1)
            with self._transaction() as execute:
                execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
                for statement in SCHEMA.format(id_type="BIGINT GENERATED ALWAYS AS IDENTITY").split(";"):
                    if statement.strip():
                        execute(statement, ())
        except (PoolTimeout, StateUnavailable) as e:
            self._pool.close(timeout=1.0)
            raise StateUnavailable(f"registro de perguntas indisponível em {self.where}: {e}") from e

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        try:
            with self._pool.connection() as conn, conn.transaction():

                def execute(sql: str, params: tuple[Any, ...]) -> psycopg.Cursor[dict[str, Any]]:
                    # The statements are written once for both dialects, with qmark placeholders.
                    return conn.execute(sql.replace("?", "%s"), params)

                yield execute
        except (psycopg.Error, PoolTimeout) as e:
            # The pool discards a broken connection on its return.
            raise StateUnavailable(f"registro de perguntas indisponível em {self.where}: {e}") from e

    def close(self) -> None:
        self._pool.close(timeout=1.0)
