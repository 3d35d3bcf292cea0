"""Hybrid retrieval: dense (FAISS) and lexical (FTS5 BM25 over Portuguese stems), fused by
weighted reciprocal rank fusion.

Both signals see the section path: it is embedded with the text and indexed as its own,
heavier FTS column, so a FAQ question or a step-group title pulls its chunk up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from index.embedder import Embedder
from index.models import Chunk
from index.snapshot import DocumentRecord, Snapshot
from index.textutil import analyze


@dataclass(frozen=True)
class FusionConfig:
    depth: int = 40  # candidates taken from each signal
    rrf_k: float = 20.0  # small k: the corpus is small, so top ranks should dominate
    lexical_weight: float = 1.0
    dense_weight: float = 1.0


@dataclass
class Scored:
    rowid: int
    chunk: Chunk
    score: float  # fused
    dense: float = 0.0  # cosine with the query (0 when not among dense candidates)
    lexical: float = 0.0  # BM25 (0 when no lexical match)
    dense_rank: int | None = None
    lexical_rank: int | None = None


@dataclass
class Query:
    """A question prepared once: text with glossary expansions, stems, vector."""

    text: str
    expanded: str
    stems: list[str]
    vector: np.ndarray | None = None
    extra: dict[str, float] = field(default_factory=dict)


class LoadedSnapshot:
    """A snapshot plus the in-memory lookups retrieval needs on every query."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.chunks: dict[int, Chunk] = snapshot.all_chunks()
        self.documents: dict[str, DocumentRecord] = {d.id: d for d in snapshot.documents()}

    @property
    def id(self) -> str:
        return self.snapshot.id

    def source_of(self, rowid: int) -> str:
        return self.documents[self.chunks[rowid].document_id].source


class Retriever:
    def __init__(self, embedder: Embedder, config: FusionConfig | None = None) -> None:
        self.embedder = embedder
        self.config = config or FusionConfig()

    def prepare(self, text: str, expansions: list[str]) -> Query:
        expanded = " ".join([text, *expansions])
        return Query(text=text, expanded=expanded, stems=analyze(expanded))

    def embed(self, query: Query) -> np.ndarray:
        if query.vector is None:
            query.vector = self.embedder.embed([query.expanded], "query")[0]
        return query.vector

    def search(
        self,
        snap: LoadedSnapshot,
        query: Query,
        k: int,
        sources: list[str] | None = None,
        use_dense: bool = True,
        use_lexical: bool = True,
    ) -> list[Scored]:
        cfg = self.config
        depth = max(cfg.depth, k)
        if sources:
            depth = max(depth, 4 * depth)  # filtered afterwards: look deeper
        dense = snap.snapshot.dense(self.embed(query), depth) if use_dense else []
        lexical = snap.snapshot.lexical(query.stems, depth) if use_lexical else []
        fused: dict[int, Scored] = {}

        def entry(rowid: int) -> Scored:
            if rowid not in fused:
                fused[rowid] = Scored(rowid, snap.chunks[rowid], 0.0)
            return fused[rowid]

        for rank, (rowid, score) in enumerate(dense, 1):
            e = entry(rowid)
            e.dense, e.dense_rank = score, rank
            e.score += cfg.dense_weight / (cfg.rrf_k + rank)
        for rank, (rowid, score) in enumerate(lexical, 1):
            e = entry(rowid)
            e.lexical, e.lexical_rank = score, rank
            e.score += cfg.lexical_weight / (cfg.rrf_k + rank)
        results = sorted(fused.values(), key=lambda s: (-s.score, s.rowid))
        if sources:
            allowed = set(sources)
            results = [r for r in results if snap.source_of(r.rowid) in allowed]
        # Dense scores of lexical-only candidates are still useful downstream.
        if use_dense and query.vector is not None:
            for r in results[: max(k, 10)]:
                if r.dense_rank is None:
                    r.dense = float(snap.snapshot.vector(r.rowid) @ query.vector)
        return results[:k]
