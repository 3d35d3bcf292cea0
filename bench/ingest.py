"""Ingest benchmark: throughput and peak memory of full and incremental runs.

Each run is a separate child process (so peak RSS is that run's own), over:
  1. corpus/ as shipped: full, then unchanged (must embed nothing);
  2. corpus/ repeated N times under different ids (scaling): full, then unchanged;
  3. remote: N generated KCS articles served by a local Zendesk stand-in: full, then
     incremental after editing 1% of them.

    .venv/bin/python bench/ingest.py [--embedder e5] [--scale 50] [--scale-embedder e5]
                                     [--remote 2000] [--remote-embedder e5]

Figures: documents/s, chunks/s, texts embedded per second (passages and answer units: the
embedding throughput), peak RSS (MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


def child(data_dir: str, sources: str, embedder: str) -> None:
    """Run one ingest in this process and print its report as JSON."""
    from index.embedding.factory import make_embedder
    from index.settings import Settings
    from ingest.pipeline import run_ingest

    settings = Settings(data_dir=Path(data_dir), sources=Path(sources), embedder=embedder)
    emb = make_embedder(settings)
    report = run_ingest(settings, emb)
    keys = ("new", "changed", "unchanged", "removed", "failed", "chunks", "embedded", "embedded_units", "seconds")
    print(json.dumps({k: getattr(report, k) for k in keys}))


def run(label: str, data_dir: Path, sources: Path, embedder: str) -> dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(data_dir), str(sources), embedder],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"{label}: ingest failed\n{err[-2000:]}")
    r = json.loads(out.strip().splitlines()[-1])
    docs = r["new"] + r["changed"] + r["unchanged"]
    secs = max(r["seconds"], 1e-9)
    row = {
        "docs": docs, "chunks": r["chunks"], "embedded": r["embedded"], "ingest_s": r["seconds"],
        "wall_s": wall, "docs_per_s": docs / secs, "chunks_per_s": r["chunks"] / secs,
        "embed_per_s": (r["embedded"] + r["embedded_units"]) / secs, "peak_rss_mib": usage.ru_maxrss / 1024,
    }  # fmt: skip
    print(
        f"{label:<34} {embedder:<6} docs {docs:>5}  chunks {r['chunks']:>6}  embedded {r['embedded']:>6}  "
        f"units {r['embedded_units']:>6}  "
        f"{r['seconds']:7.2f} s  {row['docs_per_s']:8.1f} docs/s  {row['chunks_per_s']:8.1f} chunks/s  "
        f"{row['embed_per_s']:6.1f} emb/s  peak RSS {row['peak_rss_mib']:6.0f} MiB",
        flush=True,
    )
    return row


def toml_source(name: str, fields: dict[str, Any]) -> str:
    """One ``[[source]]`` table of a sources file (values as JSON strings: valid TOML)."""
    lines = ["[[source]]", f"name = {json.dumps(name, ensure_ascii=False)}"]
    lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def write_sources(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def bench_corpus(work: Path, embedder: str) -> None:
    sources = ROOT / "corpus" / "sources.toml"
    data = work / "corpus-var"
    full = run("corpus/ full", data, sources, embedder)
    again = run("corpus/ unchanged", data, sources, embedder)
    speedup = full["ingest_s"] / max(again["ingest_s"], 1e-9)
    print(f"  unchanged re-index: {again['embedded']:.0f} embedded, {speedup:.0f}x faster than full")


def bench_scale(work: Path, n: int, embedder: str) -> None:
    folder = work / "scaled"
    folder.mkdir()
    seed = (ROOT / "corpus" / "boas-praticas-do-suporte.html").read_text(encoding="utf-8")
    for i in range(n):
        # Different ids and slightly different text, so no chunk is shared between copies.
        (folder / f"copia-{i:03d}.html").write_text(seed.replace("Suporte", f"Suporte {i}"), encoding="utf-8")
    sources = write_sources(folder / "sources.toml", '[[source]]\nname = "copias"\ntype = "files"\npath = "*.html"\n')
    data = work / "scaled-var"
    run(f"corpus x{n} full", data, sources, embedder)
    run(f"corpus x{n} unchanged", data, sources, embedder)


def bench_remote(work: Path, n: int, embedder: str) -> None:
    from tests.support.standins import ZendeskStandin

    with ZendeskStandin(max_page_size=100) as zd:
        zd.add_synthetic(n, section_ids=(1, 2, 3))
        sources = write_sources(
            work / "remote.toml", f'[[source]]\nname = "kcs"\ntype = "zendesk"\nbase_url = "{zd.base_url}"\n'
        )
        data = work / "remote-var"
        run(f"remote {n} articles full", data, sources, embedder)
        ids = sorted(zd.articles)[: max(1, n // 100)]
        for aid in ids:
            zd.edit_article(aid, body=f"<p>Conteúdo revisado do artigo {aid}.</p>")
        run(f"remote {n} articles incremental ({len(ids)} edited)", data, sources, embedder)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--embedder", default=os.environ.get("BPA_EMBEDDER", "e5"))
    p.add_argument("--scale", type=int, default=50)
    p.add_argument("--scale-embedder", default=None, help="embedder for the scaled run (default: --embedder)")
    p.add_argument("--remote", type=int, default=2000)
    p.add_argument("--remote-embedder", default=None, help="embedder for the remote run (default: --embedder)")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bpa-bench-"))
    try:
        print(f"bpa ingest benchmark — {os.cpu_count()} CPUs, work dir {work}")
        bench_corpus(work, args.embedder)
        if args.scale:
            bench_scale(work, args.scale, args.scale_embedder or args.embedder)
        if args.remote:
            bench_remote(work, args.remote, args.remote_embedder or args.embedder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
