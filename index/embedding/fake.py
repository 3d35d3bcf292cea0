"""The fake embedder: deterministic, model-free vectors that keep unit tests fast."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import numpy as np

from index.embedding.protocol import Kind, normalize

if TYPE_CHECKING:
    from index.settings import Settings


class FakeEmbedder:
    """Deterministic bag-of-hashed-words vectors: similar wording, similar vectors.

    Not semantic at all, which is the point: tests that pass with it test our code,
    not a model.
    """

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.model_id = f"fake-hash-{dim}"
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        return normalize(out)


def load_fake(name: str, settings: Settings) -> FakeEmbedder:
    """Registry loader for ``fake`` (64 dimensions) and ``fake-384``."""
    return FakeEmbedder(int(name.removeprefix("fake-"))) if name.startswith("fake-") else FakeEmbedder()
