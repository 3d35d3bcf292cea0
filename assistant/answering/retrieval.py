"""Hybrid retrieval: dense cosine and lexical BM25F over Portuguese stems, fused by score.

Both signals see the section path: it is embedded with the text, and it is a separate,
heavier field of the lexical index, so a FAQ question or a step-group title pulls its
chunk up.

Why score fusion and not rank fusion: with a few hundred passages, rank fusion throws
away how *much* better the first passage is. Each signal is z-scored over the passages
searched (its mean and spread differ per query: a chatty question has many weak lexical
matches, a terse one few strong ones) and the z-scores are mixed convexly.

Up to the snapshot's ``exact_max`` passages (the default corpus is ~100) every passage is
scored. Above, only candidates are (:meth:`Retriever._candidates`), with the z statistics
of every passage computed without visiting them, so a candidate scores as on the exact
path. Everything read here was stored when the snapshot was published (index.prepared).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from index.embedding.protocol import Embedder
from index.models import Chunk
from index.prepared import EXACT_MAX, title_key
from index.snapshot import DocumentRecord, Snapshot
from index.textutil import analyze


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
    # Above the snapshot's ``exact_max`` passages: how many dense and lexical top passages
    # are scored (index.prepared; on the default corpus every passage is).
    candidates: int = 200


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
    # The same text found in other documents (a KCS article copied into a TDN page): those
    # passages count once in the ranking and are cited together with this one.
    copies: tuple[Scored, ...] = ()


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
    when the weights change (tuning) and is cached per weight set. The columns of the CSC
    result are the stems' posting lists: :meth:`matches` reads only those.
    """

    def __init__(
        self, vocab: list[str], sec_tf: sparse.csr_matrix, body_tf: sparse.csr_matrix,
        sec_len: np.ndarray, body_len: np.ndarray,
    ) -> None:  # fmt: skip
        self.n = sec_tf.shape[0]
        self.vocab: dict[str, int] = {s: i for i, s in enumerate(vocab)}
        self.sec_tf, self.sec_len = sec_tf, sec_len
        self.body_tf, self.body_len = body_tf, body_len
        df = np.diff(sparse.csc_matrix((sec_tf + body_tf) > 0).indptr)
        self.idf = np.log(1 + (self.n - df + 0.5) / (df + 0.5))
        self._cache: dict[tuple[float, float, float], sparse.csc_matrix] = {}
        self._lock = threading.Lock()

    def weights(self, section_weight: float, k1: float, b: float) -> sparse.csc_matrix:
        key = (section_weight, k1, b)
        with self._lock:  # computed once, even when the first queries arrive together
            if key not in self._cache:

                def norm(tf: sparse.csr_matrix, lengths: np.ndarray) -> sparse.csr_matrix:
                    avg = lengths.mean() if lengths.size and lengths.mean() > 0 else 1.0
                    return sparse.diags(1.0 / (1 - b + b * lengths / avg)) @ tf

                tf = section_weight * norm(self.sec_tf, self.sec_len) + norm(self.body_tf, self.body_len)
                tf = sparse.csr_matrix(tf)
                tf.data = tf.data * (k1 + 1) / (tf.data + k1)
                self._cache[key] = sparse.csc_matrix(tf @ sparse.diags(self.idf))
            return self._cache[key]

    def _columns(self, stems: list[str]) -> list[int]:
        return sorted({self.vocab[s] for s in stems if s in self.vocab})

    def score(self, stems: list[str], cfg: FusionConfig) -> np.ndarray:
        """Every passage's score (the exact path)."""
        cols = self._columns(stems)
        if not cols:
            return np.zeros(self.n)
        return np.asarray(self.weights(cfg.section_weight, cfg.k1, cfg.b)[:, cols].sum(axis=1)).ravel()

    def matches(self, stems: list[str], cfg: FusionConfig) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding a query stem and their scores (rows ascending): the posting
        lists of the query's stems, never a pass over every passage."""
        cols = self._columns(stems)
        if not cols:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        part = self.weights(cfg.section_weight, cfg.k1, cfg.b)[:, cols].tocoo()
        if len(part.row) * 8 < self.n:  # rare stems: sort the few postings
            rows, inverse = np.unique(part.row, return_inverse=True)
            return rows.astype(np.int64), np.bincount(inverse, weights=part.data, minlength=len(rows))
        # Common stems: one pass of bincount beats sorting the postings (weights are > 0).
        sums = np.bincount(part.row, weights=part.data, minlength=self.n)
        rows = np.flatnonzero(sums)
        return rows.astype(np.int64), sums[rows]


class LoadedSnapshot:
    """A snapshot plus the lookups retrieval needs on every query (index.prepared: stored
    at publish; computed here only for snapshots written before)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        p = self.prepared = snapshot.prepared()
        self.rowids = p.rowids
        self.matrix = p.matrix
        self.exact_max = int(snapshot.manifest.retrieval.get("exact_max", EXACT_MAX))
        self.ann = snapshot.ann()  # IVF over the passages of a large snapshot (index.prepared)
        self.ann_depth = int(snapshot.manifest.retrieval.get("ann_depth", 0))
        self.lexicon = LexicalIndex(p.vocab, p.sec_tf, p.body_tf, p.sec_len, p.body_len)
        # IDF of each stem over passages (section and body), for the composer's term weights.
        self.idf: dict[str, float] = dict(zip(p.vocab, self.lexicon.idf.tolist(), strict=True))
        self.source_names = p.source_names
        self.log_length = p.log_length
        self.hub = p.hub  # each passage's own typical cosine (abstention)
        # Per source: passages and their summed log length (the length prior's mean).
        self.source_count = np.bincount(p.source_of, minlength=len(p.source_names))
        self.source_log_length = np.bincount(p.source_of, weights=p.log_length, minlength=len(p.source_names))
        self._chunks: OrderedDict[int, Chunk] = OrderedDict()
        self._documents: OrderedDict[str, DocumentRecord | None] = OrderedDict()
        self._lookup_lock = threading.Lock()
        self._outliers: dict[int, np.ndarray] = {}

    @property
    def id(self) -> str:
        return self.snapshot.id

    @property
    def has_units(self) -> bool:
        return self.prepared.units is not None

    def dense_top(self, vector: np.ndarray, k: int, keep: np.ndarray | None) -> np.ndarray:
        """Rows of the ``k`` passages nearest to ``vector``, nearest first."""
        if self.ann is not None and keep is None:
            depth = max(k, self.ann_depth)
            found = self.ann.search(np.ascontiguousarray(vector[None, :], dtype=np.float32), depth)[1][0]
            found = np.sort(found[found >= 0])
            return found[_top(np.asarray(self.matrix[found]) @ vector, min(k, len(found)))]
        rows = np.flatnonzero(keep) if keep is not None else None
        cosine = np.asarray((self.matrix if rows is None else self.matrix[rows]) @ vector)
        top = _top(cosine, k)
        return top if rows is None else rows[top]

    def outliers(self, k: int) -> np.ndarray:
        """The ``k`` longest passages and the ``k`` with the lowest hub baselines (rows): the
        length prior and the hub correction can lift these above passages nearer the
        question, so the candidate path always scores them."""
        with self._lookup_lock:
            hit = self._outliers.get(k)
        if hit is None:
            hit = np.union1d(_top(self.log_length, k), _top(-self.hub.astype(np.float64), k))
            with self._lookup_lock:
                self._outliers[k] = hit
        return hit

    def row(self, rowid: int) -> int:
        return int(np.searchsorted(self.rowids, rowid))

    def units_of(self, rowid: int) -> np.ndarray | None:
        """A chunk's answer-unit vectors (None for snapshots that predate them)."""
        return self.prepared.units_of_row(self.row(rowid))

    def title_rows(self, key: str) -> list[int]:
        if self.prepared.titles is not None:
            return self.prepared.titles.get(key, [])
        return self.snapshot.title_rows(key)

    def sources_mask(self, sources: list[str]) -> np.ndarray:
        codes = [i for i, name in enumerate(self.source_names) if name in sources]
        return np.isin(self.prepared.source_of, codes)

    def chunks(self, rowids: list[int]) -> dict[int, Chunk]:
        """Chunks by rowid, read from the snapshot (the few an answer shows, cached)."""
        with self._lookup_lock:
            out = {r: self._chunks[r] for r in rowids if r in self._chunks}
        missing = [r for r in rowids if r not in out]
        if missing:
            read = self.snapshot.chunks(missing)
            with self._lookup_lock:
                for r, c in read.items():
                    self._chunks[r] = c
                while len(self._chunks) > _LOOKUP_CACHE:
                    self._chunks.popitem(last=False)
            out |= read
        return out

    def document(self, document_id: str) -> DocumentRecord | None:
        with self._lookup_lock:
            if document_id in self._documents:
                return self._documents[document_id]
        doc = self.snapshot.document(document_id)
        with self._lookup_lock:
            self._documents[document_id] = doc
            while len(self._documents) > _LOOKUP_CACHE:
                self._documents.popitem(last=False)
        return doc


_LOOKUP_CACHE = 4096  # chunks and documents kept per loaded snapshot


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def _z_with(x: np.ndarray, mean: float, var: float) -> np.ndarray:
    """:func:`_z` with the mean and variance of every passage searched, given."""
    sd = float(np.sqrt(max(var, 0.0)))
    return (x - mean) / sd if sd > 1e-9 else np.zeros_like(x)


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(-x, kind="stable")
    ranks = np.empty(len(x), dtype=np.int64)
    ranks[order] = np.arange(1, len(x) + 1)
    return ranks


def _top(x: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest values, best first (ties: lower position first)."""
    if len(x) > k:
        part = np.argpartition(-x, k - 1)[:k]
        return part[np.lexsort((part, -x[part]))]
    return np.argsort(-x, kind="stable")


@dataclass
class _Signals:
    """Per candidate: both raw scores, their z-scores and whole-corpus ranks."""

    rows: np.ndarray
    cosine: np.ndarray
    lexical: np.ndarray
    dense_z: np.ndarray
    lexical_z: np.ndarray
    dense_rank: np.ndarray
    lexical_rank: np.ndarray
    prior: np.ndarray
    dense_stats: tuple[float, float] | None  # mean, variance over every passage searched (None: exact path)


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
        if len(snap.rowids) == 0:
            return []
        keep = snap.sources_mask(sources) if sources else None
        vector = self.embed(query) if use_dense else None
        titles = snap.title_rows(title_key(query.text))
        if len(snap.rowids) <= snap.exact_max:
            sig = self._every_passage(snap, query, vector, keep, use_lexical)
        else:
            sig = self._candidates(snap, query, vector, keep, use_lexical, titles)
        if sig is None:
            return []
        w = cfg.lexical_weight if use_dense and use_lexical else float(use_lexical)
        if vector is not None:
            # The cosine with the question itself is what abstention reads, even after feedback.
            query.cosines, query.searched = sig.cosine, sig.rows
        fused = w * sig.lexical_z + (1 - w) * sig.dense_z + sig.prior
        if vector is not None and cfg.prf_weight > 0:
            top = np.argsort(-fused, kind="stable")[: cfg.prf_depth]
            moved = vector + cfg.prf_weight * np.asarray(snap.matrix[sig.rows[top]]).mean(axis=0)
            moved = moved / np.linalg.norm(moved)
            dense = np.asarray(snap.matrix[sig.rows]) @ moved
            stats = None if sig.dense_stats is None else _dense_stats(snap, moved, keep)
            moved_z = _z(dense) if stats is None else _z_with(dense, *stats)
            fused = w * sig.lexical_z + (1 - w) * moved_z + sig.prior
        if titles:
            # Exact titles win: the asked section goes first, whatever the scores say.
            local = np.flatnonzero(np.isin(sig.rows, titles))
            if local.size:
                fused[local] = fused.max() + 1.0
        order = np.argsort(-fused, kind="stable")[:k]
        chunks = snap.chunks([int(snap.rowids[sig.rows[i]]) for i in order])
        out = []
        for i in order:
            rowid = int(snap.rowids[sig.rows[i]])
            r = Scored(rowid, chunks[rowid], float(fused[i]), float(sig.cosine[i]), float(sig.lexical[i]))
            r.dense_rank = int(sig.dense_rank[i]) if use_dense else None
            r.lexical_rank = int(sig.lexical_rank[i]) if sig.lexical[i] > 0 else None
            r.dense_z, r.lexical_z = float(sig.dense_z[i]), float(sig.lexical_z[i])
            out.append(r)
        return out

    def _every_passage(
        self, snap: LoadedSnapshot, query: Query, vector: np.ndarray | None, keep: np.ndarray | None, use_lexical: bool
    ) -> _Signals | None:
        """The exact path: every passage searched is scored."""
        cfg = self.config
        rows = np.flatnonzero(keep) if keep is not None else np.arange(len(snap.rowids))
        if rows.size == 0:
            return None
        lexical = snap.lexicon.score(query.stems, cfg)[rows] if use_lexical else np.zeros(rows.size)
        vectors = snap.matrix if keep is None else snap.matrix[rows]  # no copy of every row
        cosine = np.asarray(vectors @ vector) if vector is not None else np.zeros(rows.size)
        length = snap.log_length[rows]
        prior = cfg.length_prior * (length - length.mean())
        return _Signals(rows, cosine, lexical, _z(cosine), _z(lexical), _ranks(cosine), _ranks(lexical), prior, None)

    def _candidates(
        self, snap: LoadedSnapshot, query: Query, vector: np.ndarray | None, keep: np.ndarray | None,
        use_lexical: bool, titles: list[int],
    ) -> _Signals | None:  # fmt: skip
        """The candidate path: the dense and lexical top ``cfg.candidates``, the rows titled
        like the question and the length and hub outliers are scored. The z statistics are those of every passage
        searched, computed without visiting them (the vectors' moments, the posting lists),
        so a candidate's fused score is the one the exact path gives it."""
        cfg = self.config
        count = len(snap.rowids) if keep is None else int(keep.sum())
        if count == 0:
            return None
        outliers = snap.outliers(cfg.candidates)
        parts = [
            np.array([t for t in titles if keep is None or keep[t]], dtype=np.int64),
            outliers if keep is None else outliers[keep[outliers]],
        ]
        dense_top = np.zeros(0, dtype=np.int64)
        if vector is not None:
            dense_top = snap.dense_top(vector, cfg.candidates, keep)
            parts.append(dense_top)
        matched, matched_scores = np.zeros(0, dtype=np.int64), np.zeros(0)
        if use_lexical:
            matched, matched_scores = snap.lexicon.matches(query.stems, cfg)
            if keep is not None:
                inside = keep[matched]
                matched, matched_scores = matched[inside], matched_scores[inside]
        lexical_top = matched[_top(matched_scores, cfg.candidates)]
        parts.append(lexical_top)
        rows = np.unique(np.concatenate(parts))
        # Lexical: looked up among the matching rows (0 elsewhere); ranked like the dense side.
        at = np.minimum(np.searchsorted(matched, rows), max(0, len(matched) - 1))
        found = (at < len(matched)) & (matched[at] == rows) if len(matched) else np.zeros(len(rows), dtype=bool)
        lexical = np.where(found, matched_scores[at] if len(matched) else 0.0, 0.0)
        lexical_position = {int(r): i + 1 for i, r in enumerate(lexical_top)}
        lexical_rank = np.array([lexical_position.get(int(r), len(lexical_top) + 1) for r in rows], dtype=np.int64)
        lexical_mean = float(matched_scores.sum()) / count
        lexical_var = float((matched_scores**2).sum()) / count - lexical_mean**2
        if vector is not None:
            cosine = np.asarray(snap.matrix[rows]) @ vector
            dense_stats = _dense_stats(snap, vector, keep)
            # A candidate outside a retriever's top ranks below it there (its exact rank is not
            # needed: agreement reads ranks 1 to 3).
            position = {int(r): i + 1 for i, r in enumerate(dense_top)}
            dense_rank = np.array([position.get(int(r), len(dense_top) + 1) for r in rows], dtype=np.int64)
        else:
            cosine, dense_stats, dense_rank = np.zeros(len(rows)), (0.0, 0.0), np.ones(len(rows), dtype=np.int64)
        if keep is None:
            mean_length = float(snap.log_length.mean())
        else:
            codes = np.unique(snap.prepared.source_of[keep])
            mean_length = float(snap.source_log_length[codes].sum() / snap.source_count[codes].sum())
        prior = cfg.length_prior * (snap.log_length[rows] - mean_length)
        return _Signals(
            rows, cosine, lexical, _z_with(cosine, *dense_stats), _z_with(lexical, lexical_mean, lexical_var),
            dense_rank, lexical_rank, prior, dense_stats,
        )  # fmt: skip


def _dense_stats(snap: LoadedSnapshot, vector: np.ndarray, keep: np.ndarray | None) -> tuple[float, float]:
    """Mean and variance of ``vector``'s cosine over every passage searched, from the
    per-source vector moments stored at publish: O(d²), whatever the corpus size."""
    p = snap.prepared
    codes = np.arange(len(p.source_names)) if keep is None else np.unique(p.source_of[keep])
    count = float(snap.source_count[codes].sum())
    q = vector.astype(np.float64)
    mean = float(q @ p.vector_sum[codes].sum(axis=0)) / count
    second = float(q @ p.vector_outer[codes].sum(axis=0) @ q) / count
    return mean, second - mean * mean
