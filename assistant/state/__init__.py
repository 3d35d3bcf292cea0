"""State: asked questions, feedback and claimed deliveries, outside the snapshots.

One interface (``store.StateStore``: the SQL both dialects share), two backends (``sqlite``,
``postgres``) and the guard the service uses (``guarded``). This wing knows no answering: it
imports only the assistant's face (errors, privacy, types).
"""

from assistant.state.guarded import GuardedState, describe, is_postgres, open_store
from assistant.state.sqlite import SqliteStateStore
from assistant.state.store import QuestionRecord, StateStore

__all__ = [
    "GuardedState",
    "QuestionRecord",
    "SqliteStateStore",
    "StateStore",
    "describe",
    "is_postgres",
    "open_store",
]
