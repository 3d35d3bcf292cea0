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
from assistant.answering.selector import PassageLines, clear_cache, load_selector
from index.errors import NoSnapshotError
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
    try:
        loaded = LoadedSnapshot(SnapshotStore(settings.data_dir, settings.keep_snapshots).open_current())
    except NoSnapshotError as exc:
        raise SystemExit(str(exc)) from exc
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

    def timed(group: list[PassageLines]) -> float:
        started = time.perf_counter()
        logits = [sel.score_lines(question, p, loaded.idf) for p in group]
        best = int(np.argmax([lg.max() if len(lg) else -1e9 for lg in logits]))
        sel.probability(question, group[best], loaded.idf, logits[best])
        return (time.perf_counter() - started) * 1000

    # Cold: the line-analysis cache emptied before each question (every line read for the first
    # time); warm: the lines seen before (a served corpus repeats its lines across questions).
    cold, warm = [], []
    for n in range(args.runs):
        group = cases[n % len(cases)]
        clear_cache()
        cold.append(timed(group))
        warm.append(timed(group))
    print(f"weights {args.weights.name}: {args.weights.stat().st_size / 1e3:.1f} kB, {sel.name}")
    print(f"{args.runs} questions over {len(cases)} distinct sets of 3 passages / {args.lines} lines")
    for label, xs in (("cold", sorted(cold)), ("warm", sorted(warm))):
        p95 = xs[max(0, int(0.95 * len(xs)) - 1)]
        print(f"{label}: p50 {statistics.median(xs):.2f} ms, p95 {p95:.2f} ms, max {xs[-1]:.2f} ms per question")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
