"""The assistant: answering, its state, maintainers' tools and the HTTP edge, in wings.

Its public interface — what the Slack bot and other edges may use — is re-exported here.
Importing it is cheap: the engine (FAISS, models) is imported only where it is built.
"""

from assistant.errors import (
    NO_INDEX_MESSAGE,
    InvalidQuestion,
    NoSnapshotError,
    StateUnavailable,
    UnknownAnswer,
    UnknownDocument,
)
from assistant.protocol import AssistantService
from assistant.types import Answer, Citation, DocumentSection, DocumentView, SearchHit, Suggestion
from index.errors import BpaError

__all__ = [
    "NO_INDEX_MESSAGE",
    "Answer",
    "AssistantService",
    "BpaError",
    "Citation",
    "DocumentSection",
    "DocumentView",
    "InvalidQuestion",
    "NoSnapshotError",
    "SearchHit",
    "StateUnavailable",
    "Suggestion",
    "UnknownAnswer",
    "UnknownDocument",
]
