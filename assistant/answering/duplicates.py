"""Near-duplicate passages count once: the same text in two documents is one answer.

Documentation gets copied (a KCS article pasted into a TDN page, a section repeated in two
Confluence spaces). Unmerged, the copies take two of the few citation slots, look like two
retrievers agreeing, and push a different answer out of the top. Merged, the first copy in
the ranking stands for all of them and carries the others in ``Scored.copies`` (cited
together). Near-duplicate means the same content words: Jaccard over the passages' stem
sets at least ``NEAR_DUPLICATE``. Only passages of different documents merge (one document
repeating a sentence is the document's own structure).
"""

from __future__ import annotations

import dataclasses

from assistant.answering.retrieval import Scored
from index.textutil import analyze

NEAR_DUPLICATE = 0.9


def _same_text(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= NEAR_DUPLICATE


def merge_copies(ranked: list[Scored]) -> list[Scored]:
    """``ranked`` with each later copy of a passage folded into its first occurrence."""
    kept: list[Scored] = []
    stems: list[frozenset[str]] = []
    copies: dict[int, list[Scored]] = {}
    for r in ranked:
        own = frozenset(analyze(r.chunk.text))
        for i, first in enumerate(kept):
            if first.chunk.document_id != r.chunk.document_id and _same_text(stems[i], own):
                copies.setdefault(i, []).append(r)
                break
        else:
            kept.append(r)
            stems.append(own)
    return [dataclasses.replace(r, copies=tuple(copies[i])) if i in copies else r for i, r in enumerate(kept)]
