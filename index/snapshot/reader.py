"""A published snapshot, opened read-only: documents, chunks, units and their vectors."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

from index import prepared
from index.errors import SnapshotError
from index.models import Chunk
from index.snapshot.manifest import DocumentRecord, Manifest

# The passage vectors (index.prepared writes them in row order; rowids in rows.npz).
_PASSAGES = f"{prepared.PREPARED_DIR}/vectors.npy"
_CONNECTIONS = 4  # SQLite connections per loaded snapshot, opened at load


class Snapshot:
    """Read-only view of one published snapshot. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.manifest = Manifest.from_json((path / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as e:
            raise SnapshotError(f"snapshot {path.name} ilegível: {e}") from e
        if not (path / "index.sqlite").exists():
            raise SnapshotError(f"snapshot {path.name} sem index.sqlite")
        if not (path / _PASSAGES).exists() and not (path / "vectors.faiss").exists():
            raise SnapshotError(f"snapshot {path.name} sem {_PASSAGES}")
        # Every SQLite connection a request may use is opened here, at load, and handed to
        # threads from this pool: a file that is open stays readable if the snapshot is
        # deleted later (pruned under a lagging replica), a lazily opened one would not.
        self._local = threading.local()
        self._turn = itertools.count()
        self._conns = [self._connect() for _ in range(_CONNECTIONS)]
        # Read on first use (serving reads prepared/ through ``prepared()``).
        self._passages: tuple[np.ndarray, np.ndarray] | None = None
        self._unit_vectors: faiss.Index | None = None
        self._index_lock = threading.Lock()

    def _read_index(self, name: str) -> faiss.Index:
        try:
            return faiss.read_index(str(self.path / name))
        except (OSError, RuntimeError) as e:
            raise SnapshotError(f"snapshot {self.path.name} ilegível: {e}") from e

    def passage_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Chunk rowids ascending and the passage vectors in that order: prepared/vectors.npy
        memory-mapped, or, in snapshots written before it, read out of ``vectors.faiss``."""
        with self._index_lock:
            if self._passages is None:
                self._passages = self._read_passages()
            return self._passages

    def _read_passages(self) -> tuple[np.ndarray, np.ndarray]:
        stored = self.path / prepared.PREPARED_DIR
        if (self.path / _PASSAGES).exists() and (stored / "rows.npz").exists():
            try:
                with np.load(stored / "rows.npz") as z:
                    rowids = np.asarray(z["rowids"], dtype=np.int64)
                matrix = np.load(self.path / _PASSAGES, mmap_mode="r")
            except (OSError, ValueError, KeyError) as e:
                raise SnapshotError(f"snapshot {self.path.name}: prepared/ ilegível ({e})") from e
            if len(matrix) != len(rowids):
                raise SnapshotError(f"snapshot {self.path.name}: {len(rowids)} passagens, {len(matrix)} vetores")
            return rowids, matrix
        index = self._read_index("vectors.faiss")
        if index.ntotal == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, index.d), dtype=np.float32)
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)  # type: ignore[attr-defined]
        vectors = faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)  # type: ignore[attr-defined]
        order = np.argsort(ids, kind="stable")
        return ids[order], np.ascontiguousarray(vectors[order], dtype=np.float32)

    @property
    def unit_vectors(self) -> faiss.Index | None:
        if self.manifest.units_version is None or not (self.path / "units.faiss").exists():
            return None
        with self._index_lock:
            if self._unit_vectors is None:
                self._unit_vectors = self._read_index("units.faiss")
            return self._unit_vectors

    def prepared(self) -> prepared.Prepared:
        """What query time reads: stored at publish, or computed now for older snapshots."""
        with_units = self.manifest.units_version is not None
        if self.manifest.prepared == prepared.PREPARED_VERSION:
            try:
                stored = prepared.load(self.path / prepared.PREPARED_DIR, with_units)
            except (OSError, ValueError, KeyError) as e:
                raise SnapshotError(f"snapshot {self.path.name}: prepared/ ilegível ({e})") from e
            if stored is not None:
                return stored
        chunks = self.all_chunks()
        rowids = np.array(sorted(chunks), dtype=np.int64)
        units = self.all_units()
        counts: dict[int, int] = {}
        if units is not None:
            owners, counts_ = np.unique(units[0], return_counts=True)
            counts = {int(o): int(c) for o, c in zip(owners, counts_, strict=True)}
        sources = {d.id: d.source for d in self.documents()}
        unit_vectors = None if units is None else units[2]
        return prepared.compute(chunks, sources, self.passage_vectors(rowids), unit_vectors, counts)

    def ann(self) -> faiss.Index | None:
        """The IVF index of a large snapshot, its probe count as measured at publish."""
        if "ann" not in self.manifest.retrieval:
            return None
        index = self._read_index(f"{prepared.PREPARED_DIR}/ann.faiss")
        faiss.extract_index_ivf(index).nprobe = int(self.manifest.retrieval["nprobe"])
        return index

    def title_rows(self, key: str) -> list[int]:
        """Rows whose section title folds to ``key`` (snapshots with a ``titles`` table)."""
        return [int(r[0]) for r in self.db.execute("SELECT row FROM titles WHERE key = ?", (key,))]

    @property
    def id(self) -> str:
        return self.manifest.id

    def _connect(self) -> sqlite3.Connection:
        uri = f"file:{self.path / 'index.sqlite'}?mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opened and readable, now
        except sqlite3.Error as e:
            raise SnapshotError(f"snapshot {self.path.name}: index.sqlite ilegível ({e})") from e
        conn.row_factory = sqlite3.Row
        return conn

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection: one of those opened at load (SQLite serializes a
        connection shared by threads; a few spread the load)."""
        conn = getattr(self._local, "db", None)
        if conn is None:
            if not self._conns:
                self._conns = [self._connect()]  # reopened after close(): callers that close own the risk
            conn = self._conns[next(self._turn) % len(self._conns)]
            self._local.db = conn
        return conn

    # --- retrieval primitives -------------------------------------------------------
    def dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` passages nearest ``query`` (rowid, cosine), every passage scored."""
        rowids, matrix = self.passage_matrix()
        if len(rowids) == 0:
            return []
        scores = np.asarray(matrix @ np.asarray(query, dtype=np.float32).reshape(-1))
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(rowids[i]), float(scores[i])) for i in top]

    def chunks(self, rowids: list[int]) -> dict[int, Chunk]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = self.db.execute(f"SELECT * FROM chunks WHERE rowid IN ({marks})", rowids).fetchall()
        return {int(r["rowid"]): _chunk(r) for r in rows}

    def iter_chunks(self) -> Iterator[Chunk]:
        """Every chunk in rowid order, read as iterated (never all held at once)."""
        for r in self.db.execute("SELECT * FROM chunks ORDER BY rowid"):
            yield _chunk(r)

    def all_chunks(self) -> dict[int, Chunk]:
        return {int(r["rowid"]): _chunk(r) for r in self.db.execute("SELECT * FROM chunks")}

    def vector(self, rowid: int) -> np.ndarray:
        return self.passage_vectors(np.array([rowid], dtype=np.int64))[0]

    def passage_vectors(self, rowids: np.ndarray) -> np.ndarray:
        """Chunk vectors in ``rowids`` order."""
        stored, matrix = self.passage_matrix()
        rowids = np.asarray(rowids, dtype=np.int64)
        rows = np.minimum(np.searchsorted(stored, rowids), max(len(stored) - 1, 0))
        if len(rowids) and (len(stored) == 0 or (stored[rows] != rowids).any()):
            missing = rowids[stored[rows] != rowids] if len(stored) else rowids
            raise SnapshotError(f"snapshot {self.path.name}: sem vetor para o trecho {int(missing[0])}")
        return np.ascontiguousarray(matrix[rows], dtype=np.float32)

    def all_units(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Every unit as (chunk rowids, positions, vectors), ordered by chunk rowid then position;
        None when the snapshot predates unit vectors."""
        if self.manifest.units_version is None:
            return None
        stored = self.path / prepared.PREPARED_DIR / "units.npy"
        if not stored.exists() and self.unit_vectors is None:
            return None
        rows = np.array(
            self.db.execute("SELECT rowid, chunk_rowid, position FROM units ORDER BY chunk_rowid, position").fetchall(),
            dtype=np.int64,
        ).reshape(-1, 3)
        if stored.exists():  # written in unit rowid order, which is this order
            return rows[:, 1], rows[:, 2], np.load(stored).astype(np.float32, copy=False)
        assert self.unit_vectors is not None  # checked above
        return rows[:, 1], rows[:, 2], _rows_by_id(self.unit_vectors, rows[:, 0])

    def units_by_chunk(self) -> dict[int, np.ndarray] | None:
        """Per chunk rowid, its unit vectors in unit order (views of one matrix); None when
        the snapshot predates unit vectors. Chunks without units are absent."""
        units = self.all_units()
        if units is None:
            return None
        owners, _, vectors = units
        starts = np.flatnonzero(np.diff(owners, prepend=-1))
        return {int(owners[s]): block for s, block in zip(starts, np.split(vectors, starts[1:]), strict=True)}

    def units_of(self, chunk_rowid: int) -> np.ndarray | None:
        """One chunk's unit vectors (reads them all: call :meth:`units_by_chunk` once in loops)."""
        units = self.units_by_chunk()
        if units is None:
            return None
        return units.get(chunk_rowid, np.zeros((0, self.manifest.dim), dtype=np.float32))

    # --- documents --------------------------------------------------------------------
    def documents(self, source: str | None = None) -> list[DocumentRecord]:
        if source is None:
            rows = self.db.execute("SELECT * FROM documents ORDER BY source, key").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM documents WHERE source = ? ORDER BY key", (source,)).fetchall()
        return [_record(r) for r in rows]

    def document(self, document_id: str) -> DocumentRecord | None:
        row = self.db.execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
        return _record(row) if row else None

    def document_chunks(self, document_id: str) -> list[tuple[int, Chunk]]:
        rows = self.db.execute("SELECT * FROM chunks WHERE document_id = ? ORDER BY ordinal", (document_id,)).fetchall()
        return [(int(r["rowid"]), _chunk(r)) for r in rows]

    def chunk_rowids_by_id(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.db.execute("SELECT id, rowid FROM chunks")}

    def close(self) -> None:
        """Close every connection (threads that used this snapshot must be done with it)."""
        conns, self._conns = self._conns, []
        self._local = threading.local()
        for conn in conns:
            conn.close()


def _flat(index: faiss.IndexFlat) -> np.ndarray:
    """Every vector of a flat index, in insertion order: a view of the index's own storage
    (valid while the index lives; no copy of a large corpus)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)


def _rows_by_id(index: faiss.Index, ids: np.ndarray) -> np.ndarray:
    """Vectors of an ``IndexIDMap2`` over a flat index (older snapshots' FAISS files), in
    the order of ``ids``."""
    if index.ntotal == 0 or len(ids) == 0:
        return np.zeros((len(ids), index.d), dtype=np.float32)
    stored = faiss.vector_to_array(index.id_map)  # type: ignore[attr-defined]
    flat = faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)  # type: ignore[attr-defined]
    position = {int(i): n for n, i in enumerate(stored)}
    return np.ascontiguousarray(flat[[position[int(i)] for i in ids]], dtype=np.float32)


def _chunk(r: sqlite3.Row) -> Chunk:
    return Chunk(
        id=r["id"], document_id=r["document_id"], ordinal=r["ordinal"],
        section_path=tuple(json.loads(r["section_path"])), anchor=r["anchor"], url=r["url"], text=r["text"],
    )  # fmt: skip


def _record(r: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(
        id=r["id"], source=r["source"], key=r["key"], title=r["title"], url=r["url"],
        content_hash=r["content_hash"], version=r["version"], updated_at=r["updated_at"],
        breadcrumbs=json.loads(r["breadcrumbs"]), metadata=json.loads(r["metadata"]),
        outline=json.loads(r["outline"]),
    )  # fmt: skip
