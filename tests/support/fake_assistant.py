"""A deterministic stand-in for AssistantService, for the HTTP, browser and Slack tests.

- ask: a canned answer with 2 citations; abstains (with 2 suggestions) when the question
  mentions "preço"; InvalidQuestion for a blank question; NoSnapshotError without snapshot.
- search/suggest: canned hits; suggest also returns a checklist.
- feedback: recorded in ``feedbacks``; UnknownAnswer for an id never given.
- first_delivery: remembers every key claimed (the state store's de-duplication, in memory);
  raises ``delivery_error`` when set (a state store that cannot tell).
- ticket_opened/link/flag (KCS): recorded in ``opened``, ``links`` and ``flags``; a chunk id
  outside HITS is UnknownSection, a snapshot other than ``snapshot_id`` StaleSnapshot; links
  are de-duplicated per (ticket, chunk, action), flags per request id.
- document: one known document (``DOCUMENT_ID``); UnknownDocument otherwise.
- ``snapshot_id`` is switchable: ``fake.snapshot_id = None`` simulates "no index yet".
- ``ask_error``: when set, ask() records the call and raises it (a failing assistant).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assistant.errors import (
    NO_INDEX_MESSAGE,
    InvalidQuestion,
    NoSnapshotError,
    UnknownAnswer,
    UnknownDocument,
)
from assistant.kcs import (
    FlagReason,
    FlagReceipt,
    LinkAction,
    LinkReceipt,
    SectionRef,
    StaleSnapshot,
    UnknownSection,
    quote,
)
from assistant.privacy import mask_pii
from assistant.protocol import AssistantService
from assistant.types import (
    Answer,
    AnswerLine,
    Ask,
    Citation,
    DocumentSection,
    DocumentView,
    SearchHit,
    StateHealth,
    Suggestion,
)

SNAPSHOT_ID = "snap-20250101-000000"
DOCUMENT_ID = "boas-praticas-do-suporte"
PUBLIC_URL = "http://127.0.0.1:8000"

CITATIONS = [
    Citation(
        n=1,
        title="Boas práticas do suporte",
        section="Atendimento › Cliente parado",
        url=f"{PUBLIC_URL}/d/{DOCUMENT_ID}#cliente-parado",
        excerpt="Quando o cliente ficar parado, registre o motivo no ticket e combine o próximo contato.",
        score=0.82,
        document_id=DOCUMENT_ID,
        chunk_id=f"{DOCUMENT_ID}:0003",
    ),
    Citation(
        n=2,
        title="Interações públicas",
        section="Atendimento › Interações públicas",
        url="https://tdn.totvs.com/pages/viewpage.action?pageId=123456#interacoes-publicas",
        excerpt="Faça no máximo duas interações públicas sem contato telefônico.",
        score=0.74,
        document_id="tdn-interacoes",
        chunk_id="tdn-interacoes:0001",
    ),
]

ANSWER_TEXT = (
    "Quando o cliente ficar parado, registre o motivo no ticket e combine o próximo contato [1]. "
    "Faça no máximo duas interações públicas sem contato telefônico [2]."
)
ANSWER_LINES = [
    AnswerLine(text="Quando o cliente ficar parado, registre o motivo no ticket e combine o próximo contato.", n=1),
    AnswerLine(text="Faça no máximo duas interações públicas sem contato telefônico.", n=2),
]
ABSTAIN_TEXT = "Não encontrei na documentação um trecho que responda com segurança."
POINTER_TEXT = "A documentação não responde isso diretamente. O mais próximo:"
CHECKLIST = ["Registrar o motivo da pendência no ticket.", "Confirmar o próximo contato com o cliente."]


def _hit(citation: Citation) -> SearchHit:
    return SearchHit(
        chunk_id=citation.chunk_id,
        document_id=citation.document_id,
        title=citation.title,
        section=citation.section,
        url=citation.url,
        text=citation.excerpt,
        score=citation.score,
    )


HITS = [_hit(c) for c in CITATIONS]


AskCall = Ask  # what the fake records of each ask: the request itself


@dataclass
class FeedbackCall:
    answer_id: str
    helpful: bool
    comment: str | None
    channel: str


@dataclass
class FakeAssistant:
    snapshot_id: str | None = SNAPSHOT_ID
    asks: list[AskCall] = field(default_factory=list)
    closed: bool = False
    feedbacks: list[FeedbackCall] = field(default_factory=list)
    suggests: list[tuple[str, str, list[str]]] = field(default_factory=list)
    ask_error: Exception | None = None
    delivery_error: Exception | None = None
    state_health: StateHealth = field(default_factory=StateHealth)
    opened: list[tuple[str, str, list[str], str]] = field(default_factory=list)
    links: dict[tuple[str, str, str], LinkReceipt] = field(default_factory=dict)
    flags: dict[str, FlagReceipt] = field(default_factory=dict)
    flag_comments: list[str | None] = field(default_factory=list)  # every flag call's comment, in order
    _answer_ids: set[str] = field(default_factory=set)
    _deliveries: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _require_snapshot(self) -> str:
        if self.snapshot_id is None:
            raise NoSnapshotError(NO_INDEX_MESSAGE)
        return self.snapshot_id

    def close(self) -> None:
        self.closed = True

    def ask(self, request: Ask) -> Answer:
        question, top_k = request.question, request.top_k
        snapshot = self._require_snapshot()
        if not question.strip():
            raise InvalidQuestion("A pergunta está vazia.")
        with self._lock:
            self.asks.append(request)
            if self.ask_error is not None:
                raise self.ask_error
            answer_id = f"ans-{len(self.asks)}"
            self._answer_ids.add(answer_id)
        abstain = "preço" in question.lower()
        if "0800" in question:  # the topic is documented, the fact asked for is not: a pointer
            return Answer(
                answer_id=answer_id, question=question, answer=POINTER_TEXT, abstained=True, confidence=0.41,
                citations=[], suggestions=list(CITATIONS), snapshot=snapshot, latency_ms=3.5, outcome="pointer",
                confidence_label="baixa",
            )  # fmt: skip
        return Answer(
            answer_id=answer_id,
            question=question,
            answer=ABSTAIN_TEXT if abstain else ANSWER_TEXT,
            abstained=abstain,
            confidence=0.12 if abstain else 0.81,
            citations=[] if abstain else CITATIONS[: top_k or len(CITATIONS)],
            suggestions=list(CITATIONS) if abstain else [],
            snapshot=snapshot,
            latency_ms=3.5,
            outcome="refusal" if abstain else "answer",
            confidence_label="baixa" if abstain else "alta",
            lines=[] if abstain else ANSWER_LINES,
        )

    def search(self, query: str, *, k: int = 5, sources: list[str] | None = None) -> list[SearchHit]:
        self._require_snapshot()
        return HITS[:k]

    def suggest(self, subject: str, description: str, tags: list[str]) -> Suggestion:
        self._require_snapshot()
        with self._lock:
            self.suggests.append((subject, description, list(tags)))
        return Suggestion(results=list(HITS), checklist=list(CHECKLIST), snapshot=self.snapshot_id or "")

    def ticket_opened(self, ticket_id: str, snapshot: str, chunk_ids: list[str], channel: str = "zendesk") -> bool:
        with self._lock:
            self.opened.append((ticket_id, snapshot, list(chunk_ids), channel))
        return True

    def _section(self, chunk_id: str, snapshot: str) -> tuple[SearchHit, SectionRef]:
        if snapshot != self._require_snapshot():
            raise StaleSnapshot(snapshot)
        found = next((h for h in HITS if h.chunk_id == chunk_id), None)
        if found is None:
            raise UnknownSection(chunk_id)
        ref = SectionRef(chunk_id=found.chunk_id, document_id=found.document_id, title=found.title,
                         section=found.section, url=found.url)  # fmt: skip
        return found, ref

    def link(
        self, ticket_id: str, chunk_id: str, snapshot: str, action: LinkAction, excerpt: str | None = None,
        channel: str = "zendesk",
    ) -> LinkReceipt:  # fmt: skip
        found, ref = self._section(chunk_id, snapshot)
        text = mask_pii(quote(found.text, excerpt)) if action == "quote" else None
        with self._lock:
            return self.links.setdefault(
                (ticket_id, chunk_id, action),
                LinkReceipt(ticket_id=ticket_id, action=action, snapshot=snapshot,
                            recorded_at=f"2025-01-01T00:00:{len(self.links):02d}+00:00", target=ref, quote=text),
            )  # fmt: skip

    def flag(
        self, chunk_id: str, snapshot: str, reason: FlagReason, comment: str | None = None,
        ticket_id: str | None = None, request_id: str | None = None, channel: str = "api",
    ) -> FlagReceipt:  # fmt: skip
        _, ref = self._section(chunk_id, snapshot)
        key = request_id or f"{chunk_id}|{reason}|{comment}|{ticket_id}|{channel}"
        with self._lock:
            self.flag_comments.append(comment)
            return self.flags.setdefault(
                key,
                FlagReceipt(reason=reason, snapshot=snapshot,
                            recorded_at=f"2025-01-01T00:01:{len(self.flags):02d}+00:00", target=ref),
            )  # fmt: skip

    def feedback(
        self, answer_id: str, helpful: bool, comment: str | None = None, channel: str = "api"
    ) -> None:
        with self._lock:
            if answer_id not in self._answer_ids:
                raise UnknownAnswer(answer_id)
            self.feedbacks.append(FeedbackCall(answer_id, helpful, comment, channel))

    def first_delivery(self, *keys: str) -> bool:
        if self.delivery_error is not None:
            raise self.delivery_error
        with self._lock:
            first = not any(key in self._deliveries for key in keys)
            self._deliveries.update(keys)
            return first

    def document(self, document_id: str) -> DocumentView:
        self._require_snapshot()
        if document_id != DOCUMENT_ID:
            raise UnknownDocument(document_id)
        return DocumentView(
            document_id=DOCUMENT_ID,
            title="Boas práticas do suporte",
            url=f"{PUBLIC_URL}/d/{DOCUMENT_ID}",
            source="local",
            updated_at="2025-01-01",
            sections=[
                DocumentSection(
                    title="Atendimento",
                    path="Atendimento",
                    anchor="atendimento",
                    url=f"{PUBLIC_URL}/d/{DOCUMENT_ID}#atendimento",
                ),
                DocumentSection(
                    title="Cliente parado",
                    path="Atendimento › Cliente parado",
                    anchor="cliente-parado",
                    url=f"{PUBLIC_URL}/d/{DOCUMENT_ID}#cliente-parado",
                ),
            ],
        )


if TYPE_CHECKING:  # mypy checks this file (pyproject [tool.mypy] files): the fake fits the protocol
    _fake: AssistantService = FakeAssistant()
