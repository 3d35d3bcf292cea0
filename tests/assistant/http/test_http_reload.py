"""Hot reload through HTTP: a snapshot published while clients query is served within 2 s,
and no request in flight fails."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import uvicorn

from assistant.http.app import create_app
from assistant.service import Assistant
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest
from tests.support.common import free_port


def test_snapshot_swap_under_concurrent_queries(tmp_path: Path, data_dir: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    page = corpus / "p.html"
    page.write_text("<h1>Prazos</h1><h2>Aceite</h2><p>O prazo de aceite é de dez dias úteis.</p>")
    (corpus / "s.toml").write_text('[[source]]\nname = "p"\ntype = "files"\npath = "p.html"\n')
    settings = Settings(data_dir=data_dir, sources=corpus / "s.toml", embedder="fake", reload_interval=0.5,
                        rate_limit_per_minute=100_000)  # fmt: skip
    embedder = FakeEmbedder()
    first = run_ingest(settings, embedder).snapshot_id
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, Assistant(settings, embedder)), host="127.0.0.1",
                                           port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)

    statuses: list[int] = []
    snapshots: list[tuple[float, str]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=base, timeout=10) as c:
            while not stop.is_set():
                r = c.get("/v1/search", params={"q": "prazo de aceite", "k": 1})
                statuses.append(r.status_code)
                r = c.post("/v1/ask", json={"question": "qual o prazo de aceite?"})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    snapshots.append((time.monotonic(), r.json()["snapshot"]))

    workers = [threading.Thread(target=client) for _ in range(6)]
    try:
        for w in workers:
            w.start()
        time.sleep(0.5)
        page.write_text("<h1>Prazos</h1><h2>Aceite</h2><p>O prazo de aceite agora é de cinco dias úteis.</p>")
        second = run_ingest(settings, embedder).snapshot_id
        published = time.monotonic()
        time.sleep(2.5)
    finally:
        stop.set()
        for w in workers:
            w.join()
        server.should_exit = True
        thread.join(timeout=10)
    assert second != first
    assert statuses and all(s == 200 for s in statuses), sorted(set(statuses))
    late = [snap for t, snap in snapshots if t > published + 2.0]
    assert late and all(snap == second for snap in late)
