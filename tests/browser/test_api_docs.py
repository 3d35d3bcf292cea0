"""/docs and /redoc render with no network: their assets come from this server, not a CDN."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from assistant.http import create_app
from index.settings import Settings
from tests.support.fake_assistant import FakeAssistant

pytestmark = pytest.mark.browser


def page_text(driver) -> str:
    return str(driver.execute_script("return document.body ? document.body.innerText : ''"))


def test_the_browser_really_is_offline(offline_browser) -> None:
    with pytest.raises(WebDriverException, match="ERR_NAME_NOT_RESOLVED"):
        offline_browser.get("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css")


def test_swagger_ui_lists_the_operations_offline(offline_browser, live_server, settings: Settings) -> None:
    server = live_server(create_app(settings, FakeAssistant()))
    offline_browser.get(server.url + "/docs")
    WebDriverWait(offline_browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {e.text.strip() for e in offline_browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/v1/ask", "/v1/search", "/v1/suggest", "/v1/feedback"} <= paths


def test_redoc_lists_the_operations_offline(offline_browser, live_server, settings: Settings) -> None:
    server = live_server(create_app(settings, FakeAssistant()))
    offline_browser.get(server.url + "/redoc")
    WebDriverWait(offline_browser, 20).until(lambda d: "/v1/ask" in page_text(d))
    assert "bpa — Boas Práticas Assistant" in page_text(offline_browser)
