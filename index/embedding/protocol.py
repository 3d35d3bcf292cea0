"""The Embedder seam: ``embed(texts, kind) -> float32 [n, dim]``, rows L2-normalized.

``kind`` matters: asymmetric models (e5) embed queries and passages differently.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import numpy as np

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
