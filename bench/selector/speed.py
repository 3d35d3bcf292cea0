"""Time the selector at serving: features + line scores + probability for ~30 candidate lines.

The candidate lines are real: the passages of the published snapshot, taken three at a time
in index order until they hold at least 30 lines, with the stored unit vectors and a question
vector (a section title of the corpus, embedded once; no dev question). Prints p50 / p95 /
max per question and per 30 lines, and the weights file's size.

    PYTHONPATH=. python bench/selector/speed.py [--weights corpus/selector.npz] [--runs 200]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np

from assistant.answering.retrieval import LoadedSnapshot
from assistant.answering.selector import PassageLines, load_selector
from index.settings import Settings
from index.snapshot import SnapshotStore
from index.units import split_units

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "corpus" / "selector.npz")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--lines", type=int, default=30)
    args = ap.parse_args(argv)
    from index.embedding.factory import make_embedder

    settings = Settings()
    store = SnapshotStore(settings.data_dir, settings.keep_snapshots)
    current = store.current_id()
    if current is None:
        raise SystemExit("nenhum índice publicado; rode `bpa ingest`")
    loaded = LoadedSnapshot(store.open(current))
    chunks = list(loaded.snapshot.all_chunks().items())
    sel = load_selector(args.weights)
    qvec = make_embedder(settings).embed(["como registrar a interação com o cliente no ticket"], "query")[0]
    cases: list[list[PassageLines]] = []
    views = []
    for rowid, chunk in chunks:
        units = loaded.units_of(rowid)
        views.append(PassageLines(split_units(chunk.text), chunk.section, None if units is None else units @ qvec, 0.8))
    # Serving reads at most 3 passages (ComposeConfig.max_passages). The corpus's passages are
    # short, so consecutive ones are pooled until they hold --lines lines, then cut in three.
    start = 0
    while len(cases) < args.runs and start < len(views):
        lines: list[str] = []
        cos: list[float] = []
        end = start
        while len(lines) < args.lines and end < len(views):
            v = views[end]
            lines += v.lines
            cos += list(v.cosines) if v.cosines is not None else [0.0] * len(v.lines)
            end += 1
        if len(lines) >= args.lines:
            lines, arr = lines[: args.lines], np.array(cos[: args.lines])
            cut = [0, args.lines // 3, 2 * args.lines // 3, args.lines]
            cases.append([PassageLines(lines[a:b], views[start].section, arr[a:b], 0.8)
                          for a, b in itertools.pairwise(cut)])  # fmt: skip
        start = end
    question = "como registrar a interação com o cliente no ticket?"
    per_q, per_line = [], []
    for group in cases:
        n = sum(len(p.lines) for p in group)
        started = time.perf_counter()
        logits = [sel.score_lines(question, p, loaded.idf) for p in group]
        best = int(np.argmax([lg.max() if len(lg) else -1e9 for lg in logits]))
        sel.probability(question, group[best], loaded.idf, logits[best])
        ms = (time.perf_counter() - started) * 1000
        per_q.append(ms)
        per_line.append(ms * args.lines / max(1, n))
    per_q.sort()
    per_line.sort()
    p95 = per_line[max(0, int(0.95 * len(per_line)) - 1)]
    print(f"weights {args.weights.name}: {args.weights.stat().st_size / 1e3:.1f} kB, {sel.name}")
    mean_lines = np.mean([sum(len(p.lines) for p in g) for g in cases])
    print(f"{len(per_q)} questions, 3 passages and {mean_lines:.1f} lines each")
    print(f"per question: p50 {statistics.median(per_q):.2f} ms, p95 {per_q[int(0.95 * len(per_q)) - 1]:.2f} ms, "
          f"max {per_q[-1]:.2f} ms")  # fmt: skip
    print(f"per {args.lines} lines: p50 {statistics.median(per_line):.2f} ms, p95 {p95:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
