"""The data dir's snapshots: the CURRENT pointer, publish, history, rollback, rejected builds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from index.errors import NoSnapshotError, SnapshotError
from index.leases import Leases
from index.snapshot.manifest import GateRecord, Manifest
from index.snapshot.reader import Snapshot
from index.snapshot.writer import SnapshotWriter, _fsync_path, _writing


class SnapshotStore:
    """The data directory's snapshots: which one is current, history, rollback, retention."""

    def __init__(self, data_dir: Path, keep: int = 3, lease_ttl: float = 60.0) -> None:
        """``lease_ttl``: seconds a replica's lease (``lease``) keeps its snapshot from ``prune``."""
        self.data_dir = data_dir
        self.leases = Leases(data_dir, lease_ttl)
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

    def lease(self, snapshot_id: str, holder: str) -> None:
        """Say that ``holder`` (a serving replica) serves ``snapshot_id``: ``prune`` keeps it
        while the lease is fresh. Call it at every reload check (cheap: rewritten at most
        every tenth of the TTL unless the snapshot changed)."""
        self.leases.write(snapshot_id, holder)

    def release(self, holder: str) -> None:
        self.leases.release(holder)

    def leased(self) -> set[str]:
        """Snapshots some replica holds a fresh lease on."""
        return {lease.snapshot_id for lease in self.leases.fresh()}

    def prune(self) -> list[str]:
        """Keep the newest ``keep`` snapshots, always the current one, and any snapshot a
        replica holds a fresh lease on (it is serving it)."""
        ids = self.ids()
        current = self.current_id()
        self.leases.expire()
        leased = self.leased()
        doomed = [i for i in ids[: max(0, len(ids) - self.keep)] if i != current and i not in leased]
        for i in doomed:
            shutil.rmtree(self.root / i, ignore_errors=True)
        return doomed
