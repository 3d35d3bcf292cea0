"""The gap report's parts: periods, topic groups, stale documents and owners from remote
sources (local stand-ins), and masking as a last line of defence in every rendering."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from assistant.maintenance.report import GapReporter, ReportError, group_by_topic, parse_period
from assistant.maintenance.report_html import render_html
from assistant.maintenance.report_text import render_markdown
from assistant.service import Assistant
from assistant.types import Ask
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest
from tests.support.standins import ConfluenceStandin, ZendeskStandin, two_remote_sources

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def test_periods() -> None:
    assert parse_period("7d") == timedelta(days=7)
    assert parse_period(" 24H ") == timedelta(hours=24)
    assert parse_period("4w") == timedelta(weeks=4)
    for bad in ("", "7", "d", "0d", "-1d", "7 dias", "99999d", "1.5d"):
        with pytest.raises(ReportError, match="período inválido"):
            parse_period(bad)


def test_groups_are_clusters_of_close_questions_largest_first() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(8, dtype=np.float32)[:3]
    rows = [centres[0]] * 2 + [centres[1]] * 3 + [centres[2]]
    noisy = np.array(rows) + rng.normal(0, 0.02, (len(rows), 8)).astype(np.float32)
    vectors = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    assert group_by_topic(vectors, 0.3) == [[2, 3, 4], [0, 1], [5]]
    assert group_by_topic(vectors[:1], 0.3) == [[0]]
    assert group_by_topic(vectors[:0], 0.3) == []


def test_stale_documents_and_owners_from_remote_sources(tmp_path: Path, data_dir: Path) -> None:
    with ConfluenceStandin() as cf, ZendeskStandin() as zd:
        cf.add_page(
            "100", "Processos", "<h2>Raiz</h2><p>Raiz dos processos de suporte.</p>"
        ).when = "2023-01-01T12:00:00.000Z"
        cf.add_page(
            "101", "Plantão", "<h2>Escala</h2><p>O plantão atende à noite.</p>", parent="100"
        ).when = "2024-05-01T12:00:00.000Z"
        zd.add_article(
            "Reembolso", "<p>Reembolsos usam o formulário.</p>", section_id=7
        ).updated_at = "2022-05-01T12:00:00Z"
        zd.add_article(
            "Viagens", "<p>Viagens são aprovadas pelo líder.</p>", section_id=8
        ).updated_at = "2024-05-20T12:00:00Z"
        sources = tmp_path / "sources.toml"
        sources.write_text(two_remote_sources(cf, zd), encoding="utf-8")
        settings = Settings(data_dir=data_dir, embedder="fake", sources=sources, http_retries=0)
        embedder = FakeEmbedder()
        assert run_ingest(settings, embedder).ok

    report = GapReporter(settings, Assistant(settings, embedder))("30d", now=NOW)
    stale = {d.title: (d.source, d.owner, d.days) for d in report.stale}

    def age(year: int, month: int) -> int:
        return (NOW - datetime(year, month, 1, 12, tzinfo=UTC)).days

    assert stale == {"Reembolso": ("kcs", "seção 7", age(2022, 5)), "Processos": ("tdn", "espaço DOC", age(2023, 1))}
    assert report.undated_documents == 0
    owners = {(o.source, o.owner): (o.documents, o.stale) for o in report.owners}
    assert owners == {("kcs", "seção 7"): (1, 1), ("kcs", "seção 8"): (1, 0), ("tdn", "espaço DOC"): (2, 1)}


def test_personal_data_is_masked_even_if_a_stored_row_was_not(settings: Settings) -> None:
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    assistant = Assistant(settings, embedder)
    assistant.ask(Ask("boleto pix faturamento duplicado"))
    assert assistant.state.questions()  # recorded behind the answer: written (and the table made) by now
    # A row written before a masking rule existed (or by a buggy writer): raw personal data.
    with sqlite3.connect(settings.state_db) as db:
        db.execute(
            "INSERT INTO questions VALUES (?,?,?,?,?,?,?,?,?)",
            ("old", datetime.now(UTC).isoformat(timespec="seconds"), "api",
             "boleto pix do cpf 123.456.789-09 e maria@empresa.com.br", 1, 0.0, "x", "[]", 1.0),
        )  # fmt: skip
    report = GapReporter(settings.model_copy(update={"report_group_distance": 0.8}), assistant)("1d")
    dumped = report.model_dump_json()
    assert "123.456.789-09" not in dumped and "maria@" not in dumped and "[CPF]" in dumped

    # And the renderers mask what they are given, whatever its origin.
    report.gaps[0].examples[0] = "ligar para (11) 98765-4321, cpf 123.456.789-09"
    report.glossary = []
    for page in (render_html(report), render_markdown(report)):
        assert "98765-4321" not in page and "123.456.789-09" not in page
        assert "[TELEFONE]" in page and "[CPF]" in page
    assert json.loads(dumped)["totals"]["abstained"] == 2
