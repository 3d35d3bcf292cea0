"""Where and how local models run: devices, CPU threads, quiet loading, weight fingerprints.

Shared by the sentence-transformers embedders (``index.embedding.backends``) and the
cross-encoder reranker (``assistant.answering.rerank``); model libraries are passed in or imported
lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

M = TypeVar("M")

# Small models at query-sized batches stop scaling after a few threads, and a server
# shares the CPU with request handling: by default more threads only oversubscribe.
# An ingest machine with many cores raises it with BPA_EMBED_THREADS.
MAX_AUTO_THREADS = 4

# 'cpu', 'auto' (a GPU when torch sees one), 'cuda', 'cuda:N' or 'mps'.
DEVICE_PATTERN = re.compile(r"^(cpu|auto|cuda(:\d+)?|mps)$")


class DeviceError(RuntimeError):
    """The requested device does not exist on this machine (message in pt-BR)."""


def cpu_threads(requested: int = 0) -> int:
    """``requested`` when set (> 0); else the cores this process may run on, capped at
    :data:`MAX_AUTO_THREADS`."""
    if requested > 0:
        return requested
    try:
        available = len(os.sched_getaffinity(0))  # honours taskset/cpuset, unlike cpu_count
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_AUTO_THREADS))


def limit_torch_threads(torch: Any, requested: int = 0) -> None:
    """torch's intra-op threads: ``requested`` if set; else, unless the operator set
    OMP_NUM_THREADS (torch already honours it), :func:`cpu_threads`."""
    if requested <= 0 and "OMP_NUM_THREADS" in os.environ:
        return
    torch.set_num_threads(cpu_threads(requested))
    # No inter-op parallelism in these encoders; only settable before first use.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def torch_device(torch: Any, requested: str) -> str:
    """The torch device for ``requested``: 'auto' picks CUDA, then Apple's MPS, then the
    CPU; an explicit GPU this machine lacks is a DeviceError rather than a silent CPU run."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"BPA_EMBED_DEVICE={requested}, mas o torch instalado não vê GPU CUDA nesta máquina "
                "(instale um torch com CUDA ou use 'cpu' / 'auto')"
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceError(f"BPA_EMBED_DEVICE={requested}: esta máquina tem {torch.cuda.device_count()} GPU(s) CUDA")
    elif requested == "mps" and not has_mps:
        raise DeviceError("BPA_EMBED_DEVICE=mps, mas o torch não vê o MPS (GPU Apple) nesta máquina")
    return requested


def load_local_model(torch: Any, load: Callable[[str], M], threads: int, device: str) -> M:
    """A torch model from a local directory: ``load(device)`` with the Hugging Face hub
    switched off, the thread cap applied, on the resolved device, without the loading bar,
    in eval mode. DeviceError for a device this machine lacks; else what ``load`` raises."""
    # The hub must never be contacted: models come from local directories only.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    limit_torch_threads(torch, threads)
    resolved = torch_device(torch, device)
    with quiet_progress_bars():
        model = load(resolved)
    model.eval()  # type: ignore[attr-defined]
    return model


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar (noise on every start), then restore it."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def fingerprint(path: Path, sample: int = 1 << 20) -> str:
    """Short content hash of a model file or directory, for model ids.

    A directory name alone does not identify a model (two fine-tunes may share it),
    while hashing GBs of weights would slow every start. Sizes plus the first and
    last MiB of each file change whenever the weights do.
    """
    if path.is_file():
        files = [(path.name, path)]
    else:
        files = sorted(
            (str(p.relative_to(path)), p)
            for p in path.rglob("*")
            if p.is_file()
            and p.name != "README.md"
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    digest = hashlib.sha256()
    for rel, file in files:
        size = file.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with file.open("rb") as fh:
            digest.update(fh.read(sample))
            if size > 2 * sample:
                fh.seek(-sample, os.SEEK_END)
                digest.update(fh.read(sample))
    return digest.hexdigest()[:12]
