"""The evidence stage: every sentence / list item of the best passages, scored.

``score_units`` scores each unit by IDF-weighted overlap with the question, by the unit's own
cosine with the question (when the snapshot has unit vectors) and by its passage's fused score;
and marks it when it is navigation ("clique aqui", a link table's caption), when it only
announces a list ("... os seguintes itens:"), and when it holds the kind of fact the question
asks for (``question.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assistant.answering.config import ComposeConfig
from assistant.answering.question import Asked, is_navigation, satisfies
from assistant.answering.retrieval import Scored
from index.textutil import analyze
from index.units import split_units


@dataclass
class Unit:
    passage: int  # index into the candidate passages
    position: int  # order within the passage
    text: str  # verbatim excerpt (list marker removed)
    score: float = 0.0
    navigation: bool = False  # points elsewhere ("clique aqui", a link caption)
    intro: bool = False  # announces a list ("... os seguintes itens:")
    fact: bool = False  # holds the kind of fact the question asks for (False when none is asked)

    @property
    def can_lead(self) -> bool:
        return not self.navigation and not self.intro


@dataclass
class Evidence:
    passages: list[Scored]  # the candidate passages, in retrieval order
    units: list[Unit]  # every unit of those passages, scored


def _overlap(unit_stems: set[str], query_weights: dict[str, float]) -> float:
    total = sum(query_weights.values()) or 1.0
    return sum(w for s, w in query_weights.items() if s in unit_stems) / total


def _similarities(
    passages: list[Scored], texts: list[list[str]], cosines: dict[int, np.ndarray] | None
) -> list[np.ndarray] | None:
    """Per passage, its units' cosines min-max scaled over all candidate units (e5 cosines
    live in a narrow band; only their order among the candidates means something). None
    unless every candidate unit has a cosine."""
    if cosines is None:
        return None
    raw = [cosines.get(p.rowid, np.zeros(0)) for p in passages]
    if any(len(c) != len(t) for c, t in zip(raw, texts, strict=True)):
        return None
    flat = np.concatenate(raw)
    if not flat.size:
        return None
    lo, hi = float(flat.min()), float(flat.max())
    return [np.ones(len(c)) if hi - lo < 1e-9 else (c - lo) / (hi - lo) for c in raw]


def score_units(
    results: list[Scored],
    query_stems: list[str],
    idf: dict[str, float],
    cfg: ComposeConfig,
    unit_cosines: dict[int, np.ndarray] | None = None,
    asked: Asked | None = None,
) -> Evidence:
    """The evidence stage. ``unit_cosines``: per passage rowid, the question's cosine with
    each of its units (``split_units`` order); without it units are scored lexically only."""
    if not results:
        return Evidence([], [])
    asked = asked or Asked()
    weights = {s: idf.get(s, 1.0) for s in set(query_stems)}
    top = results[0].score
    passages = [r for r in results[: cfg.max_passages] if r.score >= top - cfg.passage_margin]
    texts = [split_units(p.chunk.text) for p in passages]
    sims = _similarities(passages, texts, unit_cosines)
    units: list[Unit] = []
    for pi, p in enumerate(passages):
        # Fused scores are z units: a passage almost as good as the first keeps almost its
        # weight (retrieval is often unsure between the top two), a distant one fades.
        prior = math.exp(p.score - top)
        heading = set(analyze(p.chunk.section))
        announced = 0.0  # relevance of the list announcement the following items belong to
        for pos, text in enumerate(texts[pi]):
            stems = set(analyze(text))
            # The heading speaks for every unit under it ("Cliente parado" -> its steps).
            relevance = 0.7 * _overlap(stems, weights) + 0.3 * _overlap(stems | heading, weights)
            if sims is not None:
                relevance = (1 - cfg.dense_weight) * relevance + cfg.dense_weight * float(sims[pi][pos])
            intro = text.rstrip().endswith(":")
            if intro:
                announced = relevance
            else:
                # "... deverão ser observados os seguintes itens:" matches the question; the
                # items it announces are the answer, though they share no word with it.
                relevance = max(relevance, announced)
            fact = bool(asked) and satisfies(text, asked)
            units.append(Unit(pi, pos, text, prior * (0.25 + relevance), is_navigation(text), intro, fact))
    return Evidence(passages, units)
