"""The HTML gap report (`bpa report --format html --out FILE`) renders offline in headless
Chromium, with its three charts, and fetches nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from typer.testing import CliRunner

from assistant.service import Assistant
from assistant.types import Ask
from bpa.cli import app
from index.embedding.factory import make_embedder
from index.settings import Settings
from ingest.pipeline import run_ingest

pytestmark = pytest.mark.browser


@pytest.fixture
def report_file(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BPA_EMBEDDER", "fake")
    monkeypatch.setenv("BPA_REPORT_GROUP_DISTANCE", "0.8")
    monkeypatch.setenv("BPA_SOURCES", str(settings.sources))
    embedder = make_embedder(settings)
    run_ingest(settings, embedder)
    assistant = Assistant(settings, embedder)
    unanswered = [
        assistant.ask(Ask(q))
        for q in ("emitir boleto pix faturamento", "boleto pix faturamento duplicado", "impressora fiscal sat cupom")
    ]
    assert all(a.abstained for a in unanswered)
    answered = assistant.ask(Ask("O que é o ESN?"))
    assistant.feedback(answered.answer_id, False, "errado, meu cpf é 123.456.789-09")
    assistant.feedback(unanswered[0].answer_id, False, None, channel="web")
    target = tmp_path / "relatorio.html"
    result = CliRunner().invoke(app, ["report", "--format", "html", "--since", "1d", "--out", str(target)])
    assert result.exit_code == 0, result.output
    return target


def test_the_report_page_renders_its_charts_offline(offline_browser, report_file: Path) -> None:
    offline_browser.get(report_file.as_uri())
    charts = offline_browser.find_elements(By.CSS_SELECTOR, ".chart svg")
    assert len(charts) == 3
    for chart in charts:  # drawn, not empty boxes
        assert chart.size["width"] > 300 and chart.size["height"] > 100
        assert chart.find_elements(By.CSS_SELECTOR, "path")
    text = offline_browser.find_element(By.TAG_NAME, "body").text
    for heading in ("Perguntas sem resposta, por assunto", "Respostas marcadas", "Candidatos ao glossário"):
        assert heading in text
    assert "[CPF]" in text and "123.456.789-09" not in text
    # Nothing was requested: no stylesheet, font, script or image from anywhere.
    assert offline_browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert not offline_browser.find_elements(By.CSS_SELECTOR, "script, link, img, iframe")
