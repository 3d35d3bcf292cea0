"""The gap report's KCS part from the state store: link rate, reuse, flags, sections suggested
often and never linked, records about sections gone from the index; and its renderings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.maintenance.report import GapReporter
from assistant.maintenance.report_html import render_html
from assistant.maintenance.report_text import render_markdown
from assistant.service import Assistant
from bpa.cli import app
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest


@pytest.fixture
def assistant(settings: Settings) -> Assistant:
    embedder = FakeEmbedder()
    assert run_ingest(settings, embedder).ok
    return Assistant(settings, embedder)


def test_link_rate_reuse_flags_and_unlinked_sections(assistant: Assistant, settings: Settings) -> None:
    hits = assistant.suggest("cliente parado sem retorno", "", []).results
    snapshot = assistant.snapshot_id or ""
    a, b, c = (h.chunk_id for h in hits[:3])
    for ticket in ("100", "101", "102"):
        assert assistant.ticket_opened(ticket, snapshot, [a, b, c])
    assistant.link("100", a, snapshot, "link")
    assistant.link("100", a, snapshot, "link")  # a repeat: once
    assistant.link("101", a, snapshot, "quote")
    assistant.flag(b, snapshot, "desatualizado", "mudou; ligar (11) 98765-4321", ticket_id="100")
    assistant.flag(b, snapshot, "desatualizado", None, request_id="x")
    assistant.flag(b, snapshot, "incompleto", None, request_id="y")
    # A record about a passage the served snapshot no longer has (a later reindex dropped it).
    assistant.state.record_link("102", "velho\x1fX", "link", "velho:0001", snapshot, "zendesk")

    kcs = GapReporter(settings, assistant)("1d").kcs
    assert (kcs.tickets_opened, kcs.tickets_linked) == (3, 3)
    assert kcs.link_rate == 1.0 and (kcs.links, kcs.quotes, kcs.flags) == (2, 1, 3)
    assert kcs.dropped == 1
    [used] = kcs.reuse
    assert (used.links, used.quotes, used.suggested) == (1, 1, 3)
    [flagged] = kcs.flagged
    assert flagged.flags == 3 and flagged.reasons == {"desatualizado": 2, "incompleto": 1}
    assert flagged.comments == ["mudou; ligar [TELEFONE]"]
    unlinked = {(u.section.url, u.suggested) for u in kcs.unlinked}
    assert unlinked == {(hits[1].url, 3), (hits[2].url, 3)}

    report = GapReporter(settings, assistant)("1d")
    page, markdown = render_html(report), render_markdown(report)
    for text in (page, markdown):
        assert "98765-4321" not in text and "[TELEFONE]" in text
    assert "taxa de links: 100% (3 de 3 ticket(s)" in markdown
    assert "desatualizado: 2, incompleto: 1" in markdown
    assert "sugerida em 3 ticket(s)" in markdown
    assert page.count("<svg") == 3 and "Desatualizado: 2" in page


def test_no_ticket_no_rate(assistant: Assistant, settings: Settings) -> None:
    kcs = GapReporter(settings, assistant)("1d").kcs
    assert kcs.link_rate is None and kcs.reuse == [] and kcs.flagged == []
    markdown = render_markdown(GapReporter(settings, assistant)("1d"))
    assert "taxa de links: — (0 de 0 ticket(s)" in markdown
    assert render_html(GapReporter(settings, assistant)("1d")).count("<svg") == 2  # no reuse chart


def test_bpa_report_json_has_the_kcs_part(
    assistant: Assistant, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BPA_EMBEDDER", "fake")
    monkeypatch.setenv("BPA_SOURCES", str(settings.sources))
    hit = assistant.suggest("cliente parado sem retorno", "", []).results[0]
    assistant.ticket_opened("7", assistant.snapshot_id or "", [hit.chunk_id])
    assistant.link("7", hit.chunk_id, assistant.snapshot_id or "", "quote")
    result = CliRunner().invoke(app, ["report", "--format", "json", "--since", "1d"])
    assert result.exit_code == 0, result.output
    kcs = json.loads(result.output)["kcs"]
    assert (kcs["tickets_opened"], kcs["quotes"], kcs["reuse"][0]["section"]["url"]) == (1, 1, hit.url)
