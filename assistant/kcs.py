"""KCS signals (the analysts' Knowledge-Centered Service workflow): a section linked or quoted
into a ticket, a section flagged as wrong, the sidebar opened on a ticket.

Part of the assistant's public face: the edges (the HTTP API, the Slack bot) read these
types and errors; the service (assistant.service) checks and records them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, Field

from index.errors import BpaError
from index.models import Chunk
from index.textutil import collapse_ws

LinkAction = Literal["link", "quote"]
FlagReason = Literal["desatualizado", "incorreto", "incompleto", "outro"]
LINK_ACTIONS: tuple[LinkAction, ...] = ("link", "quote")
FLAG_REASONS: tuple[FlagReason, ...] = ("desatualizado", "incorreto", "incompleto", "outro")
# What an analyst sees of each reason (the sidebar, the web page, Slack, the report).
REASON_LABELS: dict[str, str] = {
    "desatualizado": "Desatualizado",
    "incorreto": "Incorreto",
    "incompleto": "Incompleto",
    "outro": "Outro motivo",
}
MAX_FLAG_COMMENT_CHARS = 500
MAX_TICKET_ID_CHARS = 64
# Zendesk ticket ids are numbers; other desks use short codes. Letters, digits, - and _ only:
# the id is stored and shown in the report as it is.
TICKET_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
_KEY_SEP = "\x1f"  # between a section key's document id and path: in neither


class UnknownSection(BpaError):
    """A section (chunk) id that the served snapshot does not hold."""


class StaleSnapshot(BpaError):
    """A snapshot id that is neither the served one nor one still kept for rollback."""


class SectionRef(BaseModel):
    """The section a link, a quote or a flag is about, as the served snapshot has it."""

    chunk_id: str
    document_id: str
    title: str = Field(description="Document title.")
    section: str = Field(description="Section path inside the document, 'A › B'.")
    url: str = Field(description="Deep link to the section.")


class LinkReceipt(BaseModel):
    """A link or quote as recorded: a repeat of the same (ticket, section, action) gets the
    first receipt again, nothing written twice."""

    ticket_id: str
    action: LinkAction
    snapshot: str = Field(description="The snapshot id the client named.")
    recorded_at: str = Field(description="When it was first recorded (UTC, ISO 8601).")
    target: SectionRef
    quote: str | None = Field(
        default=None,
        description="For action=quote: the excerpt to insert, verbatim from the section, personal data masked.",
    )


class FlagReceipt(BaseModel):
    reason: FlagReason
    snapshot: str
    recorded_at: str = Field(description="When it was first recorded (UTC, ISO 8601).")
    target: SectionRef


class ExcerptMismatch(BpaError):
    """A quote whose excerpt is not the section's own text."""


def section_key(chunk: Chunk) -> str:
    """What links are de-duplicated by: the section (document and path), not the passage, so
    two passages of one section linked into one ticket count once."""
    return f"{chunk.document_id}{_KEY_SEP}{chunk.section}"


def split_section_key(key: str) -> tuple[str, str]:
    document_id, _, section = key.partition(_KEY_SEP)
    return document_id, section


def quote(text: str, excerpt: str | None) -> str:
    """The text a quote inserts: ``excerpt`` when each of its lines is verbatim in the
    section's ``text`` (spacing aside; a trailing ellipsis marks a shortened line), else
    ExcerptMismatch; without an excerpt, the section's text."""
    whole = collapse_ws(text)
    if excerpt is None or not excerpt.strip():
        return text.strip()
    for line in excerpt.split("\n"):
        part = collapse_ws(line).removesuffix("…").strip()
        if part and part not in whole:
            raise ExcerptMismatch("o trecho enviado não é um trecho literal da seção")
    return excerpt.strip()


def flag_key(
    request_id: str | None, section: str, reason: str, comment: str | None, ticket_id: str | None, channel: str
) -> str:
    """A flag's identity: the client's request id when it sent one; else its content, so the
    same flag sent twice (a replay) is recorded once."""
    if request_id:
        return "request:" + request_id
    content = json.dumps([section, reason, collapse_ws(comment or ""), ticket_id or "", channel])
    return "content:" + hashlib.sha256(content.encode()).hexdigest()
