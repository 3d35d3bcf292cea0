"""Abstention signals: separation (AUC) and achievable operating points on the dev sets.

Embeds each question once, replays retrieval under the production fusion config, and
computes every candidate signal from scores only (never from the question's wording):

    BPA_DATA_DIR=/tmp/ve5 BPA_EMBEDDER=e5 PYTHONPATH=. .venv/bin/python bench/abstain.py

For each signal: AUC (answerable ranked above unanswerable) per set; the best share of
unanswerable questions declined while wrongly declining at most 5% (dev) / 10% (blind)
of the answerable ones, with a threshold per set and with ONE threshold for both; and,
last, the decline rates of the production rule (assistant.answering.decide) at its threshold.
With --reranker NAME [--reranker-path DIR] the retrieved passages are reordered by that
reranker first, as the pipeline would (retrieve, rerank, decide).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answering.decide import ConfidenceConfig, confidence, hub_cosine, signals  # noqa: E402
from assistant.answering.pipeline import retrieve  # noqa: E402
from assistant.answering.rerank import RerankerError, build_reranker, reorder  # noqa: E402
from assistant.answering.retrieval import Scored  # noqa: E402
from assistant.maintenance.evaluation import load_questions  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from index.embedding.factory import make_embedder  # noqa: E402
from index.hubs import hub_baseline  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.textutil import analyze  # noqa: E402

SETS = {"dev": 0.05, "dev-blind": 0.10}  # set -> wrongly-declined limit


def coverage(question_stems: list[str], passages: list[Scored], idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's stems found in the passages (text and path).

    Measured here, not used by the rule: it separates dev questions but not Slack-style ones.

    Stems the corpus never uses get the median weight: Slack small talk ("oi pessoal")
    should not sink a good question, but a missing key term ("preço") should count.
    """
    stems = set(question_stems)
    if not stems:
        return 0.0
    known = sorted(idf.values())
    median = known[len(known) // 2] if known else 1.0
    present: set[str] = set()
    for p in passages:
        present |= set(analyze(p.chunk.embed_text))
    weights = {s: idf.get(s, median) for s in stems}
    total = sum(weights.values())
    return sum(w for s, w in weights.items() if s in present) / total if total else 0.0


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def rates(pos: list[float], neg: list[float], t: float) -> tuple[float, float]:
    """(declined unanswerable, declined answerable) when declining below t."""
    return sum(n < t for n in neg) / max(1, len(neg)), sum(p < t for p in pos) / max(1, len(pos))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--reranker", default="identity", help="a name of assistant.answering.rerank.RERANKERS")
    ap.add_argument("--reranker-path", type=Path, default=None, help="model directory of --reranker cross-encoder")
    args = ap.parse_args()

    settings = Settings(reranker=args.reranker, reranker_path=args.reranker_path)
    try:
        reranker = build_reranker(settings)
    except RerankerError as e:
        sys.exit(str(e))
    assistant = Assistant(settings, make_embedder(settings))
    loaded = assistant.current()
    baselines = {k: hub_baseline(loaded.matrix, k) for k in (3, 5, 8)}
    # The same correction at the level the composer quotes: each answer unit against its
    # own nearest units (measured, not used by the rule: see assistant/answering/decide.py).
    stored = loaded.prepared.units
    units = np.zeros((0, loaded.matrix.shape[1])) if stored is None else np.asarray(stored)
    unit_hub = hub_baseline(units, 8)
    cc = ConfidenceConfig()

    rows: dict[str, list[tuple[bool, dict[str, float]]]] = {}
    for name in SETS:
        rows[name] = []
        for q in load_questions(args.eval_dir / f"{name}.jsonl"):
            results, query = retrieve(q.question, loaded, assistant.components, 10)
            results = reorder(reranker, q.question, results)
            cos = loaded.matrix @ query.vector
            srt = np.sort(cos)[::-1]
            sig = signals(results, hub_cosine(cos, loaded.hub))
            f = {
                "top3 cosine (old rule)": sig.top_dense,
                "max cosine": float(srt[0]),
                "cosine gap 1-2": float(srt[0] - srt[1]),
                "dense z of top": float((srt[0] - cos.mean()) / (cos.std() or 1.0)),
                "fused top": results[0].score if results else 0.0,
                "fused gap 1-2": results[0].score - results[1].score if len(results) > 1 else 0.0,
                "coverage top2": coverage(analyze(q.question), results[:2], loaded.idf),
                "agreement": float(sig.agreement),
                **{f"hub k={k}": hub_cosine(cos, b) for k, b in baselines.items()},
                "hub k=5 + 0.01 agree (rule)": sig.hub + 0.01 * sig.agreement,
                "unit hub k=8": hub_cosine(units @ query.vector, unit_hub),
                "unit hub k=8 + 0.015 agree": hub_cosine(units @ query.vector, unit_hub) + 0.015 * sig.agreement,
                "confidence (production)": confidence(sig, cc),
            }
            rows[name].append((bool(q.gold), f))

    def split(name: str, key: str) -> tuple[list[float], list[float]]:
        return [f[key] for a, f in rows[name] if a], [f[key] for a, f in rows[name] if not a]

    keys = list(rows["dev"][0][1])
    head = f"{'signal':30}{'AUC dev':>9}{'AUC blind':>10}{'best dev':>10}{'best blind':>11}   one threshold for both"
    print(head)
    for key in keys:
        aucs = [auc(*split(s, key)) for s in SETS]
        per = []
        for s, lim in SETS.items():
            pos, neg = split(s, key)
            per.append(
                max((rates(pos, neg, t)[0] for t in pos + neg if rates(pos, neg, t)[1] <= lim + 1e-9), default=0.0)
            )
        shared: tuple[float, list[tuple[float, float]]] | None = None
        for t in sorted({v for s in SETS for part in split(s, key) for v in part}):
            r = [rates(*split(s, key), t) for s in SETS]
            if all(da <= lim + 1e-9 for (_, da), lim in zip(r, SETS.values(), strict=True)):
                shared = (t, r)
        sh = (
            "-"
            if shared is None
            else f"t={shared[0]:.4f} "
            + "  ".join(f"{s} {du:.2f}/{da:.3f}" for s, (du, da) in zip(SETS, shared[1], strict=True))
        )
        print(f"{key:30}{aucs[0]:9.3f}{aucs[1]:10.3f}{per[0]:10.2f}{per[1]:11.2f}   {sh}")
    print(f"\nproduction rule at threshold {cc.threshold} (declined unanswerable / declined answerable):")
    for s in SETS:
        du, da = rates(*split(s, "confidence (production)"), cc.threshold)
        print(f"  {s:10} {du:.3f} / {da:.3f}")


if __name__ == "__main__":
    main()
