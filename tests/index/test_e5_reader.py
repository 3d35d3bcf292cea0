"""The reader (e5 as a cross-encoder with LoRA and a head) and its training script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.errors import EmbedderError
from tests.support.e5_tiny import write_tiny

torch = pytest.importorskip("torch")

from index.embedding.e5_reader import (  # noqa: E402
    Reader,
    load_trained_arrays,
    read_reader_file,
    save_reader,
    score_pairs,
    trained_arrays,
)
from index.embedding.e5_torch import load_e5_torch  # noqa: E402


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    return write_tiny(tmp_path / "tiny.bin")


def test_adapters_start_as_the_base_and_only_they_train(tiny_file: Path) -> None:
    base = load_e5_torch(path=tiny_file)
    seq = base.pair_ids("query: ab", "passage: ab c", 32)
    ids, mask = base.batch([seq])
    with torch.inference_mode():
        before = base.encoder(ids, mask).clone()
    reader = Reader(load_e5_torch(path=tiny_file).encoder, rank=4)
    with torch.inference_mode():
        assert torch.allclose(reader.encoder(ids, mask), before, atol=1e-6)  # B = 0: no change yet
        assert float(reader(ids, mask)[0]) == 0.0  # zero head
    names = set(reader.trained())
    assert names == {f"encoder.layers.{i}.{t}.lora_{m}" for i in range(2) for t in "qv" for m in "ab"} | {
        "head.weight",
        "head.bias",
    }
    with torch.no_grad():
        reader.encoder.layers[0].v.lora_b.fill_(0.1)
    with torch.inference_mode():
        assert not torch.allclose(reader.encoder(ids, mask), before, atol=1e-4)


def test_reader_weights_round_trip(tiny_file: Path, tmp_path: Path) -> None:
    e5 = load_e5_torch(path=tiny_file)
    reader = Reader(e5.encoder, rank=4)
    with torch.no_grad():
        for p in reader.trained().values():
            p.normal_()
    path = tmp_path / "reader.npz"
    save_reader(path, reader, e5, {"max_tokens": 32})
    meta, arrays = read_reader_file(path)
    assert meta["rank"] == 4 and meta["layers"] == 2 and meta["max_tokens"] == 32
    other = Reader(load_e5_torch(path=tiny_file).encoder, rank=4)
    load_trained_arrays(other, arrays)
    for name, value in trained_arrays(other).items():
        assert np.array_equal(value, arrays[name])
    with pytest.raises(EmbedderError, match="incompatíveis"):
        load_trained_arrays(Reader(load_e5_torch(path=tiny_file).encoder, rank=2), arrays)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(EmbedderError, match="não foi possível ler"):
        read_reader_file(tmp_path / "bad.npz")


def test_training_changes_an_order(tiny_file: Path) -> None:
    """A few steps on pairs that favour texts with 'c' reorder texts the untrained reader ties."""
    torch.manual_seed(0)
    e5 = load_e5_torch(path=tiny_file)
    reader = Reader(e5.encoder, rank=4)
    texts = ["ab ab", "ab c", "ab", "c c ab"]
    before = score_pairs(reader, e5, "ab", texts, 32)
    assert np.allclose(before, 0.5)  # zero head: every text ties
    pairs = [("ab", t, float("c" in t)) for t in ["ab", "ab ab", "c", "ab c", "c ab", "ab ab ab", "c c", "ab ab c"]]
    seqs = [e5.pair_ids("query: " + q, "passage: " + t, 32) for q, t, _ in pairs]
    ids, mask = e5.batch(seqs)
    y = torch.tensor([label for _, _, label in pairs])
    optimizer = torch.optim.AdamW(list(reader.trained().values()), lr=1e-2)
    reader.train()
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(reader(ids, mask), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = score_pairs(reader, e5, "ab", texts, 32)
    assert after[[1, 3]].min() > after[[0, 2]].max()  # the texts with 'c' now come first
    assert float(loss.detach()) < 0.3
