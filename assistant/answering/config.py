"""The composition stage's tunables (read by the evidence and compose stages; written by calibration)."""

from __future__ import annotations

from dataclasses import dataclass


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
