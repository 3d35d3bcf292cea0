"""Train the answer-line selector and the abstention model (CPU, minutes), pick by grouped CV.

Reads what bench/selector/build_data.py wrote (``--data``), computes the features with the
serving code (assistant/answering/selector.py), and compares by 5-fold cross-validation
grouped by article (a Wikipedia article, a FAQ topic, a corpus section never sits on both
sides of a fold):

- line model: logistic regression vs a one-hidden-layer MLP, against three baselines
  (first line, highest e5 cosine, highest IDF-weighted overlap); figure: top-1 / top-2
  (the best-scored line holds the answer), on the SQuAD 2.0-pt own-paragraph groups;
- abstention model: logistic vs MLP on passage features (the line model's out-of-fold
  best score, coverage of the question, cosines); figure: AUC of present vs absent (the
  nearest same-topic passage, unanswerable questions), overall and per source.

The chosen models are refitted on everything and written to ``--weights`` (npz, no pickle);
Platt (a, b) starts at (1, 0): only bench/selector/evaluate.py --fit-platt recalibrates it
on the pooled dev sets. ``--fixture`` runs the whole path on the tiny committed fixture in
seconds (CI): build, features, CV, export, reload.

    PYTHONPATH=. python bench/selector/train.py [--data var/selector] [--weights corpus/selector.npz]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answering.selector import (
    LINE_FEATURES,
    PASSAGE_FEATURES,
    Head,
    PassageLines,
    line_features,
    load_selector,
    passage_features,
    save_selector,
)
from index.textutil import analyze

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "corpus" / "selector.npz"


def corpus_idf(groups: list[dict[str, Any]]) -> dict[str, float]:
    """IDF over the training passages (section + lines), with the lexical index's formula."""
    seen: dict[str, set[str]] = {}
    for g in groups:
        if g["passage"] not in seen:
            stems = set(analyze(g["section"]))
            for line in g["lines"]:
                stems.update(analyze(line))
            seen[g["passage"]] = stems
    df: dict[str, int] = {}
    for stems in seen.values():
        for s in stems:
            df[s] = df.get(s, 0) + 1
    n = len(seen)
    return {s: math.log(1 + (n - d + 0.5) / (d + 0.5)) for s, d in df.items()}


def passage_hubs(groups: list[dict[str, Any]], m: np.ndarray) -> dict[int, float]:
    """Each training passage's hub baseline among the passages of its own source (a corpus),
    computed as ingest computes it for the snapshot (index.hubs.hub_baseline)."""
    from index.hubs import HUB_K, hub_baseline

    rows_by_source: dict[str, set[int]] = {}
    for g in groups:
        rows_by_source.setdefault(g["source"].split("-")[0], set()).add(g["p_row"])
    out: dict[int, float] = {}
    for rows in rows_by_source.values():
        ordered = sorted(rows)
        if len(ordered) < 2:
            out.update({r: 0.0 for r in ordered})
            continue
        base = hub_baseline(m[ordered].astype(np.float32), min(HUB_K, len(ordered) - 1))
        out.update({r: float(b) for r, b in zip(ordered, base, strict=True)})
    return out


def passage_of(g: dict[str, Any], m: np.ndarray, hubs: dict[int, float]) -> PassageLines:
    q = m[g["q_row"]]
    cos = m[g["line_rows"]] @ q if g["line_rows"] else np.zeros(0)
    return PassageLines(g["lines"], g["section"], cos, float(m[g["p_row"]] @ q), hubs[g["p_row"]])


def fit_head(x: np.ndarray, y: np.ndarray, kind: str, seed: int = 0) -> Head:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    if kind == "logistic":
        lr = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
        lr.fit(z, y)
        return Head(mean, scale, lr.coef_.T.copy(), lr.intercept_.copy())
    hidden = int(kind.removeprefix("mlp"))
    mlp = MLPClassifier(
        hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=300, early_stopping=True, random_state=seed,
        n_iter_no_change=10,
    )  # fmt: skip
    mlp.fit(z, y)
    return Head(mean, scale, mlp.coefs_[0], mlp.intercepts_[0], mlp.coefs_[1], mlp.intercepts_[1])


def folds(articles: Sequence[str], k: int) -> np.ndarray:
    """Fold of each row, by article, balanced by size (deterministic)."""
    sizes: dict[str, int] = {}
    for a in articles:
        sizes[a] = sizes.get(a, 0) + 1
    load = [0] * k
    fold_of: dict[str, int] = {}
    for a in sorted(sizes, key=lambda a: (-sizes[a], a)):
        f = int(np.argmin(load))
        fold_of[a] = f
        load[f] += sizes[a]
    return np.array([fold_of[a] for a in articles])


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def topk(groups_scores: list[np.ndarray], answers: list[list[int]], k: int) -> float:
    pairs = zip(groups_scores, answers, strict=True)
    hit = [bool(set(np.argsort(-s, kind="stable")[:k].tolist()) & set(a)) for s, a in pairs]
    return float(np.mean(hit)) if hit else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "var" / "selector")
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--models", default="logistic,mlp16,mlp32")
    ap.add_argument("--fixture", action="store_true", help="build and train on the tiny fixture (seconds)")
    args = ap.parse_args(argv)
    tmp = None
    if args.fixture:
        from bench.selector import build_data

        tmp = tempfile.TemporaryDirectory()
        args.data = Path(tmp.name) / "data"
        build_data.main(["--fixture", "--out", str(args.data)])
        if args.weights == WEIGHTS:
            args.weights = Path(tmp.name) / "selector.npz"
        args.folds = 2
        args.models = "logistic,mlp4"
    started = time.time()
    groups: list[dict[str, Any]] = json.loads((args.data / "groups.json").read_text(encoding="utf-8"))
    m = np.load(args.data / "vectors.npz")["vectors"].astype(np.float64)
    idf = corpus_idf(groups)
    hubs = passage_hubs(groups, m)
    passages = [passage_of(g, m, hubs) for g in groups]
    feats = [line_features(g["question"], p, idf) for g, p in zip(groups, passages, strict=True)]
    fold = folds([g["article"] for g in groups], args.folds)
    labelled = [i for i, g in enumerate(groups) if g["answer_lines"]]
    report: dict[str, Any] = {"groups": len(groups), "labelled_groups": len(labelled), "features": len(LINE_FEATURES)}
    print(f"features for {len(groups)} groups in {time.time() - started:.0f} s", file=sys.stderr)

    # --- line model: grouped CV --------------------------------------------------------------
    answers = [groups[i]["answer_lines"] for i in labelled]
    baselines = {
        "first line": [np.arange(len(feats[i]))[::-1].astype(float) for i in labelled],
        "e5 cosine": [feats[i][:, LINE_FEATURES.index("cos")] for i in labelled],
        "IDF overlap": [feats[i][:, LINE_FEATURES.index("overlap")] for i in labelled],
    }
    line_cv: dict[str, dict[str, float]] = {
        name: {"top1": topk(s, answers, 1), "top2": topk(s, answers, 2)} for name, s in baselines.items()
    }
    models = args.models.split(",")
    oof: dict[str, list[np.ndarray]] = {name: [np.zeros(0)] * len(groups) for name in models}
    for name in models:
        for f in range(args.folds):
            train = [i for i in labelled if fold[i] != f]
            x = np.concatenate([feats[i] for i in train])
            y = np.concatenate([np.isin(np.arange(len(feats[i])), groups[i]["answer_lines"]) for i in train])
            head = fit_head(x, y.astype(int), name)
            for i in range(len(groups)):
                if fold[i] == f:
                    oof[name][i] = head.logits(feats[i]) if len(feats[i]) else np.zeros(0)
        scored = [oof[name][i] for i in labelled]
        line_cv[name] = {"top1": topk(scored, answers, 1), "top2": topk(scored, answers, 2)}
        print(f"line {name}: {line_cv[name]}", file=sys.stderr)
    best_line = max(models, key=lambda n: line_cv[n]["top1"])
    report["line_cv"] = line_cv
    report["line_model"] = best_line

    # --- abstention model on the chosen line model's out-of-fold scores ----------------------
    px = np.array([passage_features(g["question"], p, idf, oof[best_line][i])
                   for i, (g, p) in enumerate(zip(groups, passages, strict=True))])  # fmt: skip
    py = np.array([int(g["present"]) for g in groups])
    sources = np.array([g["source"] for g in groups])
    passage_cv: dict[str, dict[str, float]] = {
        "coverage alone": {"auc": auc(px[:, PASSAGE_FEATURES.index("coverage")], py)},
        "passage cosine alone": {"auc": auc(px[:, PASSAGE_FEATURES.index("passage_cos")], py)},
        "hub-corrected cosine alone": {"auc": auc(px[:, PASSAGE_FEATURES.index("passage_csls")], py)},
    }
    p_models = [n for n in models if n == "logistic" or n.startswith("mlp")]
    p_oof: dict[str, np.ndarray] = {}
    for name in p_models:
        out = np.zeros(len(groups))
        for f in range(args.folds):
            tr, te = fold != f, fold == f
            if len(set(py[tr])) < 2:
                continue
            out[te] = fit_head(px[tr], py[tr], name).logits(px[te])
        p_oof[name] = out
        per_source = {s: auc(out[sources == s], py[sources == s]) for s in sorted(set(sources))}
        passage_cv[name] = {"auc": auc(out, py), **{f"auc {s}": v for s, v in per_source.items()}}
        print(f"passage {name}: {passage_cv[name]}", file=sys.stderr)
    best_passage = max(p_models, key=lambda n: passage_cv[n]["auc"])
    report["passage_cv"] = passage_cv
    report["passage_model"] = best_passage
    # The decline rate on CV negatives / positives at the threshold p = .5 of the raw model.
    raw = p_oof[best_passage]
    report["passage_cv_at_0.5"] = {
        "declined_present": float(np.mean(raw[py == 1] < 0)), "declined_absent": float(np.mean(raw[py == 0] < 0)),
    }  # fmt: skip

    # --- final fit on everything and export -------------------------------------------------------
    x = np.concatenate([feats[i] for i in labelled])
    y = np.concatenate([np.isin(np.arange(len(feats[i])), groups[i]["answer_lines"]) for i in labelled]).astype(int)
    line_head = fit_head(x, y, best_line)
    passage_head = fit_head(px, py, best_passage)  # on out-of-fold line scores, as at serving on unseen text
    save_selector(args.weights, line_head, passage_head, (1.0, 0.0))
    sel = load_selector(args.weights)
    report["weights"] = str(args.weights)
    report["weights_bytes"] = args.weights.stat().st_size
    report["fingerprint"] = sel.fingerprint
    report["seconds"] = round(time.time() - started, 1)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
