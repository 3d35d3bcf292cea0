"""Chunker: structure-aware, bounded, stable ids, FAQ questions end their paths."""

from __future__ import annotations

import itertools
import re

from index.models import Block, Document, Section
from index.textutil import count_tokens
from ingest.chunk import ChunkingConfig, chunk_document
from ingest.parse import parse_document
from ingest.sources.base import RawDocument
from tests.support.common import SEED

FAQ_QUESTION = re.compile(r"^\s{0,2}•\s+(.*\?.*)$", re.M)


def _seed(text: str | None = None) -> Document:
    html = text if text is not None else SEED.read_text(encoding="utf-8")
    return parse_document(
        RawDocument(source="bp", key="seed", url="", html=html, title="Boas Práticas do Suporte"), "http://x"
    )


def test_every_faq_question_ends_its_own_chunk_path() -> None:
    questions = [q.strip() for q in FAQ_QUESTION.findall(SEED.read_text(encoding="utf-8"))]
    assert len(questions) >= 15
    chunks = chunk_document(_seed(), ChunkingConfig())
    ends = {c.section_path[-1] for c in chunks}
    for q in questions:
        assert q.rstrip(":.") in ends, q


def test_chunks_respect_the_token_budget() -> None:
    cfg = ChunkingConfig(max_tokens=120, overlap_tokens=20)
    chunks = chunk_document(_seed(), cfg)
    assert max(count_tokens(c.text) for c in chunks) <= 120
    # a section longer than the budget was split, with overlap between its parts
    by_path: dict[tuple[str, ...], list[str]] = {}
    for c in chunks:
        by_path.setdefault(c.section_path, []).append(c.text)
    split = [texts for texts in by_path.values() if len(texts) > 1]
    assert split
    assert any(a.split("\n")[-1] in b for texts in split for a, b in itertools.pairwise(texts))


def test_chunk_ids_are_stable_and_unique() -> None:
    a = chunk_document(_seed(), ChunkingConfig())
    b = chunk_document(_seed(), ChunkingConfig())
    assert [c.id for c in a] == [c.id for c in b]
    assert len({c.id for c in a}) == len(a)


def test_editing_one_section_changes_only_its_chunk_ids() -> None:
    original = SEED.read_text(encoding="utf-8")
    edited = original.replace("Executivo de Soluções e Negócios.", "Executivo de Soluções e Negócios (ESN).")
    assert edited != original
    before = {c.id for c in chunk_document(_seed(original), ChunkingConfig())}
    after = {c.id for c in chunk_document(_seed(edited), ChunkingConfig())}
    assert len(before - after) == 1 and len(after - before) == 1


def test_section_path_and_anchor_travel_with_the_chunk() -> None:
    doc = Document(
        id="d1", source="s", key="k", title="Doc", url="https://h/p", content_hash="x",
        root=Section("Doc", children=[Section("Parte", anchor="parte", blocks=[Block("paragraph", "Um texto.")])]),
    )  # fmt: skip
    [chunk] = chunk_document(doc, ChunkingConfig())
    assert chunk.section_path == ("Doc", "Parte")
    assert chunk.url == "https://h/p#parte"
    assert chunk.embed_text == "Doc › Parte\nUm texto."
