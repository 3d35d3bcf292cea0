"""Identity (today's pipeline) vs the learned selector on the dev sets, from traces.

Each question is answered once by the real pipeline (``Assistant.answer``); the identity
figures are that answer's. The selector's figures re-score the same trace: its candidate
lines (``trace.evidence``) with the stored unit vectors, the lead line and the composed
answer from the selector's scores, the decision from its probability. No stage is re-run.

Printed per set and pooled: answer-hit, first-line, answerable declined, out-of-scope
declined, ECE (10 bins), AUC of the confidence (right vs not right).

``--fit-platt`` fits the selector's two recalibration parameters (a, b) on both dev sets
pooled, reports the figures with (a, b) fitted by 5-fold cross-validation (each question
scored by parameters fitted without it), and writes the full-data fit to the weights file.

    PYTHONPATH=. python bench/selector/evaluate.py [--weights corpus/selector.npz] [--fit-platt]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answering.selector import Selector, load_selector, save_selector
from assistant.compose import Composed, Evidence, compose
from assistant.engine import Assistant, Trace, _unit_cosines
from assistant.evaluation import calibration, hits, load_questions
from bench.selector.train import auc
from index.settings import Settings

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


def lines_hit(composed: Composed, gold: tuple[str, ...]) -> tuple[bool, bool]:
    if not gold or not composed.lines:
        return False, False
    texts = [composed.passages[ln.passage].chunk.text if ln.link else ln.text for ln in composed.lines]
    return hits(" ".join(texts), gold), hits(texts[0], gold)


def selector_pass(assistant: Assistant, sel: Selector, trace: Trace) -> tuple[Composed, float, float]:
    """The trace re-scored by the selector: (composed answer, raw logit, probability)."""
    from assistant.answering.selector import PassageLines

    ev = trace.evidence
    if not ev.units:
        return trace.composed, -10.0, 0.0
    loaded = assistant.current()
    cos = _unit_cosines(loaded, ev.passages, trace.query) or {}
    idf = loaded.idf
    top = ev.passages[0].score
    units = []
    logits_of: dict[int, np.ndarray] = {}
    views: dict[int, PassageLines] = {}
    for pi, p in enumerate(ev.passages):
        own = [u for u in ev.units if u.passage == pi]
        c = cos.get(p.rowid)
        view = PassageLines([u.text for u in own], p.chunk.section, c, float(p.dense))
        views[pi] = view
        logits = sel.score_lines(trace.question, view, idf)
        logits_of[pi] = logits
        prior = p.score - top  # fused scores are z units: a distant passage fades
        for u, lg in zip(own, logits, strict=True):
            units.append(replace(u, score=1.0 / (1.0 + math.exp(-(lg + prior)))))
    rescored = Evidence(ev.passages, units)
    cfg = assistant.composing
    composed = compose(rescored, cfg, None)  # the selector has read the question's form itself
    lead = composed.lead
    pi = lead.passage if lead is not None else 0
    raw = float(sel.passage.logits(_passage_row(sel, trace.question, views[pi], idf, logits_of[pi]))[0])
    a, b = sel.platt
    return composed, raw, 1.0 / (1.0 + math.exp(-(a * raw + b)))


def _passage_row(sel: Selector, question: str, view: Any, idf: Any, logits: np.ndarray) -> np.ndarray:
    from assistant.answering.selector import passage_features

    return passage_features(question, view, idf, logits)[None, :]


def figures(rows: list[Row]) -> dict[str, float]:
    ans = [r for r in rows if r.answerable]
    oos = [r for r in rows if not r.answerable]
    right = [r.answerable and r.hit for r in rows]
    conf = [r.confidence for r in rows]
    return {
        "n": len(rows),
        "answer_hit": np.mean([r.hit and not r.declined for r in ans]) if ans else float("nan"),
        "first_line": np.mean([r.lead_hit and not r.declined for r in ans]) if ans else float("nan"),
        "answerable_declined": np.mean([r.declined for r in ans]) if ans else float("nan"),
        "oos_declined": np.mean([r.declined for r in oos]) if oos else float("nan"),
        "ece": calibration(conf, right)[0],
        "auc": auc(np.array(conf), np.array(right, dtype=int)),
    }


def decide(p: float, threshold: float, agreement: bool) -> bool:
    """Declined? (pointer or refusal: both decline)."""
    return p < threshold


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
    from index.embedding.registry import make_embedder

    settings = Settings()
    assistant = Assistant(settings, make_embedder(settings))
    sel = load_selector(args.weights)
    ident: list[Row] = []
    selr: list[Row] = []
    for name, path in SETS.items():
        for q in load_questions(path):
            answer, trace = assistant.answer(q.question, channel="eval")
            hit, lead_hit = lines_hit(trace.composed, q.gold)
            ident.append(Row(name, q.answerable, answer.abstained, hit, lead_hit, answer.confidence,
                             trace.signals.agreement))  # fmt: skip
            composed, raw, p = selector_pass(assistant, sel, trace)
            hit, lead_hit = lines_hit(composed, q.gold)
            declined = decide(p, args.threshold, trace.signals.agreement)
            selr.append(Row(name, q.answerable, declined, hit, lead_hit, p, trace.signals.agreement, raw))
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
    for label, rows in (("identity", ident), ("selector", selr)):
        out[label] = {s: figures([r for r in rows if r.set == s]) for s in SETS} | {"pooled": figures(rows)}
    keys = ("answer_hit", "first_line", "answerable_declined", "oos_declined", "ece", "auc")
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
