"""What query time needs from a snapshot, computed once when it is written.

Loading a snapshot used to analyze every chunk again in Python, hold every unit vector in
a dict and compare every passage with every other for its hub baseline (O(N²)): seconds at
8k passages, an hour at 500k. The writer now stores, beside the SQLite file and the FAISS
indexes (``prepared/`` in the snapshot directory):

- ``rows.npz``: chunk rowids in row order; per row its source, log length, section and body
  stem counts; the stem vocabulary and the per-field term-frequency matrices (BM25F's
  input: the weights depend on query-time parameters, so only the counts are stored); each
  passage's hub baseline, and the neighbours it averages (rows and cosines: the next
  publish searches again only the passages whose neighbourhood changed); per source, the
  sum and second moment of the passage vectors (the dense score's mean and spread over
  every passage, for any query, in O(d²)); per row the start of its answer units;
- ``vectors.npy`` and ``units.npy``: passage and unit vectors in row order, memory-mapped
  at load (pages are read when a query touches them); the snapshot's only copy of them
  (``index.snapshot`` reads its vectors here too);
- ``titles``: a table of the SQLite file, title key -> row, read per query.

Snapshots written before this exist: :func:`compute` builds the same structures from the
snapshot itself (slow, but they still open).
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from scipy import sparse

from index.models import Chunk
from index.textutil import analyze, count_tokens, words

PREPARED_DIR = "prepared"
PREPARED_VERSION = "prepared-1"

# Up to this many passages every query scores every passage (the exact path); above, only
# the union of the dense and lexical top candidates (recorded per snapshot in its manifest).
EXACT_MAX = 5_000

# Above this many passages the dense candidates come from an IVF index (``ann.faiss``, 8-bit
# scalar-quantized lists): its ANN_DEPTH nearest, re-scored exactly. The probe count is set
# at publish to the smallest measured to find ANN_RECALL of the exact top 100 that way.
ANN_MIN = 50_000
ANN_RECALL = 0.98
ANN_DEPTH = 200
_ANN_PROBES = (8, 16, 32, 64, 128, 256, 512)

# From this many answer units on, units.npy (the largest file: ~4 units per passage) is
# stored as float16. The composer reads a few candidates' units per question, so the cost is
# a cast of a few rows. Measured with e5: every vector rounded to float16, bpa eval gives the
# same figures, to the last digit, on both dev sets over the default corpus and over it mixed
# into 20k distractor passages (bench/distractors.py).
UNITS_FLOAT16_MIN = 200_000

HUB_K = 5  # neighbours that define a passage's baseline cosine
# Near-copies of a passage (the same boilerplate in two documents) are not its neighbourhood:
# counted, they would push its baseline towards 1 and silence every question only it answers.
DUPLICATE_COSINE = 0.985
# Up to this many passages the hub baselines are exact (blocked all-pairs products, the
# definition); above it, each passage's neighbours come from a FAISS k-NN search.
HUB_EXACT_MAX = 20_000
_HUB_DEPTH = 32  # neighbours fetched beyond HUB_K (near-copies among them are skipped)
_HUB_PROBES = 8  # IVF lists the hub search probes
# On the k-NN path, kept passages are compared with every new one (a flat search) while that
# is at most this many pairs (seconds); above, through an IVF index over the new ones.
_HUB_NEW_FLAT_PAIRS = 1_000_000_000

TITLES_SCHEMA = "CREATE TABLE IF NOT EXISTS titles (key TEXT NOT NULL, row INTEGER NOT NULL);"


def title_key(text: str) -> str:
    """A title or question reduced to its words: case, accents and punctuation runs
    ("Quando orientar o ESN????") do not count."""
    return " ".join(words(text))


@dataclass
class HubNeighbours:
    """Each passage's ``k`` nearest other passages (near-copies skipped), nearest first: the
    rows its hub baseline averages (-1: none) and their cosines. Stored with a snapshot, so
    the next publish searches again only the passages whose neighbourhood may have changed."""

    rows: np.ndarray  # (n, k) int32
    cosines: np.ndarray  # (n, k) float32, NaN where rows is -1
    exact: bool  # found by the exact search (else by k-NN: approximate)

    def baseline(self) -> np.ndarray:
        """Mean cosine with the neighbours. Exact: over the ``min(k, n - 1)`` nearest, a
        missing neighbour counting -1 (the definition: every other passage is a candidate,
        near-copies at -1). k-NN: over the neighbours found, -1 when none."""
        n, k = self.rows.shape
        if n < 2:
            return np.zeros(n, dtype=np.float32)
        valid = self.rows >= 0
        if self.exact:
            return np.where(valid, self.cosines, np.float32(-1.0))[:, : min(k, n - 1)].mean(axis=1, dtype=np.float32)
        total = np.where(valid, self.cosines, np.float32(0.0)).sum(axis=1, dtype=np.float32)
        counts = valid.sum(axis=1)
        return np.where(counts > 0, total / np.maximum(counts, 1), np.float32(-1.0)).astype(np.float32)


@dataclass
class HubReuse:
    """What a publish takes from the previous snapshot: its neighbour lists, and its rows
    that are still here (same chunk, same vector) with their new rows."""

    previous: HubNeighbours
    old_rows: np.ndarray  # int64
    new_rows: np.ndarray  # int64


def _top(rows: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row of ``sims`` (-inf: not a candidate), best first,
    with their ids from ``rows`` (same shape) and -1 where there is none."""
    if sims.shape[1] < k:  # pad: fewer candidates than neighbours wanted
        fill = k - sims.shape[1]
        sims = np.concatenate([sims, np.full((len(sims), fill), -np.inf, dtype=sims.dtype)], axis=1)
        rows = np.concatenate([rows, np.full((len(rows), fill), -1, dtype=rows.dtype)], axis=1)
    if sims.shape[1] > k:
        keep = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        sims, rows = np.take_along_axis(sims, keep, 1), np.take_along_axis(rows, keep, 1)
    order = np.argsort(-sims, axis=1, kind="stable")
    sims, rows = np.take_along_axis(sims, order, 1), np.take_along_axis(rows, order, 1)
    return np.where(np.isfinite(sims), rows, -1), sims


def _exact_search(
    matrix: np.ndarray, queries: np.ndarray, candidates: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's ``k`` nearest among the ``candidates`` rows (sorted ascending),
    itself and near-copies skipped: exact (a flat FAISS index: blocked products)."""
    if len(candidates) == 0 or len(queries) == 0:
        return np.full((len(queries), k), -1, dtype=np.int64), np.full((len(queries), k), -np.inf, dtype=np.float32)
    part = np.ascontiguousarray(matrix[candidates], dtype=np.float32)
    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(part)
    rows, sims = _knn_search(matrix, index, queries, k, rows_of=candidates)
    # Near-copies are few: skipped among the k + _HUB_DEPTH nearest. A passage with more of
    # them than that is searched again over every candidate.
    if len(candidates) > k + _HUB_DEPTH:
        short = np.flatnonzero((rows >= 0).sum(axis=1) < k)
        for start in range(0, len(short), 1024):
            redo = short[start : start + 1024]
            q = queries[redo]
            s = np.asarray(matrix[q]) @ part.T
            s[s > DUPLICATE_COSINE] = -np.inf
            at = np.minimum(np.searchsorted(candidates, q), len(candidates) - 1)
            own = candidates[at] == q
            s[np.flatnonzero(own), at[own]] = -np.inf  # not its own neighbour
            rows[redo], sims[redo] = _top(np.broadcast_to(candidates, s.shape), s, k)
    return rows, sims


def _knn_search(
    matrix: np.ndarray, index: faiss.Index, queries: np.ndarray, k: int, rows_of: np.ndarray | None = None,
    block: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's ``k`` nearest among ``index``'s (its positions are the rows of
    ``matrix``, or ``rows_of`` them), itself and near-copies skipped: as good as the index."""
    rows = np.full((len(queries), k), -1, dtype=np.int64)
    sims = np.full((len(queries), k), -np.inf, dtype=np.float32)
    depth = min(index.ntotal, k + _HUB_DEPTH)
    for start in range(0, len(queries), block):
        q = queries[start : start + block]
        s, ids = index.search(np.ascontiguousarray(matrix[q], dtype=np.float32), depth)
        if rows_of is not None:
            ids = np.where(ids >= 0, rows_of[np.maximum(ids, 0)], -1)
        s[(ids == q[:, None]) | (ids < 0) | (s > DUPLICATE_COSINE)] = -np.inf
        rows[start : start + block], sims[start : start + block] = _top(ids, s, k)
    return rows, sims


def _finish(matrix: np.ndarray, rows: np.ndarray, exact: bool, block: int = 8192) -> HubNeighbours:
    """The neighbour lists with each cosine computed again one pair at a time, the same
    arithmetic whichever search found the pair (a product inside a matrix multiply may
    round differently with the matrix's shape): an incremental publish then gives the same
    baselines as a full one, to the bit. A pair that turns out a near-copy is dropped."""
    n, k = rows.shape
    cosines = np.full((n, k), np.nan, dtype=np.float32)
    for start in range(0, n, block):
        r = rows[start : start + block]
        pairs = np.asarray(matrix[start : start + len(r)])[:, None, :] * np.asarray(matrix[np.maximum(r, 0)])
        cosines[start : start + len(r)] = pairs.sum(axis=2)
    valid = (rows >= 0) & (cosines <= DUPLICATE_COSINE)
    order = np.argsort(np.where(valid, -cosines, np.inf), axis=1, kind="stable")
    rows = np.where(np.take_along_axis(valid, order, 1), np.take_along_axis(rows, order, 1), -1)
    cosines = np.where(rows >= 0, np.take_along_axis(cosines, order, 1), np.float32(np.nan))
    return HubNeighbours(rows.astype(np.int32), cosines.astype(np.float32), exact)


@contextmanager
def _knn_index(matrix: np.ndarray, ann: faiss.Index | None) -> Iterator[faiss.Index]:
    """The index the k-NN search runs on: the IVF one when there is one (a baseline is a
    mean of five cosines: a few probes find neighbours close enough), else a flat one."""
    if ann is None:
        flat = faiss.IndexFlatIP(matrix.shape[1])
        flat.add(matrix)
        yield flat
        return
    ivf = faiss.extract_index_ivf(ann)
    probes, ivf.nprobe = ivf.nprobe, min(ivf.nprobe, _HUB_PROBES)
    try:
        yield ann
    finally:
        ivf.nprobe = probes


def _search(
    matrix: np.ndarray, queries: np.ndarray, exact: bool, ann: faiss.Index | None, k: int
) -> tuple[np.ndarray, np.ndarray]:
    if exact:
        return _exact_search(matrix, queries, np.arange(len(matrix)), k)
    with _knn_index(matrix, ann) as index:
        rows, sims = _knn_search(matrix, index, queries, k)
    # A passage with more near-copies than the search returns (boilerplate repeated in many
    # documents) found no neighbour that counts: searched again over every passage, or its
    # baseline would be missing and any question would look specific to it.
    short = np.flatnonzero((rows >= 0).sum(axis=1) < min(k, len(matrix) - 1))
    if short.size:
        rows[short], sims[short] = _exact_search(matrix, queries[short], np.arange(len(matrix)), k)
    return rows, sims


def _search_new(
    matrix: np.ndarray, queries: np.ndarray, added: np.ndarray, exact: bool, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's ``k`` nearest among the ``added`` rows: exactly on the exact path;
    on the k-NN path through a flat index of them, or an IVF one when comparing every pair
    would cost more than searching every passage again (a large corpus, many changes)."""
    if exact or len(queries) * len(added) <= _HUB_NEW_FLAT_PAIRS:
        return _exact_search(matrix, queries, added, k)
    part = np.ascontiguousarray(matrix[added], dtype=np.float32)
    d = matrix.shape[1]
    # Lists of 39 training points or more each (fewer: FAISS warns, its k-means is poor).
    nlist = max(1, min(int(2 * np.sqrt(len(added))), len(added) // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(part)
    index.nprobe = min(nlist, _HUB_PROBES)
    index.add(part)
    return _knn_search(matrix, index, queries, k, rows_of=added)


def hub_neighbours(
    matrix: np.ndarray, ann: faiss.Index | None = None, k: int = HUB_K, reuse: HubReuse | None = None
) -> tuple[HubNeighbours, dict[str, Any]]:
    """Every passage's neighbour lists (rows unit-norm): exact up to :data:`HUB_EXACT_MAX`
    passages, FAISS k-NN above (through the IVF index when there is one); and what it did.

    With ``reuse``, a kept passage whose previous neighbours are all still here keeps them,
    merged with its nearest among the new passages (kept passages lost no candidate nearer
    than its old k-th, so that is its new top ``k``, exactly); only the others and the new
    passages are searched among all. Searched that way: kept × new products, not all pairs.
    """
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    n = len(matrix)
    exact = n <= HUB_EXACT_MAX
    if reuse is not None and (reuse.previous.rows.shape[1] != k or (exact and not reuse.previous.exact)):
        reuse = None  # another k, or approximate lists where exact ones are due
    rows = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    search = np.arange(n)
    intact = np.zeros(0, dtype=np.int64)
    if reuse is not None and n:
        old_to_new = np.full(len(reuse.previous.rows), -1, dtype=np.int64)
        old_to_new[reuse.old_rows] = reuse.new_rows
        before = reuse.previous.rows[reuse.old_rows].astype(np.int64)
        mapped = np.where(before >= 0, old_to_new[np.maximum(before, 0)], -1)
        whole = ((before < 0) | (mapped >= 0)).all(axis=1)
        intact = reuse.new_rows[whole]
        fresh = np.ones(n, dtype=bool)
        fresh[reuse.new_rows] = False
        added = np.flatnonzero(fresh)
        near_rows, near_sims = _search_new(matrix, intact, added, exact, k)
        old_sims = np.where(mapped[whole] >= 0, reuse.previous.cosines[reuse.old_rows[whole]], -np.inf)
        rows[intact], sims[intact] = _top(
            np.concatenate([mapped[whole], near_rows], axis=1),
            np.concatenate([old_sims.astype(np.float32), near_sims], axis=1), k,
        )  # fmt: skip
        fresh[reuse.new_rows[~whole]] = True
        search = np.flatnonzero(fresh)
    rows[search], sims[search] = _search(matrix, search, exact, ann, k)
    done = {"method": "exact" if exact else "knn", "reused": len(intact), "searched": len(search)}
    return _finish(matrix, rows, exact), done


def hub_baseline(matrix: np.ndarray, k: int = HUB_K) -> np.ndarray:
    """Each passage's mean cosine with its ``k`` nearest other passages (rows unit-norm).

    Exact, in row blocks so no N x N matrix is ever held: O(N²) time, for small corpora.
    """
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    rows, _ = _exact_search(matrix, np.arange(len(matrix)), np.arange(len(matrix)), k)
    return _finish(matrix, rows, exact=True).baseline()


def hub_baseline_knn(matrix: np.ndarray, index: faiss.Index, k: int = HUB_K) -> np.ndarray:
    """:func:`hub_baseline` from ``index``'s nearest neighbours (positions = rows of ``matrix``):
    itself and near-copies skipped; a passage with fewer than ``k`` others among its
    neighbours averages those it has."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    rows, _ = _knn_search(matrix, index, np.arange(len(matrix)), k)
    return _finish(matrix, rows, exact=False).baseline()


@dataclass
class Prepared:
    """Per row (chunk rowids ascending) what retrieval and abstention read."""

    rowids: np.ndarray  # int64
    source_names: list[str]
    source_of: np.ndarray  # int32 index into source_names
    log_length: np.ndarray  # float64
    vocab: list[str]
    sec_tf: sparse.csr_matrix
    body_tf: sparse.csr_matrix
    sec_len: np.ndarray
    body_len: np.ndarray
    hub: np.ndarray  # float32
    vector_sum: np.ndarray  # (sources, d) float64
    vector_outer: np.ndarray  # (sources, d, d) float64: sum of v vᵀ
    matrix: np.ndarray  # (rows, d) float32, memory-mapped when stored
    unit_start: np.ndarray | None  # int64 (rows + 1): row i's units are units[start[i]:start[i+1]]
    units: np.ndarray | None  # (units, d) float32, or float16 from UNITS_FLOAT16_MIN units on
    # Title key -> rows, in memory for snapshots that predate the ``titles`` table (None:
    # look them up in the table).
    titles: dict[str, list[int]] | None = None
    # What ``hub`` averages (None when loaded: query time never reads it).
    neighbours: HubNeighbours | None = None

    def units_of_row(self, row: int) -> np.ndarray | None:
        if self.units is None or self.unit_start is None:
            return None
        return np.asarray(self.units[self.unit_start[row] : self.unit_start[row + 1]], dtype=np.float32)


class PreparedBuilder:
    """Accumulates rows as the writer adds chunks (in rowid order), then writes them."""

    def __init__(self) -> None:
        self.rowids: list[int] = []
        self.sources: dict[str, int] = {}
        self.source_of: list[int] = []
        self.log_length: list[float] = []
        self.vocab: dict[str, int] = {}
        # Per field, the (row, stem) pairs: typed arrays, 4 bytes an entry (a million passages
        # hold tens of millions of stems; Python ints would take ten times the memory).
        self._cols = (array("i"), array("i"))
        self._rows = (array("i"), array("i"))
        self.sec_len: list[int] = []
        self.body_len: list[int] = []
        self.unit_counts: list[int] = []
        self.titles: list[tuple[str, int]] = []

    def add(self, rowid: int, chunk: Chunk, source: str, units: int) -> None:
        row = len(self.rowids)
        self.rowids.append(rowid)
        self.source_of.append(self.sources.setdefault(source, len(self.sources)))
        self.log_length.append(float(np.log(max(1, count_tokens(chunk.text)))))
        for field, text, lengths in ((0, chunk.section, self.sec_len), (1, chunk.text, self.body_len)):
            stems = analyze(text)
            lengths.append(len(stems))
            self._rows[field].extend([row] * len(stems))
            self._cols[field].extend(self.vocab.setdefault(s, len(self.vocab)) for s in stems)
        self.unit_counts.append(units)
        if chunk.section_path:
            self.titles.append((title_key(chunk.section_path[-1]), row))

    def tf(self, field: int) -> sparse.csr_matrix:
        shape = (len(self.rowids), max(1, len(self.vocab)))
        rows = np.frombuffer(self._rows[field], dtype=np.int32)
        cols = np.frombuffer(self._cols[field], dtype=np.int32)
        tf = sparse.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=shape)  # duplicates add up
        tf.sum_duplicates()
        return tf

    def build(
        self, matrix: np.ndarray, units: np.ndarray | None, ann: faiss.Index | None = None,
        reuse: HubReuse | None = None,
    ) -> tuple[Prepared, dict[str, Any]]:
        """The structures, from ``matrix``/``units``: the passage and unit vectors in row order;
        and how the hub baselines were found (``reuse``: from the previous snapshot's)."""
        neighbours, hubs_done = hub_neighbours(matrix, ann, reuse=reuse)
        source_of = np.array(self.source_of, dtype=np.int32)
        vector_sum, vector_outer = moments(matrix, source_of, len(self.sources))
        titles: dict[str, list[int]] = {}
        for key, row in self.titles:
            titles.setdefault(key, []).append(row)
        return Prepared(
            rowids=np.array(self.rowids, dtype=np.int64), source_names=list(self.sources), source_of=source_of,
            log_length=np.array(self.log_length, dtype=np.float64), vocab=list(self.vocab),
            sec_tf=self.tf(0), body_tf=self.tf(1), sec_len=np.array(self.sec_len, dtype=np.float64),
            body_len=np.array(self.body_len, dtype=np.float64), hub=neighbours.baseline(), vector_sum=vector_sum,
            vector_outer=vector_outer, matrix=matrix,
            unit_start=None if units is None else np.concatenate([[0], np.cumsum(self.unit_counts, dtype=np.int64)]),
            units=units, titles=titles, neighbours=neighbours,
        ), hubs_done  # fmt: skip

    def write(
        self, directory: Path, db: sqlite3.Connection, matrix: np.ndarray, units: np.ndarray | None,
        reuse: HubReuse | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Builds and stores everything (the titles as a table of ``db``); returns how queries
        should search it and how the hub baselines were found, for the manifest."""
        directory.mkdir(exist_ok=True)
        retrieval: dict[str, Any] = {"exact_max": EXACT_MAX}
        ann = None
        if len(matrix) > ANN_MIN:
            ann, measured = build_ann(matrix)
            retrieval |= measured
            if measured["ann_recall_at_100"] >= ANN_RECALL:  # else queries stay exact (in numpy)
                faiss.write_index(ann, str(directory / "ann.faiss"))
                retrieval["ann"] = measured["ann_index"]
        p, hubs_done = self.build(matrix, units, ann, reuse)
        assert p.neighbours is not None  # built, not loaded
        arrays = {
            "rowids": p.rowids, "source_names": np.array(p.source_names, dtype=str), "source_of": p.source_of,
            "log_length": p.log_length, "vocab": np.array(p.vocab, dtype=str), "sec_len": p.sec_len,
            "body_len": p.body_len, "hub": p.hub, "vector_sum": p.vector_sum, "vector_outer": p.vector_outer,
            "unit_start": np.concatenate([[0], np.cumsum(self.unit_counts, dtype=np.int64)]),
            "hub_rows": p.neighbours.rows, "hub_cosines": p.neighbours.cosines,
            "hub_exact": np.array(p.neighbours.exact), "hub_duplicate_cosine": np.array(DUPLICATE_COSINE),
        }  # fmt: skip
        for name, tf in (("sec_tf", p.sec_tf), ("body_tf", p.body_tf)):
            arrays |= {f"{name}_data": tf.data, f"{name}_indices": tf.indices, f"{name}_indptr": tf.indptr}
        np.savez(directory / "rows.npz", **arrays)  # type: ignore[arg-type]
        np.save(directory / "vectors.npy", np.ascontiguousarray(matrix, dtype=np.float32))
        if units is not None:
            dtype = np.float16 if len(units) >= UNITS_FLOAT16_MIN else np.float32
            np.save(directory / "units.npy", np.ascontiguousarray(units, dtype=dtype))
            retrieval["units_dtype"] = np.dtype(dtype).name
        db.executescript(TITLES_SCHEMA)
        db.executemany("INSERT INTO titles VALUES (?, ?)", self.titles)
        db.execute("CREATE INDEX titles_key ON titles(key)")
        db.commit()
        return retrieval, hubs_done


def moments(
    matrix: np.ndarray, source_of: np.ndarray, sources: int, block: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """Per source, Σv and Σvvᵀ: the mean and variance of q·v over a source's passages are
    q·Σv/n and qᵀΣvvᵀq/n - mean², exact for any query q."""
    d = matrix.shape[1] if matrix.ndim == 2 else 0
    total = np.zeros((sources, d), dtype=np.float64)
    outer = np.zeros((sources, d, d), dtype=np.float64)
    for start in range(0, len(matrix), block):
        part = np.asarray(matrix[start : start + block], dtype=np.float64)
        owner = source_of[start : start + block]
        for s in np.unique(owner):
            rows = part[owner == s]
            total[s] += rows.sum(axis=0)
            outer[s] += rows.T @ rows
    return total, outer


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int, block: int = 65536) -> np.ndarray:
    """Rows of each query's ``k`` nearest passages (any order), by blocks of rows."""
    best = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    ids = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(matrix), block):
        sims = queries @ np.asarray(matrix[start : start + block]).T
        best = np.concatenate([best, sims], axis=1)
        ids = np.concatenate([ids, np.broadcast_to(np.arange(start, start + sims.shape[1]), sims.shape)], axis=1)
        if best.shape[1] > k:
            keep = np.argpartition(-best, k - 1, axis=1)[:, :k]
            best, ids = np.take_along_axis(best, keep, 1), np.take_along_axis(ids, keep, 1)
    return ids


def build_ann(matrix: np.ndarray, queries: int = 200, seed: int = 0) -> tuple[faiss.Index, dict[str, Any]]:
    """An IVF index over ``matrix`` (ids = rows) and its measured recall@100 against exact
    search, for queries that are mixes of two random passages."""
    n, d = matrix.shape
    nlist = int(4 * np.sqrt(n))
    rng = np.random.default_rng(seed)
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(d), d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    sample = np.sort(rng.choice(n, min(n, 40 * nlist), replace=False))
    index.train(np.ascontiguousarray(matrix[sample], dtype=np.float32))
    for start in range(0, n, 65536):
        index.add(np.ascontiguousarray(matrix[start : start + 65536], dtype=np.float32))
    pairs = rng.choice(n, (queries, 2))
    q = np.asarray(matrix[pairs[:, 0]], dtype=np.float32) + np.asarray(matrix[pairs[:, 1]], dtype=np.float32)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    truth = exact_top(matrix, q, 100)
    recall = 0.0
    for nprobe in _ANN_PROBES:
        index.nprobe = nprobe
        _, found = index.search(q, ANN_DEPTH)
        hits = []
        for query, rows, exact in zip(q, found, truth, strict=True):
            rows = rows[rows >= 0]
            best = np.sort(rows)[np.argsort(-(np.asarray(matrix[np.sort(rows)]) @ query), kind="stable")[:100]]
            hits.append(len(np.intersect1d(best, exact)) / 100)
        recall = float(np.mean(hits))
        if recall >= ANN_RECALL:
            break
    measured = {
        "ann_index": f"IVF{nlist},SQ8", "nprobe": int(index.nprobe), "ann_depth": ANN_DEPTH,
        "ann_recall_at_100": round(recall, 4),
    }  # fmt: skip
    return index, measured


def load_neighbours(directory: Path) -> tuple[np.ndarray, HubNeighbours] | None:
    """A snapshot's rowids and hub neighbour lists, or None when it has none (written before
    they were stored) or they were found with another definition of a near-copy."""
    path = directory / "rows.npz"
    if not path.exists():
        return None
    with np.load(path) as z:
        if "hub_rows" not in z.files or float(z["hub_duplicate_cosine"]) != DUPLICATE_COSINE:
            return None
        rowids, rows, cosines = z["rowids"], z["hub_rows"], z["hub_cosines"]
        exact = bool(z["hub_exact"])
    n = len(rowids)
    shaped = rows.ndim == 2 and rows.shape == cosines.shape and len(rows) == n
    if not shaped or (n and not -1 <= rows.min() <= rows.max() < n):
        return None  # not what this code writes: searched again
    return rowids, HubNeighbours(rows, cosines, exact)


def load(directory: Path, with_units: bool) -> Prepared | None:
    """The stored structures (vectors memory-mapped), or None when the snapshot predates them."""
    if not (directory / "rows.npz").exists():
        return None
    z = np.load(directory / "rows.npz")
    n, v = len(z["rowids"]), max(1, len(z["vocab"]))

    def tf(name: str) -> sparse.csr_matrix:
        return sparse.csr_matrix((z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"]), shape=(n, v))

    units_path = directory / "units.npy"
    units = np.load(units_path, mmap_mode="r") if with_units and units_path.exists() else None
    return Prepared(
        rowids=z["rowids"], source_names=[str(s) for s in z["source_names"]], source_of=z["source_of"],
        log_length=z["log_length"], vocab=[str(s) for s in z["vocab"]], sec_tf=tf("sec_tf"), body_tf=tf("body_tf"),
        sec_len=z["sec_len"], body_len=z["body_len"], hub=z["hub"], vector_sum=z["vector_sum"],
        vector_outer=z["vector_outer"], matrix=np.load(directory / "vectors.npy", mmap_mode="r"),
        unit_start=z["unit_start"] if units is not None else None, units=units,
    )  # fmt: skip


def compute(
    chunks: dict[int, Chunk], source_of: dict[str, str], matrix: np.ndarray, units: np.ndarray | None,
    unit_counts: dict[int, int],
) -> Prepared:
    """The structures of a snapshot written before they were stored: ``chunks`` by rowid,
    each document's source, the vectors in rowid order, units in chunk then unit order."""
    builder = PreparedBuilder()
    for rowid in sorted(chunks):
        chunk = chunks[rowid]
        builder.add(rowid, chunk, source_of[chunk.document_id], unit_counts.get(rowid, 0))
    return builder.build(matrix, units)[0]
