"""Writing a snapshot: a temp dir, fsynced, renamed into place (see the package docstring)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from index import prepared
from index.errors import SnapshotError, StorageError
from index.hubs import HubReuse
from index.models import Chunk
from index.snapshot.manifest import DocumentRecord, Manifest, SourceStatus
from index.snapshot.reader import Snapshot, _flat
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


class Publisher(Protocol):
    """What a writer needs of the store it writes into (``SnapshotStore``)."""

    root: Path

    def publish(self, snapshot_id: str) -> None: ...

    def current_id(self) -> str | None: ...


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
        self,
        store: Publisher,
        model_id: str,
        dim: int,
        chunking: dict[str, Any],
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

    def _hub_reuse(self, matrix: np.ndarray) -> HubReuse | None:
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
        return HubReuse(neighbours, old_rows[same], new_rows[same])

    def abort(self) -> None:
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.store.current_id() != self.id:  # renamed into place, but never published
                shutil.rmtree(self.store.root / self.id, ignore_errors=True)
