"""The Assistant: the one implementation of AssistantService.

It serves the current snapshot and hot-swaps to a newly published one (checked at most
every ``reload_interval`` seconds, on the request path: a file read, no thread). A request
keeps the snapshot object it started with, so a swap never fails a request in flight.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np

from assistant.calibration import load_calibration
from assistant.compose import ComposeConfig, Composed, Evidence, compose, lead_unit, link_unit, score_units
from assistant.confidence import ConfidenceConfig, Decision, Signals, decide, hub_cosine, signals
from assistant.errors import IncompatibleSnapshot, InvalidQuestion, UnknownDocument
from assistant.evidence import Asked
from assistant.evidence import asked as asked_for
from assistant.glossary import Glossary
from assistant.privacy import mask_pii
from assistant.rerank import Reranked, Reranker, build_reranker
from assistant.retrieval import FusionConfig, LoadedSnapshot, Query, Retriever, Scored
from assistant.state import GuardedState, StateStore
from assistant.suggest import CHECKLIST_SECTION_HINT, clean_ticket_text
from assistant.types import (
    WORD_PATTERN,
    Answer,
    AnswerLine,
    Citation,
    DocumentSection,
    DocumentView,
    SearchHit,
    StateHealth,
    Suggestion,
    confidence_label,
)
from index.embedding.protocol import Embedder
from index.errors import BpaError, NoSnapshotError, SnapshotError
from index.models import PATH_SEP
from index.settings import Settings
from index.snapshot import DocumentRecord, Snapshot, SnapshotStore
from index.textutil import fold
from index.units import split_units

log = logging.getLogger("bpa.assistant")

ABSTAIN_TEXT = "Não encontrei isso nas Boas Práticas."
POINTER_TEXT = "A documentação não responde isso diretamente. O mais próximo:"
LINK_PREFIX = "Artigo indicado: "


@dataclass
class Trace:
    """Every stage's output for one question (eval and the benches read it)."""

    question: str
    query: Query
    retrieved: list[Scored]  # retrieve
    reranked: list[Reranked]  # rerank: the reranker's order and its own scores
    ranked: list[Scored]  # the passages in that order, for the stages after it
    asked: Asked  # the kind of fact the question asks for
    evidence: Evidence  # candidate lines, scored
    signals: Signals
    decision: Decision  # decide
    composed: Composed  # compose (always built; shown only when the decision is to answer)


_LETTER = re.compile(WORD_PATTERN)


def _unit_cosines(loaded: LoadedSnapshot, results: list[Scored], query: Query) -> dict[int, np.ndarray] | None:
    """The question's cosine with every unit of the passages an answer may cite."""
    if query.vector is None or not loaded.has_units:
        return None
    return {r.rowid: units @ query.vector for r in results if (units := loaded.units_of(r.rowid)) is not None}


def _known(doc: DocumentRecord | None, document_id: str) -> DocumentRecord:
    if doc is None:  # a chunk always has its document: the snapshot is damaged
        raise SnapshotError(f"documento {document_id} ausente do índice")
    return doc


def _within(r: Scored, title: str) -> str:
    """The section path inside its document: breadcrumbs and title are shown apart."""
    path = list(r.chunk.section_path)
    folded = [fold(p) for p in path]
    if fold(title) in folded:
        path = path[folded.index(fold(title)) + 1 :]
    return PATH_SEP.join(path) or title


class _Loaded(LoadedSnapshot):
    """Adds what the ticket suggestions read (found on first use)."""

    _checklist: list[str] | None = None

    def checklist(self) -> list[str]:
        """The ticket-review checklist ('Revisão de dados dos tickets'), when the corpus has one."""
        if self._checklist is None:
            found: list[str] = []
            for c in self.snapshot.iter_chunks():
                if CHECKLIST_SECTION_HINT in fold(c.section):
                    found = [u for u in split_units(c.text) if not u.endswith(":")]
                    break
            self._checklist = found
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
        """``snapshot``: serve this one snapshot, never the published pointer (the evaluation
        gate measures a build before it is published)."""
        self.settings = settings
        self.embedder = embedder
        # Tuned constants come from the calibration file unless a caller (a test, a bench) passes its own.
        calibration = load_calibration(settings.calibration)
        self.retriever = Retriever(embedder, fusion or calibration.fusion, cache_size=settings.query_cache_size)
        self.reranker = reranker or build_reranker(settings)
        self.composing = composing or calibration.compose
        self.abstaining = abstaining or calibration.confidence
        self.glossary = glossary if glossary is not None else Glossary.load(settings.glossary)
        self.store = SnapshotStore(settings.data_dir, settings.keep_snapshots)
        self._state = GuardedState(settings.state_target, state)
        self._loaded: _Loaded | None = None
        self._pinned = _Loaded(snapshot) if snapshot is not None else None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._loading: str | None = None  # snapshot id being loaded in the background

    # --- snapshot -------------------------------------------------------------------------
    @property
    def state(self) -> StateStore:
        """The state store, opened on first use; raises StateUnavailable when it cannot be."""
        return self._state.store()

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
            current = self.store.current_id()
            if current is None:
                if self._loaded is None:
                    raise NoSnapshotError("nenhum índice publicado ainda; rode `bpa ingest`")
                return self._loaded  # pointer vanished: keep serving what we have
            if self._loaded is None:
                self._loaded = self._load(current)  # nothing to serve meanwhile: load inline
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

    # --- retrieval ------------------------------------------------------------------------
    def retrieve(self, question: str, k: int, sources: list[str] | None = None) -> tuple[_Loaded, list[Scored], Query]:
        loaded = self.current()
        query = self.retriever.prepare(question, self.glossary.expand(question))
        results = self.retriever.search(loaded, query, k, sources)
        return loaded, results, query

    def _hit(self, loaded: _Loaded, r: Scored) -> SearchHit:
        doc = _known(loaded.document(r.chunk.document_id), r.chunk.document_id)
        return SearchHit(
            chunk_id=r.chunk.id, document_id=doc.id, title=doc.title, section=_within(r, doc.title),
            url=r.chunk.url, text=r.chunk.text, score=round(r.score, 6),
        )  # fmt: skip

    def search(self, query: str, *, k: int = 5, sources: list[str] | None = None) -> list[SearchHit]:
        text = self._validate(query, "q")
        loaded, results, _ = self.retrieve(text, k, sources)
        return [self._hit(loaded, r) for r in results]

    # --- answers --------------------------------------------------------------------------
    def run(
        self, question: str, *, top_k: int | None = None, sources: list[str] | None = None, context: str | None = None
    ) -> tuple[_Loaded, Trace]:
        """The answer pipeline, stage by stage: retrieve → rerank → evidence → decide → compose
        (the reranker is ``settings.reranker``, identity by default).

        The trace keeps every stage's output, so eval and the benches read it instead of
        re-running stages. The answer is always composed (cheap), even when the decision is
        not to show it: calibration needs to know whether it would have been right."""
        text = self._validate(question)
        k = top_k or self.settings.top_k
        # A follow-up in a thread ("e se for cloud?") is searched together with the question
        # that opened the thread.
        search_text = f"{context.strip()}\n{text}" if context and context.strip() else text
        loaded, results, query = self.retrieve(search_text, max(k, 10), sources)
        # The reranker reads the question as asked (expansions are a retrieval device).
        reranked = self.reranker.rerank(text, results)
        ranked = [r.result for r in reranked]
        asked = asked_for(text)
        evidence = score_units(
            ranked, query.stems, loaded.idf, self.composing, _unit_cosines(loaded, ranked, query), asked
        )
        lead = lead_unit(evidence, self.composing, asked)
        link = link_unit(evidence)
        # The line the answer leads with: a unit, or the link the best passage points to.
        lead_score = max(lead.score if lead else 0.0, link.score if link else 0.0)
        hub = None
        if ranked and query.cosines is not None and query.searched is not None:
            hub = hub_cosine(query.cosines, loaded.hub[query.searched])
        fact_missing = bool(asked) and bool(evidence.units) and not any(u.fact for u in evidence.units)
        sig = signals(ranked, hub, lead_score, fact_missing)
        has_line = lead is not None or link is not None
        decision = decide(sig, self.abstaining, has_line) if ranked else Decision("refusal", 0.0, "nothing retrieved")
        composed = compose(evidence, self.composing, asked)
        trace = Trace(text, query, results, reranked, ranked, asked, evidence, sig, decision, composed)
        return loaded, trace

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        sources: list[str] | None = None,
        context: str | None = None,
        channel: str = "api",
    ) -> Answer:
        return self.answer(question, top_k=top_k, sources=sources, context=context, channel=channel)[0]

    def answer(
        self,
        question: str,
        *,
        top_k: int | None = None,
        sources: list[str] | None = None,
        context: str | None = None,
        channel: str = "api",
    ) -> tuple[Answer, Trace]:
        """``ask`` with its trace."""
        started = time.perf_counter()
        loaded, trace = self.run(question, top_k=top_k, sources=sources, context=context)
        answer_id = uuid.uuid4().hex
        if trace.decision.outcome == "answer":
            answer = self._answer(loaded, answer_id, trace)
        else:
            answer = self._abstain(loaded, answer_id, trace)
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        self._record(answer, channel, trace.signals)
        return answer, trace

    def _citation(self, loaded: _Loaded, n: int, r: Scored, excerpt: str) -> Citation:
        doc = _known(loaded.document(r.chunk.document_id), r.chunk.document_id)
        return Citation(
            n=n, title=doc.title, section=_within(r, doc.title), url=r.chunk.url, excerpt=excerpt,
            score=round(r.score, 6), document_id=doc.id, chunk_id=r.chunk.id,
        )  # fmt: skip

    def _answer(self, loaded: _Loaded, answer_id: str, trace: Trace) -> Answer:
        composed, p = trace.composed, trace.decision.probability
        citations = []
        for i, passage in enumerate(composed.passages):
            quoted = [ln.text for ln in composed.lines if ln.passage == i and not ln.link]
            # A link line cites the caption it stands for.
            excerpt = "\n".join(quoted) if quoted else passage.chunk.text
            citations.append(self._citation(loaded, i + 1, passage, excerpt))
        lines = [
            AnswerLine(text=ln.text, n=ln.passage + 1, url=composed.passages[ln.passage].chunk.url if ln.link else None)
            for ln in composed.lines
        ]
        text = "\n".join(
            f"{LINK_PREFIX}{ln.text} [{ln.n}]" if ln.url else f"{ln.text} [{ln.n}]" for ln in lines
        )
        return Answer(
            answer_id=answer_id, question=mask_pii(trace.question), answer=text, abstained=False,
            confidence=round(p, 4), citations=citations, snapshot=loaded.id, latency_ms=0.0,
            outcome="answer", confidence_label=confidence_label(p), lines=lines,
        )  # fmt: skip

    def _abstain(self, loaded: _Loaded, answer_id: str, trace: Trace) -> Answer:
        seen: set[str] = set()
        nearest: list[Scored] = []
        for r in trace.ranked:
            if r.chunk.section not in seen:
                seen.add(r.chunk.section)
                nearest.append(r)
            if len(nearest) == 3:
                break
        suggestions = [self._citation(loaded, i + 1, r, r.chunk.text[:300]) for i, r in enumerate(nearest)]
        outcome = trace.decision.outcome
        names = "; ".join(s.section.split(PATH_SEP)[-1] for s in suggestions)
        # The lead sentence on its own line: surfaces show it and then the sections as links.
        if outcome == "pointer" and suggestions:
            text = f"{POINTER_TEXT}\n{names}."
        else:
            outcome = "refusal"
            text = ABSTAIN_TEXT + (f"\nSeções mais próximas: {names}." if suggestions else "")
        p = trace.decision.probability
        return Answer(
            answer_id=answer_id, question=mask_pii(trace.question), answer=text, abstained=True,
            confidence=round(p, 4), citations=[], suggestions=suggestions, snapshot=loaded.id,
            latency_ms=0.0, outcome=outcome, confidence_label=confidence_label(p),
        )  # fmt: skip

    def _record(self, answer: Answer, channel: str, sig: Signals) -> None:
        # Never raises: an answer is given even when the data directory is read-only or full.
        self._state.record_question(
            answer.answer_id, channel, answer.question, answer.abstained, answer.confidence, answer.snapshot,
            [c.chunk_id for c in answer.citations], answer.latency_ms,
        )  # fmt: skip
        log.info(
            "ask channel=%s abstained=%s conf=%.3f signals=%s q=%r",
            channel, answer.abstained, answer.confidence, sig.as_dict(), answer.question[:200],
        )  # fmt: skip

    # --- the rest of the interface -------------------------------------------------------------
    def feedback(self, answer_id: str, helpful: bool, comment: str | None = None, channel: str = "api") -> None:
        self._state.record_feedback(answer_id, helpful, comment, channel)

    def first_delivery(self, *keys: str) -> bool:
        return self._state.first_delivery(list(keys))

    def suggest(self, subject: str, description: str, tags: list[str]) -> Suggestion:
        text = clean_ticket_text(subject, description, tags)
        if not _LETTER.search(text):
            raise InvalidQuestion("O ticket não tem texto para analisar.", "description")
        loaded, results, _ = self.retrieve(text[: self.settings.max_question_chars], 5)
        hits = [self._hit(loaded, r) for r in results]
        return Suggestion(results=hits, checklist=loaded.checklist())

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
