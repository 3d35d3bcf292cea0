"""Snapshots in use are never deleted under a replica (issue 22, item 2): leases keep them
from prune, and what a request reads is opened at load, not lazily per thread."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from assistant.service import Assistant
from index.embedding.fake import FakeEmbedder
from index.leases import Leases
from index.settings import Settings
from index.snapshot import SnapshotStore
from ingest.pipeline import run_ingest


def _corpus(tmp_path: Path, text: str) -> Path:
    corpus = tmp_path / "c"
    corpus.mkdir(exist_ok=True)
    (corpus / "a.html").write_text(f"<h1>A</h1><h2>Prazo</h2><p>{text}</p>")
    (corpus / "s.toml").write_text('[[source]]\nname = "a"\ntype = "files"\npath = "a.html"\n')
    return corpus / "s.toml"


def _publish(settings: Settings, tmp_path: Path, n: int) -> str:
    _corpus(tmp_path, f"O prazo da versão {n} é de {n + 1} dias úteis.")
    report = run_ingest(settings, FakeEmbedder())
    assert report.published and report.snapshot_id
    return report.snapshot_id


def test_prune_keeps_a_freshly_leased_snapshot_and_drops_it_once_stale(tmp_path: Path, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, sources=_corpus(tmp_path, "x"), embedder="fake", keep_snapshots=1)
    first = _publish(settings, tmp_path, 0)
    store = SnapshotStore(data_dir, keep=1, lease_ttl=60)
    store.lease(first, "replica-a")
    assert store.leased() == {first}
    second = _publish(settings, tmp_path, 1)
    assert store.ids() == [first, second]  # kept: replica-a serves it
    lease_file = data_dir / "leases" / "replica-a.json"
    data = json.loads(lease_file.read_text())
    lease_file.write_text(json.dumps({**data, "at": time.time() - 61}))  # replica-a stopped refreshing
    third = _publish(settings, tmp_path, 2)
    assert store.ids() == [third]


def test_leases_are_rewritten_on_change_and_throttled_otherwise(tmp_path: Path) -> None:
    leases = Leases(tmp_path, ttl=60)
    leases.write("s1", "r")
    path = tmp_path / "leases" / "r.json"
    at = json.loads(path.read_text())["at"]
    leases.write("s1", "r")  # within a tenth of the TTL: not rewritten
    assert json.loads(path.read_text())["at"] == at
    leases.write("s2", "r")
    assert json.loads(path.read_text())["snapshot"] == "s2"
    leases.release("r")
    assert leases.all() == []


def test_leases_long_stale_are_removed(tmp_path: Path) -> None:
    leases = Leases(tmp_path, ttl=1)
    leases.write("s1", "gone")
    leases.expire(now=time.time() + 3)
    assert leases.all() == []


def test_a_deleted_snapshot_still_serves_every_thread(tmp_path: Path, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, sources=_corpus(tmp_path, "x"), embedder="fake")
    sid = _publish(settings, tmp_path, 0)
    snapshot = SnapshotStore(data_dir).open(sid)
    shutil.rmtree(snapshot.path)  # pruned by another process after this one loaded it
    errors: list[BaseException] = []
    counts: list[int] = []

    def read() -> None:
        try:
            counts.append(len(snapshot.documents()))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and counts == [1] * 16


@pytest.mark.parametrize("lease_ttl", [60.0, 0.001])  # leased; and a lease gone stale (an idle replica)
def test_a_replica_publishes_behind_answers_every_concurrent_request(
    tmp_path: Path, data_dir: Path, lease_ttl: float
) -> None:
    settings = Settings(
        data_dir=data_dir, sources=_corpus(tmp_path, "x"), embedder="fake", keep_snapshots=1,
        reload_interval=3600, snapshot_lease_ttl=lease_ttl,
    )  # fmt: skip
    first = _publish(settings, tmp_path, 0)
    replica = Assistant(settings, FakeEmbedder())
    assert replica.snapshot_id == first
    for n in (1, 2, 3):  # three publishes while the replica does not reload
        _publish(settings, tmp_path, n)
    kept = SnapshotStore(data_dir).ids()
    assert (first in kept) == (lease_ttl > 1)
    errors: list[BaseException] = []
    hits: list[int] = []

    def ask() -> None:
        try:
            hits.append(len(replica.search("prazo", k=1)))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(48)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and hits == [1] * 48
