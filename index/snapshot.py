"""Immutable, versioned index snapshots on disk.

Layout (under ``data_dir``)::

    CURRENT                      id of the published snapshot (replaced atomically)
    snapshots/<id>/manifest.json model, chunking, counts, per-source status
    snapshots/<id>/index.sqlite  documents, chunks, units (the lexical index is built in
                                 memory at load: assistant.answering.retrieval.LexicalIndex)
    snapshots/<id>/prepared/     what query time reads, computed at publish (index.prepared),
                                 the passage and answer-unit vectors among them (prepared/
                                 vectors.npy, units.npy: their only copy)
    snapshots/<id>/vectors.faiss older snapshots: the passage vectors, ids = chunk rowids
    snapshots/<id>/units.faiss   older snapshots: the unit vectors, ids = unit rowids
    snapshots/.tmp-<id>/         a build in progress (never read; removed by the next build)
    rejected/<id>/               a build the evaluation gate refused (kept aside, never served)

A build writes everything into a temp dir, fsyncs, renames it into place and only then
swaps CURRENT. A build killed at any point leaves the published snapshot untouched; one
that cannot write (read-only or full disk, a FAISS write error) raises StorageError
naming the path, and its caller aborts it, which removes what it wrote.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from index import prepared
from index.errors import NoSnapshotError, SnapshotError, StorageError
from index.models import PATH_SEP, Chunk, Document, collapse_path
from index.units import UNITS_VERSION, split_units

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, title TEXT NOT NULL,
    url TEXT NOT NULL, content_hash TEXT NOT NULL, version TEXT, updated_at TEXT,
    breadcrumbs TEXT NOT NULL, metadata TEXT NOT NULL, outline TEXT NOT NULL
);
CREATE INDEX documents_source ON documents(source);
CREATE TABLE chunks (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, document_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL, section_path TEXT NOT NULL, anchor TEXT NOT NULL,
    url TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX chunks_document ON chunks(document_id);
CREATE TABLE units (
    rowid INTEGER PRIMARY KEY, chunk_rowid INTEGER NOT NULL, position INTEGER NOT NULL
);
CREATE INDEX units_chunk ON units(chunk_rowid, position);
"""
# The passage vectors (index.prepared writes them in row order; rowids in rows.npz).
_PASSAGES = f"{prepared.PREPARED_DIR}/vectors.npy"
# Keys older manifests carry that no longer mean anything (``analyzer``: the stems of the
# FTS5 table that snapshots used to hold); dropped on read so old snapshots still open.
_RETIRED_MANIFEST_KEYS = ("analyzer",)


# What the build that wrote a manifest did with a source: "ok" every document read;
# "partial" some documents failed (their previous version, if any, is kept); "failed" the
# listing failed (everything the source had is kept); "skipped" not asked for (carried over).
SourceState = Literal["ok", "partial", "failed", "skipped"]


@dataclass
class SourceStatus:
    status: SourceState
    documents: int = 0
    error: str | None = None
    failed_documents: list[str] = field(default_factory=list)


@dataclass
class GateRecord:
    """What the evaluation gate measured before publishing (``assistant.maintenance.gate``).

    ``candidate`` and ``served`` hold recall@5 and answer_hit on the golden set; ``served``
    is None when there was nothing comparable to measure against. ``broken`` lists the
    golden questions that made it fail; ``forced`` says it was published anyway.
    """

    passed: bool
    golden: str
    questions: int
    max_drop: float
    candidate: dict[str, float | None]
    served: dict[str, float | None] | None = None
    served_id: str | None = None
    broken: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    forced: bool = False

    @property
    def publish(self) -> bool:
        return self.passed or self.forced


@dataclass
class Manifest:
    id: str
    created_at: str
    model_id: str
    dim: int
    chunking: dict[str, Any]
    documents: int
    chunks: int
    sources: dict[str, SourceStatus]
    parent: str | None = None
    # Answer-unit vectors (absent in snapshots written before they existed: None).
    units: int = 0
    units_version: str | None = None
    # The evaluation gate's figures (None: published without a golden set, or before the gate existed).
    gate: GateRecord | None = None
    # index.prepared's structures (None: written before them; computed at load instead).
    prepared: str | None = None
    # How queries search it (assistant.answering.retrieval): up to ``exact_max`` passages every
    # passage is scored; above, only the dense and lexical top candidates.
    retrieval: dict[str, Any] = field(default_factory=dict)
    # How the hub baselines were found: method (exact, knn), passages whose neighbours were
    # reused from the previous snapshot and passages searched (empty: written before).
    hubs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        for key in _RETIRED_MANIFEST_KEYS:
            data.pop(key, None)
        data["sources"] = {k: SourceStatus(**v) for k, v in data.get("sources", {}).items()}
        if data.get("gate") is not None:
            data["gate"] = GateRecord(**data["gate"])
        return cls(**data)


@dataclass
class DocumentRecord:
    """A document as stored: what is needed to serve it and to carry it over."""

    id: str
    source: str
    key: str
    title: str
    url: str
    content_hash: str
    version: str | None
    updated_at: str | None
    breadcrumbs: list[str]
    metadata: dict[str, str]
    outline: list[dict[str, str]]  # flattened sections: title, path, anchor

    @classmethod
    def from_document(cls, doc: Document) -> DocumentRecord:
        outline = []
        for path, sec in doc.root.walk(tuple(doc.breadcrumbs)):
            # Untitled sections (the page's opening text, text after the page title repeats)
            # are listed only when they hold text a citation may point at.
            if (sec is doc.root or not sec.title) and not sec.blocks:
                continue
            outline.append(
                {"title": sec.title, "path": PATH_SEP.join(collapse_path(path)), "anchor": sec.anchor}
            )
        return cls(
            id=doc.id, source=doc.source, key=doc.key, title=doc.title, url=doc.url,
            content_hash=doc.content_hash, version=doc.version, updated_at=doc.updated_at,
            breadcrumbs=doc.breadcrumbs, metadata=doc.metadata, outline=outline,
        )  # fmt: skip


def new_snapshot_id() -> str:
    """Sortable by creation time; the suffix keeps ids unique within a millisecond."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3] + "-" + secrets.token_hex(2)


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write under ``path`` into StorageError (naming the file when known).

    RuntimeError is FAISS's way of reporting an I/O error: only wrap code that writes.
    """
    try:
        yield
    except (OSError, sqlite3.Error, RuntimeError) as e:
        filename = getattr(e, "filename", None)
        raise StorageError(filename or path, e) from e


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotWriter:
    """Builds one snapshot in a temp dir. Call ``publish`` to make it current, or ``seal``
    to put it in place unpublished (for a check before ``SnapshotStore.publish``).

    Given the ``previous`` snapshot (kept open until sealed), the hub baselines of the
    passages it already had are updated rather than searched again (index.prepared).
    """

    def __init__(
        self, store: SnapshotStore, model_id: str, dim: int, chunking: dict[str, Any],
        previous: Snapshot | None = None,
    ) -> None:
        self.store = store
        self.previous = previous
        self.id = new_snapshot_id()
        self.tmp = store.root / f".tmp-{self.id}"
        self.tmp.mkdir(parents=True)
        self.model_id, self.dim, self.chunking = model_id, dim, chunking
        self.db = sqlite3.connect(self.tmp / "index.sqlite")
        self.db.executescript(SCHEMA)
        # Growing buffers of the vectors in row order (written to prepared/ at seal).
        self.vectors = faiss.IndexFlatIP(dim)
        self.unit_vectors = faiss.IndexFlatIP(dim)
        self.n_docs = 0
        self.n_chunks = 0
        self.n_units = 0
        self.prepared = prepared.PreparedBuilder()

    def add(
        self, record: DocumentRecord, chunks: list[Chunk], vectors: np.ndarray, unit_vectors: list[np.ndarray]
    ) -> None:
        """One document: its chunks, their vectors, and per chunk the vectors of its units
        (``index.units.split_units`` order)."""
        with _writing(self.tmp / "index.sqlite"):
            self._add(record, chunks, vectors, unit_vectors)

    def _add(
        self, record: DocumentRecord, chunks: list[Chunk], vectors: np.ndarray, unit_vectors: list[np.ndarray]
    ) -> None:
        if len(chunks) != len(vectors) or len(chunks) != len(unit_vectors):
            raise SnapshotError(
                f"{record.id}: {len(chunks)} chunks but {len(vectors)} vectors / {len(unit_vectors)} unit sets"
            )
        self.db.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.id, record.source, record.key, record.title, record.url, record.content_hash,
                record.version, record.updated_at, json.dumps(record.breadcrumbs, ensure_ascii=False),
                json.dumps(record.metadata, ensure_ascii=False), json.dumps(record.outline, ensure_ascii=False),
            ),
        )  # fmt: skip
        for i, c in enumerate(chunks):
            cur = self.db.execute(
                "INSERT INTO chunks (id, document_id, ordinal, section_path, anchor, url, text) "
                "VALUES (?,?,?,?,?,?,?)",
                (c.id, c.document_id, c.ordinal, json.dumps(c.section_path, ensure_ascii=False),
                 c.anchor, c.url, c.text),
            )  # fmt: skip
            rowid = int(cur.lastrowid or 0)
            self._add_units(c, rowid, unit_vectors[i])
            self.prepared.add(rowid, c, record.source, len(unit_vectors[i]))
        if len(chunks):
            self.vectors.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.n_docs += 1
        self.n_chunks += len(chunks)

    def _add_units(self, chunk: Chunk, chunk_rowid: int, vectors: np.ndarray) -> None:
        expected = len(split_units(chunk.text))
        if len(vectors) != expected:
            raise SnapshotError(f"chunk {chunk.id}: {expected} units but {len(vectors)} unit vectors")
        self.db.executemany(
            "INSERT INTO units (chunk_rowid, position) VALUES (?,?)", [(chunk_rowid, pos) for pos in range(expected)]
        )
        if expected:
            self.unit_vectors.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.n_units += expected

    def publish(self, sources: dict[str, SourceStatus], parent: str | None) -> Manifest:
        """Write, fsync and rename the build into place, then make it current."""
        manifest = self.seal(sources, parent)
        self.store.publish(manifest.id)
        return manifest

    def seal(self, sources: dict[str, SourceStatus], parent: str | None) -> Manifest:
        """Write, fsync and rename the build into place, without making it current."""
        with _writing(self.tmp):
            return self._seal(sources, parent)

    def _seal(self, sources: dict[str, SourceStatus], parent: str | None) -> Manifest:
        # Insertion order is rowid order: the buffers hold the vectors in row order.
        matrix = _flat(self.vectors)
        retrieval, hubs = self.prepared.write(
            self.tmp / prepared.PREPARED_DIR, self.db, matrix, _flat(self.unit_vectors), self._hub_reuse(matrix)
        )
        manifest = Manifest(
            id=self.id, created_at=datetime.now(UTC).isoformat(timespec="seconds"), model_id=self.model_id,
            dim=self.dim, chunking=self.chunking, documents=self.n_docs,
            chunks=self.n_chunks, sources=sources, parent=parent, units=self.n_units, units_version=UNITS_VERSION,
            prepared=prepared.PREPARED_VERSION, retrieval=retrieval, hubs=hubs,
        )  # fmt: skip
        self.db.commit()
        self.db.close()
        (self.tmp / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
        for name in ("index.sqlite", "manifest.json"):
            _fsync_path(self.tmp / name)
        for path in (self.tmp / prepared.PREPARED_DIR).iterdir():
            _fsync_path(path)
        _fsync_path(self.tmp)
        final = self.store.root / self.id
        os.rename(self.tmp, final)
        _fsync_path(self.store.root)
        return manifest

    def _hub_reuse(self, matrix: np.ndarray) -> prepared.HubReuse | None:
        """The previous snapshot's hub neighbour lists and which of its rows are still here:
        the same chunk (its id covers its text) with the same vector. None when there is no
        previous snapshot, another model made it, or it has no neighbour lists."""
        prev = self.previous
        if prev is None or prev.manifest.model_id != self.model_id or prev.manifest.dim != self.dim:
            return None
        try:
            stored = prepared.load_neighbours(prev.path / prepared.PREPARED_DIR)
        except (OSError, ValueError, KeyError):
            return None  # unreadable: computed from scratch, as without one
        if stored is None:
            return None
        old_rowids, neighbours = stored
        old_ids = [r[0] for r in prev.db.execute("SELECT id FROM chunks ORDER BY rowid")]
        if len(old_ids) != len(old_rowids) or len(old_ids) != len(neighbours.rows):
            return None
        position = {chunk: row for row, chunk in enumerate(old_ids)}
        del old_ids
        pairs = [
            (old, new)
            for new, (chunk,) in enumerate(self.db.execute("SELECT id FROM chunks ORDER BY rowid"))
            if (old := position.get(chunk)) is not None
        ]
        del position
        old_rows, new_rows = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
        # Vectors reused by the ingest are bit-equal; any other is a changed passage.
        old_matrix = prev.passage_matrix()[1]
        same = np.zeros(len(old_rows), dtype=bool)
        for start in range(0, len(old_rows), 65536):
            part = slice(start, start + 65536)
            same[part] = (np.asarray(old_matrix[old_rows[part]]) == matrix[new_rows[part]]).all(axis=1)
        return prepared.HubReuse(neighbours, old_rows[same], new_rows[same])

    def abort(self) -> None:
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.store.current_id() != self.id:  # renamed into place, but never published
                shutil.rmtree(self.store.root / self.id, ignore_errors=True)


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
        self._local = threading.local()
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

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "db", None)
        if conn is None:
            uri = f"file:{self.path / 'index.sqlite'}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.row_factory = sqlite3.Row
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
            rows = self.db.execute(
                "SELECT * FROM documents WHERE source = ? ORDER BY key", (source,)
            ).fetchall()
        return [_record(r) for r in rows]

    def document(self, document_id: str) -> DocumentRecord | None:
        row = self.db.execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
        return _record(row) if row else None

    def document_chunks(self, document_id: str) -> list[tuple[int, Chunk]]:
        rows = self.db.execute(
            "SELECT * FROM chunks WHERE document_id = ? ORDER BY ordinal", (document_id,)
        ).fetchall()
        return [(int(r["rowid"]), _chunk(r)) for r in rows]

    def chunk_rowids_by_id(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.db.execute("SELECT id, rowid FROM chunks")}

    def close(self) -> None:
        conn = getattr(self._local, "db", None)
        if conn is not None:
            conn.close()
            self._local.db = None


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


class SnapshotStore:
    """The data directory's snapshots: which one is current, history, rollback, retention."""

    def __init__(self, data_dir: Path, keep: int = 3) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "snapshots"
        # Outside ``root``: rejected builds are neither rollback targets nor counted by ``prune``.
        self.rejected_root = data_dir / "rejected"
        self.pointer = data_dir / "CURRENT"
        self.keep = keep

    def writer(
        self, model_id: str, dim: int, chunking: dict[str, Any], previous: Snapshot | None = None
    ) -> SnapshotWriter:
        with _writing(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            self.clean_stale_builds()
            return SnapshotWriter(self, model_id, dim, chunking, previous)

    def clean_stale_builds(self) -> None:
        """Remove temp dirs of builds that were killed (callers hold the ingest lock)."""
        for p in self.root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)

    def current_id(self) -> str | None:
        try:
            value = self.pointer.read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):  # nothing published (or can be, there)
            return None
        return value or None

    def set_current(self, snapshot_id: str) -> None:
        if not (self.root / snapshot_id / "manifest.json").exists():
            raise SnapshotError(f"snapshot {snapshot_id} não existe")
        tmp = self.data_dir / "CURRENT.tmp"
        with _writing(self.pointer):
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(snapshot_id + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.pointer)
            _fsync_path(self.data_dir)

    def publish(self, snapshot_id: str) -> None:
        """Make a sealed snapshot current and apply retention."""
        self.set_current(snapshot_id)
        self.prune()

    def record_gate(self, snapshot_id: str, gate: GateRecord) -> Manifest:
        """Add the gate's figures to a sealed, not yet published snapshot's manifest."""
        path = self.root / snapshot_id / "manifest.json"
        manifest = self.manifest(snapshot_id)
        manifest.gate = gate
        tmp = path.with_name("manifest.json.tmp")
        with _writing(path):
            tmp.write_text(manifest.to_json(), encoding="utf-8")
            _fsync_path(tmp)
            os.rename(tmp, path)  # atomic on POSIX, like the build's own rename into place
            _fsync_path(path.parent)
        return manifest

    def reject(self, snapshot_id: str) -> None:
        """Move a sealed snapshot the gate refused aside; keep the newest ``keep`` of them."""
        with _writing(self.rejected_root):
            self.rejected_root.mkdir(parents=True, exist_ok=True)
            os.rename(self.root / snapshot_id, self.rejected_root / snapshot_id)
            _fsync_path(self.rejected_root)
            _fsync_path(self.root)
        for old in self.rejected_ids()[: -self.keep]:
            shutil.rmtree(self.rejected_root / old, ignore_errors=True)

    def rejected_ids(self) -> list[str]:
        """Snapshots the gate refused, oldest first."""
        if not self.rejected_root.exists():
            return []
        return sorted(p.name for p in self.rejected_root.iterdir() if p.is_dir())

    def rejected_manifest(self, snapshot_id: str) -> Manifest:
        try:
            text = (self.rejected_root / snapshot_id / "manifest.json").read_text(encoding="utf-8")
            return Manifest.from_json(text)
        except (OSError, ValueError) as e:
            raise SnapshotError(f"snapshot rejeitado {snapshot_id}: manifest ilegível ({e})") from e

    def ids(self) -> list[str]:
        """Published snapshots, oldest first."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def manifest(self, snapshot_id: str) -> Manifest:
        try:
            return Manifest.from_json((self.root / snapshot_id / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SnapshotError(f"snapshot {snapshot_id}: manifest ilegível ({e})") from e

    def open(self, snapshot_id: str) -> Snapshot:
        return Snapshot(self.root / snapshot_id)

    def open_current(self) -> Snapshot:
        current = self.current_id()
        if current is None:
            raise NoSnapshotError("nenhum snapshot publicado; rode `bpa ingest`")
        return self.open(current)

    def rollback(self, to: str | None = None) -> str:
        ids = self.ids()
        current = self.current_id()
        if to is None:
            older = [i for i in ids if current is None or i < current]
            if not older:
                raise SnapshotError("não há snapshot anterior para onde voltar")
            to = older[-1]
        if to not in ids:
            raise SnapshotError(f"snapshot {to} não existe (disponíveis: {', '.join(ids) or 'nenhum'})")
        self.set_current(to)
        return to

    def prune(self) -> list[str]:
        """Keep the newest ``keep`` snapshots, and always the current one."""
        ids = self.ids()
        current = self.current_id()
        doomed = [i for i in ids[: max(0, len(ids) - self.keep)] if i != current]
        for i in doomed:
            shutil.rmtree(self.root / i, ignore_errors=True)
        return doomed
