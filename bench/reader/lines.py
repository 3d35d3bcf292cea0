"""Which line leads: the evidence stage's hand score against the reader, on the dev sets and the
external set.

For every answerable question the real pipeline runs with ``identity`` and its trace gives the
candidate lines an answer may lead with (the evidence stage's units of the first
``first_line_passages`` passages that may lead). A line is right when it holds a gold phrase
(dev sets) or the answer span (external set), folded as ``bpa eval`` folds them. The reader
reads the ``--cap`` best of those lines by hand score (``--line-tokens`` per pair) and the
script prints, per set:

- ``oracle``: some candidate line is right (the ceiling of any line choice);
- ``hand``: the unit the pipeline leads with today (``compose.lead_unit``; a link line the
  best passage points to is not counted) is right;
- ``reader``: the line the reader scores highest is right (the asked-fact rule applied as in
  ``lead_unit``);
- ``blend w``: the two z-scored within the question, hand + w · reader;
- within the right passage (questions whose first passage holds a right line, that passage's
  lines only): ``hand``, ``reader`` and ``first`` (the passage's first line, document order).

It reads the published snapshot (dev sets, ``BPA_DATA_DIR``) and bench/external.py's cached
corpus (``--cache``; run bench/external.py once first). Figures only: nothing is asserted.

    PYTHONPATH=. .venv/bin/python bench/reader/lines.py [--weights corpus/reader.npz]
        [--sets dev,dev-blind,external] [--limit 500] [--cap 10] [--line-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bench.external as external  # noqa: E402
from assistant.answering.compose import lead_unit  # noqa: E402
from assistant.answering.evidence import Unit  # noqa: E402
from assistant.answering.pipeline import Components, Question, run  # noqa: E402
from assistant.answering.rerank import IdentityReranker  # noqa: E402
from assistant.answering.retrieval import LoadedSnapshot  # noqa: E402
from assistant.maintenance.evaluation import hits, load_questions  # noqa: E402
from index.embedding.e5_numpy import NumpyReader, load_numpy_reader  # noqa: E402
from index.embedding.factory import make_embedder  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.snapshot import SnapshotStore  # noqa: E402

SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "eval").is_dir()), ROOT.parent / "shared")
BLENDS = (0.5, 1.0, 2.0)


@dataclass
class Choice:
    """One question's candidate lines (the reader's cap of them, by hand score)."""

    hand_lead: bool  # the pipeline's lead is right
    any_right: bool  # some candidate line is right
    right: list[bool]  # per line read
    hand: np.ndarray  # hand scores of the lines read
    reader: np.ndarray  # reader logits of the lines read
    fact: list[bool]  # holds the asked kind of fact (only when one is asked and some line holds it)
    passage: list[int]
    position: list[int]


def _z(x: np.ndarray) -> np.ndarray:
    if x.size < 2:
        return np.zeros_like(x)
    std = float(x.std())
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def choices(
    settings: Settings, questions: list[tuple[str, tuple[str, ...]]], reader: NumpyReader, cap: int, tokens: int
) -> list[Choice]:
    loaded = LoadedSnapshot(SnapshotStore(settings.data_dir, settings.keep_snapshots).open_current())
    components = Components.build(settings, make_embedder(settings), reranker=IdentityReranker())
    cfg = components.composing
    out = []
    for text, gold in questions:
        trace = run(Question(text, settings.top_k), loaded, components)
        pool: list[Unit] = [u for u in trace.evidence.units if u.can_lead and u.passage < cfg.first_line_passages]
        lead = lead_unit(trace.evidence, cfg, trace.asked)
        read = sorted(pool, key=lambda u: -u.score)[:cap]
        logits = reader.logits(text, [u.text for u in read], tokens) if read else np.zeros(0, dtype=np.float32)
        facts = [u.fact for u in read] if trace.asked and any(u.fact for u in pool) else [True] * len(read)
        out.append(Choice(
            lead is not None and hits(lead.text, gold), any(hits(u.text, gold) for u in pool),
            [hits(u.text, gold) for u in read], np.array([u.score for u in read]), logits.astype(np.float64),
            facts, [u.passage for u in read], [u.position for u in read],
        ))  # fmt: skip
    return out


def figures(rows: list[Choice]) -> dict[str, float]:
    n = len(rows) or 1

    def top(c: Choice, score: np.ndarray) -> bool:
        if not c.right:
            return False
        return c.right[int(np.argmax(np.where(c.fact, score, -np.inf)))]

    out = {
        "oracle": sum(c.any_right for c in rows) / n,
        "hand": sum(c.hand_lead for c in rows) / n,
        "reader": sum(top(c, c.reader) for c in rows) / n,
    }
    for w in BLENDS:
        out[f"blend {w:g}"] = sum(top(c, _z(c.hand) + w * _z(c.reader)) for c in rows) / n
    within = [c for c in rows if any(r and p == 0 for r, p in zip(c.right, c.passage, strict=True))]
    m = len(within) or 1
    scores = {"hand": lambda c: c.hand, "reader": lambda c: c.reader, "first": lambda c: -np.array(c.position)}
    for name, score in scores.items():
        right = 0
        for c in within:
            own = [i for i, p in enumerate(c.passage) if p == 0]
            own = [i for i in own if c.fact[i]] or own  # the asked-fact rule, as for the lead
            key = score(c)
            right += c.right[max(own, key=lambda i: key[i])]
        out[f"in passage: {name}"] = right / m
    out["n in passage"] = len(within)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "corpus" / "reader.npz")
    ap.add_argument("--sets", default="dev,dev-blind,external")
    ap.add_argument("--limit", type=int, default=500, help="external questions drawn with --seed")
    ap.add_argument("--seed", type=int, default=external.SEED)
    ap.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-external")
    ap.add_argument("--cap", type=int, default=10, help="lines the reader reads per question")
    ap.add_argument("--line-tokens", type=int, default=64)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    reader = load_numpy_reader(args.weights)
    results: dict[str, dict[str, float]] = {}
    for name in args.sets.split(","):
        if name == "external":
            _, items, _ = external.load_squad(external.set_file(external.DATA))
            folder = args.cache / external.DATA.name
            if not (folder / "data").is_dir():
                raise SystemExit(f"{folder}: rode bench/external.py antes (ele ingere o conjunto)")
            settings = external.settings_for(folder / "data", folder / "sources.toml", "e5", "identity")
            asked = [(i.question, i.answers) for i in external.sample(items, args.limit, args.seed)]
        else:
            settings = Settings()
            asked = [(q.question, q.gold) for q in load_questions(SHARED / "eval" / f"{name}.jsonl") if q.answerable]
        results[name] = figures(choices(settings, asked, reader, args.cap, args.line_tokens))
    keys = list(next(iter(results.values())))
    print(f"{'':22}" + "".join(f"{k:>12}" for k in results))
    for key in keys:
        print(f"{key:22}" + "".join(f"{r[key]:>12.3f}" if key != "n in passage" else f"{r[key]:>12.0f}"
                                    for r in results.values()))  # fmt: skip
    print(f"reader: {reader.sha256[:12]}, {args.cap} lines × {args.line_tokens} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
