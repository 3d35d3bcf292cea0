"""Build the selector's training data from public Portuguese QA (read at run time, never copied).

Writes ``<out>/groups.json`` and ``<out>/vectors.npz`` (under var/, ignored by git): one
*group* per (question, passage) with the passage's lines split by the project's own
``index.units.split_units`` (so training sees the lines serving sees), e5 vectors of the
question, of each line (embedded as at ingest: "section\\nline", passage role) and of the
passage, and labels:

- ``answer_lines``: the lines holding the answer (line model; SQuAD answerable only);
- ``present``: whether the passage holds the answer (abstention model).

Sources (bench/selector/DATA.md has repository, commit, licence and counts):

- SQuAD 2.0-pt dev: each answerable question with its own paragraph (positive line = the
  sentence holding the answer span), with the nearest *other paragraph of the same article*
  (by the question's cosine; a same-topic near miss, present = False), and each unanswerable
  question against its own paragraph (present = False).
- AIA-BDE and MilkQA: FAQ / help-desk question with its own answer (present) and with the
  nearest other answer of the same topic file / of the whole set (absent).
- Our corpus, in forms that name no question of ours: a FAQ question (a heading ending in
  "?") or a heading, with its own passage (present) and the nearest other passage (absent).

Not used: squad-v1.1-pt-sample and Pirá (external benchmarks), FaQuAD, the dev sets.
Groups carry their article/topic id so training splits by it (grouped CV).

    PYTHONPATH=. python bench/selector/build_data.py [--out var/selector] [--fixture]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.settings import Settings
from index.textutil import fold
from index.units import split_units

ROOT = Path(__file__).resolve().parents[2]
DATA = Path("/work/shared/data/qa-pt")
FIXTURE = ROOT / "tests" / "fixtures" / "selector" / "tiny-squad.json"
SEED = 18


def _line_spans(context: str, lines: list[str]) -> list[tuple[int, int]]:
    """Where each line sits in the context (lines are verbatim slices, markers aside)."""
    spans, at = [], 0
    for line in lines:
        i = context.find(line, at)
        if i < 0:
            i = context.find(line)
        spans.append((i, i + len(line)) if i >= 0 else (-1, -1))
        if i >= 0:
            at = i + len(line)
    return spans


def squad_groups(path: Path, max_unanswerable: int, max_answerable: int, stride: int = 1) -> list[dict[str, Any]]:
    """Own-paragraph groups of SQuAD-format data; neighbours are added once vectors exist."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    rng = random.Random(SEED)
    groups = []
    for article in data:
        title = article["title"].replace("_", " ")
        for pi, para in enumerate(article["paragraphs"]):
            if pi % stride:
                continue  # a sample of the paragraphs (embedding every line is the build's cost)
            context = para["context"]
            lines = split_units(context)
            spans = _line_spans(context, lines)
            answerable = [q for q in para["qas"] if not q.get("is_impossible")]
            impossible = [q for q in para["qas"] if q.get("is_impossible")]
            rng.shuffle(answerable)
            rng.shuffle(impossible)
            pid = f"{title}#{pi}"
            for q in answerable[:max_answerable]:
                a = q["answers"][0]
                start, end = a["answer_start"], a["answer_start"] + len(a["text"])
                if context[start:end] != a["text"]:
                    continue  # translation moved the span: no reliable label
                holding = [i for i, (s, e) in enumerate(spans) if s <= start and end <= e]
                if not holding:
                    continue  # the span crosses a sentence boundary
                groups.append({
                    "source": "squad2", "article": title, "passage": pid, "question": q["question"],
                    "answer": a["text"], "section": title, "lines": lines, "answer_lines": holding,
                    "present": True, "kind": "own",
                })  # fmt: skip
            for q in impossible[:max_unanswerable]:
                groups.append({
                    "source": "squad2", "article": title, "passage": pid, "question": q["question"],
                    "answer": "", "section": title, "lines": lines, "answer_lines": [], "present": False,
                    "kind": "unanswerable",
                })  # fmt: skip
    return groups


def _aia_pairs(limit: int) -> list[dict[str, Any]]:
    """AIA-BDE v2.1: P: question, R: answer; the SS: heading is the topic."""
    pairs: list[dict[str, Any]] = []
    topic, question = "", ""
    for raw in (DATA / "aia-bde" / "AIA-BDE_v2.1.txt").read_text(encoding="utf-8").splitlines():
        tag, _, text = raw.partition(":")
        if tag == "SS":
            topic = text.strip()
        elif tag == "P":
            question = text.strip()
        elif tag == "R" and question:
            pairs.append({"source": "aia-bde", "article": f"aia:{topic}", "question": question,
                          "section": topic.split("_", 1)[-1], "text": text.strip()})  # fmt: skip
            question = ""
    random.Random(SEED).shuffle(pairs)
    return pairs[:limit]


def _milkqa_pairs(limit: int) -> list[dict[str, Any]]:
    """MilkQA: a question (subject + text) and its answer, ids one to one."""
    folder = DATA / "milkqa"
    with (folder / "queries.csv").open(encoding="utf-8") as f:
        queries = {r["id"]: r for r in csv.DictReader(f)}
    with (folder / "corpus.csv").open(encoding="utf-8") as f:
        answers = {r["id"]: r["text"] for r in csv.DictReader(f)}
    pairs = []
    for qid, q in queries.items():
        if qid in answers and len(q["text"]) < 400:  # the long letters are not questions an analyst types
            pairs.append({"source": "milkqa", "article": f"milkqa:{qid}", "question": q["text"].strip(),
                          "section": q["subject"].strip(), "text": answers[qid].strip()})  # fmt: skip
    random.Random(SEED).shuffle(pairs)
    return pairs[:limit]


def _corpus_pairs(settings: Settings) -> list[dict[str, Any]]:
    """Headings and FAQ questions of the published snapshot (parsed and chunked by ingest)."""
    from index.snapshot import SnapshotStore

    store = SnapshotStore(settings.data_dir, settings.keep_snapshots)
    current = store.current_id()
    if current is None:
        print("corpus: no snapshot (run `bpa ingest`); skipped", file=sys.stderr)
        return []
    pairs = []
    seen: set[str] = set()
    for chunk in store.open(current).iter_chunks():
        heading = chunk.section_path[-1] if chunk.section_path else ""
        if len(heading.split()) < 2 or heading in seen:
            continue
        seen.add(heading)
        parent = chunk.section_path[-2] if len(chunk.section_path) > 1 else ""
        pairs.append({"source": "corpus-faq" if heading.rstrip().endswith("?") else "corpus-heading",
                      "article": f"corpus:{parent}", "question": heading, "section": parent,
                      "text": chunk.text})  # fmt: skip
    return pairs


def pair_groups(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"source": p["source"], "article": p["article"], "passage": f"{p['source']}:{i}", "question": p["question"],
         "answer": "", "section": p["section"], "lines": split_units(p["text"])[:30], "answer_lines": [],
         "present": True, "kind": "own"}
        for i, p in enumerate(pairs)
        if split_units(p["text"])
    ]  # fmt: skip


class Vectors:
    """Embeds each distinct text once; rows are looked up by (role, text)."""

    def __init__(self, embedder: Any, cache: Path | None = None, batch: int = 64) -> None:
        self.embedder, self.batch, self.cache = embedder, batch, cache
        self.rows: dict[tuple[str, str], int] = {}
        self.chunks: list[np.ndarray] = []
        self.n = 0
        self.cached: dict[tuple[str, str], np.ndarray] = {}
        if cache is not None and cache.exists():  # vectors of an interrupted run (same model)
            with np.load(cache, allow_pickle=False) as z:
                if str(z["model"]) == embedder.model_id:
                    keys = zip(z["roles"], z["texts"], strict=True)
                    self.cached = {(str(r), str(t)): v for (r, t), v in zip(keys, z["vectors"], strict=True)}

    def _save_cache(self) -> None:
        if self.cache is None or not self.rows:
            return
        keys = list(self.rows)
        m = self.matrix()
        np.savez(self.cache, model=np.array(self.embedder.model_id), roles=np.array([k[0] for k in keys]),
                 texts=np.array([k[1] for k in keys]), vectors=m[[self.rows[k] for k in keys]])  # fmt: skip

    def add(self, role: str, texts: list[str]) -> None:
        todo = list(dict.fromkeys(t for t in texts if (role, t) not in self.rows))
        hit = [t for t in todo if (role, t) in self.cached]
        if hit:
            self.chunks.append(np.stack([self.cached[(role, t)] for t in hit]))
            for t in hit:
                self.rows[(role, t)] = self.n
                self.n += 1
            todo = [t for t in todo if (role, t) not in self.cached]
        started = time.time()
        for i in range(0, len(todo), self.batch):
            part = todo[i : i + self.batch]
            self.chunks.append(np.asarray(self.embedder.embed(part, role), dtype=np.float32))
            for t in part:
                self.rows[(role, t)] = self.n
                self.n += 1
            if (i // self.batch) % 10 == 0:
                self._save_cache()
                print(f"  {role}: {i + len(part)}/{len(todo)} ({time.time() - started:.0f} s)", file=sys.stderr)

    def done(self) -> None:
        self._save_cache()

    def matrix(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros((0, 1), np.float32)


def passage_text(g: dict[str, Any]) -> str:
    return f"{g['section']}\n" + "\n".join(g["lines"])


def add_neighbours(groups: list[dict[str, Any]], vec: Vectors, m: np.ndarray) -> list[dict[str, Any]]:
    """Each answerable question against the nearest other passage of its article/topic whose text
    does not hold its answer: the near miss retrieval makes."""
    by_article: dict[str, dict[str, dict[str, Any]]] = {}
    for g in groups:
        by_article.setdefault(g["article"], {}).setdefault(g["passage"], g)
    # Pair sources (one passage per "article") take their neighbours from the whole source.
    by_source: dict[str, dict[str, dict[str, Any]]] = {}
    for g in groups:
        by_source.setdefault(g["source"], {}).setdefault(g["passage"], g)
    out = []
    for g in groups:
        if g["kind"] != "own":
            continue
        pool = by_article[g["article"]]
        if len(pool) < 2:
            pool = by_source[g["source"]]
        others = [p for pid, p in pool.items() if pid != g["passage"]]
        if g["answer"]:
            others = [p for p in others if fold(g["answer"]) not in fold(passage_text(p))]
        if not others:
            continue
        q = m[vec.rows[("query", g["question"])]]
        cos = np.array([m[vec.rows[("passage", passage_text(p))]] @ q for p in others])
        near = others[int(np.argmax(cos))]
        out.append({**near, "question": g["question"], "answer": g["answer"], "answer_lines": [],
                    "present": False, "kind": "neighbour", "article": g["article"]})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "selector")
    ap.add_argument("--fixture", action="store_true", help="the tiny committed fixture, fake embedder (CI)")
    ap.add_argument("--max-answerable", type=int, default=3, help="answerable questions per SQuAD paragraph")
    ap.add_argument("--max-unanswerable", type=int, default=2, help="unanswerable questions per SQuAD paragraph")
    ap.add_argument("--stride", type=int, default=2, help="every n-th SQuAD paragraph")
    ap.add_argument("--aia", type=int, default=150)
    ap.add_argument("--milkqa", type=int, default=80)
    args = ap.parse_args(argv)
    if args.fixture:
        from index.embedding.fake import FakeEmbedder

        embedder: Any = FakeEmbedder(64)
        groups = squad_groups(FIXTURE, args.max_unanswerable, args.max_answerable)
    else:
        from index.embedding.factory import make_embedder

        settings = Settings()
        embedder = make_embedder(settings)
        groups = squad_groups(
            DATA / "squad-v2.0-pt" / "dev-v2.0.json", args.max_unanswerable, args.max_answerable, args.stride
        )
        groups += pair_groups(_aia_pairs(args.aia) + _milkqa_pairs(args.milkqa) + _corpus_pairs(settings))
    counts: dict[str, int] = {}
    for g in groups:
        counts[f"{g['source']}/{g['kind']}"] = counts.get(f"{g['source']}/{g['kind']}", 0) + 1
    print(f"groups before neighbours: {counts}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    vec = Vectors(embedder, None if args.fixture else args.out / "cache.npz")
    vec.add("query", [g["question"] for g in groups])
    passages = {g["passage"]: g for g in groups}
    vec.add("passage", [passage_text(g) for g in passages.values()])
    vec.add("passage", [f"{g['section']}\n{line}" for g in passages.values() for line in g["lines"]])
    vec.done()
    m = vec.matrix()
    groups += add_neighbours(groups, vec, m)
    for g in groups:
        g["q_row"] = vec.rows[("query", g["question"])]
        g["p_row"] = vec.rows[("passage", passage_text(g))]
        g["line_rows"] = [vec.rows[("passage", f"{g['section']}\n{line}")] for line in g["lines"]]
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "vectors.npz", vectors=m)
    (args.out / "groups.json").write_text(json.dumps(groups, ensure_ascii=False), encoding="utf-8")
    counts = {}
    for g in groups:
        counts[f"{g['source']}/{g['kind']}"] = counts.get(f"{g['source']}/{g['kind']}", 0) + 1
    articles = len({g["article"] for g in groups})
    print(json.dumps({"groups": len(groups), "articles": articles, "texts_embedded": m.shape[0], "by_source": counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
