"""Measure each embedding backend on this machine.

    .venv/bin/python bench/embedders.py [backend ...] [--passages N] [--words N]

Each backend runs in a fresh subprocess, so load time includes its imports (torch
for minilm) and RSS is that backend's alone. Figures printed per backend:

* load: seconds from a clean interpreter to a usable embedder (imports included);
* passages/s: ~150-word Portuguese passages, kind="passage", after a warm-up;
* query ms: median of 30 single short queries, warm;
* RSS after load, and peak RSS (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus" / "boas-praticas-do-suporte.html"
DEFAULT_BACKENDS = ["e5", "e5-pt", "minilm", "use"]

QUERIES = [
    "Como abro um chamado?",
    "Qual o prazo de resposta de um ticket crítico?",
    "Como aplicar uma macro no Zendesk?",
    "O que é um ticket filho?",
    "Como documentar uma solução?",
    "Quando escalar para o suporte integrado?",
]


def passages(count: int, words: int) -> list[str]:
    """Windows of ``words`` words over the seed document, wrapping around if needed."""
    raw = CORPUS.read_text(encoding="utf-8")
    raw = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", raw)
    tokens = html.unescape(re.sub(r"<[^>]+>", " ", raw)).split()
    step = max(1, (len(tokens) - words) // count)
    out = []
    for i in range(count):
        start = (i * step) % max(1, len(tokens) - words)
        out.append(" ".join(tokens[start : start + words]))
    return out


def _status_kb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


def run_one(name: str, n_passages: int, n_words: int) -> dict[str, object]:
    """Measure one backend in this process (called in a child process)."""
    t0 = time.perf_counter()
    from index.embedding.factory import make_embedder
    from index.settings import Settings

    emb = make_embedder(Settings(embedder=name, model_path=None))
    load_s = time.perf_counter() - t0
    rss_load = _status_kb("VmRSS") / 1024

    texts = passages(n_passages, n_words)
    emb.embed(texts[:4], "passage")  # warm-up: lazy allocations, first-call overheads
    t0 = time.perf_counter()
    vectors = emb.embed(texts, "passage")
    embed_s = time.perf_counter() - t0

    for q in QUERIES[:3]:
        emb.embed([q], "query")
    times = []
    for i in range(30):
        q = QUERIES[i % len(QUERIES)]
        t0 = time.perf_counter()
        emb.embed([q], "query")
        times.append((time.perf_counter() - t0) * 1000)

    counter = getattr(emb, "token_count", None)
    max_tokens = getattr(emb, "max_tokens", None)
    tokens = [counter(t, "passage") for t in texts] if counter else []
    return {
        "backend": name,
        "model_id": emb.model_id,
        "dim": emb.dim,
        "max_tokens": max_tokens,
        "load_s": load_s,
        "passages": len(texts),
        "words_per_passage": n_words,
        "passages_per_s": len(texts) / embed_s,
        "query_ms_median": statistics.median(times),
        "query_ms_p90": sorted(times)[int(0.9 * len(times)) - 1],
        "rss_after_load_mb": rss_load,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,
        "mean_tokens_per_passage": statistics.mean(tokens) if tokens else None,
        "passages_over_max_tokens": sum(n > max_tokens for n in tokens) if tokens and max_tokens else None,
        "shape": list(vectors.shape),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backends", nargs="*", default=DEFAULT_BACKENDS)
    parser.add_argument("--passages", type=int, default=150)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_one(args.backends[0], args.passages, args.words)))
        return

    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    print(f"cpus available: {len(os.sched_getaffinity(0))}; {args.passages} passages x {args.words} words")
    header = (
        f"{'backend':8} {'dim':>4} {'load s':>7} {'pass/s':>7} {'query ms':>9} {'p90 ms':>7} "
        f"{'RSS load':>9} {'RSS peak':>9} {'tok/pass':>8} {'>max':>5}  model_id"
    )
    print(header)
    print("-" * len(header))
    for name in args.backends:
        cmd = [sys.executable, __file__, name, "--child", "--passages", str(args.passages)]
        cmd += ["--words", str(args.words)]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name:8} FAILED: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        tok = f"{r['mean_tokens_per_passage']:.0f}" if r["mean_tokens_per_passage"] else "-"
        over = "-" if r["passages_over_max_tokens"] is None else str(r["passages_over_max_tokens"])
        print(
            f"{name:8} {r['dim']:>4} {r['load_s']:>7.2f} {r['passages_per_s']:>7.1f} "
            f"{r['query_ms_median']:>9.2f} {r['query_ms_p90']:>7.2f} {r['rss_after_load_mb']:>7.0f}MB "
            f"{r['peak_rss_mb']:>7.0f}MB {tok:>8} {over:>5}  {r['model_id']}"
        )


if __name__ == "__main__":
    # Run as a script: make the repository root importable (the project may not be installed).
    sys.path.insert(0, str(ROOT))
    main()
