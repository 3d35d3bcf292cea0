"""The assistant's one public interface, as a protocol.

The HTTP layer and the Slack bot depend on this, never on retrieval internals, so each
can be tested with a tiny fake.
"""

from __future__ import annotations

from typing import Protocol

from assistant.kcs import FlagReason, FlagReceipt, LinkAction, LinkReceipt
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

    def close(self) -> None:
        """The server is shutting down: write what is queued (bounded) and release the state
        store's connections."""
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

    # --- KCS (assistant.kcs) -------------------------------------------------------------------

    def ticket_opened(self, ticket_id: str, snapshot: str, chunk_ids: list[str], channel: str = "zendesk") -> bool:
        """Record the sidebar opened on a ticket and what it suggested (the link rate's
        denominator); never raises: False when it could not be recorded."""
        ...

    def link(
        self,
        ticket_id: str,
        chunk_id: str,
        snapshot: str,
        action: LinkAction,
        excerpt: str | None = None,
        channel: str = "zendesk",
    ) -> LinkReceipt:
        """Record a section linked or quoted into a ticket, once per (ticket, section, action).
        Raises StaleSnapshot (a snapshot neither served nor kept), UnknownSection (not in the
        served snapshot), ExcerptMismatch (a quote that is not the section's text),
        StateUnavailable."""
        ...

    def flag(
        self,
        chunk_id: str,
        snapshot: str,
        reason: FlagReason,
        comment: str | None = None,
        ticket_id: str | None = None,
        request_id: str | None = None,
        channel: str = "api",
    ) -> FlagReceipt:
        """Record a section flagged as wrong (comment masked), once per request id. Raises as link."""
        ...
