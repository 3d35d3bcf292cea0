"""Extractive answer composition: every sentence of an answer is a verbatim excerpt.

From the best passages, pick the sentences / list items that answer the question (scored
by IDF-weighted overlap with the question and by the passage's own rank and similarity),
drop near-duplicates, keep document order within a passage, and mark each with [n].
A short passage that matches well is taken whole: a step group such as "Cliente parado"
is the answer as a unit, and cutting it would drop steps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from assistant.retrieval import Scored
from index.textutil import analyze, count_tokens

_SENT_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[\"“(\[]?[A-ZÀ-Ý0-9])")
_MARKER = re.compile(r"^(?:[•·▪◦●○■\-*]|\d{1,2}(?:\.\d{1,2})*[.)]|[a-z][.)])\s+")


@dataclass(frozen=True)
class ComposeConfig:
    max_passages: int = 3  # passages an answer may cite
    max_units: int = 6  # sentences / items in an answer
    whole_passage_tokens: int = 90  # a passage this short is cited whole
    relative_cutoff: float = 0.3  # a unit must score this fraction of the best unit
    # A passage after the first is cited only if its fused score (z units) is within this of the top.
    passage_margin: float = 1.0


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


def split_units(text: str) -> list[str]:
    """A passage's lines, then sentences; list markers dropped (they are not prose)."""
    out: list[str] = []
    for line in text.split("\n"):
        body = _MARKER.sub("", line.strip())
        if not body:
            continue
        out.extend(s.strip() for s in _SENT_SPLIT.split(body) if len(s.strip()) > 1)
    return out


def _overlap(unit_stems: set[str], query_weights: dict[str, float]) -> float:
    total = sum(query_weights.values()) or 1.0
    return sum(w for s, w in query_weights.items() if s in unit_stems) / total


def _near_duplicate(a: str, b: str) -> bool:
    sa, sb = set(analyze(a)), set(analyze(b))
    if not sa or not sb:
        return a.strip() == b.strip()
    return len(sa & sb) / min(len(sa), len(sb)) >= 0.85


def compose(results: list[Scored], query_stems: list[str], idf: dict[str, float], cfg: ComposeConfig) -> Composed:
    if not results:
        return Composed([], [])
    weights = {s: idf.get(s, 1.0) for s in set(query_stems)}
    top = results[0].score
    passages = [r for r in results[: cfg.max_passages] if r.score >= top - cfg.passage_margin]
    units: list[Unit] = []
    for pi, p in enumerate(passages):
        # Fused scores are z units: a passage almost as good as the first keeps almost its
        # weight (retrieval is often unsure between the top two), a distant one fades.
        prior = math.exp(p.score - top)
        heading = set(analyze(p.chunk.section))
        for pos, text in enumerate(split_units(p.chunk.text)):
            stems = set(analyze(text))
            # The heading speaks for every unit under it ("Cliente parado" -> its steps).
            lexical = 0.7 * _overlap(stems, weights) + 0.3 * _overlap(stems | heading, weights)
            units.append(Unit(pi, pos, text, score=prior * (0.25 + lexical)))
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
