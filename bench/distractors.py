"""Quality among distractors (issue 12): the dev questions over the default corpus alone,
then over the default corpus mixed into ~20k passages of other Portuguese documentation.

The distractors are real pt-BR software documentation: the LibreOffice help in Brazilian
Portuguese (Debian's ``libreoffice-help-pt-br``, 2,560 pages, ~20,400 passages after our
parser and chunker). Like TDN and KCS pages they are product help — menus, options,
procedures, error messages — but none answers a question about the support process, so
every figure that drops measures retrieval being distracted, not new answers.

Both corpora go through the real pipeline (files source, parser, chunker, e5) into data
dirs under ``--cache`` (default ``var/bench-distractors``): the vectors are embedded once,
and a second run reuses them (an unchanged ingest embeds nothing). The first run reports
the ingest itself (passages, answer units, seconds, texts/s); ``--incremental`` then
re-indexes a copy after editing 1% of the distractor pages, the cost of a routine update.

    .venv/bin/python bench/distractors.py                     # downloads the package once
    .venv/bin/python bench/distractors.py --distractors DIR   # any folder of HTML pages
    .venv/bin/python bench/distractors.py --incremental

``--distractors`` with another folder needs another ``--cache`` (the cache's index is of
the pages it was built from).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bench.ingest import run as run_ingest_child  # noqa: E402
from bench.ingest import toml_source  # noqa: E402
from bench.scale import EVAL  # noqa: E402  (the dev sets beside the repository)

PACKAGE = "libreoffice-help-pt-br"
PACKAGE_DIR = "usr/share/libreoffice/help/pt-BR/text"
DISTRACTOR_SOURCE = "distratores"
EMBEDDER = "e5"


# --- corpora ----------------------------------------------------------------------------------
def fetch_package(target: Path) -> None:
    """The pages of Debian's LibreOffice pt-BR help into ``target`` (download, no install)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise SystemExit(
            f"sem apt-get/dpkg-deb para baixar {PACKAGE}: passe --distractors com uma pasta de páginas HTML"
        )
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("*.deb"))
        if done.returncode != 0 or not debs:
            raise SystemExit(f"apt-get download {PACKAGE} falhou: {done.stderr.strip()[-500:]}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), f"{tmp}/x"], check=True)
        shutil.copytree(Path(tmp) / "x" / PACKAGE_DIR, target)


def default_sources() -> list[str]:
    """The default corpus's sources, file paths made absolute (the cache lives elsewhere)."""
    base = ROOT / "corpus"
    parsed = tomllib.loads((base / "sources.toml").read_text(encoding="utf-8"))
    out = []
    for source in parsed.get("source", []):
        fields = {k: v for k, v in source.items() if k != "name"}
        if fields.get("type") == "files":
            fields["path"] = str((base / fields["path"]).resolve())
        out.append(toml_source(source["name"], fields))
    return out


def write_sources(cache: Path, distractors: Path) -> tuple[Path, Path]:
    """``cache``/default.toml (the default corpus) and ``cache``/sources.toml (it plus the
    distractor pages, named relative to the cache so their ids survive a moved cache)."""
    head = "# Written by bench/distractors.py.\n"
    default = cache / "default.toml"
    default.write_text(head + "\n".join(default_sources()), encoding="utf-8")
    pages = os.path.relpath(distractors, cache)
    mixed = cache / "sources.toml"
    body = [*default_sources(), toml_source(DISTRACTOR_SOURCE, {"type": "files", "path": f"{pages}/**/*.html"})]
    mixed.write_text(head + "\n".join(body), encoding="utf-8")
    return default, mixed


def edit_pages(folder: Path, fraction: float) -> int:
    """Edits one sentence in every 1/``fraction``-th page (sorted by name): a routine update."""
    pages = sorted(folder.rglob("*.html"))
    step = max(1, round(1 / fraction))
    edited = 0
    for page in pages[::step]:
        text = page.read_text(encoding="utf-8")
        start = text.find('class="paragraph"')
        end = text.find("</p>", start)
        if start < 0 or end < 0:
            continue
        page.write_text(text[:end] + " Revisado nesta versão." + text[end:], encoding="utf-8")
        edited += 1
    return edited


# --- quality ----------------------------------------------------------------------------------
def evaluate(data_dir: Path, eval_dir: Path) -> dict[str, dict[str, Any]]:
    from assistant.maintenance.evaluation import load_questions, run_eval
    from assistant.service import Assistant
    from index.embedding.factory import make_embedder
    from index.settings import Settings

    settings = Settings(data_dir=data_dir, embedder=EMBEDDER)
    assistant = Assistant(settings, make_embedder(settings))
    out = {}
    for name in ("dev", "dev-blind"):
        questions = load_questions(eval_dir / f"{name}.jsonl")
        out[name] = run_eval(settings, assistant, questions, baselines=False)
        out[name]["passages"] = len(assistant.current().rowids)
    return out


COLUMNS = (
    ("recall@1", "r@1"), ("recall@5", "r@5"), ("mrr@10", "MRR@10"), ("answer_hit", "acerto"),
    ("first_line_hit", "1ª linha"), ("declined_unanswerable", "recusa s/c"), ("declined_answerable", "recusa ind."),
    ("p95_ms", "ask p95 (ms)"),
)  # fmt: skip


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| conjunto | corpus | trechos | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for name in ("dev", "dev-blind"):
        for corpus, label in (("default", "padrão"), ("mixed", "padrão + distratores")):
            r = results[corpus][name]
            cells = [f"{r[key]:.1f}" if key == "p95_ms" else f"{r[key]:.3f}" for key, _ in COLUMNS]
            lines.append(f"| {name} | {label} | {r['passages']:,} | ".replace(",", ".") + " | ".join(cells) + " |")
    return "\n".join(lines)


def drops(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    parts = []
    for name in ("dev", "dev-blind"):
        a, b = results["default"][name], results["mixed"][name]
        parts.append(
            f"{name}: recall@5 {a['recall@5']:.3f} → {b['recall@5']:.3f} (queda {a['recall@5'] - b['recall@5']:.3f}), "
            f"MRR {a['mrr@10']:.3f} → {b['mrr@10']:.3f}"
        )
    return "\n".join(parts)


# --- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-distractors")
    ap.add_argument("--distractors", type=Path, default=None, help="a folder of HTML pages (default: the package)")
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--incremental", action="store_true", help="also time re-indexing after 1%% of pages change")
    args = ap.parse_args(argv)
    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    pages = args.distractors.resolve() if args.distractors else cache / "libreoffice"
    if not pages.exists():
        print(f"baixando {PACKAGE} para {pages} …", flush=True)
        fetch_package(pages)
    default_toml, mixed_toml = write_sources(cache, pages)
    print(f"bpa distractors — {os.cpu_count()} CPUs, cache {cache}", flush=True)
    ingest = {
        "default": run_ingest_child("corpus padrão", cache / "default", default_toml, EMBEDDER),
        "mixed": run_ingest_child("padrão + distratores", cache / "data", mixed_toml, EMBEDDER),
    }
    results = {
        corpus: evaluate(cache / dir_, args.eval_dir) for corpus, dir_ in (("default", "default"), ("mixed", "data"))
    }
    print(table(results))
    print(drops(results))
    print(ann_on_real_vectors(cache / "data"))
    if args.incremental:
        incremental(cache, pages, mixed_toml)
    print(
        json.dumps(
            {"ingest": ingest, "results": {c: {n: _summary(r) for n, r in v.items()} for c, v in results.items()}}
        )
    )
    return 0


def ann_on_real_vectors(data_dir: Path) -> str:
    """The IVF index publish builds above ``prepared.ANN_MIN`` passages, built here over the
    mixed index's e5 vectors: the probes it needs for recall@100 >= ANN_RECALL. (bench/scale.py
    measures it on the fake embedder's vectors, which have no clusters.)"""
    import numpy as np

    from index import prepared
    from index.snapshot import SnapshotStore

    snapshot = SnapshotStore(data_dir).open_current()
    matrix = np.asarray(snapshot.prepared().matrix, dtype=np.float32)
    started = time.perf_counter()
    _, measured = prepared.build_ann(matrix)
    snapshot.close()
    n = f"{len(matrix):,}".replace(",", ".")
    return (
        f"IVF sobre os {n} vetores do índice misto: {measured['ann_index']}, {measured['nprobe']} sondas, "
        f"recall@100 {measured['ann_recall_at_100']:.3f} ({time.perf_counter() - started:.1f} s)"
    )


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    return {key: r[key] for key, _ in COLUMNS} | {"passages": r["passages"]}


def incremental(cache: Path, pages: Path, mixed_toml: Path) -> None:
    """Times re-indexing a copy of the mixed index after 1% of the distractor pages changed."""
    with tempfile.TemporaryDirectory(prefix="bpa-distractors-") as tmp:
        copy = Path(tmp) / "cache"
        copy.mkdir()
        shutil.copytree(cache / "data", copy / "data", ignore=shutil.ignore_patterns("*.lock", "state.sqlite*"))
        rel = os.path.relpath(pages, cache)
        shutil.copytree(pages, copy / rel)
        shutil.copy(mixed_toml, copy / "sources.toml")
        edited = edit_pages(copy / rel, 0.01)
        started = time.perf_counter()
        row = run_ingest_child(f"{edited} páginas editadas (1%)", copy / "data", copy / "sources.toml", EMBEDDER)
        print(f"reindexação incremental: {edited} páginas editadas, {row['embedded']:.0f} trechos embutidos, "
              f"{time.perf_counter() - started:.1f} s de processo", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
