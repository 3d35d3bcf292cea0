"""Local files (a path or glob relative to the sources file, ``Settings.sources``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from index.settings import Settings
from ingest.charset import decode_page, log_decoding
from ingest.sources.base import RawDocument, SourceError
from ingest.sources.config import FilesSourceConfig


class FilesSource:
    def __init__(self, cfg: FilesSourceConfig, settings: Settings) -> None:
        self.name = cfg.name
        self.cfg = cfg
        # Paths and keys are relative to the sources file's folder.
        self.base_dir = settings.sources.resolve().parent

    def _paths(self) -> list[Path]:
        pattern = self.cfg.path
        if any(ch in pattern for ch in "*?["):
            return sorted(p for p in self.base_dir.glob(pattern) if p.is_file())
        path = self.base_dir / pattern
        if not path.exists():
            raise SourceError(f"arquivo não encontrado: {path}")
        return [path]

    def fetch(self, previous: dict[str, str]) -> Iterator[RawDocument]:
        for path in self._paths():
            key = str(path.relative_to(self.base_dir)) if path.is_relative_to(self.base_dir) else str(path)
            doc = RawDocument(source=self.name, key=key, url=self.cfg.url or "", title=self.cfg.title)
            try:
                doc.html = _read_html(path)
            except ValueError as e:
                doc.error = f"{path}: {e}"
            except OSError as e:
                doc.error = f"{path}: não foi possível ler ({e.strerror or e})"
            yield doc


def _read_html(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise ValueError("arquivo vazio")
    if b"\x00" in data[:8192]:
        raise ValueError("não é HTML nem texto (conteúdo binário)")
    # Confluence exports from Windows tools are sometimes cp1252, or declare a charset
    # they are not in: ingest.charset sorts it out, and says so.
    decoded = decode_page(data)
    log_decoding(decoded, str(path))
    return decoded.text
