"""Extractive, answer-first composition: every line of an answer is a verbatim excerpt.

Two stages, each testable alone:

- ``score_units`` (the evidence): every sentence / list item of the best passages, scored
  by IDF-weighted overlap with the question, by the unit's own cosine with the question
  (when the snapshot has unit vectors) and by its passage's fused score; and marked when
  it is navigation ("clique aqui", a link table's caption), when it only announces a list
  ("... os seguintes itens:"), and when it holds the kind of fact the question asks for.
- ``compose``: the first line is the unit that best answers; then only lines that add to
  it (the rest of a short step group, the best line of each other cited passage, then the
  best of the rest), at most ``max_lines``. Analysts read two lines in Slack or the
  sidebar, so the answering line must not wait behind document order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assistant.evidence import Asked, is_navigation, satisfies
from assistant.retrieval import Scored
from index.textutil import analyze, count_tokens
from index.units import split_units


@dataclass(frozen=True)
class ComposeConfig:
    max_passages: int = 3  # passages an answer may cite
    max_lines: int = 5  # lines of an answer
    # The first line comes from the best passages only: a unit deep in the third passage
    # that happens to share words with the question is a weak lead.
    first_line_passages: int = 2
    whole_passage_tokens: int = 90  # a passage this short is a step group: its lines follow the first
    relative_cutoff: float = 0.3  # a further line must score this fraction of the first
    # A passage after the first is cited only if its fused score (z units) is within this of the top.
    passage_margin: float = 1.0
    # Share of a unit's relevance that comes from its cosine with the question (min-max scaled
    # over the candidate units); the rest is lexical overlap. Lexical alone overrates a unit
    # that repeats the question's words without answering it; the cosine alone cannot see
    # the exact term ("FCR", "Data controle") a short question hinges on.
    dense_weight: float = 0.5


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
class Line:
    passage: int  # index into Composed.passages (citation n = passage + 1)
    text: str  # the verbatim unit, or the linked section's title when ``link``
    link: bool = False  # the best evidence is a link to an article: point to it by title


@dataclass
class Evidence:
    passages: list[Scored]  # the candidate passages, in retrieval order
    units: list[Unit]  # every unit of those passages, scored


@dataclass
class Composed:
    passages: list[Scored]  # cited, in citation order
    lines: list[Line]  # in answer order
    lead: Unit | None = None  # the unit the first line quotes (None for a link line)


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


def lead_unit(evidence: Evidence, cfg: ComposeConfig, asked: Asked | None = None) -> Unit | None:
    """The unit that best answers: never navigation or a list's announcement; when the
    question asks for a kind of fact, a unit holding one wins over any that does not."""
    pool = [u for u in evidence.units if u.can_lead and u.passage < cfg.first_line_passages]
    if asked and any(u.fact for u in pool):
        pool = [u for u in pool if u.fact]
    return max(pool, key=lambda u: u.score, default=None)


def link_unit(evidence: Evidence) -> Unit | None:
    """The best passage's caption, when that passage only points to an article (a link
    table row, "clique aqui")."""
    first = [u for u in evidence.units if u.passage == 0]
    if first and all(u.navigation for u in first):
        return max(first, key=lambda u: u.score)
    return None


def compose(evidence: Evidence, cfg: ComposeConfig, asked: Asked | None = None) -> Composed:
    units, passages = evidence.units, evidence.passages
    if not units:
        return Composed([], [])
    lead = lead_unit(evidence, cfg, asked)
    # An article the best passage points to is named by its title and link, never by its
    # caption; it leads only when its caption matches better than any line that says something.
    link = link_unit(evidence)
    link_leads = link is not None and (lead is None or link.score > lead.score)
    chosen: list[Unit] = [lead] if lead is not None else []
    best = max((u.score for u in units if u.can_lead), default=0.0)
    budget = cfg.max_lines - (link is not None)

    def take(u: Unit) -> None:
        fits = len(chosen) < budget and u not in chosen and u.score >= cfg.relative_cutoff * best
        if fits and not any(_near_duplicate(u.text, c.text) for c in chosen):
            chosen.append(u)

    if lead is not None and count_tokens(passages[lead.passage].chunk.text) <= cfg.whole_passage_tokens:
        # A short passage is a step group ("Cliente parado:"): its other steps follow the lead.
        for u in units:
            if u.passage == lead.passage and not u.intro and len(chosen) < budget and u not in chosen:
                chosen.append(u)
    ranked = sorted((u for u in units if u.can_lead), key=lambda u: -u.score)
    for pi in range(len(passages)):  # each other cited passage adds its best line
        own = [u for u in ranked if u.passage == pi]
        if own and pi != (lead.passage if lead else -1):
            take(own[0])
    for u in ranked:
        take(u)
    return _order(passages, chosen, lead, link, link_leads)


def _order(
    passages: list[Scored], chosen: list[Unit], lead: Unit | None, link: Unit | None, link_leads: bool
) -> Composed:
    """Lead first (or the link, when it leads); then the rest grouped by passage (passages
    by their best line), in the document's order within a passage; a link that does not
    lead comes last. Citations are numbered in the order they appear."""
    rest = [u for u in chosen if u is not lead]
    strongest: dict[int, float] = {}
    for u in rest:
        strongest[u.passage] = max(strongest.get(u.passage, 0.0), u.score)
    order: list[int] = []
    if link is not None and link_leads:
        order.append(link.passage)
    if lead is not None and lead.passage not in order:
        order.append(lead.passage)
    order += [pi for pi in sorted(strongest, key=lambda pi: (-strongest[pi], pi)) if pi not in order]
    if link is not None and link.passage not in order:
        order.append(link.passage)
    renumber = {old: new for new, old in enumerate(order)}
    link_line = (
        None if link is None else Line(renumber[link.passage], passages[link.passage].chunk.section_path[-1], link=True)
    )
    lines: list[Line] = [link_line] if link_line and link_leads else []
    if lead is not None:
        lines.append(Line(renumber[lead.passage], lead.text))
    for u in sorted(rest, key=lambda u: (renumber[u.passage], u.position)):
        lines.append(Line(renumber[u.passage], u.text))
    if link_line and not link_leads:
        lines.append(link_line)
    return Composed([passages[i] for i in order], lines, lead)
