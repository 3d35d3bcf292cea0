"""What `bpa` prints at 80 columns, piped: URLs whole on one line, tables that fit, no cut labels.

The commands run in a subprocess with COLUMNS=80 and stdout piped, as a user copying links
from a terminal or a script reading them would see it (fake embedder).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from bpa.output import SOURCE_STATE_LABELS
from index.snapshot import SourceState
from tests.support.common import ROOT

WIDTH = 80


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPA_EMBEDDER", "fake")


def bpa(*args: str) -> str:
    env = {**os.environ, "COLUMNS": str(WIDTH), "PYTHONPATH": str(ROOT)}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "bpa", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_fits(output: str, *, urls: tuple[str, ...] = ()) -> None:
    """Every line fits the width, except a line that is one of ``urls`` (never wrapped)."""
    for line in output.splitlines():
        if len(line) > WIDTH:
            assert line.strip() in urls, f"line wider than {WIDTH} columns: {line!r}"


def assert_nothing_cut(table: str) -> None:
    assert "…" not in table, table


def assert_urls_whole(output: str, urls: list[str]) -> None:
    lines = [line.strip() for line in output.splitlines()]
    for url in urls:
        assert url in lines, f"URL not whole on one line: {url}\n{output}"


def test_ask_and_search_print_every_url_whole_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    # A deployment's public address is often long: citation URLs then pass 80 columns.
    monkeypatch.setenv("BPA_PUBLIC_URL", "https://assistente-de-boas-praticas.suporte.empresa-exemplo.com.br")
    bpa("ingest")
    question = "Cliente parado, o que faço?"
    answer = json.loads(bpa("ask", question, "--json"))
    urls = [c["url"] for c in answer["citations"] or answer["suggestions"]]
    assert max(len(u) for u in urls) > WIDTH, "the test needs a URL longer than a line"
    text = bpa("ask", question)
    assert_urls_whole(text, urls)
    assert_fits(text, urls=tuple(urls))
    if not answer["abstained"]:  # confidence in words, never a number
        assert f"confiança {answer['confidence_label']} ·" in text
        assert re.search(r"confiança \d", text) is None

    hits = json.loads(bpa("search", "data controle no ticket", "--json"))
    hit_urls = [h["url"] for h in hits]
    assert max(len(u) for u in hit_urls) > WIDTH
    listing = bpa("search", "data controle no ticket")
    assert_urls_whole(listing, hit_urls)
    assert_fits(listing, urls=tuple(hit_urls))


def test_ingest_summary_and_index_list_fit_80_columns_without_cut_labels(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    sources = tmp_path / "s.toml"
    sources.write_text('[[source]]\nname = "p"\ntype = "files"\npath = "p.html"\n')
    page.write_text("<h1>P</h1><p>primeira versão</p>")
    summary = bpa("ingest", "--sources", str(sources))
    assert_fits(summary)
    assert_nothing_cut(summary)
    for label in ("novos", "alterados", "inalterados", "removidos", "falhas", "embeddings", "segundos"):
        assert label in summary.split(), label
    assert "fonte p: ok, 1 documentos" in summary

    page.write_text("<h1>P</h1><p>segunda versão</p>")
    bpa("ingest", "--sources", str(sources))
    info = json.loads(bpa("index", "info", "--json"))
    listing = bpa("index", "list")
    assert_fits(listing)
    assert_nothing_cut(listing)
    assert info["id"] in listing.split() and info["parent"] in listing.split()
    assert info["model_id"] in listing.split()


def test_index_info_is_a_readable_summary_and_json_on_request() -> None:
    bpa("ingest")
    manifest = json.loads(bpa("index", "info", "--json"))
    summary = bpa("index", "info")
    assert_fits(summary)
    assert_nothing_cut(summary)
    assert summary.startswith(f"Snapshot publicado: {manifest['id']}\n")
    lines = [" ".join(line.split()) for line in summary.splitlines()]
    assert f"modelo {manifest['model_id']} ({manifest['dim']} dimensões)" in lines
    assert f"chunks {manifest['chunks']} (até 300 tokens, sobreposição 40)" in lines
    assert "boas-praticas ok, 1 documentos" in lines
    with pytest.raises(json.JSONDecodeError):
        json.loads(summary)


def test_every_source_state_has_a_pt_br_label() -> None:
    assert set(SOURCE_STATE_LABELS) == set(get_args(SourceState))


def test_wrapped_prose_keeps_urls_and_citation_markers_with_their_words() -> None:
    from io import StringIO

    from rich.console import Console

    from bpa.output import print_wrapped

    url = "https://tdn.totvs.com/display/public/framework/Boas-Praticas-do-Suporte#cliente-parado"
    buffer = StringIO()
    console = Console(file=buffer, width=30)  # the marker alone would start the last line
    print_wrapped(console, f"Veja {url} e registre no ticket o motivo do cliente parado. [12]", indent="  ")
    lines = buffer.getvalue().splitlines()
    assert f"  {url}" in lines
    assert not any(line.strip().startswith("[12]") for line in lines), lines
    assert lines[-1].endswith("parado. [12]")
    assert all(len(line) <= 30 for line in lines if url not in line), lines
