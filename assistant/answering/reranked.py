"""The reranking seam's types: what a reranker returns, and the hook for one that also reads lines.

A :class:`Reranker` reorders passages. One that is also a :class:`LineReader` (the learned
selector, the reader) rescores the evidence stage's candidate lines and gives the
probability that the answer shown holds the answer; the pipeline then composes from its
scores and decides from that probability (``selection.decide_selected``). Kept apart from
``rerank.py`` (the registry) so that each reranker module can import these types and the
registry can import every reranker module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.answering.evidence import Evidence
from assistant.answering.retrieval import Scored
from assistant.answering.selection import Selection
from index.errors import BpaError


class RerankerError(BpaError):
    """The configured reranker cannot be built or failed to score. Messages are pt-BR."""


@dataclass(frozen=True)
class Reranked:
    """One passage in the reranker's order: the retrieval result and the reranker's score."""

    result: Scored
    score: float | None = None  # the reranker's own score; None when it did not score this passage


@runtime_checkable
class Reranker(Protocol):
    name: str  # which reranker (and model) ordered the passages, for logs and traces

    def rerank(self, question: str, results: list[Scored]) -> list[Reranked]:
        """``results`` reordered (a permutation: nothing added or dropped), best first.

        ``question`` is the analyst's question as asked; glossary expansions are a
        recall device of retrieval, not something a reranker should read.
        """
        ...


@dataclass(frozen=True)
class ReadingView:
    """What a line reader may read besides the question and the evidence."""

    idf: dict[str, float]
    lead_passages: int  # the answer's first line comes from these first candidate passages
    cosines: dict[int, np.ndarray] | None = None  # per passage rowid, the question's cosine with each unit
    hubs: dict[int, float] = field(default_factory=dict)  # per passage rowid, its hub baseline
    passage_scores: dict[int, float] = field(default_factory=dict)  # per rowid, the reranker's own score


@runtime_checkable
class LineReader(Protocol):
    """A reranker that also reads the candidate lines: the hook the pipeline calls after evidence."""

    def read(self, question: str, evidence: Evidence, view: ReadingView) -> tuple[Evidence, Selection | None]:
        """``evidence`` with its units rescored (same units, same order) and the reading:
        per passage the lines' logits, the lead's passage and P(the answer shown is right)."""
        ...
