"""The learned selector in the pipeline: ``BPA_RERANKER=selector``.

As a reranker (``assistant.answering.rerank.SelectorReranker``) it keeps the fused passage
order (the selector reads lines, not passages); what it changes is downstream: the evidence
stage's unit scores become the selector's (``select``), so the lead line and the lines
composed are the ones it judges to answer, and the decision reads its probability that
the shown answer holds the answer.

The weights are ``Settings.selector_weights`` (corpus/selector.npz, trained by
bench/selector/train.py on public Portuguese QA); the reranker's name carries their sha256,
so the pipeline's fingerprint (and every trace) names the exact weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from assistant.answering.decide import ConfidenceConfig, Decision, Signals
from assistant.answering.evidence import Evidence
from assistant.answering.selector import PassageLines, Selector


@dataclass(frozen=True)
class Selection:
    """The selector's reading of one question's evidence (kept in the trace)."""

    logits: dict[int, np.ndarray]  # per candidate passage (index), its lines' logits
    passage: int  # the passage the probability is about (the lead's)
    raw: float  # the abstention model's logit before recalibration
    probability: float  # P(the answer shown holds the answer), recalibrated
    weights: str = ""  # sha256 of the model's weights file
    features: tuple[float, ...] = ()  # what the recalibration reads (the reader: passage and line logits)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def select(
    question: str,
    evidence: Evidence,
    selector: Selector,
    idf: dict[str, float],
    cosines: dict[int, np.ndarray] | None,
    first_line_passages: int,
    hubs: dict[int, float] | None = None,
) -> tuple[Evidence, Selection | None]:
    """``evidence`` with every unit scored as the evidence stage scores it, the selector's
    probability in place of the hand-made relevance: exp(fused - top fused) * (0.25 + P(line
    answers)); fused scores are z units, so a distant passage fades, and composition's relative
    cut-off keeps its meaning. Navigation/intro/fact marks kept. And the selector's probability
    for the passage of the line that will lead (compose.lead_unit's pool: a line that can lead,
    in the first passages).
    ``hubs``: per passage rowid, its hub baseline in the snapshot (LoadedSnapshot.hub)."""
    if not evidence.units:
        return evidence, None
    top = evidence.passages[0].score
    views: dict[int, PassageLines] = {}
    logits: dict[int, np.ndarray] = {}
    units = []
    for pi, p in enumerate(evidence.passages):
        own = [u for u in evidence.units if u.passage == pi]
        c = None if cosines is None else cosines.get(p.rowid)
        hub = 0.0 if hubs is None else hubs.get(p.rowid, 0.0)
        views[pi] = PassageLines([u.text for u in own], p.chunk.section, c, float(p.dense), hub)
        logits[pi] = selector.score_lines(question, views[pi], idf)
        for u, lg in zip(own, logits[pi], strict=True):
            units.append(replace(u, score=math.exp(p.score - top) * (0.25 + _sigmoid(float(lg)))))
    pool = [u for u in units if u.can_lead and u.passage < first_line_passages]
    best = max(pool, key=lambda u: u.score, default=units[0])
    raw = selector.passage_logit(question, views[best.passage], idf, logits[best.passage])
    a, b = selector.platt
    return Evidence(evidence.passages, units), Selection(
        logits, best.passage, raw, _sigmoid(a * raw + b), selector.fingerprint
    )


def decide_selected(selection: Selection | None, sig: Signals, cfg: ConfidenceConfig, has_lead: bool) -> Decision:
    """Answer when the selector's probability reaches the threshold; otherwise point to the
    nearest sections when the topic is there (both retrievers agree, or only the asked fact
    is missing), else refuse. A missing fact no longer forces a decline by itself: a count
    written in words or a percentage is a fact the rule does not see; the selector reads it."""
    p = selection.probability if selection is not None else 0.0
    if p >= cfg.threshold and has_lead:
        return Decision("answer", p, "selector probability at or above the threshold")
    if sig.agreement or sig.fact_missing:
        return Decision("pointer", p, "selector probability below the threshold; the nearest section is on topic")
    return Decision("refusal", p, "selector probability below the threshold; no section on the topic")
