"""Quality on a public Portuguese reading-comprehension set nobody here wrote (issue 18, item 6).

The set is SQuAD-format (default: nunorc/squad-v1.1-pt @ da73fd9, ``docs/sample-v1.1-pt.json``,
machine-translated Wikipedia paragraphs, read from ``../shared`` at run time and never
committed; FaQuAD is a held-out judge and is never used here). Each paragraph becomes one
HTML document titled "<article> §n" under ``--cache`` (default ``var/bench-external``), and
the documents go through the real ingest (files source, parser, chunker, the embedder) into
that folder's own data dir: a second run over an unchanged set embeds nothing.

Every question whose answer is aligned with its paragraph is asked through the real answer
pipeline; the figures are read from its trace, no stage is run again:

- R@1, R@5, MRR@10, nDCG@10 by paragraph: the gold document is the question's own paragraph
  (spans are not phrase-matched: short answers such as "um" occur everywhere);
- answer-hit: the answer span (case, accent and whitespace folded) is inside the shown answer;
  first-line: inside its first line; answerable declined: the outcome is not "answer";
  ECE of the confidence against "the composed answer holds the span"; ask p50/p95;
- beside a baseline in the same run: bm25s with PyStemmer's Snowball Portuguese stemmer and
  bm25s's Portuguese stopwords over the same documents (title and paragraph).

Dropped questions: the answer text is not in the paragraph, or ``answer_start`` is 0 and the
paragraph does not start with it (the translation failed to align the span).

    .venv/bin/python bench/external.py                         # the whole sample, e5
    .venv/bin/python bench/external.py --limit 300 --reranker selector --json
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import math
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bench.ingest import run as run_ingest_child  # noqa: E402
from bench.ingest import toml_source  # noqa: E402
from bench.load import percentile  # noqa: E402

# The shared data, beside the repository (or beside the worktrees' folder).
SHARED = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.exists()), Path("shared"))
DATA = SHARED / "data" / "qa-pt" / "squad-v1.1-pt-sample"
SOURCE = "leitura"
CORPUS = "corpus"  # the documents' folder, beside the set's sources.toml
SEED = 12
DEPTH = 10  # ranks past this count as not found (MRR@10, nDCG@10)


@dataclass(frozen=True)
class Paragraph:
    key: str  # the document's file, relative to the sources file (the files source's key)
    title: str
    text: str


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answers: tuple[str, ...]
    paragraph: int  # index into the paragraphs


# --- the set ----------------------------------------------------------------------------------
def set_file(data: Path) -> Path:
    """The SQuAD JSON file: ``data`` itself, or the one ``*.json`` in the folder ``data``."""
    if data.is_file():
        return data
    found = sorted(data.glob("*.json")) if data.is_dir() else []
    if len(found) != 1:
        what = "não existe" if not data.exists() else f"tem {len(found)} arquivos .json (esperado 1)"
        raise SystemExit(f"--data {data}: {what}")
    return found[0]


def aligned(context: str, text: str, start: int) -> bool:
    """Whether a SQuAD answer sits in its paragraph (a failed alignment has ``answer_start`` 0)."""
    if not text.strip() or text not in context:
        return False
    return start != 0 or context.startswith(text)


def load_squad(path: Path) -> tuple[list[Paragraph], list[Item], int]:
    """Paragraphs, the questions with an aligned answer, and how many were dropped."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        articles = raw["data"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise SystemExit(f"{path}: não é um arquivo SQuAD legível ({e})") from e
    paragraphs: list[Paragraph] = []
    items: list[Item] = []
    dropped = 0
    try:
        for a, article in enumerate(articles):
            name = str(article.get("title") or f"artigo {a + 1}").replace("_", " ")
            for n, para in enumerate(article["paragraphs"], 1):
                context = str(para["context"])
                index = len(paragraphs)
                paragraphs.append(Paragraph(f"{CORPUS}/{a:03d}-{n:04d}.html", f"{name} §{n}", context))
                for qa in para["qas"]:
                    answers = tuple(
                        str(ans["text"])
                        for ans in qa.get("answers") or ()
                        if aligned(context, str(ans["text"]), int(ans.get("answer_start", 0)))
                    )
                    if not answers:
                        dropped += 1
                        continue
                    items.append(Item(str(qa["id"]), str(qa["question"]), answers, index))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SystemExit(f"{path}: formato SQuAD inválido ({e!r})") from e
    return paragraphs, items, dropped


def sample(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    """``limit`` questions drawn with ``seed`` (in the set's order), or all of them."""
    if limit is None or limit >= len(items):
        return items
    chosen = set(random.Random(seed).sample(range(len(items)), limit))
    return [item for i, item in enumerate(items) if i in chosen]


# --- the corpus -------------------------------------------------------------------------------
def page(paragraph: Paragraph) -> str:
    # The text is escaped, so the parsed document holds the paragraph verbatim (the
    # translation left entities such as "&quot;" in it, and in the answers too).
    title = html.escape(paragraph.title)
    return (
        f'<!DOCTYPE html>\n<html lang="pt"><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body><p>{html.escape(paragraph.text)}</p></body></html>\n"
    )


def write_corpus(folder: Path, paragraphs: list[Paragraph]) -> Path:
    """One page per paragraph under ``folder``/corpus and ``folder``/sources.toml naming them.
    Pages are rewritten only when their text changed, and pages of paragraphs no longer in
    the set are removed (the sources file is the truth for the ingest)."""
    pages = folder / CORPUS
    pages.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for paragraph in paragraphs:
        path = folder / paragraph.key
        wanted[path] = page(paragraph)
        if not path.exists() or path.read_text(encoding="utf-8") != wanted[path]:
            path.write_text(wanted[path], encoding="utf-8")
    for stale in set(pages.glob("*.html")) - set(wanted):
        stale.unlink()
    sources = folder / "sources.toml"
    body = "# Written by bench/external.py: one page per paragraph of the set.\n"
    body += toml_source(SOURCE, {"type": "files", "path": f"{CORPUS}/*.html"})
    sources.write_text(body, encoding="utf-8")
    return sources


# --- metrics ----------------------------------------------------------------------------------
def first_rank(ranked: list[int], gold: int) -> int | None:
    """The 1-based rank of ``gold`` among distinct ``ranked`` documents, None when absent."""
    seen: list[int] = []
    for doc in ranked:
        if doc not in seen:
            seen.append(doc)
            if doc == gold:
                return len(seen)
    return None


def retrieval_metrics(ranks: list[int | None]) -> dict[str, float]:
    """R@1, R@5, MRR@10 and nDCG@10 with one relevant document per question (the ideal DCG
    is then 1, and a hit at rank r gains 1/log2(r + 1))."""
    n = len(ranks) or 1
    found = [r for r in ranks if r is not None and r <= DEPTH]
    return {
        "recall@1": round(sum(r == 1 for r in found) / n, 4),
        "recall@5": round(sum(r <= 5 for r in found) / n, 4),
        "mrr@10": round(sum(1 / r for r in found) / n, 4),
        "ndcg@10": round(sum(1 / math.log2(r + 1) for r in found) / n, 4),
    }


def bm25_ranks(paragraphs: list[Paragraph], items: list[Item]) -> list[int | None]:
    """The gold paragraph's rank under bm25s (Lucene BM25, its defaults) with Snowball
    Portuguese stemming and Portuguese stopwords; documents scoring 0 are not retrieved."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("portuguese")
    texts = [f"{p.title}\n{p.text}" for p in paragraphs]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="pt", stemmer=stemmer, show_progress=False), show_progress=False)
    # Strings, not ids: query ids from a second tokenize call would not match the index's vocabulary.
    queries = bm25s.tokenize(
        [item.question for item in items], stopwords="pt", stemmer=stemmer, return_ids=False, show_progress=False
    )
    k = min(DEPTH, len(texts))
    ranks: list[int | None] = []
    for item, tokens in zip(items, queries, strict=True):
        if not tokens:
            ranks.append(None)
            continue
        docs, scores = retriever.retrieve([tokens], k=k, show_progress=False)
        ranked = [int(d) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        ranks.append(first_rank(ranked, item.paragraph))
    return ranks


# --- the pipeline -----------------------------------------------------------------------------
def settings_for(data_dir: Path, sources: Path, embedder: str, reranker: str | None) -> Any:
    from index.settings import Settings

    # The project's own glossary and calibration, wherever the bench is run from.
    base = Settings(
        data_dir=data_dir, sources=sources, embedder=embedder, **({"reranker": reranker} if reranker else {})
    )
    update = {
        name: ROOT / getattr(base, name)
        for name in ("glossary", "calibration")
        if not getattr(base, name).is_absolute()
    }
    return base.model_copy(update=update)


def ask_all(settings: Any, paragraphs: list[Paragraph], items: list[Item]) -> dict[str, Any]:
    """Every question through the answer pipeline and its rendering, as ``bpa eval`` runs
    them (the service's components, nothing recorded); ranks, hits and outcomes from the trace."""
    from assistant.answering import pipeline
    from assistant.maintenance.evaluation import calibration, composed_hit
    from assistant.render import render
    from assistant.service import Assistant
    from assistant.types import Ask
    from index.embedding.factory import make_embedder

    assistant = Assistant(settings, make_embedder(settings))
    loaded = assistant.current()
    components = assistant.components
    by_key = {p.key: i for i, p in enumerate(paragraphs)}
    doc_paragraph = {d.id: by_key[d.key] for d in loaded.snapshot.documents() if d.source == SOURCE and d.key in by_key}
    if len(doc_paragraph) != len(paragraphs):
        raise SystemExit(f"o índice tem {len(doc_paragraph)} dos {len(paragraphs)} parágrafos: refaça a ingestão")
    pipeline.run(assistant.question(Ask("aquecimento do modelo")), loaded, components)  # latency: a warm process
    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    for item in items:
        started = time.perf_counter()
        trace = pipeline.run(assistant.question(Ask(item.question)), loaded, components)
        answer = render(trace, loaded, answer_id="")
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = [doc_paragraph[r.chunk.document_id] for r in trace.ranked if r.chunk.document_id in doc_paragraph]
        would_hit, would_lead = composed_hit(trace, item.answers)
        shown = answer.outcome == "answer"
        rows.append({
            "id": item.id, "rank": first_rank(ranked, item.paragraph), "outcome": answer.outcome,
            "answer_hit": shown and would_hit, "first_line_hit": shown and would_lead,
            "would_hit": would_hit, "confidence": answer.confidence,
        })  # fmt: skip
    n = len(rows) or 1
    result: dict[str, Any] = retrieval_metrics([r["rank"] for r in rows])
    result["answer_hit"] = round(sum(r["answer_hit"] for r in rows) / n, 4)
    result["first_line_hit"] = round(sum(r["first_line_hit"] for r in rows) / n, 4)
    result["declined_answerable"] = round(sum(r["outcome"] != "answer" for r in rows) / n, 4)
    # Declined although the composed answer held the span: what abstention cost.
    result["declined_would_hit"] = sum(r["outcome"] != "answer" and r["would_hit"] for r in rows)
    result["ece"], _ = calibration([r["confidence"] for r in rows], [r["would_hit"] for r in rows])
    result["outcomes"] = {o: sum(r["outcome"] == o for r in rows) for o in ("answer", "pointer", "refusal")}
    result["p50_ms"] = round(statistics.median(latencies), 2) if latencies else 0.0
    result["p95_ms"] = round(percentile(latencies, 0.95), 2)
    result["reranker"] = components.reranker.name
    result["model"] = assistant.embedder.model_id
    result["snapshot"] = assistant.snapshot_id
    result["rows"] = rows
    return result


def evaluate(
    data: Path, cache: Path, embedder: str, *, reranker: str | None = None, limit: int | None = None, seed: int = SEED
) -> dict[str, Any]:
    """The whole benchmark for one set: corpus, ingest (cached), pipeline and baseline."""
    path = set_file(data)
    name = data.name if data.is_dir() else path.stem
    paragraphs, items, dropped = load_squad(path)
    asked = sample(items, limit, seed)
    folder = cache / name
    sources = write_corpus(folder, paragraphs)
    ingest = run_ingest_child(f"{name}: {len(paragraphs)} parágrafos", folder / "data", sources, embedder)
    settings = settings_for(folder / "data", sources, embedder, reranker)
    pipeline = ask_all(settings, paragraphs, asked)
    baseline = retrieval_metrics(bm25_ranks(paragraphs, asked))
    return {
        "set": name, "file": str(path), "paragraphs": len(paragraphs), "questions": len(items) + dropped,
        "aligned": len(items), "dropped": dropped, "asked": len(asked), "seed": seed if limit else None,
        "ingest": ingest, "bpa": pipeline, "bm25s": baseline,
    }  # fmt: skip


# --- report -----------------------------------------------------------------------------------
COLUMNS = (
    ("recall@1", "R@1"), ("recall@5", "R@5"), ("mrr@10", "MRR@10"), ("ndcg@10", "nDCG@10"),
    ("answer_hit", "acerto"), ("first_line_hit", "1ª linha"), ("declined_answerable", "recusa ind."),
    ("ece", "ECE"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"),
)  # fmt: skip


def table(result: dict[str, Any]) -> str:
    def cell(system: dict[str, Any], key: str) -> str:
        value = system.get(key)
        if value is None:
            return "—"
        return f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"

    bpa = result["bpa"]
    lines = [
        f"{result['set']}: {result['paragraphs']} parágrafos, {result['questions']} perguntas, "
        f"{result['aligned']} alinhadas ({result['dropped']} descartadas), {result['asked']} perguntadas"
        + (f" (amostra, semente {result['seed']})" if result["seed"] is not None else ""),
        "",
        "| sistema | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
        f"| bpa ({bpa['model']}, reranker {bpa['reranker']}) | "
        + " | ".join(cell(bpa, key) for key, _ in COLUMNS)
        + " |",
        "| bm25s + Snowball pt | " + " | ".join(cell(result["bm25s"], key) for key, _ in COLUMNS) + " |",
        "",
        f"desfechos: {bpa['outcomes']['answer']} respostas · {bpa['outcomes']['pointer']} indicações · "
        f"{bpa['outcomes']['refusal']} recusas; recusadas que teriam acertado: {bpa['declined_would_hit']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", help=f"SQuAD JSON file or its folder (default: {DATA})")
    ap.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-external")
    ap.add_argument("--embedder", default=os.environ.get("BPA_EMBEDDER", "e5"))
    ap.add_argument("--reranker", default=None, help="BPA_RERANKER for this run (default: the settings')")
    ap.add_argument("--limit", type=int, default=None, help="ask N questions drawn with --seed")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    ap.add_argument("--rows", action="store_true", help="with --json, include one row per question")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        ap.error("--limit deve ser ao menos 1")
    from assistant.answering.rerank import RERANKERS
    from index.errors import BpaError

    if args.reranker and args.reranker not in RERANKERS:
        ap.error(f"reranker desconhecido {args.reranker!r}; opções: {', '.join(RERANKERS)}")
    if args.reranker:
        os.environ["BPA_RERANKER"] = args.reranker
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache = args.cache.resolve()
    results = []
    for data in args.data or [DATA]:
        # With --json, stdout holds the JSON alone (the ingest's line goes to stderr).
        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
            try:
                result = evaluate(
                    data.resolve(), cache, args.embedder, reranker=args.reranker, limit=args.limit, seed=args.seed
                )
            except BpaError as e:  # settings, snapshot or model problems, already in pt-BR
                raise SystemExit(f"bench/external.py: {e}") from e
        if not args.rows:
            result["bpa"].pop("rows")
        results.append(result)
        if not args.json:
            print(table(result), flush=True)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
