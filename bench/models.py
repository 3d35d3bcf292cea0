"""Embedding model comparison, in one run, on the dev sets.

For each packaged backend it builds a snapshot of corpus/ and runs `bpa eval` on each
question set, printing one row per (model, set): the full pipeline's figures, dense
retrieval alone over our chunks, and ingest time. This is how the default was chosen.
With --reranker, the pipeline's top passages are reordered by that reranker (as
assistant.answering.rerank builds it) before the ranking figures and the answer are computed.

    .venv/bin/python bench/models.py [--models e5,minilm,use] [--sets ../shared/eval/dev.jsonl,...]
        [--reranker cross-encoder --reranker-path DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answering.rerank import RerankerError, build_reranker  # noqa: E402
from assistant.maintenance.evaluation import hits, load_questions, run_eval  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from index.embedding.factory import make_embedder  # noqa: E402
from index.settings import Settings  # noqa: E402
from ingest.pipeline import run_ingest  # noqa: E402

DEFAULT_SETS = [ROOT.parent / "shared" / "eval" / "dev.jsonl", ROOT.parent / "shared" / "eval" / "dev-blind.jsonl"]


def dense_only_recall(assistant: Assistant, path: Path, k: int = 5) -> float:
    """Recall@k of the dense retriever alone over our chunks (no lexical, no fusion)."""
    loaded = assistant.current()
    qs = [q for q in load_questions(path) if q.gold]
    found = 0
    for q in qs:
        query = assistant.components.retriever.prepare(q.question, assistant.glossary.expand(q.question))
        res = assistant.components.retriever.search(loaded, query, k, None, use_dense=True, use_lexical=False)
        found += any(hits(r.chunk.section + "\n" + r.chunk.text, q.gold) for r in res)
    return found / len(qs)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="e5,minilm,use")
    p.add_argument("--sets", default=",".join(str(s) for s in DEFAULT_SETS))
    p.add_argument("--reranker", default="identity", help="a name of assistant.answering.rerank.RERANKERS")
    p.add_argument("--reranker-path", type=Path, default=None, help="model directory of --reranker cross-encoder")
    args = p.parse_args()
    try:
        reranker = build_reranker(Settings(reranker=args.reranker, reranker_path=args.reranker_path))
    except RerankerError as e:
        sys.exit(str(e))
    print(f"reranker: {reranker.name}")
    sets = [Path(s) for s in args.sets.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bpa-models-"))
    header = f"{'model':<8} {'set':<16} {'ingest s':>8} {'dense r@5':>9} {'r@1':>6} {'r@5':>6} {'mrr':>6} "
    header += f"{'ans_hit':>7} {'decl_un':>7} {'decl_ans':>8} {'p95 ms':>7}"
    print(header)
    try:
        for name in args.models.split(","):
            settings = Settings(data_dir=work / name, embedder=name, sources=ROOT / "corpus" / "sources.toml",
                                glossary=ROOT / "corpus" / "glossary.toml")  # fmt: skip
            embedder = make_embedder(settings)
            started = time.perf_counter()
            run_ingest(settings, embedder)
            ingest_s = time.perf_counter() - started
            assistant = Assistant(settings, embedder, reranker=reranker)
            for s in sets:
                r = run_eval(settings, assistant, load_questions(s), k=5)
                print(
                    f"{name:<8} {s.stem:<16} {ingest_s:8.1f} {dense_only_recall(assistant, s):9.3f} "
                    f"{r['recall@1']:6.3f} {r['recall@5']:6.3f} {r['mrr@10']:6.3f} {r['answer_hit']:7.3f} "
                    f"{r['declined_unanswerable']:7.3f} {r['declined_answerable']:8.3f} {r['p95_ms']:7.1f}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
