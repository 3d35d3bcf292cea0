"""Abstention: is the evidence strong enough to answer?

Rank-fused scores say nothing about whether a question is answerable, so confidence is
built from signals with absolute meaning: how similar the best passage is to the question
(dense cosine), how much of the question's vocabulary the best passages cover (IDF-weighted),
and whether the two retrievers agree on the top passage. Weights were calibrated on the
dev sets' score signals (never on question text) and are kept few and round on purpose.

Calibration (multilingual-e5-small, bench/tune.py; AUC = answerable ranked above
unanswerable): top cosine 0.85 dev / 0.74 blind; coverage 0.78 / 0.51; agreement
0.63 / 0.64; a logistic fit of cosine + coverage gains on dev (0.91) but loses on blind
(0.70) and transfers worse between the sets, so coverage and agreement weigh 0 and only
the cosine decides. Its center is the highest value that keeps wrongly declined
answerable questions within 5% (dev) and 10% (blind): 0.867 declines 0.60 / 0.36 of the
unanswerable ones at 0.025 / 0.057 of the answerable. e5 cosines live in a narrow band
(0.83-0.91), so the center is model-specific: recalibrate it with another embedder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from assistant.retrieval import Scored
from index.textutil import analyze


@dataclass(frozen=True)
class ConfidenceConfig:
    dense_center: float = 0.867  # cosine where the dense signal is neutral
    dense_scale: float = 60.0  # logit per unit of cosine (the pooled logistic fit gives ~65)
    coverage_center: float = 0.55
    coverage_scale: float = 0.0  # separates on dev, not on blind questions: off
    agreement_bonus: float = 0.0  # AUC ~0.6 on both sets: off
    bias: float = 0.0
    threshold: float = 0.5  # abstain below this confidence


@dataclass
class Signals:
    top_dense: float
    coverage: float
    agreement: bool

    def as_dict(self) -> dict[str, float]:
        return {"top_dense": self.top_dense, "coverage": self.coverage, "agreement": float(self.agreement)}


def coverage(question_stems: list[str], passages: list[Scored], idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's stems found in the passages (text and path).

    Stems the corpus never uses get the median weight: Slack small talk ("oi pessoal")
    should not sink a good question, but a missing key term ("preço") should count.
    """
    stems = set(question_stems)
    if not stems:
        return 0.0
    known = sorted(idf.values())
    median = known[len(known) // 2] if known else 1.0
    present: set[str] = set()
    for p in passages:
        present |= set(analyze(p.chunk.embed_text))
    weights = {s: idf.get(s, median) for s in stems}
    total = sum(weights.values())
    return sum(w for s, w in weights.items() if s in present) / total if total else 0.0


def signals(question_stems: list[str], results: list[Scored], idf: dict[str, float]) -> Signals:
    if not results:
        return Signals(0.0, 0.0, False)
    top_dense = max(r.dense for r in results[:3])
    dense_top = [r for r in results if r.dense_rank == 1]
    lexical_top = [r for r in results if r.lexical_rank == 1]
    agreement = any(r.lexical_rank is not None and r.lexical_rank <= 3 for r in dense_top) or any(
        r.dense_rank is not None and r.dense_rank <= 3 for r in lexical_top
    )
    return Signals(top_dense, coverage(question_stems, results[:2], idf), agreement)


def confidence(sig: Signals, cfg: ConfidenceConfig) -> float:
    logit = (
        cfg.bias
        + cfg.dense_scale * (sig.top_dense - cfg.dense_center)
        + cfg.coverage_scale * (sig.coverage - cfg.coverage_center)
        + (cfg.agreement_bonus if sig.agreement else -cfg.agreement_bonus)
    )
    return 1.0 / (1.0 + math.exp(-logit))
