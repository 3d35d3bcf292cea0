"""Sources: where raw pages come from. ``build_source`` turns a config block into a Source."""

from __future__ import annotations

from pathlib import Path

from index.settings import Settings
from ingest.sources.base import ConfigError, RawDocument, Source, SourceError
from ingest.sources.config import (
    ConfluenceSourceConfig,
    FilesSourceConfig,
    SourceConfig,
    SourcesFile,
    WebSourceConfig,
    ZendeskSourceConfig,
    load_sources,
)


def build_source(cfg: SourceConfig, settings: Settings, base_dir: Path) -> Source:
    """``base_dir``: the sources file's folder, against which file paths are resolved."""
    if isinstance(cfg, FilesSourceConfig):
        from ingest.sources.files import FilesSource

        return FilesSource(cfg, base_dir)
    if isinstance(cfg, ConfluenceSourceConfig):
        from ingest.sources.confluence import ConfluenceSource

        return ConfluenceSource(cfg, settings)
    if isinstance(cfg, ZendeskSourceConfig):
        from ingest.sources.zendesk import ZendeskSource

        return ZendeskSource(cfg, settings)
    if isinstance(cfg, WebSourceConfig):
        from ingest.sources.web import WebSource

        return WebSource(cfg, settings)
    raise ConfigError(f"tipo de fonte desconhecido: {cfg!r}")


__all__ = [
    "ConfigError",
    "RawDocument",
    "Source",
    "SourceConfig",
    "SourceError",
    "SourcesFile",
    "build_source",
    "load_sources",
]
