"""Paths and process helpers shared by tests and benches."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SEED = ROOT / "corpus" / "boas-praticas-do-suporte.html"
SHARED_EVAL = ROOT.parent / "shared" / "eval"


def strip_unit_vectors(snapshot_dir: Path) -> None:
    """Make a snapshot look like one written before answer-unit vectors existed."""
    manifest = json.loads((snapshot_dir / "manifest.json").read_text(encoding="utf-8"))
    for key in ("units", "units_version"):
        manifest.pop(key)
    (snapshot_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (snapshot_dir / "units.faiss").unlink(missing_ok=True)  # older snapshots: the unit vectors
    (snapshot_dir / "prepared" / "units.npy").unlink(missing_ok=True)


def write_before_prepared(snapshot_dir: Path) -> None:
    """Make a snapshot look like one written before index.prepared: passage and unit vectors
    in FAISS files (ids = rowids), no prepared/, no titles table, no manifest keys for them."""
    import shutil
    import sqlite3

    import faiss
    import numpy as np

    db = sqlite3.connect(snapshot_dir / "index.sqlite")
    try:
        ids = {
            "vectors": np.array([r[0] for r in db.execute("SELECT rowid FROM chunks ORDER BY rowid")], dtype=np.int64),
            "units": np.array(
                [r[0] for r in db.execute("SELECT rowid FROM units ORDER BY chunk_rowid, position")], dtype=np.int64
            ),
        }
        db.execute("DROP TABLE titles")
        db.commit()
    finally:
        db.close()
    for name, rowids in ids.items():
        stored = snapshot_dir / "prepared" / f"{name}.npy"
        if stored.exists():
            vectors = np.ascontiguousarray(np.load(stored), dtype=np.float32)
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
            index.add_with_ids(vectors, rowids)
            faiss.write_index(index, str(snapshot_dir / f"{name}.faiss"))
    shutil.rmtree(snapshot_dir / "prepared")
    manifest = json.loads((snapshot_dir / "manifest.json").read_text(encoding="utf-8"))
    for key in ("prepared", "retrieval", "hubs"):
        manifest.pop(key, None)
    (snapshot_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(
    args: list[str],
    port: int,
    env: dict[str, str],
    *,
    ready: str = "/healthz",
    ok: int = 200,
    cwd: Path = ROOT,
    out: IO[bytes] | int = subprocess.DEVNULL,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Run a server process (``python`` + ``args``) and yield its base URL once ``ready`` answers
    ``ok``; the process is stopped on exit. Bounded: fails after ``timeout`` seconds."""
    proc = subprocess.Popen([sys.executable, *args], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{base}{ready}", timeout=1).status_code == ok:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start ({' '.join(args)})")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` every 50 ms until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
