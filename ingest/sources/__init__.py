"""Sources: where raw pages come from. ``build_source`` turns a config block into a Source."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from index.settings import Settings
from ingest.sources.base import ConfigError, RawDocument, Source, SourceError
from ingest.sources.config import SOURCE_TYPES, SourceConfig, SourcesFile, SourceType, load_sources


def build_source(cfg: SourceConfig, settings: Settings) -> Source:
    """The registered factory of ``cfg.type``, called with ``(cfg, settings)``."""
    entry = SOURCE_TYPES.get(cfg.type)
    if entry is None:
        raise ConfigError(f"tipo de fonte desconhecido: {cfg.type!r} (use {', '.join(SOURCE_TYPES)})")
    module, _, attr = entry.factory.partition(":")
    factory: Callable[[SourceConfig, Settings], Source] = getattr(importlib.import_module(module), attr)
    return factory(cfg, settings)


__all__ = [
    "SOURCE_TYPES",
    "ConfigError",
    "RawDocument",
    "Source",
    "SourceConfig",
    "SourceError",
    "SourceType",
    "SourcesFile",
    "build_source",
    "load_sources",
]
