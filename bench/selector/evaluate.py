"""Identity (today's pipeline) vs the learned selector on the dev sets, from traces.

Each question runs through the real pipeline (``assistant.answering.pipeline.run``) twice,
with the ``identity`` reranker and with ``selector`` (BPA_RERANKER=selector); the figures
are read from the traces: the composed answer (shown or not), the decision, its probability.

Printed per set and pooled: answer-hit, first-line, answerable declined, out-of-scope
declined, ECE (10 bins), AUC of the confidence (right = answerable and the composed answer
holds a gold phrase).

``--fit-platt`` fits the selector's two recalibration parameters (a, b) on both dev sets
pooled, reports the figures with (a, b) fitted by 5-fold cross-validation (each question
scored by parameters fitted without it; declined = below the threshold), and writes the
full-data fit into the weights file.

    PYTHONPATH=. python bench/selector/evaluate.py [--fit-platt] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answering.pipeline import Components, Question, Trace, run
from assistant.answering.rerank import IdentityReranker, Reranker, SelectorReranker
from assistant.answering.retrieval import LoadedSnapshot
from assistant.answering.selector import load_selector, save_selector
from assistant.maintenance.evaluation import calibration, composed_hit, load_questions
from bench.selector.train import auc
from index.errors import NoSnapshotError
from index.settings import Settings
from index.snapshot import SnapshotStore

ROOT = Path(__file__).resolve().parents[2]
SETS = {"dev": Path("/work/shared/eval/dev.jsonl"), "dev-blind": Path("/work/shared/eval/dev-blind.jsonl")}


@dataclass
class Row:
    set: str
    answerable: bool
    declined: bool
    hit: bool  # the composed answer holds a gold phrase (whether or not shown)
    lead_hit: bool  # its first line does
    confidence: float
    agreement: bool
    raw: float = 0.0  # the selector's uncalibrated logit (for the Platt fit)


def row(set_name: str, answerable: bool, trace: Trace, gold: tuple[str, ...]) -> Row:
    hit, lead_hit = composed_hit(trace, gold)
    sel = trace.selection
    return Row(
        set_name, answerable, trace.decision.outcome != "answer", hit, lead_hit, trace.decision.probability,
        trace.signals.agreement, sel.raw if sel is not None else 0.0,
    )  # fmt: skip


def figures(rows: list[Row]) -> dict[str, float]:
    ans = [r for r in rows if r.answerable]
    oos = [r for r in rows if not r.answerable]
    right = [r.answerable and r.hit for r in rows]
    conf = [r.confidence for r in rows]
    return {
        "n": len(rows),
        "answer_hit": np.mean([r.hit and not r.declined for r in ans]) if ans else float("nan"),
        "first_line": np.mean([r.lead_hit and not r.declined for r in ans]) if ans else float("nan"),
        "first_line_any": np.mean([r.lead_hit for r in ans]) if ans else float("nan"),
        "answerable_declined": np.mean([r.declined for r in ans]) if ans else float("nan"),
        "oos_declined": np.mean([r.declined for r in oos]) if oos else float("nan"),
        "ece": calibration(conf, right)[0],
        "auc": auc(np.array(conf), np.array(right, dtype=int)),
    }


def platt_fit(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0).fit(raw[:, None], y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "corpus" / "selector.npz")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--fit-platt", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    from index.embedding.factory import make_embedder

    settings = Settings()
    embedder = make_embedder(settings)
    try:
        loaded = LoadedSnapshot(SnapshotStore(settings.data_dir, settings.keep_snapshots).open_current())
    except NoSnapshotError as exc:
        raise SystemExit(str(exc)) from exc
    sel = load_selector(args.weights)
    systems: dict[str, Reranker] = {"identity": IdentityReranker(), "selector": SelectorReranker(sel)}
    rows: dict[str, list[Row]] = {name: [] for name in systems}
    for name, reranker in systems.items():
        components = Components.build(settings, embedder, reranker=reranker)
        for set_name, path in SETS.items():
            for q in load_questions(path):
                trace = run(Question(q.question, settings.top_k), loaded, components)
                rows[name].append(row(set_name, q.answerable, trace, q.gold))
    ident, selr = rows["identity"], rows["selector"]
    # The selector's lines with today's decision (its probability and outcome, from the identity trace).
    hybrid = [replace(s, declined=i.declined, confidence=i.confidence) for i, s in zip(ident, selr, strict=True)]
    out: dict[str, Any] = {"selector": sel.name, "platt": sel.platt}
    if args.fit_platt:
        raw = np.array([r.raw for r in selr])
        y = np.array([int(r.answerable and r.hit) for r in selr])
        cv = np.zeros(len(selr))
        rng = np.random.default_rng(18)
        fold = rng.permutation(len(selr)) % 5
        for f in range(5):
            a, b = platt_fit(raw[fold != f], y[fold != f])
            cv[fold == f] = 1 / (1 + np.exp(-(a * raw[fold == f] + b)))
        cv_rows = [
            replace(r, confidence=float(c), declined=bool(c < args.threshold)) for r, c in zip(selr, cv, strict=True)
        ]
        a, b = platt_fit(raw, y)
        out["platt_fit"] = (a, b)
        out["selector (Platt, 5-fold CV on pooled dev)"] = {
            s: figures([r for r in cv_rows if r.set == s]) for s in SETS
        } | {"pooled": figures(cv_rows)}
        save_selector(args.weights, sel.lines, sel.passage, (a, b))
        print(f"Platt (a, b) = ({a:.4f}, {b:.4f}) written to {args.weights}", file=sys.stderr)
    for label, rows_ in (("identity", ident), ("selector", selr), ("selector lines, today's decision", hybrid)):
        out[label] = {s: figures([r for r in rows_ if r.set == s]) for s in SETS} | {"pooled": figures(rows_)}
    keys = ("answer_hit", "first_line", "first_line_any", "answerable_declined", "oos_declined", "ece", "auc")
    print(f"{'system':44s} {'set':10s} " + " ".join(f"{k[:10]:>10s}" for k in keys))
    for label, per in out.items():
        if not isinstance(per, dict) or "pooled" not in per:
            continue
        for s, f in per.items():
            print(f"{label:44s} {s:10s} " + " ".join(f"{f[k]:10.3f}" for k in keys))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
