"""The Source seam: anything that yields raw pages for one named source."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from index.errors import BpaError


class SourceError(BpaError):
    """The source as a whole failed (network, auth, 5xx after retries, malformed listing).

    The pipeline then carries the source's documents over from the previous snapshot.
    """


class ConfigError(BpaError):
    """The sources file is invalid; the message names the line and field."""


@dataclass
class RawDocument:
    """A page as fetched, before parsing. ``key`` identifies it within its source."""

    source: str
    key: str
    url: str
    html: str | None = None  # None with ``error`` set: this one page failed
    title: str | None = None  # a title the API gave us, preferred over the HTML's
    updated_at: str | None = None
    version: str | None = None
    breadcrumbs: list[str] = field(default_factory=list)  # ancestors, start of the section path
    metadata: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    # When set, the source knows the page is unchanged since the previous snapshot
    # (same version) and did not download the body; the pipeline carries it over.
    unchanged: bool = False

    @property
    def content_hash(self) -> str:
        body = self.html or ""
        head = "\x1f".join([self.title or "", self.url, *self.breadcrumbs])
        return hashlib.sha256(f"{head}\x1e{body}".encode()).hexdigest()


class Source(Protocol):
    name: str

    def fetch(self, previous: dict[str, str]) -> Iterator[RawDocument]:
        """Yield every page of the source.

        ``previous`` maps each document key of this source in the current snapshot to its
        recorded version (or content hash), so a source may skip downloading unchanged
        pages (yield them with ``unchanged=True``). Raise :class:`SourceError` when the
        listing cannot be completed: a partial listing must never delete documents.
        """
        ...
