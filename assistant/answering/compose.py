"""Extractive, answer-first composition: every line of an answer is a verbatim excerpt.

The stage after the evidence (``evidence.py`` scores the candidate units):
``compose``: the first line is the unit that best answers; then only lines that add to
  it (the rest of a short step group, the best line of each other cited passage, then the
  best of the rest), at most ``max_lines``. Analysts read two lines in Slack or the
  sidebar, so the answering line must not wait behind document order.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.answering.config import ComposeConfig
from assistant.answering.evidence import Evidence, Unit
from assistant.answering.question import Asked
from assistant.answering.retrieval import Scored
from index.textutil import analyze, count_tokens


@dataclass
class Line:
    passage: int  # index into Composed.passages (citation n = passage + 1)
    text: str  # the verbatim unit, or the linked section's title when ``link``
    link: bool = False  # the best evidence is a link to an article: point to it by title


@dataclass
class Composed:
    passages: list[Scored]  # cited, in citation order
    lines: list[Line]  # in answer order
    lead: Unit | None = None  # the unit the first line quotes (None for a link line)


def _near_duplicate(a: str, b: str) -> bool:
    sa, sb = set(analyze(a)), set(analyze(b))
    if not sa or not sb:
        return a.strip() == b.strip()
    return len(sa & sb) / min(len(sa), len(sb)) >= 0.85


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
