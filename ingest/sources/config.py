"""The sources file (corpus/sources.toml): the source type registry, parsing, validation
and error messages.

Errors name the line and the field, because maintainers edit this file by hand.

Adding a source type: one module with a config model (a :class:`SourceConfig` whose
``type`` is ``Literal["<name>"]``) and a source class whose constructor takes
``(cfg, settings)``, plus one line in :data:`SOURCE_TYPES`. The sources file's validation,
its error messages and ``build_source`` all read that table.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from ingest.sources.base import ConfigError

_NAME = r"^[a-z0-9][a-z0-9_-]*$"


class SourceConfig(BaseModel):
    """One [[source]] block. Subclasses narrow ``type`` to their registry name."""

    model_config = ConfigDict(extra="forbid")
    type: str
    name: str = Field(pattern=_NAME, description="Unique source name (lowercase, digits, - and _).")


class FilesSourceConfig(SourceConfig):
    type: Literal["files"]
    path: str = Field(
        description=(
            "A file, a folder (its supported files, recursively, hidden ones skipped) or a glob, "
            "relative to the sources file. Matching no file is an error naming the source."
        )
    )
    url: str | None = Field(
        None,
        description=(
            "Public URL the citations link to (single file). Without it citations link to "
            "bpa's own rendering of the document, /d/{document_id}."
        ),
    )
    title: str | None = Field(None, description="Title, for pages whose HTML has none.")


class RemoteSourceConfig(SourceConfig):
    """A source fetched over HTTP: what one page (or API response) may cost."""

    page_deadline: float | None = Field(
        None, gt=0,
        description="Seconds one page or API response may take to download in all (default: "
        "BPA_HTTP_PAGE_DEADLINE, 30). A page over it is one failed document; the run goes on.",
    )  # fmt: skip
    max_page_mb: float | None = Field(
        None, gt=0,
        description="Largest decoded (gunzipped) body of one page or API response, in MB (default: "
        "BPA_HTTP_MAX_PAGE_MB, 10). Checked while streaming; a page over it is one failed document.",
    )  # fmt: skip


class ConfluenceSourceConfig(RemoteSourceConfig):
    type: Literal["confluence"]
    base_url: str = Field(description="Server/DC root, or Cloud root ending in /wiki.")
    page_ids: list[str] = Field(default_factory=list, description="Root page ids.")
    space: str | None = Field(None, description="Space key: index the whole space.")
    descendants: bool = True
    token_env: str | None = Field(None, description="Env var holding a PAT or 'email:token'.")

    @field_validator("page_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, v: object) -> object:
        return [str(x) for x in v] if isinstance(v, list) else v


class ZendeskSourceConfig(RemoteSourceConfig):
    type: Literal["zendesk"]
    base_url: str
    locale: str = "pt-br"
    section_ids: list[int] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    token_env: str | None = Field(None, description="Env var holding 'email/token:secret'.")


class WebSourceConfig(RemoteSourceConfig):
    type: Literal["web"]
    urls: list[str] = Field(min_length=1)
    allow: list[str] = Field(default_factory=list, description="URL prefixes the crawl may follow.")
    max_pages: int = Field(200, ge=1)
    max_depth: int = Field(2, ge=0)
    delay: float = Field(1.0, ge=0, description="Seconds between requests to one host.")


@dataclass(frozen=True)
class SourceType:
    config: type[SourceConfig]
    # "module:callable" taking (cfg, settings) and returning a Source; imported only when a
    # source of this type is built, so validating the file never loads HTTP clients.
    factory: str


SOURCE_TYPES: dict[str, SourceType] = {
    "files": SourceType(FilesSourceConfig, "ingest.sources.files:FilesSource"),
    "confluence": SourceType(ConfluenceSourceConfig, "ingest.sources.confluence:ConfluenceSource"),
    "zendesk": SourceType(ZendeskSourceConfig, "ingest.sources.zendesk:ZendeskSource"),
    "web": SourceType(WebSourceConfig, "ingest.sources.web:WebSource"),
}


def _adapter() -> TypeAdapter[SourceConfig]:
    return _adapter_for(tuple(SOURCE_TYPES.items()))


@functools.cache
def _adapter_for(types: tuple[tuple[str, SourceType], ...]) -> TypeAdapter[SourceConfig]:
    """The discriminated union of the registered config models (rebuilt when the table changes)."""
    for name, entry in types:
        tags = get_args(entry.config.model_fields["type"].annotation)
        if tags != (name,):  # a programming error in the table, not a user error
            raise TypeError(f"source type {name!r}: {entry.config.__name__}.type must be Literal[{name!r}]")
    models = tuple(entry.config for _, entry in types)
    if len(models) == 1:
        return TypeAdapter(models[0])
    union = Annotated[Union[models], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(union)


class SourcesFile(BaseModel):
    path: Path
    sources: list[SourceConfig]

    def get(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(f"{self.path}: fonte '{name}' não existe (fontes: {known})")


def _block_starts(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.strip().startswith("[[source]]")]


def _field_line(text: str, block_start: int, field: str) -> int:
    lines = text.splitlines()
    for i in range(block_start, len(lines)):
        if lines[i].strip().startswith("[[source]]"):
            break
        if re.match(rf"\s*{re.escape(field)}\s*=", lines[i]):
            return i + 1
    return block_start


def _type_names() -> str:
    *head, last = SOURCE_TYPES
    return f"{', '.join(head)} ou {last}" if head else last


_MESSAGES = {
    "missing": "campo obrigatório ausente",
    "extra_forbidden": "campo desconhecido para este tipo de fonte",
    "string_type": "deve ser um texto entre aspas",
    "string_pattern_mismatch": "use só letras minúsculas, dígitos, - e _",
    "list_type": 'deve ser uma lista, como ["a", "b"]',
    "int_type": "deve ser um número inteiro",
    "int_parsing": "deve ser um número inteiro",
    "bool_type": "deve ser true ou false",
    "too_short": "a lista não pode ser vazia",
    "float_type": "deve ser um número",
    "float_parsing": "deve ser um número",
    "greater_than": "deve ser maior que zero",
}


def _explain(err: Any) -> str:
    if err["type"] == "union_tag_not_found":
        return f"campo obrigatório ausente (use {_type_names()})"
    if err["type"] in ("union_tag_invalid", "literal_error"):
        return f"tipo desconhecido (use {_type_names()})"
    return _MESSAGES.get(err["type"], err["msg"])


def load_sources(path: Path) -> SourcesFile:
    """Parse and validate a sources file, or raise ConfigError naming line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: não foi possível ler o arquivo de fontes ({e.strerror})") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: TOML inválido: {e}") from e
    extra = set(data) - {"source"}
    if extra:
        raise ConfigError(f"{path}: chave desconhecida no topo: {', '.join(sorted(extra))}")
    raw = data.get("source", [])
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: nenhuma fonte definida (use blocos [[source]])")
    starts = _block_starts(text)
    adapter = _adapter()
    sources: list[SourceConfig] = []
    for i, item in enumerate(raw):
        start = starts[i] if i < len(starts) else 1
        try:
            sources.append(adapter.validate_python(item))
        except ValidationError as e:
            err = e.errors()[0]
            loc = [str(p) for p in err["loc"] if str(p) not in SOURCE_TYPES]  # the union's tag
            field = loc[0] if loc else "type"
            line = _field_line(text, start, field)
            raise ConfigError(f"{path}:{line}: fonte #{i + 1}, campo '{field}': {_explain(err)}") from e
    seen: set[str] = set()
    for i, s in enumerate(sources):
        if s.name in seen:
            line = _field_line(text, starts[i], "name")
            raise ConfigError(f"{path}:{line}: campo 'name': fonte '{s.name}' repetida")
        seen.add(s.name)
    return SourcesFile(path=path, sources=sources)
