"""Structure-aware chunking: one chunk per section's own blocks, split only when long.

Sections already isolate FAQ entries, step groups and work-instruction entries, so a
chunk rarely mixes topics. Long sections split at block, then sentence, boundaries
with a small overlap. The section path travels with every chunk.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from index.models import PATH_SEP, Block, Chunk, Document, chunk_id, collapse_path
from index.textutil import count_tokens
from index.units import split_sentences
from ingest.parse import PARSER_VERSION


@dataclass(frozen=True)
class ChunkingConfig:
    max_tokens: int = 300
    overlap_tokens: int = 40

    def fingerprint(self) -> str:
        """Hash of everything that shapes chunks: a change invalidates reuse."""
        payload = json.dumps({"max": self.max_tokens, "overlap": self.overlap_tokens, "parser": PARSER_VERSION})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _units(blocks: list[Block], max_tokens: int) -> list[str]:
    """Blocks as text units; a block longer than the budget becomes its sentences."""
    out: list[str] = []
    for b in blocks:
        if count_tokens(b.text) <= max_tokens:
            out.append(b.text)
            continue
        sentences = split_sentences(b.text)
        buf: list[str] = []
        for s in sentences:
            if buf and count_tokens(" ".join([*buf, s])) > max_tokens:
                out.append(" ".join(buf))
                buf = []
            buf.append(s)
        if buf:
            out.append(" ".join(buf))
    return out


def _pack(units: list[str], cfg: ChunkingConfig) -> list[str]:
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for unit in units:
        n = count_tokens(unit)
        if current and size + n > cfg.max_tokens:
            chunks.append(current)
            # Overlap: carry the trailing units that fit in the overlap budget.
            carry: list[str] = []
            carried = 0
            for prev in reversed(current):
                t = count_tokens(prev)
                if carried + t > cfg.overlap_tokens:
                    break
                carry.insert(0, prev)
                carried += t
            current, size = carry, carried
        current.append(unit)
        size += n
    if current:
        chunks.append(current)
    return ["\n".join(c) for c in chunks]


def chunk_document(doc: Document, cfg: ChunkingConfig) -> list[Chunk]:
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for raw_path, section in doc.root.walk(tuple(doc.breadcrumbs)):
        if not section.blocks:
            continue
        path = collapse_path(raw_path)
        anchor = section.anchor
        url = f"{doc.url}#{anchor}" if anchor else doc.url
        for text in _pack(_units(section.blocks, cfg.max_tokens), cfg):
            key = PATH_SEP.join(path) + "\x1f" + text
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            chunks.append(
                Chunk(
                    id=chunk_id(doc.id, path, text, occurrence),
                    document_id=doc.id,
                    ordinal=len(chunks),
                    section_path=path,
                    anchor=anchor,
                    url=url,
                    text=text,
                )
            )
    return chunks
