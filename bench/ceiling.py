"""How far can re-weighting the available ranking signals go? A learned-ranker ceiling.

Fits a pairwise logistic ranker (gold passage above each non-gold one among the top 20 of
the production ranking) over per-query z-scored features, on one dev set, and reports its
figures on that same set (in-sample: the fit is allowed to see the answers) and on the
other (held out). Features: dense cosine (e5), BM25F, log length (the
production three), plus BM25 on the section path alone and on the body alone, the cosine
with the section's own title, and optionally a second embedder's cosine (--second minilm).

    BPA_DATA_DIR=/tmp/ve5 BPA_EMBEDDER=e5 PYTHONPATH=. .venv/bin/python bench/ceiling.py [--second minilm]
        [--reranker cross-encoder --reranker-path DIR]

With --reranker, every ranking's top 10 (production's and each fit's) is reordered by that
reranker before its figures are computed.

The fit minimizes a pairwise loss, not MRR itself, so in-sample figures are evidence, not a
proof, of a ceiling: when even the fit that saw a set's answers does not beat production
there, re-weighting these signals is not where the missing points are.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answering.pipeline import retrieve  # noqa: E402
from assistant.answering.rerank import Reranker, RerankerError, build_reranker, reorder  # noqa: E402
from assistant.answering.retrieval import Scored  # noqa: E402
from assistant.maintenance.evaluation import hits, load_questions  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from index.embedding.factory import make_embedder  # noqa: E402
from index.models import Chunk  # noqa: E402
from index.settings import Settings  # noqa: E402

Rerank = Callable[[str, np.ndarray], np.ndarray]  # (question, top passage indices) -> reordered indices

SETS = ("dev", "dev-blind")
BASE = ("lexical", "dense", "length")


def z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def reranking(reranker: Reranker, ordered: list[Chunk], rowids: np.ndarray) -> Rerank:
    """Reorder a ranking's top passages (indices into ``ordered``) through the reranker.

    Memoized: the fits rank most questions' top 10 identically, and a cross-encoder is slow.
    """
    memo: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def apply(question: str, top: np.ndarray) -> np.ndarray:
        key = (question, tuple(int(i) for i in top))
        if key not in memo:
            results = [Scored(rowid=int(rowids[i]), chunk=ordered[i], score=0.0) for i in key[1]]
            position = {int(rowids[i]): i for i in key[1]}
            memo[key] = np.array([position[r.rowid] for r in reorder(reranker, question, results)], dtype=np.int64)
        return memo[key]

    return apply


def features(args: argparse.Namespace, reranker: Reranker) -> tuple[dict[str, list[dict[str, object]]], Rerank]:
    settings = Settings()
    embedder = make_embedder(settings)
    assistant = Assistant(settings, embedder)
    snap = assistant.current()
    cfg = assistant.components.retriever.config
    ordered = list(snap.snapshot.iter_chunks())  # rowid order: the rows
    lex = snap.lexicon
    tf = sparse.csr_matrix(lex.sec_tf, dtype=float)
    tf.data = tf.data * (cfg.k1 + 1) / (tf.data + cfg.k1)
    section_only = sparse.csc_matrix(tf @ sparse.diags(lex.idf))
    body_cfg = dataclasses.replace(cfg, section_weight=0.0)
    titles = np.asarray(embedder.embed([c.section_path[-1] for c in ordered], "query"), dtype=np.float32)
    second = None
    if args.second:
        other = make_embedder(Settings(embedder=args.second))
        second = (other, np.asarray(other.embed([c.embed_text for c in ordered], "passage"), dtype=np.float32))
    length = snap.log_length - snap.log_length.mean()
    out: dict[str, list[dict[str, object]]] = {}
    for name in SETS:
        rows = []
        for q in load_questions(args.eval_dir / f"{name}.jsonl"):
            if not q.gold:
                continue
            _, query = retrieve(q.question, assistant.current(), assistant.components, 10)
            assert query.vector is not None
            cols = sorted({lex.vocab[s] for s in query.stems if s in lex.vocab})
            f = {
                "lexical": z(lex.score(query.stems, cfg)), "dense": z(snap.matrix @ query.vector), "length": length,
                "section": z(np.asarray(section_only[:, cols].sum(axis=1)).ravel()) if cols else np.zeros(lex.n),
                "body": z(lex.score(query.stems, body_cfg)), "title": z(titles @ query.vector),
            }  # fmt: skip
            if second is not None:
                f["second"] = z(second[1] @ second[0].embed([query.expanded], "query")[0])
            gold = {i for i, c in enumerate(ordered) if hits(c.section + "\n" + c.text, q.gold)}
            rows.append({"f": f, "gold": gold, "question": q.question})
        out[name] = rows
    return out, reranking(reranker, ordered, snap.rowids)


def matrix(row: dict[str, object], names: tuple[str, ...]) -> np.ndarray:
    f = row["f"]
    assert isinstance(f, dict)
    return np.stack([f[n] for n in names], axis=1)


def evaluate(
    rows: list[dict[str, object]], names: tuple[str, ...], w: np.ndarray, rerank: Rerank
) -> tuple[float, float, float]:
    r1 = r5 = mrr = 0.0
    for row in rows:
        question = row["question"]
        assert isinstance(question, str)
        order = rerank(question, np.argsort(-(matrix(row, names) @ w), kind="stable")[:10])
        gold = row["gold"]
        assert isinstance(gold, set)
        rank = next((i + 1 for i, o in enumerate(order) if int(o) in gold), None)
        r1 += rank == 1
        r5 += bool(rank and rank <= 5)
        mrr += 1 / rank if rank else 0.0
    n = max(1, len(rows))
    return r1 / n, r5 / n, mrr / n


def fit(rows: list[dict[str, object]], names: tuple[str, ...], l2: float = 1e-3) -> np.ndarray:
    diffs = []
    for row in rows:
        x = matrix(row, names)
        base = 0.4 * x[:, 0] + 0.6 * x[:, 1] + 0.5 * x[:, 2]
        top = np.argsort(-base)[:20]
        gold = row["gold"]
        assert isinstance(gold, set)
        pos = [i for i in top if i in gold] or sorted(gold)[:1]
        diffs += [x[p] - x[n] for p in pos for n in top if n not in gold]
    d = np.array(diffs)
    w = np.zeros(len(names))
    for _ in range(3000):  # gradient descent on the mean pairwise logistic loss
        g = -(d * (1 / (1 + np.exp(d @ w)))[:, None]).mean(axis=0) + l2 * w
        w -= 0.5 * g
    return w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--second", default=None, help="a second embedder's cosine as a feature (e.g. minilm)")
    ap.add_argument("--reranker", default="identity", help="a name of assistant.answering.rerank.RERANKERS")
    ap.add_argument("--reranker-path", type=Path, default=None, help="model directory of --reranker cross-encoder")
    args = ap.parse_args()
    try:
        reranker = build_reranker(Settings(reranker=args.reranker, reranker_path=args.reranker_path))
    except RerankerError as e:
        sys.exit(str(e))
    print(f"reranker: {reranker.name}")
    data, rerank = features(args, reranker)
    prod = np.array([0.4, 0.6, 0.5])
    print(f"{'features':44} {'fit on':10} {'in-sample r@1/r@5/MRR':>24}   {'held out r@1/r@5/MRR':>24}")

    def fmt(v: tuple[float, float, float]) -> str:
        return "/".join(f"{x:.3f}" for x in v)

    for name in SETS:
        print(f"{'production (0.4 / 0.6 / 0.5)':44} {'-':10} {name}: {fmt(evaluate(data[name], BASE, prod, rerank))}")
    extra = ("section", "body", "title") + (("second",) if args.second else ())
    for names in (BASE, BASE + extra):
        for train, test in (SETS, SETS[::-1]):
            w = fit(data[train], names)
            w = w / (w[0] + w[1])  # production scale: lexical + dense weights sum to 1
            print(f"{'+'.join(names):44} {train:10} {fmt(evaluate(data[train], names, w, rerank)):>24}   "
                  f"{test}: {fmt(evaluate(data[test], names, w, rerank))}   w={np.round(w, 2).tolist()}")  # fmt: skip


if __name__ == "__main__":
    main()
