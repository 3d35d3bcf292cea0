"""Flow 2: the Zendesk sidebar (sidebar/assets) with a ZAF client test double."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from assistant.http import create_app
from index.settings import Settings
from tests.support.fake_assistant import ANSWER_LINES, CHECKLIST, CITATIONS, POINTER_TEXT, FakeAssistant

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "sidebar" / "assets"
ZAF_DOUBLE = Path(__file__).resolve().parent / "zaf_double.js"
ZAF_SDK_TAG = '<script src="https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"></script>'
SECURE_KEY = "chave-do-zendesk"  # what zaf_double.js fills in for {{setting.api_key}}


def harness_html() -> str:
    """The real iframe.html with the SDK tag swapped for the test double."""
    page = (ASSETS / "iframe.html").read_text(encoding="utf-8")
    assert ZAF_SDK_TAG in page, "iframe.html must load the ZAF SDK"
    return page.replace(ZAF_SDK_TAG, '<script src="zaf-double.js"></script>')


def with_sidebar(app: FastAPI) -> FastAPI:
    app.add_api_route("/zaf/assets/harness.html", lambda: HTMLResponse(harness_html()), include_in_schema=False)
    app.add_api_route("/zaf/assets/zaf-double.js", lambda: FileResponse(ZAF_DOUBLE), include_in_schema=False)
    app.mount("/zaf/assets", StaticFiles(directory=ASSETS), name="sidebar-assets")
    return app


def zaf_calls(browser) -> dict:
    return json.loads(browser.execute_script("return JSON.stringify(window.__zafCalls)"))


def test_sidebar_lists_matching_sections_and_checklist(browser, live_server, settings: Settings) -> None:
    fake = FakeAssistant()
    app = create_app(settings.model_copy(update={"api_keys": [SECURE_KEY]}), fake)
    server = live_server(with_sidebar(app))
    browser.get(server.url + "/zaf/assets/harness.html")

    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sections li a")))
    links = browser.find_elements(By.CSS_SELECTOR, "#sections li a")
    assert [a.get_attribute("href") for a in links] == [c.url for c in CITATIONS]
    assert all(a.get_attribute("target") == "_blank" for a in links)
    # The section's own title first; the path in smaller type below, whole on hover.
    assert [a.text for a in links] == [c.section.split(" › ")[-1] for c in CITATIONS]
    assert [a.get_attribute("title") for a in links] == [f"{c.title} › {c.section}" for c in CITATIONS]
    paths = browser.find_elements(By.CSS_SELECTOR, "#sections li .section-path")
    assert [p.get_attribute("title") for p in paths] == [f"{c.title} › {c.section}" for c in CITATIONS]
    # The checklist is collapsible: closed, then opened by its summary.
    block = browser.find_element(By.ID, "checklist-block")
    assert block.tag_name == "details" and block.get_attribute("open") is None
    assert [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#checklist li")] == ["", ""]
    browser.find_element(By.ID, "checklist-title").click()
    checklist = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#checklist li")]
    assert checklist == CHECKLIST

    subject, description, tags = fake.suggests[-1]
    assert subject == "Cliente parado há 3 dias sem retorno"
    assert "duas interações públicas" in description
    assert tags == ["protheus", "cliente_parado"]

    calls = zaf_calls(browser)
    assert calls["get"] == [["ticket.id", "ticket.subject", "ticket.description", "ticket.tags"]]
    request = calls["request"][0]
    assert request["url"] == server.url + "/v1/suggest"
    assert (request["type"], request["contentType"], request["secure"]) == ("POST", "application/json", True)
    assert request["headers"]["X-API-Key"] == "{{setting.api_key}}"  # the key never reaches the browser
    assert any(name == "resize" for name, _ in calls["invoke"])


def test_sidebar_ask_box_calls_ask(browser, live_server, settings: Settings) -> None:
    fake = FakeAssistant()
    server = live_server(with_sidebar(create_app(settings, fake)))
    browser.get(server.url + "/zaf/assets/harness.html")
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sections li a")))

    browser.find_element(By.ID, "question").send_keys("Quantas interações públicas posso fazer sem ligar?")
    browser.find_element(By.ID, "ask-button").click()
    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.ID, "answer-block")))
    markers = browser.find_elements(By.CSS_SELECTOR, "#answer a.cite-marker")
    assert [m.get_attribute("href") for m in markers] == [c.url for c in CITATIONS]
    # The sidebar's options of the shared answer-render.js: new tab, no hover title on markers.
    assert all(m.get_attribute("target") == "_blank" and not m.get_attribute("title") for m in markers)
    lines = browser.find_elements(By.CSS_SELECTOR, "#answer ul.answer-lines > li")
    assert [li.text for li in lines] == [f"{line.text} [{line.n}]" for line in ANSWER_LINES]
    confidence = browser.find_element(By.ID, "confidence").text
    assert confidence == "Confiança alta" and "%" not in confidence
    cited = browser.find_elements(By.CSS_SELECTOR, "#citations li a")
    assert [a.get_attribute("href") for a in cited] == [c.url for c in CITATIONS]
    assert fake.asks[-1].question == "Quantas interações públicas posso fazer sem ligar?"
    assert fake.asks[-1].channel == "zendesk"


def test_sidebar_shows_pointer_and_refusal_apart_from_answers(browser, live_server, settings: Settings) -> None:
    server = live_server(with_sidebar(create_app(settings, FakeAssistant())))
    browser.get(server.url + "/zaf/assets/harness.html")
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sections li a")))

    browser.find_element(By.ID, "question").send_keys("qual o 0800 do suporte?")
    browser.find_element(By.ID, "ask-button").click()
    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#answer .pointer")))
    assert browser.find_element(By.ID, "answer-block").get_attribute("data-outcome") == "pointer"
    assert browser.find_element(By.CSS_SELECTOR, "#answer .pointer").text == POINTER_TEXT
    assert browser.find_elements(By.CSS_SELECTOR, "#answer .answer-lines") == []
    nearest = browser.find_elements(By.CSS_SELECTOR, "#citations li a.section-link")
    assert [a.get_attribute("href") for a in nearest] == [c.url for c in CITATIONS]
    assert browser.find_element(By.ID, "confidence").text == "Confiança baixa"

    box = browser.find_element(By.ID, "question")
    box.clear()
    box.send_keys("qual o preço da licença?")
    browser.find_element(By.ID, "ask-button").click()
    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#answer .refusal")))
    assert browser.find_element(By.ID, "answer-block").get_attribute("data-outcome") == "refusal"
    assert browser.find_elements(By.CSS_SELECTOR, "#answer .pointer") == []
    assert browser.find_element(By.ID, "confidence").text == ""


def test_sidebar_shows_server_errors(browser, live_server, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"api_keys": ["outra-chave"]}), FakeAssistant())
    server = live_server(with_sidebar(app))
    browser.get(server.url + "/zaf/assets/harness.html")
    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.ID, "status"), "Chave de API"))
    assert browser.find_elements(By.CSS_SELECTOR, "#sections li") == []
