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
    snapshots/.tmp-<id>/         a build in progress (never read; removed when the next ingest starts)
    rejected/<id>/               a build the evaluation gate refused (kept aside, never served)
    leases/<holder>.json         the snapshot a serving replica holds (index.leases): not pruned

A build writes everything into a temp dir, fsyncs, renames it into place and only then
swaps CURRENT. A build killed at any point leaves the published snapshot untouched; one
that cannot write (read-only or full disk, a FAISS write error) raises StorageError
naming the path, and its caller aborts it, which removes what it wrote.
"""

from index.snapshot.manifest import DocumentRecord, GateRecord, Manifest, SourceState, SourceStatus
from index.snapshot.reader import Snapshot
from index.snapshot.store import SnapshotStore
from index.snapshot.writer import SCHEMA, SnapshotWriter, new_snapshot_id

__all__ = [
    "SCHEMA",
    "DocumentRecord",
    "GateRecord",
    "Manifest",
    "Snapshot",
    "SnapshotStore",
    "SnapshotWriter",
    "SourceState",
    "SourceStatus",
    "new_snapshot_id",
]
