"""Hybrid retrieval: dense cosine and lexical BM25F over Portuguese stems, fused by score.

Both signals see the section path: it is embedded with the text, and it is a separate,
heavier field of the lexical index, so a FAQ question or a step-group title pulls its
chunk up.

Why score fusion and not rank fusion: with a few hundred passages, rank fusion throws
away how *much* better the first passage is. Each signal is z-scored over the passages
searched (its mean and spread differ per query: a chatty question has many weak lexical
matches, a terse one few strong ones) and the z-scores are mixed convexly.

The corpus is small (one page is ~100 passages; a handful of documents stays far below
100k), so every passage is scored exactly, in memory: the vectors are the FAISS flat
index's own, and BM25F is precomputed as one sparse passage x stem matrix at load time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from index.embedding.protocol import Embedder
from index.models import Chunk
from index.snapshot import DocumentRecord, Snapshot
from index.textutil import analyze, count_tokens, words


@dataclass(frozen=True)
class FusionConfig:
    lexical_weight: float = 0.4  # convex mix of z-scores; dense gets 1 - this
    # Prior for log passage length (in fused z units per nat). Tiny chunks ("Para mais
    # informações sobre o processo clique aqui.", link blurbs) are hubs: near every chatty
    # question in embedding space and short enough for BM25 to favour, yet they rarely answer.
    length_prior: float = 0.5
    # BM25F: a stem in the section path (title, FAQ question) counts this many body stems.
    section_weight: float = 2.0
    k1: float = 1.2
    b: float = 0.75
    # Rocchio pseudo-relevance feedback on the dense side: the query vector moves toward
    # the mean of the top passages of a first fused pass (0 = off).
    prf_weight: float = 0.0
    prf_depth: int = 3


@dataclass
class Scored:
    rowid: int
    chunk: Chunk
    score: float  # fused
    dense: float = 0.0  # cosine with the query
    lexical: float = 0.0  # BM25F (0 when no lexical match)
    dense_rank: int | None = None  # rank by dense alone (1-based)
    lexical_rank: int | None = None  # rank by lexical alone (None when no lexical match)
    # Each signal's z-score among the passages searched: how far this passage stands out
    # for this query, which (unlike a raw cosine) is comparable across questions.
    dense_z: float = 0.0
    lexical_z: float = 0.0


@dataclass
class Query:
    """A question prepared once: text with glossary expansions, stems, vector."""

    text: str
    expanded: str
    stems: list[str]
    vector: np.ndarray | None = None
    # Set by a dense search: the cosine with every passage searched (indices into the
    # snapshot's rows), so abstention reads them instead of computing them again.
    cosines: np.ndarray | None = None
    searched: np.ndarray | None = None


class LexicalIndex:
    """BM25F over analyzed section path and body, as a passage x stem matrix per field.

    Term frequencies are kept per field (length-normalized per field), combined with the
    query-time section weight, then saturated; the result is small enough to rebuild
    when the weights change (tuning) and is cached per weight set.
    """

    def __init__(self, sections: list[list[str]], bodies: list[list[str]]) -> None:
        self.n = len(sections)
        self.vocab: dict[str, int] = {}
        for stems in (*sections, *bodies):
            for s in stems:
                self.vocab.setdefault(s, len(self.vocab))
        self.sec_tf, self.sec_len = self._tf(sections)
        self.body_tf, self.body_len = self._tf(bodies)
        df = np.asarray(((self.sec_tf + self.body_tf) > 0).sum(axis=0)).ravel()
        self.idf = np.log(1 + (self.n - df + 0.5) / (df + 0.5))
        self._cache: dict[tuple[float, float, float], sparse.csc_matrix] = {}

    def _tf(self, docs: list[list[str]]) -> tuple[sparse.csr_matrix, np.ndarray]:
        rows: list[int] = []
        cols: list[int] = []
        for i, stems in enumerate(docs):
            rows.extend([i] * len(stems))
            cols.extend(self.vocab[s] for s in stems)
        shape = (self.n, max(1, len(self.vocab)))
        tf = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)  # duplicates add up
        return tf, np.array([len(d) for d in docs], dtype=np.float64)

    def weights(self, section_weight: float, k1: float, b: float) -> sparse.csc_matrix:
        key = (section_weight, k1, b)
        if key not in self._cache:

            def norm(tf: sparse.csr_matrix, lengths: np.ndarray) -> sparse.csr_matrix:
                avg = lengths.mean() if lengths.size and lengths.mean() > 0 else 1.0
                return sparse.diags(1.0 / (1 - b + b * lengths / avg)) @ tf

            tf = section_weight * norm(self.sec_tf, self.sec_len) + norm(self.body_tf, self.body_len)
            tf = sparse.csr_matrix(tf)
            tf.data = tf.data * (k1 + 1) / (tf.data + k1)
            self._cache[key] = sparse.csc_matrix(tf @ sparse.diags(self.idf))
        return self._cache[key]

    def score(self, stems: list[str], cfg: FusionConfig) -> np.ndarray:
        cols = sorted({self.vocab[s] for s in stems if s in self.vocab})
        if not cols:
            return np.zeros(self.n)
        return np.asarray(self.weights(cfg.section_weight, cfg.k1, cfg.b)[:, cols].sum(axis=1)).ravel()


class LoadedSnapshot:
    """A snapshot plus the in-memory lookups retrieval needs on every query."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.chunks: dict[int, Chunk] = snapshot.all_chunks()
        self.documents: dict[str, DocumentRecord] = {d.id: d for d in snapshot.documents()}
        self.rowids = np.array(sorted(self.chunks), dtype=np.int64)
        self.matrix = snapshot.passage_vectors(self.rowids)
        ordered = [self.chunks[int(r)] for r in self.rowids]
        self.lexicon = LexicalIndex([analyze(c.section) for c in ordered], [analyze(c.text) for c in ordered])
        # IDF of each stem over passages (section and body), for the composer's term weights.
        self.idf: dict[str, float] = {s: float(self.lexicon.idf[i]) for s, i in self.lexicon.vocab.items()}
        self.sources = np.array([self.documents[c.document_id].source for c in ordered])
        self.log_length = np.log(np.array([max(1, count_tokens(c.text)) for c in ordered], dtype=np.float64))
        # Per chunk rowid, its answer units' vectors (None for snapshots that predate them).
        self.units: dict[int, np.ndarray] | None = snapshot.units_by_chunk()
        # Row positions by their section's own title, folded to its words: a question that
        # *is* a section title or FAQ question ("O que é o ESN?") names its section.
        self.titles: dict[str, list[int]] = {}
        for i, c in enumerate(ordered):
            if c.section_path:
                self.titles.setdefault(title_key(c.section_path[-1]), []).append(i)

    @property
    def id(self) -> str:
        return self.snapshot.id


def title_key(text: str) -> str:
    """A title or question reduced to its words: case, accents and punctuation runs
    ("Quando orientar o ESN????") do not count."""
    return " ".join(words(text))


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(-x, kind="stable")
    ranks = np.empty(len(x), dtype=np.int64)
    ranks[order] = np.arange(1, len(x) + 1)
    return ranks


class Retriever:
    def __init__(self, embedder: Embedder, config: FusionConfig | None = None, cache_size: int = 1024) -> None:
        self.embedder = embedder
        self.config = config or FusionConfig()
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def prepare(self, text: str, expansions: list[str]) -> Query:
        expanded = " ".join([text, *expansions])
        return Query(text=text, expanded=expanded, stems=analyze(expanded))

    def embed(self, query: Query) -> np.ndarray:
        if query.vector is None:
            query.vector = self._cached_embedding(query.expanded)
        return query.vector

    def _cached_embedding(self, text: str) -> np.ndarray:
        """Query vectors are the one expensive step; the same question comes back often
        (Slack retries, a sidebar reopened on the same ticket, "cliente parado")."""
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vector = self.embedder.embed([text], "query")[0]
        if self.cache_size:
            with self._cache_lock:
                self._cache[text] = vector
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return vector

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
        n = len(snap.rowids)
        if n == 0:
            return []
        keep = np.isin(snap.sources, sources) if sources else np.ones(n, dtype=bool)
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            return []
        lexical = snap.lexicon.score(query.stems, cfg)[idx] if use_lexical else np.zeros(idx.size)
        # The cosine with the question itself is what abstention reads, even after feedback.
        cosine = dense = snap.matrix[idx] @ self.embed(query) if use_dense else np.zeros(idx.size)
        w = cfg.lexical_weight if use_dense and use_lexical else float(use_lexical)
        prior = cfg.length_prior * (snap.log_length[idx] - snap.log_length[idx].mean())
        if use_dense:
            query.cosines, query.searched = cosine, idx
        dense_z, lexical_z = _z(cosine), _z(lexical)
        fused = w * lexical_z + (1 - w) * _z(dense) + prior
        if use_dense and cfg.prf_weight > 0:
            top = np.argsort(-fused, kind="stable")[: cfg.prf_depth]
            moved = self.embed(query) + cfg.prf_weight * snap.matrix[idx[top]].mean(axis=0)
            dense = snap.matrix[idx] @ (moved / np.linalg.norm(moved))
            fused = w * _z(lexical) + (1 - w) * _z(dense) + prior
        exact = snap.titles.get(title_key(query.text), [])
        if exact:
            # Exact titles win: the asked section goes first, whatever the scores say.
            local = np.flatnonzero(np.isin(idx, exact))
            if local.size:
                fused[local] = fused.max() + 1.0
        dense_ranks, lexical_ranks = _ranks(dense), _ranks(lexical)
        out = []
        for i in np.argsort(-fused, kind="stable")[:k]:
            rowid = int(snap.rowids[idx[i]])
            r = Scored(rowid, snap.chunks[rowid], float(fused[i]), float(cosine[i]), float(lexical[i]))
            r.dense_rank = int(dense_ranks[i]) if use_dense else None
            r.lexical_rank = int(lexical_ranks[i]) if lexical[i] > 0 else None
            r.dense_z, r.lexical_z = float(dense_z[i]), float(lexical_z[i])
            out.append(r)
        return out
