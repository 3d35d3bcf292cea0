"""Flow 2: the Zendesk sidebar (sidebar/assets) with a ZAF client test double."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_assistant import CHECKLIST, CITATIONS, FakeAssistant
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from assistant.http import create_app
from index.settings import Settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "sidebar" / "assets"
ZAF_DOUBLE = Path(__file__).resolve().parent / "zaf_double.js"
ZAF_SDK_TAG = (
    '<script src="https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"></script>'
)
SECURE_KEY = "chave-do-zendesk"  # what zaf_double.js fills in for {{setting.api_key}}


def harness_html() -> str:
    """The real iframe.html with the SDK tag swapped for the test double."""
    page = (ASSETS / "iframe.html").read_text(encoding="utf-8")
    assert ZAF_SDK_TAG in page, "iframe.html must load the ZAF SDK"
    return page.replace(ZAF_SDK_TAG, '<script src="zaf-double.js"></script>')


def with_sidebar(app: FastAPI) -> FastAPI:
    app.add_api_route(
        "/zaf/assets/harness.html", lambda: HTMLResponse(harness_html()), include_in_schema=False
    )
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
    assert [a.text for a in links] == [f"{c.title} › {c.section}" for c in CITATIONS]
    checklist = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#checklist li")]
    assert checklist == CHECKLIST

    subject, description, tags = fake.suggests[-1]
    assert subject == "Cliente parado há 3 dias sem retorno"
    assert "duas interações públicas" in description
    assert tags == ["protheus", "cliente_parado"]

    calls = zaf_calls(browser)
    assert calls["get"] == [["ticket.subject", "ticket.description", "ticket.tags"]]
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
    cited = browser.find_elements(By.CSS_SELECTOR, "#citations li a")
    assert [a.get_attribute("href") for a in cited] == [c.url for c in CITATIONS]
    assert fake.asks[-1].question == "Quantas interações públicas posso fazer sem ligar?"
    assert fake.asks[-1].channel == "zendesk"


def test_sidebar_shows_server_errors(browser, live_server, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"api_keys": ["outra-chave"]}), FakeAssistant())
    server = live_server(with_sidebar(app))
    browser.get(server.url + "/zaf/assets/harness.html")
    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.ID, "status"), "Chave de API"))
    assert browser.find_elements(By.CSS_SELECTOR, "#sections li") == []
