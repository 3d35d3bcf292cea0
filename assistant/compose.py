"""Extractive answer composition: every sentence of an answer is a verbatim excerpt.

From the best passages, pick the sentences / list items that answer the question (scored
by IDF-weighted overlap with the question, by the unit's own cosine with the question when
the snapshot has unit vectors, and by the passage's fused score), drop near-duplicates,
keep document order within a passage, and mark each with [n].
A short passage that matches well is taken whole: a step group such as "Cliente parado"
is the answer as a unit, and cutting it would drop steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assistant.retrieval import Scored
from index.textutil import analyze, count_tokens
from index.units import split_units


@dataclass(frozen=True)
class ComposeConfig:
    max_passages: int = 3  # passages an answer may cite
    max_units: int = 6  # sentences / items in an answer
    whole_passage_tokens: int = 90  # a passage this short is cited whole
    relative_cutoff: float = 0.3  # a unit must score this fraction of the best unit
    # A passage after the first is cited only if its fused score (z units) is within this of the top.
    passage_margin: float = 1.0
    # Share of a unit's relevance that comes from its cosine with the question (min-max scaled
    # over the candidate units); the rest is lexical overlap. Lexical alone overrates a unit
    # that repeats the question's words without answering it; the cosine alone cannot see
    # the exact term ("FCR", "Data controle") a short question hinges on.
    dense_weight: float = 0.5


@dataclass
class Unit:
    passage: int  # index into the selected passages
    position: int  # order within the passage
    text: str  # verbatim excerpt (list marker removed)
    score: float = 0.0


@dataclass
class Composed:
    passages: list[Scored]  # cited, in citation order
    units: list[Unit]  # selected, in answer order


def _overlap(unit_stems: set[str], query_weights: dict[str, float]) -> float:
    total = sum(query_weights.values()) or 1.0
    return sum(w for s, w in query_weights.items() if s in unit_stems) / total


def _near_duplicate(a: str, b: str) -> bool:
    sa, sb = set(analyze(a)), set(analyze(b))
    if not sa or not sb:
        return a.strip() == b.strip()
    return len(sa & sb) / min(len(sa), len(sb)) >= 0.85


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


def compose(
    results: list[Scored],
    query_stems: list[str],
    idf: dict[str, float],
    cfg: ComposeConfig,
    unit_cosines: dict[int, np.ndarray] | None = None,
) -> Composed:
    """``unit_cosines``: per passage rowid, the question's cosine with each of its units
    (``split_units`` order); without it units are scored lexically only."""
    if not results:
        return Composed([], [])
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
        for pos, text in enumerate(texts[pi]):
            stems = set(analyze(text))
            # The heading speaks for every unit under it ("Cliente parado" -> its steps).
            relevance = 0.7 * _overlap(stems, weights) + 0.3 * _overlap(stems | heading, weights)
            if sims is not None:
                relevance = (1 - cfg.dense_weight) * relevance + cfg.dense_weight * float(sims[pi][pos])
            units.append(Unit(pi, pos, text, score=prior * (0.25 + relevance)))
    best = max(u.score for u in units) if units else 0.0
    chosen: list[Unit] = []

    def take(u: Unit) -> None:
        fits = len(chosen) < cfg.max_units and u not in chosen and u.score >= cfg.relative_cutoff * best
        if fits and not any(_near_duplicate(u.text, c.text) for c in chosen):
            chosen.append(u)

    first = [u for u in units if u.passage == 0]
    if first and count_tokens(passages[0].chunk.text) <= cfg.whole_passage_tokens:
        chosen.extend(first[: cfg.max_units])
    ranked = sorted(units, key=lambda u: -u.score)
    # Each cited passage first gets its best unit, so a long first passage cannot crowd out
    # a second one that retrieval rated nearly as high; then the best of the rest.
    for pi in range(len(passages)):
        own = [u for u in ranked if u.passage == pi]
        if own:
            take(own[0])
    per_passage = max(1, cfg.max_units - len(passages) + 1)
    for u in ranked:
        if sum(c.passage == u.passage for c in chosen) < per_passage:
            take(u)
    # The answer leads with the passage holding its strongest excerpt; citations follow
    # that order, and within a passage the document's order is kept.
    strongest = {pi: max(u.score for u in chosen if u.passage == pi) for pi in {u.passage for u in chosen}}
    used = sorted(strongest, key=lambda pi: (-strongest[pi], pi))
    renumber = {old: new for new, old in enumerate(used)}
    for u in chosen:
        u.passage = renumber[u.passage]
    chosen.sort(key=lambda u: (u.passage, u.position))
    return Composed([passages[i] for i in used], chosen)
