"""A toy embedder: hashed character trigrams, so it differs from the fake (hashed words).

Together with one line in ``index.embedding.registry.EMBEDDERS`` this module is all a new
embedder needs (see tests/test_extension_seams.py).
"""

from __future__ import annotations

import zlib

import numpy as np

from index.embedding.protocol import Kind, normalize
from index.settings import Settings


class ToyEmbedder:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.model_id = f"toy-trigram-{dim}"
        self.texts_embedded = 0

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()}  "
            for i in range(len(padded) - 2):
                out[row, zlib.crc32(padded[i : i + 3].encode()) % self.dim] += 1.0
        return normalize(out)


def load_toy(name: str, settings: Settings) -> ToyEmbedder:
    return ToyEmbedder(dim=48)
