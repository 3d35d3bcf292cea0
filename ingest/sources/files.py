"""Local files: a file, a folder or a glob, relative to the sources file (``Settings.sources``).

A folder is read recursively: its supported files (``SUPPORTED``), hidden files and
folders (a name starting with ".") skipped. A glob takes every file it matches except
hidden ones. Matching no file at all is a ConfigError naming the source and the path,
raised when the source is built, so ``bpa ingest`` and ``bpa sources check`` stop (exit 2)
before anything is indexed: an empty source is a mistake in the sources file, and
carrying on would publish (or gate) a corpus without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from index.settings import Settings
from ingest.charset import decode_page, log_decoding
from ingest.sources.base import ConfigError, RawDocument
from ingest.sources.config import FilesSourceConfig

SUPPORTED = (".html", ".htm", ".xhtml", ".txt")  # what a folder contributes
_WILDCARDS = "*?["


class FilesSource:
    def __init__(self, cfg: FilesSourceConfig, settings: Settings) -> None:
        self.name = cfg.name
        self.cfg = cfg
        # Paths and keys are relative to the sources file's folder.
        self.base_dir = settings.sources.resolve().parent
        self.paths = self._paths()

    def _paths(self) -> list[Path]:
        pattern = self.cfg.path
        target = self.base_dir / pattern  # an absolute ``path`` stays absolute
        where = f"fonte '{self.name}': path = \"{pattern}\" ({target})"
        if any(ch in pattern for ch in _WILDCARDS):
            literal = Path(target.anchor)
            parts = target.relative_to(literal).parts
            for i, part in enumerate(parts):
                if any(ch in part for ch in _WILDCARDS):
                    literal = literal.joinpath(*parts[:i])
                    rest = Path(*parts[i:])
                    break
            found = sorted(p for p in literal.glob(str(rest)) if p.is_file() and not _hidden(p, literal))
            if not found:
                raise ConfigError(f"{where}: nenhum arquivo corresponde a esse padrão")
            return found
        if target.is_dir():
            found = sorted(
                p for p in target.rglob("*") if p.suffix.lower() in SUPPORTED and p.is_file() and not _hidden(p, target)
            )
            if not found:
                raise ConfigError(f"{where}: a pasta não tem arquivos {', '.join(SUPPORTED)} (fora os ocultos)")
            return found
        if not target.exists():
            raise ConfigError(f"{where}: arquivo ou pasta não encontrado")
        return [target]

    def fetch(self, previous: dict[str, str]) -> Iterator[RawDocument]:
        for path in self.paths:
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


def _hidden(path: Path, under: Path) -> bool:
    """Whether ``path`` is hidden, or inside a hidden folder, below ``under``."""
    return any(part.startswith(".") for part in path.relative_to(under).parts)
