"""The Embedder seam: ``embed(texts, kind) -> float32 [n, dim]``, rows L2-normalized.

``kind`` matters: asymmetric models (e5) embed queries and passages differently.
Real backends live in :mod:`index.embedders`; the fake here keeps unit tests fast.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from index.settings import Settings

Kind = Literal["query", "passage"]


@runtime_checkable
class Embedder(Protocol):
    model_id: str  # recorded in the snapshot manifest; a different id forces re-embedding
    dim: int

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray: ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


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


def make_embedder(settings: Settings) -> Embedder:
    """Build the configured backend. Heavy imports happen only for the chosen one."""
    name = settings.embedder
    if name == "fake":
        return FakeEmbedder()
    from index import embedders

    return embedders.load(name, settings)
