"""Leases on snapshots: which snapshot each serving replica holds, so none is pruned under it.

A replica writes ``<data_dir>/leases/<holder>.json`` (the snapshot id it serves and the
wall-clock time) at its reload checks; :meth:`SnapshotStore.prune` keeps every snapshot
whose lease is younger than the TTL. A replica that dies stops refreshing, its lease
goes stale after the TTL and its snapshot may then be pruned like any other. Wall-clock
time, not mtime, so replicas on other hosts sharing the data dir compare the same clock
(a skew well under the TTL is harmless).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

LEASES_DIR = "leases"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def new_holder() -> str:
    """A name for one serving process: host, pid and a random suffix (pids are reused)."""
    host = _UNSAFE.sub("_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Lease:
    holder: str
    snapshot_id: str
    at: float  # time.time() when written


class Leases:
    def __init__(self, data_dir: Path, ttl: float) -> None:
        self.root = data_dir / LEASES_DIR
        self.ttl = ttl
        self._written: dict[str, tuple[str, float]] = {}  # holder -> (snapshot id, monotonic time)

    def _path(self, holder: str) -> Path:
        return self.root / f"{_UNSAFE.sub('_', holder)[:100]}.json"

    def write(self, snapshot_id: str, holder: str) -> None:
        """Hold ``snapshot_id`` for ``holder``. Rewritten when the snapshot changes or a tenth
        of the TTL has passed, so a check every second costs a file write every few seconds."""
        last = self._written.get(holder)
        now = time.monotonic()
        if last is not None and last[0] == snapshot_id and now - last[1] < self.ttl / 10:
            return
        path = self._path(holder)
        tmp = path.with_name(path.name + ".tmp")
        data = {"holder": holder, "snapshot": snapshot_id, "at": time.time()}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, path)  # readers see the old lease or the new one, never half
        except OSError:
            return  # a read-only data dir: serving goes on; prune may not see this replica
        self._written[holder] = (snapshot_id, now)

    def release(self, holder: str) -> None:
        self._written.pop(holder, None)
        with contextlib.suppress(OSError):
            self._path(holder).unlink()

    def all(self) -> list[Lease]:
        """Every readable lease, fresh or not."""
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                out.append(Lease(str(data["holder"]), str(data["snapshot"]), float(data["at"])))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being replaced, or not ours: ignored
        return out

    def fresh(self, now: float | None = None) -> list[Lease]:
        now = time.time() if now is None else now
        return [lease for lease in self.all() if now - lease.at < self.ttl]

    def expire(self, now: float | None = None) -> None:
        """Remove leases stale for a whole TTL more (their holders are gone)."""
        now = time.time() if now is None else now
        for lease in self.all():
            if now - lease.at >= 2 * self.ttl:
                with contextlib.suppress(OSError):
                    self._path(lease.holder).unlink()
