"""The Assistant: the one implementation of AssistantService, a thin service around the pipeline.

It validates what the edges send, serves the current snapshot and hot-swaps to a newly
published one (checked at most every ``reload_interval`` seconds, on the request path: a
file read, no thread), runs the pipeline (``answering.pipeline.run``, pure), renders the
trace (``render``) and records the question at this boundary, and only here. A request keeps
the snapshot object it started with, so a swap never fails a request in flight.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid

from assistant.answering.config import ComposeConfig
from assistant.answering.decide import ConfidenceConfig
from assistant.answering.glossary import Glossary
from assistant.answering.pipeline import Components, Question, Trace, retrieve, run
from assistant.answering.rerank import Reranker
from assistant.answering.retrieval import FusionConfig, LoadedSnapshot
from assistant.errors import IncompatibleSnapshot, InvalidQuestion, UnknownDocument
from assistant.kcs import FlagReason, FlagReceipt, LinkAction, LinkReceipt, StaleSnapshot, UnknownSection
from assistant.kcs import SectionRef as KcsSection
from assistant.kcs import flag_key as kcs_flag_key
from assistant.kcs import quote as kcs_quote
from assistant.kcs import section_key as kcs_section_key
from assistant.privacy import mask_pii
from assistant.render import hit, render, section_within
from assistant.state import GuardedState, QuestionRecord, StateStore
from assistant.suggest import checklist, clean_ticket_text
from assistant.types import (
    WORD_PATTERN,
    Answer,
    Ask,
    DocumentSection,
    DocumentView,
    SearchHit,
    StateHealth,
    Suggestion,
)
from index.embedding.protocol import Embedder
from index.errors import BpaError, NoSnapshotError
from index.leases import new_holder
from index.models import Chunk
from index.settings import Settings
from index.snapshot import Snapshot, SnapshotStore

log = logging.getLogger("bpa.assistant")

_LETTER = re.compile(WORD_PATTERN)


class _Loaded(LoadedSnapshot):
    """Adds what the ticket suggestions read (found on first use)."""

    _checklist: list[str] | None = None

    def checklist(self) -> list[str]:
        if self._checklist is None:
            self._checklist = checklist(self.snapshot.iter_chunks())
        return self._checklist


class Assistant:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        *,
        fusion: FusionConfig | None = None,
        composing: ComposeConfig | None = None,
        abstaining: ConfidenceConfig | None = None,
        glossary: Glossary | None = None,
        state: StateStore | None = None,
        reranker: Reranker | None = None,
        snapshot: Snapshot | None = None,
    ) -> None:
        """``snapshot``: serve this one snapshot, never the published pointer. The stage
        arguments override what ``Components.build`` reads from the settings (tests, benches)."""
        self.settings = settings
        self.embedder = embedder
        self.components = Components.build(
            settings, embedder, fusion=fusion, composing=composing, abstaining=abstaining, glossary=glossary,
            reranker=reranker,
        )  # fmt: skip
        self.store = SnapshotStore(settings.data_dir, settings.keep_snapshots, settings.snapshot_lease_ttl)
        self._holder = new_holder()  # this replica's name on its snapshot lease
        self._state = GuardedState(settings.state_target, state, settings.data_dir / "state-spool")
        self._loaded: _Loaded | None = None
        self._pinned = _Loaded(snapshot) if snapshot is not None else None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._loading: str | None = None  # snapshot id being loaded in the background

    @property
    def glossary(self) -> Glossary:
        return self.components.glossary

    # --- snapshot -------------------------------------------------------------------------
    @property
    def state(self) -> StateStore:
        """The state store, opened on first use; raises StateUnavailable when it cannot be.
        Records still queued are written first (bounded): a reader in this process (the gap
        report, a test) sees the questions this process answered."""
        self._state.flush()
        return self._state.store()

    def close(self) -> None:
        self._state.close()

    @property
    def state_health(self) -> StateHealth:
        return self._state.health()

    @property
    def snapshot_id(self) -> str | None:
        try:
            return self.current().id
        except NoSnapshotError:
            return None

    def current(self) -> _Loaded:
        if self._pinned is not None:
            return self._pinned
        now = time.monotonic()
        loaded = self._loaded
        if loaded is not None and now - self._checked < self.settings.reload_interval:
            return loaded
        with self._lock:
            self._checked = now
            if self._loaded is not None:  # still serving it: publishing must not prune it
                self.store.lease(self._loaded.id, self._holder)
            current = self.store.current_id()
            if current is None:
                if self._loaded is None:
                    raise NoSnapshotError("nenhum índice publicado ainda; rode `bpa ingest`")
                return self._loaded  # pointer vanished: keep serving what we have
            if self._loaded is None:
                self._loaded = self._load(current)  # nothing to serve meanwhile: load inline
                self.store.lease(current, self._holder)
            elif self._loaded.id != current and self._loading != current:
                # Build the new snapshot's structures off the request path; requests keep
                # being served from the current one until the swap.
                self._loading = current
                threading.Thread(target=self._swap, args=(current,), name="bpa-reload", daemon=True).start()
            return self._loaded

    def _load(self, snapshot_id: str) -> _Loaded:
        snapshot = self.store.open(snapshot_id)
        m = snapshot.manifest
        if m.model_id != self.embedder.model_id or m.dim != self.embedder.dim:
            raise IncompatibleSnapshot(
                f"o índice {snapshot_id} foi construído com o modelo {m.model_id}, mas as perguntas usam "
                f"{self.embedder.model_id}: rode `bpa ingest --full`"
            )
        loaded = _Loaded(snapshot)
        log.info("serving snapshot %s", snapshot_id)
        return loaded

    def _swap(self, snapshot_id: str) -> None:
        try:
            new = self._load(snapshot_id)
        except BpaError as e:
            log.error("snapshot %s not served (%s); still serving %s", snapshot_id, e, self._loaded and self._loaded.id)
            return  # _loading keeps the id: no retry loop on a broken snapshot
        with self._lock:
            self._loaded = new
            self._loading = None
            self.store.lease(new.id, self._holder)

    # --- validation -----------------------------------------------------------------------
    def _validate(self, question: str, field: str = "question") -> str:
        text = question.strip() if isinstance(question, str) else ""
        if not text:
            raise InvalidQuestion("A pergunta está vazia. Escreva o que você quer saber.", field)
        if len(text) > self.settings.max_question_chars:
            raise InvalidQuestion(
                f"A pergunta tem {len(text)} caracteres; o limite é {self.settings.max_question_chars}.", field
            )
        if not _LETTER.search(text):
            raise InvalidQuestion("A pergunta não tem nenhuma palavra. Escreva a dúvida em texto.", field)
        return text

    def question(self, request: Ask) -> Question:
        """The pipeline's input: the request validated, with the deployment's defaults."""
        return Question(
            self._validate(request.question),
            request.top_k or self.settings.top_k,
            tuple(request.sources) if request.sources else None,
            request.context,
        )

    # --- answers --------------------------------------------------------------------------
    def search(self, query: str, *, k: int = 5, sources: list[str] | None = None) -> list[SearchHit]:
        text = self._validate(query, "q")
        loaded = self.current()
        results, _ = retrieve(text, loaded, self.components, k, tuple(sources) if sources else None)
        return [hit(loaded, r) for r in results]

    def trace(self, request: Ask) -> Trace:
        """The pipeline's trace for a request, recording nothing (eval, the gate and the
        benches read traces)."""
        return run(self.question(request), self.current(), self.components)

    def ask(self, request: Ask) -> Answer:
        return self.answer(request)[0]

    def answer(self, request: Ask) -> tuple[Answer, Trace]:
        """``ask`` with its trace. The one place a question is recorded."""
        started = time.perf_counter()
        question = self.question(request)
        loaded = self.current()
        trace = run(question, loaded, self.components)
        answer = render(trace, loaded, uuid.uuid4().hex)
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        self._record(answer, request.channel, trace)
        return answer, trace

    def _record(self, answer: Answer, channel: str, trace: Trace) -> None:
        # Never raises: an answer is given even when the data directory is read-only or full.
        self._state.record_question(
            QuestionRecord(
                answer.answer_id, channel, answer.question, answer.abstained, answer.confidence, answer.snapshot,
                tuple(c.chunk_id for c in answer.citations), answer.latency_ms,
            )
        )  # fmt: skip
        log.info(
            "ask channel=%s abstained=%s conf=%.3f signals=%s q=%r",
            channel, answer.abstained, answer.confidence, trace.signals.as_dict(), answer.question[:200],
        )  # fmt: skip

    # --- the rest of the interface -------------------------------------------------------------
    def feedback(self, answer_id: str, helpful: bool, comment: str | None = None, channel: str = "api") -> None:
        self._state.record_feedback(answer_id, helpful, comment, channel)

    def first_delivery(self, *keys: str) -> bool:
        return self._state.first_delivery(list(keys))

    # --- KCS: links, quotes, flags, sidebar opens (assistant.kcs) ------------------------------
    def ticket_opened(self, ticket_id: str, snapshot: str, chunk_ids: list[str], channel: str = "zendesk") -> bool:
        """Record the sidebar opened on a ticket with its suggestions; never raises (False when
        it could not be recorded, as a question's record)."""
        return self._state.record_ticket_view(ticket_id, channel, snapshot, chunk_ids)

    def link(
        self, ticket_id: str, chunk_id: str, snapshot: str, action: LinkAction, excerpt: str | None = None,
        channel: str = "zendesk",
    ) -> LinkReceipt:  # fmt: skip
        """Record a section linked or quoted into a ticket (once per ticket, section and action).
        Raises StaleSnapshot, UnknownSection, ExcerptMismatch, StateUnavailable."""
        chunk, ref = self._section(chunk_id, snapshot)
        quote = None
        if action == "quote":
            quote = mask_pii(kcs_quote(chunk.text, excerpt))
        row = self._state.record_link(ticket_id, kcs_section_key(chunk), action, chunk.id, snapshot, channel)
        return LinkReceipt(
            ticket_id=ticket_id, action=action, snapshot=snapshot, recorded_at=row["created_at"], target=ref,
            quote=quote,
        )  # fmt: skip

    def flag(
        self, chunk_id: str, snapshot: str, reason: FlagReason, comment: str | None = None,
        ticket_id: str | None = None, request_id: str | None = None, channel: str = "api",
    ) -> FlagReceipt:  # fmt: skip
        """Record a flag on a section; the same ``request_id`` (or, without one, the same flag
        from the same ticket and channel) is recorded once. Raises StaleSnapshot,
        UnknownSection, StateUnavailable."""
        chunk, ref = self._section(chunk_id, snapshot)
        key = kcs_flag_key(request_id, kcs_section_key(chunk), reason, comment, ticket_id, channel)
        row = self._state.record_flag(key, kcs_section_key(chunk), chunk.id, snapshot, reason, comment, ticket_id,
                                      channel)  # fmt: skip
        return FlagReceipt(reason=row["reason"], snapshot=row["snapshot"], recorded_at=row["created_at"], target=ref)

    def _section(self, chunk_id: str, snapshot: str) -> tuple[Chunk, KcsSection]:
        """The served snapshot's chunk ``chunk_id``, once ``snapshot`` is known to be served or kept."""
        loaded = self.current()
        if snapshot != loaded.id and snapshot not in self.store.ids():
            raise StaleSnapshot(f"snapshot {snapshot} não está mais disponível")
        row = loaded.snapshot.db.execute("SELECT rowid FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
        chunk = loaded.snapshot.chunks([int(row["rowid"])]).get(int(row["rowid"])) if row else None
        if chunk is None:
            raise UnknownSection(f"seção {chunk_id} não encontrada no índice atual")
        doc = loaded.document(chunk.document_id)
        title = doc.title if doc else chunk.document_id
        return chunk, KcsSection(
            chunk_id=chunk.id, document_id=chunk.document_id, title=title, section=section_within(chunk, title),
            url=chunk.url,
        )  # fmt: skip

    def suggest(self, subject: str, description: str, tags: list[str]) -> Suggestion:
        text = clean_ticket_text(subject, description, tags)
        if not _LETTER.search(text):
            raise InvalidQuestion("O ticket não tem texto para analisar.", "description")
        loaded = self.current()
        results, _ = retrieve(text[: self.settings.max_question_chars], loaded, self.components, 5)
        hits = [hit(loaded, r) for r in results]
        return Suggestion(results=hits, checklist=loaded.checklist(), snapshot=loaded.id)

    def document(self, document_id: str) -> DocumentView:
        loaded = self.current()
        doc = loaded.document(document_id)
        if doc is None:
            raise UnknownDocument(f"documento {document_id} não encontrado")
        # By path and anchor: the page's opening text and a section titled like the page share a path.
        texts: dict[tuple[str, str], list[str]] = {}
        for _, chunk in loaded.snapshot.document_chunks(doc.id):
            texts.setdefault((chunk.section, chunk.anchor), []).append(chunk.text)
        sections = [
            DocumentSection(
                title=o["title"],
                path=o["path"],
                anchor=o["anchor"],
                url=f"{doc.url}#{o['anchor']}" if o["anchor"] else doc.url,
                text="\n".join(texts.get((o["path"], o["anchor"]), [])),
            )
            for o in doc.outline
        ]
        return DocumentView(
            document_id=doc.id, title=doc.title, url=doc.url, source=doc.source, updated_at=doc.updated_at,
            sections=sections,
        )  # fmt: skip
