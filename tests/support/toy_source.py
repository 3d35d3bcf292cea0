"""A toy source type: pages written inline in the sources file.

Together with one line in ``ingest.sources.config.SOURCE_TYPES`` this module is all a
new source type needs (see tests/test_extension_seams.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from index.settings import Settings
from ingest.sources.base import RawDocument
from ingest.sources.config import SourceConfig


class ToyPage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    text: str


class ToySourceConfig(SourceConfig):
    type: Literal["toy"]
    pages: list[ToyPage] = Field(min_length=1)


class ToySource:
    def __init__(self, cfg: ToySourceConfig, settings: Settings) -> None:
        self.name = cfg.name
        self.cfg = cfg

    def fetch(self, previous: dict[str, str]) -> Iterator[RawDocument]:
        for i, page in enumerate(self.cfg.pages):
            html = f"<h1>{escape(page.title)}</h1><p>{escape(page.text)}</p>"
            yield RawDocument(source=self.name, key=f"page-{i}", url=f"https://toy.example/{i}", html=html)
