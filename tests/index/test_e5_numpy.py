"""The reader served in numpy (adapters merged) gives the torch reader's logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedding.e5_numpy import _gelu, load_numpy_reader, pair_ids
from index.errors import EmbedderError
from tests.support.e5_tiny import write_tiny

torch = pytest.importorskip("torch")

from index.embedding.e5_reader import Reader, save_reader, score_pairs  # noqa: E402
from index.embedding.e5_torch import load_e5_torch  # noqa: E402


def test_numpy_reader_matches_torch(tmp_path: Path) -> None:
    tiny = write_tiny(tmp_path / "tiny.bin")
    torch.manual_seed(3)
    e5 = load_e5_torch(path=tiny)
    reader = Reader(e5.encoder, rank=4)
    with torch.no_grad():
        for p in reader.trained().values():
            p.normal_(std=0.5)  # B non-zero: the merged adapters must matter
    path = tmp_path / "reader.npz"
    save_reader(path, reader, e5, {"max_tokens": 32})
    texts = ["ab ab", "ab c", "ab", "c c ab ab c", "c"]
    expected = score_pairs(reader, e5, "ab c", texts, 32)
    served = load_numpy_reader(path, base=tiny)
    got = 1 / (1 + np.exp(-served.logits("ab c", texts)))
    assert np.allclose(got, expected, atol=1e-5)
    assert np.ptp(got) > 0.05  # the texts really differ: equality is not a tie
    # Same pair form as training.
    assert served.pair("ab", "c", 32) == e5.pair_ids("query: ab", "passage: c", 32)
    # The adapters are merged: the same head without them gives other logits.
    with torch.no_grad():
        for name, p in reader.trained().items():
            if name.endswith("lora_b"):
                p.zero_()
    save_reader(tmp_path / "bare.npz", reader, e5, {"max_tokens": 32})
    bare = load_numpy_reader(tmp_path / "bare.npz", base=tiny)
    assert not np.allclose(bare.logits("ab c", texts), served.logits("ab c", texts), atol=1e-3)


def test_gelu_is_the_exact_erf_gelu() -> None:
    from scipy.special import erf

    x = np.concatenate([np.linspace(-12, 12, 4001), np.random.default_rng(0).normal(0, 3, 10_000)]).astype(np.float32)
    exact = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    got = _gelu(x.copy())
    assert got.dtype == np.float32
    assert np.abs(got - exact).max() < 2e-6
    assert _gelu(np.zeros(3, np.float32)).tolist() == [0.0, 0.0, 0.0]


def test_pair_ids_keeps_the_shorter_text() -> None:
    class Tok:
        bos, eos = 0, 2

        def encode(self, text: str, limit: int | None = None) -> list[int]:
            ids = [10 + ord(ch) for ch in text]
            return ids[:limit] if limit is not None else ids

    seq = pair_ids(Tok(), "ab", "x" * 50, 16, 512)  # type: ignore[arg-type]
    assert len(seq) == 16 and seq[:4] == [0, 10 + ord("a"), 10 + ord("b"), 2]


def test_missing_or_foreign_reader_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="não existem"):
        load_numpy_reader(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(EmbedderError, match=r"não foi possível ler|não é um arquivo"):
        load_numpy_reader(tmp_path / "other.npz")
