"""Scale benchmark: snapshots of N passages, from publish to answers (issue 12).

For each N it writes a snapshot of N passages through ``index.snapshot``'s writer (the
full pipeline would spend its time fetching and parsing one page again and again) and
reports: publish time, the time to publish it again with 1% of its documents drawn anew
(``--changed``; the writer given the previous snapshot, so only the hub baselines of what
changed are searched again, and without it, for comparison), snapshot size on disk, load
time (process start to first answer),
RSS after load, ask p50/p95 over 200 varied questions with the query cache off, and
/v1/ask throughput at concurrency 8 against ``bpa serve``. Then how each figure grows
(the ratio between the largest N and 100k, or the smallest).

The text is realistic Portuguese recombined, not copied: every passage is a different draw
of 2-6 answer units of the seed page (corpus/) and of the dev questions, under a section
title of the seed or a dev question, in a document named after a product and a routine
code. The vectors are the fake embedder's at e5's dimension (``fake-384``), computed from
the units' hashed word counts (a vectorized FakeEmbedder: checked equal on a sample).

    .venv/bin/python bench/scale.py                          # 10k, 100k, 500k, 1M
    .venv/bin/python bench/scale.py --sizes 10000,100000 --duration 10
    .venv/bin/python bench/scale.py --default-corpus DATA_DIR  # candidate path == exact path?
    .venv/bin/python bench/scale.py --quality [--incremental]  # e5: dev sets among 20k distractors

``--quality`` is bench/distractors.py: the dev questions over the default corpus alone and
mixed into ~20k passages of real pt-BR documentation, embedded with e5 once and cached.

``--default-corpus`` answers the dev questions over a published snapshot (the default
corpus, e5) twice: every passage scored, then only the candidates (exact_max = 0), and
counts the questions whose top 10, scores or hub signal differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bench.load import percentile, rss_mb, run_level, start_server, stop_server, wait_ready  # noqa: E402
from index.embedding.fake import FakeEmbedder  # noqa: E402
from index.models import Chunk, chunk_id, document_id  # noqa: E402
from index.snapshot import DocumentRecord, SnapshotStore, SourceStatus  # noqa: E402
from index.units import split_units  # noqa: E402

DIM = 384
EMBEDDER = "fake-384"
# The dev question sets, beside the repository (or beside the worktrees' folder).
EVAL = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.exists()), Path()) / "eval"
PRODUCTS = (
    "Protheus", "RM", "Datasul", "Logix", "Fluig", "Winthor", "Consinco", "TOTVS Saúde", "Backoffice",
    "Varejo", "Manufatura", "Agro", "Educacional", "Jurídico", "Construção", "Hotelaria", "Serviços",
)  # fmt: skip
SEED = 12


# --- corpus ---------------------------------------------------------------------------------
def seed_material(eval_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """Answer units, section titles and questions: the seed page (parsed and chunked by the
    ingest pipeline) and the dev questions."""
    from index.settings import Settings
    from ingest.pipeline import run_ingest

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), sources=ROOT / "corpus" / "sources.toml", embedder="fake")
        os.chdir(ROOT)  # the sources file names the page relative to the repository
        run_ingest(settings, FakeEmbedder())
        snap = SnapshotStore(Path(tmp)).open_current()
        chunks = list(snap.iter_chunks())
        snap.close()
    # A unit that splits again (a marker, a sentence end) would not be one unit once joined.
    units = sorted({u for c in chunks for u in split_units(c.text) if split_units(u) == [u]})
    titles = sorted({c.section_path[-1] for c in chunks if c.section_path})
    questions = [q for name in ("dev", "dev-blind") for q in dev_questions(eval_dir / f"{name}.jsonl")]
    return units, titles + questions, questions


def dev_questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class HashedCounts:
    """FakeEmbedder's raw (unnormalized) vector of a text: the sum of its words' (a word's
    own vector is one ±1 coordinate). A passage's vector is then the sum of its parts'
    (word tokens never span the newlines between parts)."""

    def __init__(self, dim: int) -> None:
        self.embedder = FakeEmbedder(dim)
        self.words: dict[str, np.ndarray] = {}

    def __call__(self, text: str) -> np.ndarray:
        out = np.zeros(self.embedder.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            vec = self.words.get(word)
            if vec is None:
                vec = self.words[word] = self.embedder.embed([word], "passage")[0]
            out += vec
        return out


def _unit_norm(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


Generated = tuple[DocumentRecord, list[Chunk], np.ndarray, list[np.ndarray]]


class Documents:
    """Documents of random passages: number ``d`` is always named the same, its content is
    a draw of ``rng``."""

    def __init__(self, units: list[str], titles: list[str]) -> None:
        self.units, self.titles = units, titles
        self.counts = HashedCounts(DIM)
        self.unit_raw = np.stack([self.counts(u) for u in units])
        self.title_raw = np.stack([self.counts(t) for t in titles])

    def make(self, rng: np.random.Generator, d: int, passages: int) -> Generated:
        units, titles = self.units, self.titles
        product = PRODUCTS[d % len(PRODUCTS)]
        code = f"Rotina {product[:3].upper()}{d:07d}"
        doc_title = f"{product}: {titles[int(rng.integers(len(titles)))]} ({code})"
        doc_raw = self.counts(doc_title)
        key = f"scale/{d}"
        doc_id = document_id("scale", key)
        chunks, vectors, unit_vectors = [], [], []
        for ordinal in range(passages):
            t = int(rng.integers(len(titles)))
            picked = rng.choice(len(units), int(rng.integers(2, 7)), replace=False)
            path = (doc_title, titles[t])
            text = "\n".join(units[i] for i in picked)
            url = f"https://kb.example/{key}"
            chunks.append(Chunk(chunk_id(doc_id, path, text), doc_id, ordinal, path, f"s{ordinal}", url, text))
            section_raw = doc_raw + self.title_raw[t]  # the section path is "doc › title": the separator has no word
            vectors.append(section_raw + self.unit_raw[picked].sum(axis=0))
            unit_vectors.append(_unit_norm(section_raw[None, :] + self.unit_raw[picked]))
        record = DocumentRecord(
            id=doc_id, source="scale", key=key, title=doc_title, url=f"https://kb.example/{key}",
            content_hash=f"{key}:{chunks[0].id if chunks else ''}", version=None, updated_at=None, breadcrumbs=[],
            metadata={}, outline=[],
        )  # fmt: skip
        return record, chunks, _unit_norm(np.stack(vectors)), unit_vectors


def build(data_dir: Path, n: int, docs: Documents, per_doc: int = 10) -> float:
    """Writes and publishes a snapshot of ``n`` passages; returns the seconds it took."""
    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    store = SnapshotStore(data_dir)
    writer = store.writer(f"fake-hash-{DIM}", DIM, {"bench": "scale"})
    written, d = 0, 0
    while written < n:
        record, chunks, vectors, unit_vectors = docs.make(rng, d, min(per_doc, n - written))
        writer.add(record, chunks, vectors, unit_vectors)
        written += len(chunks)
        d += 1
        if d == 1:
            check_vectors(chunks, vectors, unit_vectors)
    writer.publish({"scale": SourceStatus("ok", d)}, None)
    return time.perf_counter() - started


def republish(data_dir: Path, docs: Documents, changed: float, incremental: bool, seed: int) -> float:
    """Publishes the current snapshot again with a fraction ``changed`` of its documents
    drawn anew (as an ingest does: the other documents' chunks and vectors carried over),
    the writer given the previous snapshot (``incremental``) or not; returns the seconds."""
    rng = np.random.default_rng(seed)
    store = SnapshotStore(data_dir)
    prev = store.open_current()
    started = time.perf_counter()
    records = prev.documents()
    redrawn = set(rng.choice(len(records), max(1, round(changed * len(records))), replace=False).tolist())
    unit_sets = prev.units_by_chunk() or {}
    m = prev.manifest
    writer = store.writer(m.model_id, m.dim, m.chunking, prev if incremental else None)
    for i, record in enumerate(records):
        rows = prev.document_chunks(record.id)
        if i in redrawn:
            _, chunks, vectors, unit_vectors = docs.make(rng, int(record.key.rsplit("/", 1)[1]), len(rows))
            writer.add(dataclasses.replace(record, content_hash=f"{record.key}:{chunks[0].id}"), chunks, vectors,
                       unit_vectors)  # fmt: skip
            continue
        rowids = np.array([r for r, _ in rows], dtype=np.int64)
        writer.add(record, [c for _, c in rows], prev.passage_vectors(rowids), [unit_sets[r] for r in rowids])
    manifest = writer.publish(dict(prev.manifest.sources), prev.id)
    seconds = time.perf_counter() - started
    prev.close()
    print(f"republicação ({'incremental' if incremental else 'do zero'}): {seconds:.1f} s, hubs {manifest.hubs}",
          flush=True)  # fmt: skip
    return seconds


def check_vectors(chunks: list[Chunk], vectors: np.ndarray, unit_vectors: list[np.ndarray]) -> None:
    """The summed vectors are the fake embedder's own (else the bench measures something else)."""
    fake = FakeEmbedder(DIM)
    np.testing.assert_allclose(vectors, fake.embed([c.embed_text for c in chunks], "passage"), atol=1e-5)
    for c, got in zip(chunks, unit_vectors, strict=True):
        want = fake.embed([f"{c.section}\n{u}" for u in split_units(c.text)], "passage")
        np.testing.assert_allclose(got, want, atol=1e-5)


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def questions_for(questions: list[str], count: int) -> list[str]:
    """``count`` distinct questions: the dev questions, then each asked about a product."""
    out = list(questions)
    i = 0
    while len(out) < count:
        out.append(f"No {PRODUCTS[i % len(PRODUCTS)]}: {questions[i % len(questions)]}")
        i += 1
    return out[:count]


# --- measuring --------------------------------------------------------------------------------
def child(data_dir: str, questions_file: str) -> None:
    """Runs in a fresh process: first answer, RSS, then the questions one by one."""
    from assistant.service import Assistant
    from assistant.types import Ask
    from index.embedding.factory import make_embedder
    from index.settings import Settings

    questions = json.loads(Path(questions_file).read_text(encoding="utf-8"))
    settings = Settings(data_dir=Path(data_dir), embedder=EMBEDDER, query_cache_size=0)
    assistant = Assistant(settings, make_embedder(settings))
    assistant.ask(Ask(questions[0]))
    print("FIRST", flush=True)
    rss = rss_mb(os.getpid())
    latencies = []
    for q in questions[1:]:
        started = time.perf_counter()
        assistant.ask(Ask(q))
        latencies.append(time.perf_counter() - started)
    print(json.dumps({"rss_mb": rss, "p50_ms": percentile(latencies, 0.5) * 1000,
                      "p95_ms": percentile(latencies, 0.95) * 1000}), flush=True)  # fmt: skip


def measure(data_dir: Path, questions: list[str], duration: float) -> dict[str, float]:
    qfile = data_dir / "questions.json"
    qfile.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(data_dir), str(qfile)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    load_s = time.perf_counter() - started
    if first.strip() != "FIRST":
        raise SystemExit(f"o processo de medição falhou: {first}")
    figures = json.loads(proc.stdout.readline())
    proc.wait(timeout=600)
    figures["load_s"] = load_s
    figures["throughput"] = throughput(data_dir, duration)
    return figures


def throughput(data_dir: Path, duration: float) -> float:
    """Answers per second from ``bpa serve`` at concurrency 8, for ``duration`` seconds."""
    from bench.load import free_port

    port = free_port()
    env_before = dict(os.environ)
    os.environ.update(BPA_DATA_DIR=str(data_dir), BPA_EMBEDDER=EMBEDDER, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    try:
        with tempfile.TemporaryFile() as log:
            server = start_server(port, log)
            try:
                url = f"http://127.0.0.1:{port}"
                wait_ready(url, 600, server, log)
                # The server loads the snapshot on its first question: load time is measured
                # apart, throughput is of a loaded server.
                httpx.post(f"{url}/v1/ask", json={"question": "cliente parado"}, timeout=600).raise_for_status()
                result = run_level(url, 8, duration, 60.0, {})
            finally:
                stop_server(server)
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return len(result.latencies) / result.seconds if result.seconds else 0.0


def table(rows: list[dict[str, float]]) -> str:
    lines = [
        "| passagens | publicação (s) | republicação, 1% mudado: do zero / incremental (s) | disco (MB) "
        "| carga até 1ª resposta (s) | RSS (MB) | ask p50 (ms) | ask p95 (ms) | /v1/ask c=8 (req/s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        again = f"{r['republish_full_s']:.1f} / {r['republish_s']:.1f}" if "republish_s" in r else "-"
        lines.append(
            f"| {int(r['n']):,} | {r['publish_s']:.1f} | {again} | {r['disk_mb']:.0f} | {r['load_s']:.1f} "
            f"| {r['rss_mb']:.0f} "
            f"| {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['throughput']:.1f} |".replace(",", ".")
        )
    return "\n".join(lines)


def ratios(rows: list[dict[str, float]]) -> str:
    if len(rows) < 2:
        return ""
    base = next((r for r in rows if r["n"] == 100_000), rows[0])
    top = rows[-1]
    keys = ("publish_s", "disk_mb", "load_s", "rss_mb", "p50_ms", "p95_ms", "throughput")
    parts = [f"{k} ×{top[k] / base[k]:.2f}" for k in keys if base[k]]
    return f"crescimento {int(top['n']):,}/{int(base['n']):,} (passagens ×{top['n'] / base['n']:.0f}): ".replace(
        ",", "."
    ) + ", ".join(parts)


# --- the default corpus: candidate path against exact path -------------------------------------
def default_corpus(data_dir: Path, eval_dir: Path, candidates: int) -> None:
    from assistant.service import Assistant
    from assistant.types import Ask
    from index.embedding.factory import make_embedder
    from index.settings import Settings

    settings = Settings(data_dir=data_dir)
    assistant = Assistant(settings, make_embedder(settings))
    exact_config = assistant.components.retriever.config
    # Fewer candidates than passages, or the comparison would score every passage both ways.
    candidate_config = dataclasses.replace(exact_config, candidates=candidates)
    loaded = assistant.current()
    exact_max = loaded.exact_max
    differ = {"top10": 0, "top5": 0, "score of the first": 0, "hub": 0, "outcome": 0}
    total = 0
    for name in ("dev", "dev-blind"):
        for q in dev_questions(eval_dir / f"{name}.jsonl"):
            loaded.exact_max, assistant.components.retriever.config = exact_max, exact_config
            exact = assistant.trace(Ask(q))
            loaded.exact_max, assistant.components.retriever.config = 0, candidate_config  # the candidate path
            cand = assistant.trace(Ask(q))
            total += 1
            differ["top10"] += [r.rowid for r in exact.ranked] != [r.rowid for r in cand.ranked]
            differ["top5"] += [r.rowid for r in exact.ranked[:5]] != [r.rowid for r in cand.ranked[:5]]
            same = exact.ranked[0].rowid == cand.ranked[0].rowid if exact.ranked and cand.ranked else True
            differ["score of the first"] += not same or abs(exact.ranked[0].score - cand.ranked[0].score) > 1e-4
            differ["hub"] += abs(exact.signals.hub - cand.signals.hub) > 1e-6
            differ["outcome"] += exact.decision.outcome != cand.decision.outcome
    loaded.exact_max, assistant.components.retriever.config = exact_max, exact_config
    print(
        f"{total} perguntas, {len(loaded.rowids)} passagens; {candidates} candidatos densos + {candidates} lexicais "
        "vs. todas as passagens:"
    )
    print(", ".join(f"{k} diferente em {v}" for k, v in differ.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,500000,1000000", help="passage counts, comma-separated")
    ap.add_argument("--questions", type=int, default=200, help="questions timed per size")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of /v1/ask load per size")
    ap.add_argument("--work", type=Path, default=None, help="where snapshots are built (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the snapshots built")
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--default-corpus", type=Path, default=None, metavar="DATA_DIR")
    ap.add_argument("--candidates", type=int, default=10, help="with --default-corpus: top candidates per retriever")
    ap.add_argument(
        "--changed", type=float, default=0.01,
        help="fraction of the documents drawn anew for the republish figures (0: none)",
    )  # fmt: skip
    ap.add_argument("--quality", action="store_true", help="the real-model quality run: bench/distractors.py")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args(argv)
    if args.quality:
        from bench.distractors import main as distractors

        return distractors(rest)
    if rest:
        ap.error(f"argumentos não reconhecidos: {' '.join(rest)}")
    if args.child:
        child(*args.child)
        return 0
    if args.default_corpus:
        default_corpus(args.default_corpus, args.eval_dir, args.candidates)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    units, titles, questions = seed_material(args.eval_dir)
    docs = Documents(units, titles)
    asked = questions_for(questions, args.questions + 1)
    work = args.work or Path(tempfile.mkdtemp(prefix="bpa-scale-"))
    rows = []
    try:
        for n in sizes:
            data_dir = work / f"n{n}"
            shutil.rmtree(data_dir, ignore_errors=True)
            publish_s = build(data_dir, n, docs)
            row = {"n": n, "publish_s": publish_s, "disk_mb": disk_mb(SnapshotStore(data_dir).open_current().path)}
            if args.changed > 0:
                row["republish_full_s"] = republish(data_dir, docs, args.changed, False, SEED + 1)
                row["republish_s"] = republish(data_dir, docs, args.changed, True, SEED + 2)
            snapshot = SnapshotStore(data_dir).open_current()
            row |= measure(data_dir, asked, args.duration)
            row["retrieval"] = snapshot.manifest.retrieval  # type: ignore[assignment]
            rows.append(row)
            print(json.dumps(row), flush=True)
            if not args.keep:
                shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    print(ratios(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
