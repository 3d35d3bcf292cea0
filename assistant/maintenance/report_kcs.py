"""The gap report's KCS part: which sections solved tickets (linked or quoted into them from the
Zendesk sidebar), which were flagged as wrong, and which the sidebar keeps suggesting without
anyone linking them.

Built from the state store's ticket_views, ticket_links and section_flags tables (assistant.kcs)
and the served snapshot's sections; rendered by report_text and report_html.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from assistant.kcs import FLAG_REASONS
from assistant.privacy import mask_pii

# A section suggested on at least this many tickets and never linked nor quoted is listed.
OFTEN_SUGGESTED = 2
MAX_LISTED = 20
FLAG_COMMENTS = 3


class _Sections(Protocol):
    """What this module reads of report._Sections."""

    of_chunk: dict[str, tuple[str, str]]

    def ref(self, key: tuple[str, str], count: int = 0) -> BaseModel: ...


class _Store(Protocol):
    def ticket_views(self) -> list[dict[str, Any]]: ...
    def ticket_links(self) -> list[dict[str, Any]]: ...
    def section_flags(self) -> list[dict[str, Any]]: ...


class KcsSection(BaseModel):
    """A section as the report shows it (report.SectionRef's fields, without its count)."""

    document_id: str
    title: str = Field(description="Document title.")
    section: str = Field(description="Section path, 'A › B › C'.")
    url: str
    source: str


class SectionUse(BaseModel):
    section: KcsSection
    links: int = Field(description="Tickets it was linked into in the period.")
    quotes: int = Field(description="Tickets it was quoted into in the period.")
    suggested: int = Field(description="Tickets the sidebar suggested it on in the period.")


class SectionFlags(BaseModel):
    section: KcsSection
    flags: int
    reasons: dict[str, int] = Field(description="Flags per reason: desatualizado, incorreto, incompleto, outro.")
    comments: list[str] = Field(description="Up to 3 of the newest comments (masked).")


class KcsReport(BaseModel):
    tickets_opened: int = Field(0, description="Tickets the sidebar was opened on (or linked into) in the period.")
    tickets_linked: int = Field(0, description="Of those, tickets that got a section linked or quoted.")
    link_rate: float | None = Field(None, description="tickets_linked / tickets_opened; null with no ticket.")
    links: int = 0
    quotes: int = 0
    flags: int = 0
    reuse: list[SectionUse] = Field(default_factory=list, description="Sections linked or quoted, most used first.")
    flagged: list[SectionFlags] = Field(default_factory=list, description="Flagged sections, most flagged first.")
    unlinked: list[SectionUse] = Field(
        default_factory=list,
        description=f"Sections suggested on at least {OFTEN_SUGGESTED} tickets and never linked nor quoted.",
    )
    dropped: int = Field(0, description="Records about sections no longer in the served snapshot (not shown).")


def _when(text: object) -> datetime | None:
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _in_period(rows: Iterable[Mapping[str, Any]], column: str, since: datetime) -> list[Mapping[str, Any]]:
    return [r for r in rows if (at := _when(r[column])) is not None and at >= since]


def build_kcs(store: _Store, sections: _Sections, since: datetime) -> KcsReport:
    views = _in_period(store.ticket_views(), "last_at", since)
    links = _in_period(store.ticket_links(), "created_at", since)
    flags = _in_period(store.section_flags(), "created_at", since)
    dropped = 0

    def key_of(chunk_id: str) -> tuple[str, str] | None:
        nonlocal dropped
        key = sections.of_chunk.get(chunk_id)
        dropped += key is None
        return key

    suggested: Counter[tuple[str, str]] = Counter()
    for view in views:
        try:
            chunk_ids = [str(c) for c in json.loads(view["chunk_ids"])]
        except (TypeError, ValueError):
            chunk_ids = []
        # One ticket counts once per section, whatever passages of it were suggested.
        suggested.update({k for c in chunk_ids if (k := sections.of_chunk.get(c)) is not None})

    used: dict[str, Counter[tuple[str, str]]] = {"link": Counter(), "quote": Counter()}
    for row in links:
        key = key_of(row["chunk_id"])
        if key is not None and row["action"] in used:
            used[row["action"]][key] += 1  # rows are unique per (ticket, section, action)

    per_flag: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in flags:
        key = key_of(row["chunk_id"])
        if key is not None:
            per_flag[key].append(row)

    def ref(key: tuple[str, str]) -> KcsSection:
        return KcsSection.model_validate(sections.ref(key).model_dump(exclude={"count"}))

    def use(key: tuple[str, str]) -> SectionUse:
        return SectionUse(
            section=ref(key), links=used["link"][key], quotes=used["quote"][key], suggested=suggested[key]
        )

    reused = set(used["link"]) | set(used["quote"])
    reuse = sorted((use(k) for k in reused), key=lambda u: (-(u.links + u.quotes), u.section.title, u.section.section))
    unlinked = sorted(
        (use(k) for k, n in suggested.items() if n >= OFTEN_SUGGESTED and k not in reused),
        key=lambda u: (-u.suggested, u.section.title, u.section.section),
    )
    flagged = []
    for key, rows in per_flag.items():
        reasons = Counter(str(r["reason"]) for r in rows)
        newest = sorted(rows, key=lambda r: str(r["created_at"]), reverse=True)
        comments = [mask_pii(str(r["comment"])) for r in newest if r["comment"]][:FLAG_COMMENTS]
        flagged.append(
            SectionFlags(
                section=ref(key),
                flags=len(rows),
                reasons={reason: reasons[reason] for reason in FLAG_REASONS if reasons[reason]},
                comments=comments,
            )
        )
    flagged.sort(key=lambda f: (-f.flags, f.section.title, f.section.section))

    opened = {str(v["ticket_id"]) for v in views} | {str(r["ticket_id"]) for r in links}
    linked = {str(r["ticket_id"]) for r in links}
    return KcsReport(
        tickets_opened=len(opened),
        tickets_linked=len(linked),
        link_rate=len(linked) / len(opened) if opened else None,
        links=sum(1 for r in links if r["action"] == "link"),
        quotes=sum(1 for r in links if r["action"] == "quote"),
        flags=len(flags),
        reuse=reuse[:MAX_LISTED],
        flagged=flagged[:MAX_LISTED],
        unlinked=unlinked[:MAX_LISTED],
        dropped=dropped,
    )
