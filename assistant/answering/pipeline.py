"""The answer pipeline: retrieve → rerank → evidence → decide → compose, with its trace.

``run`` is a function of its inputs: a validated :class:`Question`, a loaded snapshot and the
:class:`Components` built once at the edge. It records nothing, logs no question and reads no
clock, so the service, the evaluation gate, ``bpa eval`` and the benches all build the same
pipeline and read the same :class:`Trace` (every stage's output, and the fingerprint of the
configuration and models that produced it, like paper-qa's ``config_md5``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from assistant.answering.calibration import load_calibration
from assistant.answering.compose import Composed, compose, lead_unit, link_unit
from assistant.answering.config import ComposeConfig
from assistant.answering.decide import ConfidenceConfig, Decision, Signals, decide, hub_cosine, signals
from assistant.answering.duplicates import merge_copies
from assistant.answering.evidence import Evidence, score_units
from assistant.answering.glossary import Glossary
from assistant.answering.question import Asked
from assistant.answering.question import asked as asked_for
from assistant.answering.rerank import LineReader, ReadingView, Reranked, Reranker, build_reranker
from assistant.answering.retrieval import FusionConfig, LoadedSnapshot, Query, Retriever, Scored
from assistant.answering.selection import Selection, decide_selected
from index.embedding.protocol import Embedder
from index.settings import Settings

# Retrieval always fetches at least this many passages: the reranker and the evidence stage
# look past the few an answer cites.
MIN_RETRIEVED = 10


@dataclass(frozen=True)
class Question:
    """A validated question, ready for the pipeline (the service validates; the pipeline trusts)."""

    text: str
    k: int
    sources: tuple[str, ...] | None = None
    # An earlier question of the same thread: a follow-up ("e se for cloud?") is searched
    # together with the question that opened the thread.
    context: str | None = None

    @property
    def search_text(self) -> str:
        context = (self.context or "").strip()
        return f"{context}\n{self.text}" if context else self.text


@dataclass(frozen=True)
class Components:
    """What the stages need besides the question and the snapshot, built once at the edge."""

    retriever: Retriever
    reranker: Reranker
    glossary: Glossary
    composing: ComposeConfig
    abstaining: ConfidenceConfig
    fingerprint: str  # the configuration and models, for the trace

    @classmethod
    def build(
        cls,
        settings: Settings,
        embedder: Embedder,
        *,
        fusion: FusionConfig | None = None,
        composing: ComposeConfig | None = None,
        abstaining: ConfidenceConfig | None = None,
        glossary: Glossary | None = None,
        reranker: Reranker | None = None,
    ) -> Components:
        """From the settings; tuned constants come from the calibration file unless a caller
        (a test, a bench) passes its own."""
        calibration = load_calibration(settings.calibration)
        fusion = fusion or calibration.fusion
        composing = composing or calibration.compose
        abstaining = abstaining or calibration.confidence
        glossary = glossary if glossary is not None else Glossary.load(settings.glossary)
        reranker = reranker or build_reranker(settings)
        described = {
            "embedder": embedder.model_id,
            "reranker": reranker.name,
            "fusion": dataclasses.asdict(fusion),
            "compose": dataclasses.asdict(composing),
            "confidence": dataclasses.asdict(abstaining),
            "glossary": [[p.pattern, list(e)] for p, e in glossary.entries],
        }
        digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]
        retriever = Retriever(embedder, fusion, cache_size=settings.query_cache_size)
        return cls(retriever, reranker, glossary, composing, abstaining, digest)


@dataclass
class Trace:
    """Every stage's output for one question (eval, the gate and the benches read it)."""

    question: str
    query: Query
    retrieved: list[Scored]  # retrieve
    reranked: list[Reranked]  # rerank: the reranker's order and its own scores
    ranked: list[Scored]  # the passages in that order, copies merged (duplicates.py), for the stages after it
    asked: Asked  # the kind of fact the question asks for
    evidence: Evidence  # candidate lines, scored
    signals: Signals
    decision: Decision  # decide
    composed: Composed  # compose (always built; shown only when the decision is to answer)
    snapshot: str = ""  # the snapshot searched
    fingerprint: str = ""  # Components.fingerprint: the configuration and models
    selection: Selection | None = None  # a line reader's reading (BPA_RERANKER=selector or reader)


def retrieve(
    text: str, loaded: LoadedSnapshot, components: Components, k: int, sources: tuple[str, ...] | None = None
) -> tuple[list[Scored], Query]:
    """The retrieval stage alone (search and ticket suggestions use it): glossary, then search."""
    query = components.retriever.prepare(text, components.glossary.expand(text))
    results = components.retriever.search(loaded, query, k, list(sources) if sources else None)
    return results, query


def _unit_cosines(loaded: LoadedSnapshot, results: list[Scored], query: Query) -> dict[int, np.ndarray] | None:
    """The question's cosine with every unit of the passages an answer may cite."""
    if query.vector is None or not loaded.has_units:
        return None
    return {r.rowid: units @ query.vector for r in results if (units := loaded.units_of(r.rowid)) is not None}


def run(question: Question, loaded: LoadedSnapshot, components: Components) -> Trace:
    """The pipeline, stage by stage. The answer is always composed (cheap), even when the
    decision is not to show it: calibration needs to know whether it would have been right."""
    c = components
    results, query = retrieve(question.search_text, loaded, c, max(question.k, MIN_RETRIEVED), question.sources)
    # The reranker reads the question as asked (expansions are a retrieval device).
    reranked = c.reranker.rerank(question.text, results)
    ranked = merge_copies([r.result for r in reranked])
    asked = asked_for(question.text)
    cosines = _unit_cosines(loaded, ranked, query)
    evidence = score_units(ranked, query.stems, loaded.idf, c.composing, cosines, asked)
    selection = None
    reads_lines = isinstance(c.reranker, LineReader)
    if isinstance(c.reranker, LineReader):
        # A reranker that reads lines (the selector, the reader) scores them and gives the
        # probability; it reads the question's form itself, so the hand rule that a line
        # holding the asked kind of fact must lead is off.
        view = ReadingView(
            loaded.idf, c.composing.first_line_passages, cosines,
            {r.rowid: float(loaded.hub[loaded.row(r.rowid)]) for r in evidence.passages},
            {r.result.rowid: r.score for r in reranked if r.score is not None},
        )  # fmt: skip
        evidence, selection = c.reranker.read(question.text, evidence, view)
    lead_asked = None if reads_lines else asked
    lead = lead_unit(evidence, c.composing, lead_asked)
    link = link_unit(evidence)
    # The line the answer leads with: a unit, or the link the best passage points to.
    lead_score = max(lead.score if lead else 0.0, link.score if link else 0.0)
    hub = None
    if ranked and query.cosines is not None and query.searched is not None:
        hub = hub_cosine(query.cosines, loaded.hub[query.searched])
    fact_missing = bool(asked) and bool(evidence.units) and not any(u.fact for u in evidence.units)
    sig = signals(ranked, hub, lead_score, fact_missing)
    has_line = lead is not None or link is not None
    if not ranked:
        decision = Decision("refusal", 0.0, "nothing retrieved")
    elif reads_lines:
        decision = decide_selected(selection, sig, c.abstaining, has_line)
    else:
        decision = decide(sig, c.abstaining, has_line)
    composed = compose(evidence, c.composing, lead_asked)
    return Trace(
        question.text, query, results, reranked, ranked, asked, evidence, sig, decision, composed,
        snapshot=loaded.id, fingerprint=c.fingerprint, selection=selection,
    )  # fmt: skip
