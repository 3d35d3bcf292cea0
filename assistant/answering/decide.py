"""Decide: answer, point to the nearest sections, or refuse — with a calibrated probability.

The decision reads signals with absolute meaning, never the fused rank scores alone:

- ``hub``: the best *hub-corrected* cosine over every passage searched, the question's
  cosine minus that passage's own baseline (the mean cosine with its ``hub_k`` nearest
  passages; CSLS, Conneau et al. 2018; index.prepared computes it at publish). Generic
  process text sits in a dense region of the page and scores high with any support
  question; a passage must beat its neighbours.
- ``agreement``: the dense top-1 is in the lexical top 3 or the reverse (two independent
  retrievers land on the same place).
- ``lead``: the composer's score of the line it would lead with (overlap and cosine of the
  best *line*, not passage).
- ``fact_missing``: the question asks for a kind of fact (a number of hours, a phone
  number, a price ...) and no candidate line holds one (assistant/answering/question.py).

``probability`` is a logistic over these, fitted on both dev sets pooled (Platt scaling:
the label is "the composed answer contains the answer"), so it reads as the chance that
the answer is right; bench/calibrate.py fits it, reports the cross-validated figures and
writes the coefficients to corpus/calibration.toml. The outcome:

- answer, when the probability reaches ``threshold`` and the evidence holds the kind of
  fact asked;
- pointer ("A documentação não responde isso diretamente. O mais próximo: ..."), when it
  does not but the nearest section is on the question's topic: both retrievers agree on
  it, or only the asked fact is missing;
- refusal otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from assistant.answering.retrieval import Scored

FEATURES = ("hub", "agreement", "lead", "fact_missing")


@dataclass(frozen=True)
class ConfidenceConfig:
    """A logistic model of P(answer right) and the threshold to answer at. The defaults are
    the pooled fit of bench/calibrate.py for multilingual-e5-small on the default corpus;
    a deployment with its own model or corpus refits them (corpus/calibration.toml)."""

    weights: tuple[tuple[str, float], ...] = (
        ("hub", 31.498239), ("agreement", 0.601775), ("lead", 1.034808), ("fact_missing", -4.023429),
    )  # fmt: skip
    bias: float = 0.781012
    threshold: float = 0.5  # answer at or above this probability

    def __post_init__(self) -> None:
        unknown = {name for name, _ in self.weights} - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown confidence features {sorted(unknown)}; known: {', '.join(FEATURES)}")


@dataclass
class Signals:
    top_dense: float  # best cosine among the top 3 fused passages (logged, not used)
    agreement: bool
    hub: float = 0.0  # best hub-corrected cosine over all passages searched
    lead: float = 0.0  # the composer's score of its first line (0 without one)
    fact_missing: bool = False  # a kind of fact is asked and no candidate line holds one

    def features(self) -> dict[str, float]:
        return {
            "hub": self.hub, "agreement": 1.0 if self.agreement else -1.0, "lead": self.lead,
            "fact_missing": float(self.fact_missing),
        }  # fmt: skip

    def as_dict(self) -> dict[str, float]:
        return {"top_dense": self.top_dense, **self.features()}


def hub_cosine(cosines: np.ndarray, baseline: np.ndarray) -> float:
    """The question's best cosine over the passages, each minus its own baseline."""
    return float((cosines - baseline).max()) if cosines.size else 0.0


def signals(results: list[Scored], hub: float | None = None, lead: float = 0.0, fact_missing: bool = False) -> Signals:
    """The decision's signals. ``hub`` comes from :func:`hub_cosine` over all passages
    searched; without it (callers that only have the top results) it is left at 0."""
    if not results:
        return Signals(0.0, False, 0.0 if hub is None else hub, lead, fact_missing)
    top_dense = max(r.dense for r in results[:3])
    dense_top = [r for r in results if r.dense_rank == 1]
    lexical_top = [r for r in results if r.lexical_rank == 1]
    agreement = any(r.lexical_rank is not None and r.lexical_rank <= 3 for r in dense_top) or any(
        r.dense_rank is not None and r.dense_rank <= 3 for r in lexical_top
    )
    return Signals(top_dense, agreement, 0.0 if hub is None else hub, lead, fact_missing)


def confidence(sig: Signals, cfg: ConfidenceConfig) -> float:
    """The calibrated probability that the composed answer is right."""
    x = sig.features()
    logit = cfg.bias + sum(w * x[name] for name, w in cfg.weights)
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))


Outcome = Literal["answer", "pointer", "refusal"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    probability: float
    reason: str  # why, for the trace and the log


def decide(sig: Signals, cfg: ConfidenceConfig, has_lead: bool) -> Decision:
    p = confidence(sig, cfg)
    if sig.fact_missing:
        return Decision("pointer", p, "the evidence holds no fact of the kind asked")
    if p >= cfg.threshold and has_lead:
        return Decision("answer", p, "probability at or above the threshold")
    if sig.agreement:
        return Decision("pointer", p, "below the threshold; both retrievers agree on the nearest section")
    return Decision("refusal", p, "below the threshold; no section on the topic")
