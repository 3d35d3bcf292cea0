"""The assistant's one public interface, as a protocol.

The HTTP layer and the Slack bot depend on this, never on retrieval internals, so each
can be tested with a tiny fake.
"""

from __future__ import annotations

from typing import Protocol

from assistant.types import Answer, Ask, DocumentView, SearchHit, StateHealth, Suggestion


class AssistantService(Protocol):
    @property
    def snapshot_id(self) -> str | None:
        """Id of the snapshot being served, None when no index is published."""
        ...

    @property
    def state_health(self) -> StateHealth:
        """Whether questions and feedback are being recorded (answers never depend on it)."""
        ...

    def ask(self, request: Ask) -> Answer:
        """Answer a question (``request.context``: an earlier question of the same thread).

        Raises InvalidQuestion for unusable input and NoSnapshotError with no index.
        Records the (masked) question so feedback can reference ``answer_id``; a failure to
        record never fails the answer (see state_health).
        """
        ...

    def search(self, query: str, *, k: int = 5, sources: list[str] | None = None) -> list[SearchHit]: ...

    def suggest(self, subject: str, description: str, tags: list[str]) -> Suggestion: ...

    def feedback(
        self, answer_id: str, helpful: bool, comment: str | None = None, channel: str = "api"
    ) -> None:
        """Store feedback; raises UnknownAnswer for an id never given, StateUnavailable when
        feedback cannot be recorded (read-only or full data directory)."""
        ...

    def first_delivery(self, *keys: str) -> bool:
        """Claim a delivery that may come more than once (a Slack event id, the message it
        carries): True the first time, False when any of ``keys`` was claimed within the hour,
        by this process or another replica sharing the state store. Raises StateUnavailable
        when the store cannot tell (the caller decides what to do then)."""
        ...

    def document(self, document_id: str) -> DocumentView: ...
