"""Hub baselines: each passage's neighbourhood, computed when a snapshot is written.

A passage close to many others (a hub) looks relevant to any question; its baseline (the
mean cosine with its ``HUB_K`` nearest neighbours, near-copies skipped) is subtracted from a
question's cosine before abstention reads it. Exact all-pairs up to ``HUB_EXACT_MAX``
passages, a FAISS k-NN search above; the neighbours are stored so the next publish searches
again only the passages whose neighbourhood changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

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
    matrix: np.ndarray,
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    rows_of: np.ndarray | None = None,
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
