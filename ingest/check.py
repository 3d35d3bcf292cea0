"""`bpa sources check`: validate the sources file and reach each source without indexing."""

from __future__ import annotations

from index.errors import BpaError
from index.settings import Settings
from ingest.sources import ConfigError, build_source, load_sources


def check_sources(settings: Settings) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) per source. Raises ConfigError for an invalid file, or a source
    that cannot be built as written (a files source matching no file)."""
    sources_file = load_sources(settings.sources)
    results: list[tuple[str, bool, str]] = []
    for cfg in sources_file.sources:
        try:
            source = build_source(cfg, settings)
            first = next(iter(source.fetch({})), None)
        except ConfigError:
            raise
        except BpaError as e:
            results.append((cfg.name, False, str(e)))
            continue
        if first is None:
            results.append((cfg.name, False, "acessível, mas nenhum documento listado"))
        elif first.error:
            results.append((cfg.name, False, first.error))
        else:
            results.append((cfg.name, True, f"acessível ({cfg.type}); primeiro documento: {first.url or first.key}"))
    return results
