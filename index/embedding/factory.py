"""Build the configured embedder from the registry's table (``index.embedding.registry``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from index.embedding.protocol import Embedder
from index.embedding.registry import EMBEDDERS, install_hint, unknown_name_message
from index.errors import EmbedderError, MissingPackageError
from index.settings import Settings


def make_embedder(settings: Settings) -> Embedder:
    """Build the configured backend; EmbedderError (pt-BR install hint for a missing package)."""
    name = settings.embedder
    entry = EMBEDDERS.get(name)
    if entry is None:  # Settings validates the name; this catches model_construct/model_copy
        raise EmbedderError(unknown_name_message(name))
    module, _, attr = entry.loader.partition(":")
    loader: Callable[[str, Settings], Embedder] = getattr(importlib.import_module(module), attr)
    try:
        return loader(name, settings)
    except MissingPackageError as exc:
        raise EmbedderError(install_hint(name, exc.package, exc.cause)) from exc
