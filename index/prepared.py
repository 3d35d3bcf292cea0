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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from scipy import sparse

from index.hubs import DUPLICATE_COSINE, HubNeighbours, HubReuse, hub_neighbours
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

TITLES_SCHEMA = "CREATE TABLE IF NOT EXISTS titles (key TEXT NOT NULL, row INTEGER NOT NULL);"


def title_key(text: str) -> str:
    """A title or question reduced to its words: case, accents and punctuation runs
    ("Quando orientar o ESN????") do not count."""
    return " ".join(words(text))


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
        self,
        matrix: np.ndarray,
        units: np.ndarray | None,
        ann: faiss.Index | None = None,
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
        self,
        directory: Path,
        db: sqlite3.Connection,
        matrix: np.ndarray,
        units: np.ndarray | None,
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
    chunks: dict[int, Chunk],
    source_of: dict[str, str],
    matrix: np.ndarray,
    units: np.ndarray | None,
    unit_counts: dict[int, int],
) -> Prepared:
    """The structures of a snapshot written before they were stored: ``chunks`` by rowid,
    each document's source, the vectors in rowid order, units in chunk then unit order."""
    builder = PreparedBuilder()
    for rowid in sorted(chunks):
        chunk = chunks[rowid]
        builder.add(rowid, chunk, source_of[chunk.document_id], unit_counts.get(rowid, 0))
    return builder.build(matrix, units)[0]
