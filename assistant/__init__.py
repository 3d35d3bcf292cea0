"""The assistant: retrieval, answer composition, abstention, feedback and the HTTP service.

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
from index.settings import Settings

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
    "Settings",
    "StateUnavailable",
    "Suggestion",
    "UnknownAnswer",
    "UnknownDocument",
]
