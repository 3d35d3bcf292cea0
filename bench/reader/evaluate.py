"""Identity, the cheap selector and the reader side by side on the dev sets, from traces.

Systems (``--systems``): ``identity``, ``selector``, ``reader`` and ``reader-order`` (the
reader's passage order with identity's lines and decision).

Each question runs through the real pipeline (``assistant.answering.pipeline.run``) once per
reranker; every figure is read from the trace: the passages in order (R@1, R@5, MRR@10: a
passage holds a gold phrase), the composed answer (shown or not), the decision and its
probability, and the pipeline's own time for the question (p50/p95, this machine).

Printed per set and pooled: R@1, R@5, MRR@10, answer-hit, first-line, answerable declined,
out-of-scope declined, AUC of the confidence, ECE (10 bins; right = answerable and the
composed answer holds a gold phrase), p50/p95 ms.

``--fit`` recalibrates the reader: sigmoid(a·passage logit + c·line logit + b) fitted on
both dev sets pooled. The figures printed for "reader (CV)" use (a, c, b) fitted by 5-fold
cross-validation (each question scored by parameters fitted without it); the full-data fit
is written into the reader's weights file (its sha256, and so the pipeline's fingerprint,
changes with it). With ``identity`` or ``reader-order`` also run, it prints their hand-made
decision's logistic refitted by the same cross-validation ("identity p (CV)", "reader-order
p (CV)"): the fair comparison with "reader (CV)", since the stored calibration was fitted on
these same sets.

    PYTHONPATH=. python bench/reader/evaluate.py [--weights corpus/reader.npz] [--fit]
        [--passages 6] [--lines 0] [--passage-tokens 128] [--blend 1] [--backend numpy|torch]
        [--systems identity,selector,reader,reader-order] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.answering.pipeline import Components, Question, Trace, run  # noqa: E402
from assistant.answering.reading import ReaderLimits, ReaderOrder, ReaderReranker  # noqa: E402
from assistant.answering.rerank import IdentityReranker, Reranker, SelectorReranker  # noqa: E402
from assistant.answering.retrieval import LoadedSnapshot  # noqa: E402
from assistant.answering.selector import load_selector  # noqa: E402
from assistant.maintenance.evaluation import calibration, composed_hit, hits, load_questions  # noqa: E402
from index.embedding.e5_numpy import load_numpy_reader, read_reader_file  # noqa: E402
from index.errors import NoSnapshotError  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.snapshot import SnapshotStore  # noqa: E402

SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "eval").is_dir()), ROOT.parent / "shared")
SETS = {"dev": SHARED / "eval" / "dev.jsonl", "dev-blind": SHARED / "eval" / "dev-blind.jsonl"}


@dataclass
class Row:
    set: str
    answerable: bool
    declined: bool
    hit: bool  # the composed answer holds a gold phrase (whether or not shown)
    lead_hit: bool  # its first line does
    confidence: float
    ranks: list[bool]  # per passage in the final order (top 10): holds a gold phrase
    ms: float
    features: tuple[float, ...] = ()  # the reader's (passage logit, line logit) of the lead
    signals: tuple[float, ...] = ()  # the hand-made decision's four signals (decide.Signals)


def row(set_name: str, answerable: bool, trace: Trace, gold: tuple[str, ...], ms: float) -> Row:
    hit, lead_hit = composed_hit(trace, gold)
    sel = trace.selection
    return Row(
        set_name, answerable, trace.decision.outcome != "answer", hit, lead_hit, trace.decision.probability,
        [hits(r.chunk.text, gold) for r in trace.ranked[:10]] if gold else [], ms,
        sel.features if sel is not None else (), tuple(trace.signals.features().values()),
    )  # fmt: skip


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])).mean())


def figures(rows: list[Row]) -> dict[str, float]:
    ans = [r for r in rows if r.answerable]
    oos = [r for r in rows if not r.answerable]
    right = [r.answerable and r.hit for r in rows]
    conf = [r.confidence for r in rows]
    ms = np.array([r.ms for r in rows])

    def mean(values: list[bool] | list[float]) -> float:
        return float(np.mean(values)) if values else float("nan")

    return {
        "n": len(rows),
        "r@1": mean([any(r.ranks[:1]) for r in ans]),
        "r@5": mean([any(r.ranks[:5]) for r in ans]),
        "mrr": mean([next((1 / (i + 1) for i, x in enumerate(r.ranks) if x), 0.0) for r in ans]),
        "answer_hit": mean([r.hit and not r.declined for r in ans]),
        "first_line": mean([r.lead_hit and not r.declined for r in ans]),
        "ans_declined": mean([r.declined for r in ans]),
        "oos_declined": mean([r.declined for r in oos]),
        "auc": auc(np.array(conf), np.array(right, dtype=int)),
        "ece": calibration(conf, right)[0],
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
    }


def logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression (L2, C=1) on standardized features, returned
    for the raw ones (a signal with a narrow range, like the hub cosine, is not penalized
    for needing a large weight)."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    lr = LogisticRegression(C=1.0).fit((x - mean) / std, y)
    w = lr.coef_[0].astype(np.float64) / std
    return w, float(lr.intercept_[0] - (w * mean).sum())


def cross_validated(rows: list[Row], x: np.ndarray, threshold: float) -> list[Row]:
    """``rows`` with the confidence of a logistic over ``x`` fitted by 5-fold CV (each row
    scored by weights fitted without it) and declined below ``threshold``."""
    y = np.array([int(r.answerable and r.hit) for r in rows])
    cv = np.zeros(len(rows))
    fold = np.random.default_rng(23).permutation(len(rows)) % 5
    for f in range(5):
        w, b = logistic(x[fold != f], y[fold != f])
        cv[fold == f] = 1 / (1 + np.exp(-(x[fold == f] @ w + b)))
    return [replace(r, confidence=float(p), declined=bool(p < threshold)) for r, p in zip(rows, cv, strict=True)]


def platt_fit(rows: list[Row]) -> tuple[float, float, float]:
    """(a, c, b): sigmoid(a·passage logit + c·line logit + b) on every row."""
    w, b = logistic(np.array([r.features for r in rows]), np.array([int(r.answerable and r.hit) for r in rows]))
    return float(w[0]), float(w[1]), b


def write_platt(path: Path, platt: tuple[float, float, float], limits: ReaderLimits) -> None:
    """The recalibration, and the reading it was fitted for (it holds for those limits only)."""
    meta, arrays = read_reader_file(path)
    meta["platt"] = list(platt)
    meta["calibrated_with"] = {
        "passages": limits.passages, "lines": limits.lines, "blend": limits.blend,
        "passage_tokens": limits.passage_tokens,
    }  # fmt: skip
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, __meta__=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def torch_served(path: Path) -> Any:
    from index.embedding.e5_reader import TorchServed

    return TorchServed(path, threads=2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "corpus" / "reader.npz")
    ap.add_argument("--systems", default="identity,selector,reader,reader-order")
    ap.add_argument("--passages", type=int, default=6)
    ap.add_argument("--lines", type=int, default=0)
    ap.add_argument("--passage-tokens", type=int, default=128, help="tokens per (question, passage) pair")
    ap.add_argument("--blend", type=float, default=1.0)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "torch"], help="what runs the reader")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--fit", action="store_true", help="recalibrate the reader on the pooled dev sets")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    from index.embedding.factory import make_embedder

    settings = Settings()
    embedder = make_embedder(settings)
    try:
        loaded = LoadedSnapshot(SnapshotStore(settings.data_dir, settings.keep_snapshots).open_current())
    except NoSnapshotError as exc:
        raise SystemExit(str(exc)) from exc

    limits = ReaderLimits(
        passages=args.passages, lines=args.lines, blend=args.blend, passage_tokens=args.passage_tokens
    )

    def reader() -> ReaderReranker:
        served = load_numpy_reader(args.weights) if args.backend == "numpy" else torch_served(args.weights)
        return ReaderReranker(served, limits)

    factories: dict[str, Callable[[], Reranker]] = {
        "identity": lambda: IdentityReranker(),
        "selector": lambda: SelectorReranker(load_selector(settings.selector_weights)),
        "reader": reader,
        "reader-order": lambda: ReaderOrder(reader()),
    }
    questions = {name: load_questions(path) for name, path in SETS.items()}
    rows: dict[str, list[Row]] = {}
    out: dict[str, Any] = {"snapshot": loaded.id}
    for name in args.systems.split(","):
        reranker: Reranker = factories[name]()
        out[f"{name} model"] = reranker.name
        components = Components.build(settings, embedder, reranker=reranker)
        rows[name] = []
        for set_name, qs in questions.items():
            for q in qs:
                t0 = time.perf_counter()
                trace = run(Question(q.question, settings.top_k), loaded, components)
                rows[name].append(row(set_name, q.answerable, trace, q.gold, (time.perf_counter() - t0) * 1000))
    if args.fit and "reader" in rows:
        reader_rows = rows["reader"]
        rows["reader (CV)"] = cross_validated(reader_rows, np.array([r.features for r in reader_rows]), args.threshold)
        platt = platt_fit(reader_rows)
        out["platt_fit"] = platt
        write_platt(args.weights, platt, limits)
        print(f"(a, c, b) = {platt} written to {args.weights}", file=sys.stderr)
        if "identity" in rows:
            # The reader as one more signal of today's decision: identity's order and lines,
            # a logistic over the four hand signals and the reader's two logits (CV).
            ident = rows["identity"]
            x = np.array([i.signals + r.features for i, r in zip(ident, reader_rows, strict=True)])
            rows["identity+reader p (CV)"] = cross_validated(ident, x, args.threshold)
            rows["identity p (CV)"] = cross_validated(ident, np.array([i.signals for i in ident]), args.threshold)
    if args.fit and "reader-order" in rows:  # the hand-made decision's logistic refitted on the reader's order
        order = rows["reader-order"]
        rows["reader-order p (CV)"] = cross_validated(order, np.array([r.signals for r in order]), args.threshold)
    keys = ("r@1", "r@5", "mrr", "answer_hit", "first_line", "ans_declined", "oos_declined", "auc", "ece")
    print(f"{'system':22s} {'set':10s} " + " ".join(f"{k[:12]:>12s}" for k in keys) + "      p50/p95 ms")
    for label, rows_ in rows.items():
        per = {s: figures([r for r in rows_ if r.set == s]) for s in SETS} | {"pooled": figures(rows_)}
        out[label] = per
        for s, f in per.items():
            print(
                f"{label:22s} {s:10s} " + " ".join(f"{f[k]:12.3f}" for k in keys) + f"  {f['p50_ms']:6.0f}/"
                f"{f['p95_ms']:.0f}"
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
