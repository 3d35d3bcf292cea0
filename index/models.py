"""Typed records that flow from ingest through the index to the assistant."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["paragraph", "list_item", "table_row", "quote", "code"]
PATH_SEP = " › "


@dataclass(frozen=True)
class Block:
    """One unit of body text: a paragraph, a list item, a table row..."""

    kind: BlockKind
    text: str
    depth: int = 0  # list nesting, 0 for top-level blocks


@dataclass
class Section:
    """A node of a document's outline: a heading, a FAQ question or a labelled step group."""

    title: str
    anchor: str = ""
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)

    def walk(self, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Section]]:
        """Every section under (and including) this one with its heading path."""
        here = (*path, self.title) if self.title else path
        out = [(here, self)]
        for child in self.children:
            out.extend(child.walk(here))
        return out


@dataclass
class Document:
    """A parsed page: its identity, provenance and outline."""

    id: str
    source: str
    key: str  # identity within its source (file path, page id, article id, URL)
    title: str
    url: str
    content_hash: str
    root: Section
    updated_at: str | None = None
    version: str | None = None
    breadcrumbs: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage. Its id is stable while its document, path and text are."""

    id: str
    document_id: str
    ordinal: int
    section_path: tuple[str, ...]
    anchor: str
    url: str
    text: str

    @property
    def section(self) -> str:
        return PATH_SEP.join(self.section_path)

    @property
    def embed_text(self) -> str:
        """What is embedded and lexically indexed: the heading path gives the text its context."""
        return f"{self.section}\n{self.text}"


def collapse_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """Drop empty titles and a title repeated right after itself (page title as heading)."""
    from index.textutil import fold

    out: list[str] = []
    for title in path:
        if title and (not out or fold(out[-1]) != fold(title)):
            out.append(title)
    return tuple(out)


def stable_id(*parts: str, length: int = 16) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def document_id(source: str, key: str) -> str:
    return stable_id("doc", source, key)


def chunk_id(doc_id: str, section_path: tuple[str, ...], text: str, occurrence: int = 0) -> str:
    return stable_id("chunk", doc_id, PATH_SEP.join(section_path), text, str(occurrence))
