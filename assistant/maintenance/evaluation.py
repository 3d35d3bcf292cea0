"""`bpa eval`: retrieval and answer quality on a JSONL question set, beside two baselines.

A passage *hits* when its section path or text contains a gold phrase after case, accent
and whitespace folding. Baselines, on the same corpus, are what most projects ship: BM25
alone and dense alone, both over fixed 120-word windows of each document's text.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answering import pipeline
from assistant.answering.pipeline import Trace
from assistant.render import render
from assistant.service import Assistant
from assistant.types import Ask
from index.errors import BpaError
from index.settings import Settings
from index.textutil import analyze, collapse_ws, fold

WINDOW_WORDS = 120
WINDOW_STRIDE = 100


class EvalError(BpaError):
    """The question file is unreadable or malformed."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    gold: tuple[str, ...]
    kind: str
    must: bool = False  # the evaluation gate refuses a snapshot that stops answering it from its gold

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def load_questions(path: Path) -> list[Question]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise EvalError(f"{path}: não foi possível ler ({e.strerror})") from e
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            items.append(
                Question(
                    str(obj["id"]),
                    str(obj["question"]),
                    tuple(obj.get("gold") or ()),
                    str(obj.get("kind", "")),
                    obj.get("must") is True,
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise EvalError(f"{path}:{n}: linha inválida ({e})") from e
    if not items:
        raise EvalError(f"{path}: nenhuma pergunta")
    return items


def _norm(text: str) -> str:
    return collapse_ws(fold(text))


def hits(text: str, gold: tuple[str, ...]) -> bool:
    t = _norm(text)
    return any(_norm(g) in t for g in gold)


def _rank_metrics(ranked_hits: list[list[bool]], k: int) -> dict[str, float]:
    n = len(ranked_hits) or 1
    out = {f"recall@{d}": sum(any(h[:d]) for h in ranked_hits) / n for d in sorted({1, 3, k})}
    out["mrr@10"] = sum(next((1 / (i + 1) for i, x in enumerate(h[:10]) if x), 0.0) for h in ranked_hits) / n
    return {key: round(v, 4) for key, v in out.items()}


# --- baselines -------------------------------------------------------------------------------


def windows(assistant: Assistant) -> list[str]:
    """Fixed 120-word windows over each document's text (its passages in order, deduplicated)."""
    loaded = assistant.current()
    out: list[str] = []
    for doc_id in (d.id for d in loaded.snapshot.documents()):
        seen: set[str] = set()
        words: list[str] = []
        for _, chunk in loaded.snapshot.document_chunks(doc_id):
            for line in chunk.text.split("\n"):
                if line not in seen:
                    seen.add(line)
                    words.extend(line.split())
        for start in range(0, max(1, len(words) - WINDOW_WORDS + WINDOW_STRIDE), WINDOW_STRIDE):
            out.append(" ".join(words[start : start + WINDOW_WORDS]))
    return out


def bm25_ranker(texts: list[str], k1: float = 1.2, b: float = 0.75) -> Callable[[str], list[int]]:
    docs = [analyze(t) for t in texts]
    avg = sum(map(len, docs)) / max(1, len(docs))
    df: dict[str, int] = {}
    for d in docs:
        for s in set(d):
            df[s] = df.get(s, 0) + 1
    n = len(docs)

    def rank(query: str) -> list[int]:
        q = set(analyze(query))
        scores = []
        for d in docs:
            s = 0.0
            for term in q:
                tf = d.count(term)
                if tf:
                    idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                    s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg))
            scores.append(s)
        return [i for i in sorted(range(n), key=lambda i: -scores[i]) if scores[i] > 0]

    return rank


def dense_ranker(assistant: Assistant, texts: list[str]) -> Callable[[str], list[int]]:
    matrix = assistant.embedder.embed(texts, "passage") if texts else np.zeros((0, assistant.embedder.dim))

    def rank(query: str) -> list[int]:
        q = assistant.embedder.embed([query], "query")[0]
        return list(np.argsort(-(matrix @ q)))

    return rank


# --- the run ---------------------------------------------------------------------------------


def composed_hit(trace: Trace, gold: tuple[str, ...]) -> tuple[bool, bool]:
    """(the composed answer's lines contain a gold phrase, its first line does); computed
    whether or not the answer is shown, so calibration sees what would have been said."""
    lines = trace.composed.lines
    if not gold or not lines:
        return False, False
    passages = trace.composed.passages
    texts = [passages[ln.passage].chunk.text if ln.link else ln.text for ln in lines]
    return hits(" ".join(texts), gold), hits(texts[0], gold)


def calibration(confidences: list[float], right: list[bool], bins: int = 10) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error over equal-width bins, and the reliability table."""
    table = []
    ece = 0.0
    n = len(confidences) or 1
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if not idx:
            continue
        mean_conf = sum(confidences[i] for i in idx) / len(idx)
        accuracy = sum(right[i] for i in idx) / len(idx)
        ece += len(idx) / n * abs(mean_conf - accuracy)
        table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": len(idx), "confidence": round(mean_conf, 3),
                      "accuracy": round(accuracy, 3)})  # fmt: skip
    return round(ece, 4), table


def run_eval(
    settings: Settings, assistant: Assistant, questions: list[Question], k: int = 5, baselines: bool = True
) -> dict[str, Any]:
    """Every figure of ``bpa eval``. ``baselines`` adds BM25 and dense rankings of fixed
    windows over the whole corpus (it embeds every window: minutes on a large corpus)."""
    # The pipeline itself, not the service: an evaluation records nothing in the questions log
    # (it would show up as documentation gaps in the maintainers' report).
    loaded = assistant.current()  # raises NoSnapshotError early
    components = assistant.components
    pipeline.run(assistant.question(Ask("aquecimento do modelo")), loaded, components)  # latency is for a warm process
    answerable = [q for q in questions if q.answerable]
    per_q: list[dict[str, Any]] = []
    latencies: list[float] = []
    for q in questions:
        # ask first: it is what the latency figures describe, with a cold query-embedding cache.
        started = time.perf_counter()
        trace = pipeline.run(assistant.question(Ask(q.question, top_k=k)), loaded, components)
        answer = render(trace, loaded, answer_id="")
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = [hits(r.chunk.section + "\n" + r.chunk.text, q.gold) for r in trace.ranked[:10]]
        would_hit, would_lead = composed_hit(trace, q.gold)
        shown = not answer.abstained
        per_q.append({
            "id": q.id, "kind": q.kind, "answerable": q.answerable, "ranked": ranked,
            "abstained": answer.abstained, "outcome": answer.outcome,
            "answer_hit": q.answerable and shown and would_hit,
            "first_line_hit": q.answerable and shown and would_lead,
            "right": q.answerable and would_hit, "confidence": answer.confidence,
        })  # fmt: skip

    def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
        ans = [r for r in rows if r["answerable"]]
        unans = [r for r in rows if not r["answerable"]]
        out: dict[str, Any] = {"n": len(rows)}
        out.update(_rank_metrics([r["ranked"] for r in ans], k) if ans else {})
        out["answer_hit"] = round(sum(r["answer_hit"] for r in ans) / len(ans), 4) if ans else None
        out["first_line_hit"] = round(sum(r["first_line_hit"] for r in ans) / len(ans), 4) if ans else None
        out["declined_unanswerable"] = round(sum(r["abstained"] for r in unans) / len(unans), 4) if unans else None
        out["declined_answerable"] = round(sum(r["abstained"] for r in ans) / len(ans), 4) if ans else None
        return out

    result = summarize(per_q)
    result["ece"], result["reliability"] = calibration([r["confidence"] for r in per_q], [r["right"] for r in per_q])
    result["outcomes"] = {o: sum(r["outcome"] == o for r in per_q) for o in ("answer", "pointer", "refusal")}
    result["p50_ms"] = round(statistics.median(latencies), 2)
    result["p95_ms"] = round(sorted(latencies)[max(0, math.ceil(0.95 * len(latencies)) - 1)], 2)
    result["by_kind"] = {
        kind: summarize([r for r in per_q if r["kind"] == kind]) for kind in sorted({q.kind for q in questions})
    }
    result["baselines"] = _baselines(assistant, answerable, k) if baselines else {}
    result["model"] = assistant.embedder.model_id
    result["snapshot"] = assistant.snapshot_id
    result["misses"] = [r["id"] for r in per_q if r["answerable"] and not any(r["ranked"][:k])]
    result["wrong_declines"] = [r["id"] for r in per_q if r["answerable"] and r["abstained"]]
    result["wrong_answers"] = [r["id"] for r in per_q if not r["answerable"] and not r["abstained"]]
    result["first_line_misses"] = [
        r["id"] for r in per_q if r["answerable"] and r["answer_hit"] and not r["first_line_hit"]
    ]
    return result


def _baselines(assistant: Assistant, answerable: list[Question], k: int) -> dict[str, dict[str, float]]:
    texts = windows(assistant)
    out = {}
    for name, ranker in (
        ("bm25_windows", bm25_ranker(texts)),
        ("dense_windows", dense_ranker(assistant, texts)),
    ):
        windows_ranked = [[hits(texts[i], q.gold) for i in ranker(q.question)[:10]] for q in answerable]
        out[name] = _rank_metrics(windows_ranked, k)
    return out
