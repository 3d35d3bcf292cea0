"""Compare retrieval / abstention variants on the dev sets in one run.

Embeds each question once (one model call per question, cached), then replays the
production code paths (Retriever.search, confidence.signals, compose) under each
variant, so the figures are those `bpa eval` would print for that configuration.

    BPA_DATA_DIR=/tmp/ve5 BPA_EMBEDDER=e5 PYTHONPATH=. .venv/bin/python bench/tune.py

Prints, per variant and set: recall@1/3/5, MRR@10, answer-hit (abstention off), and then
the abstention signals' separation (AUC) and the decline rates at the configured threshold.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answering.compose import compose  # noqa: E402
from assistant.answering.config import ComposeConfig  # noqa: E402
from assistant.answering.glossary import Glossary  # noqa: E402
from assistant.answering.retrieval import FusionConfig, Query  # noqa: E402
from assistant.maintenance.evaluation import Question, hits, load_questions  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from index.embedding.factory import make_embedder  # noqa: E402
from index.settings import Settings  # noqa: E402

SETS = ("dev", "dev-blind")

BASE = FusionConfig()
VARIANTS: dict[str, FusionConfig] = {
    "lexical only": dataclasses.replace(BASE, lexical_weight=1.0, length_prior=0.0),
    "dense only": dataclasses.replace(BASE, lexical_weight=0.0, length_prior=0.0),
    "z 0.5, no prior": dataclasses.replace(BASE, lexical_weight=0.5, length_prior=0.0),
    "z 0.4, no prior": dataclasses.replace(BASE, length_prior=0.0),
    "default": BASE,
    "prior 0.3": dataclasses.replace(BASE, length_prior=0.3),
    "prior 0.7": dataclasses.replace(BASE, length_prior=0.7),
    "lexical 0.3": dataclasses.replace(BASE, lexical_weight=0.3),
    "lexical 0.5": dataclasses.replace(BASE, lexical_weight=0.5),
    "section 1": dataclasses.replace(BASE, section_weight=1.0),
    "section 3": dataclasses.replace(BASE, section_weight=3.0),
    "b 0.5": dataclasses.replace(BASE, b=0.5),
    "k1 2.0": dataclasses.replace(BASE, k1=2.0),
    "prf 0.5": dataclasses.replace(BASE, prf_weight=0.5),
}


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a random answerable question scores above a random unanswerable one)."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--only", nargs="*", help="variant names to run")
    ap.add_argument("--glossary", type=Path, help="another glossary file (e.g. to measure an edit)")
    args = ap.parse_args()

    settings = Settings()
    glossary = Glossary.load(args.glossary) if args.glossary else None
    assistant = Assistant(settings, make_embedder(settings), glossary=glossary)
    loaded = assistant.current()
    sets = {name: load_questions(args.eval_dir / f"{name}.jsonl") for name in SETS}
    queries: dict[str, Query] = {}
    for qs in sets.values():
        for q in qs:
            query = assistant.components.retriever.prepare(q.question, assistant.glossary.expand(q.question))
            assistant.components.retriever.embed(query)
            queries[q.id] = query

    def run(cfg: FusionConfig, qs: list[Question]) -> tuple[dict[str, float], list[tuple[Question, list]]]:
        assistant.components.retriever.config = cfg
        rows = []
        r1 = r3 = r5 = mrr = ah = 0.0
        for q in qs:
            query = queries[q.id]
            results = assistant.components.retriever.search(loaded, query, 10)
            rows.append((q, results))
            if not q.gold:
                continue
            ranked = [hits(r.chunk.section + "\n" + r.chunk.text, q.gold) for r in results]
            r1 += any(ranked[:1])
            r3 += any(ranked[:3])
            r5 += any(ranked[:5])
            mrr += next((1 / (i + 1) for i, x in enumerate(ranked) if x), 0.0)
            composed = compose(results, query.stems, loaded.idf, ComposeConfig())
            ah += hits(" ".join(u.text for u in composed.units), q.gold)
        n = sum(1 for q in qs if q.gold) or 1
        figures = {"r@1": r1 / n, "r@3": r3 / n, "r@5": r5 / n, "mrr": mrr / n, "hit": ah / n}
        return figures, rows

    names = args.only or list(VARIANTS)
    print(f"{'variant':24}" + "".join(f"{s + ' ' + m:>14}" for s in SETS for m in ("r@1", "r@3", "r@5", "mrr", "hit")))
    for name in names:
        figs = [run(VARIANTS[name], sets[s])[0] for s in SETS]
        print(f"{name:24}" + "".join(f"{f[m]:14.3f}" for f in figs for m in ("r@1", "r@3", "r@5", "mrr", "hit")))

    # Abstention is measured by bench/abstain.py.


if __name__ == "__main__":
    main()
