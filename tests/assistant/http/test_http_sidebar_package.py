"""The Zendesk app in sidebar/ has what ZAF v2 requires (zcli apps:validate needs a Zendesk login)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

SIDEBAR = Path(__file__).resolve().parents[3] / "sidebar"
SDK = "https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((SIDEBAR / "manifest.json").read_text(encoding="utf-8"))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_manifest_declares_the_ticket_sidebar_and_settings(manifest: dict) -> None:
    assert manifest["frameworkVersion"] == "2.0"
    assert manifest["location"]["support"]["ticket_sidebar"]["url"] == "assets/iframe.html"
    assert {"name", "email"} <= set(manifest["author"])
    params = {p["name"]: p for p in manifest["parameters"]}
    assert params["api_url"]["type"] == "text" and params["api_url"]["required"] is True
    assert params["api_key"]["secure"] is True
    assert manifest["domainWhitelist"], "secure settings are only sent to whitelisted domains"


@pytest.mark.parametrize("locale", ["en", "pt-br"])
def test_translations_cover_app_and_parameters(manifest: dict, locale: str) -> None:
    app = json.loads((SIDEBAR / "translations" / f"{locale}.json").read_text(encoding="utf-8"))["app"]
    for key in ("name", "short_description", "long_description", "installation_instructions"):
        assert app[key].strip(), key
    for param in manifest["parameters"]:
        assert app["parameters"][param["name"]]["label"].strip()


def test_default_locale_has_a_translation(manifest: dict) -> None:
    assert (SIDEBAR / "translations" / f"{manifest['defaultLocale']}.json").exists()


def test_logos_have_the_required_sizes() -> None:
    assert png_size(SIDEBAR / "assets" / "logo.png") == (320, 320)
    assert png_size(SIDEBAR / "assets" / "logo-small.png") == (128, 128)


def test_iframe_loads_the_sdk_then_the_app() -> None:
    page = (SIDEBAR / "assets" / "iframe.html").read_text(encoding="utf-8")
    assert page.index(SDK) < page.index('src="answer-render.js"') < page.index('src="app.js"')
    script = (SIDEBAR / "assets" / "app.js").read_text(encoding="utf-8")
    assert "{{setting.api_key}}" in script and "secure: true" in script


def test_sidebar_carries_the_shared_answer_rendering_unchanged() -> None:
    """sidebar/ is its own Zendesk bundle, so it ships a copy of the one source (`make sync-sidebar`)."""
    source = SIDEBAR.parent / "assistant" / "http" / "static" / "answer-render.js"
    copy = SIDEBAR / "assets" / "answer-render.js"
    assert copy.read_bytes() == source.read_bytes(), "sidebar/assets/answer-render.js is stale: make sync-sidebar"


def test_web_page_loads_the_shared_rendering_before_the_app() -> None:
    page = (SIDEBAR.parent / "assistant" / "http" / "static" / "index.html").read_text(encoding="utf-8")
    assert page.index('src="/static/answer-render.js"') < page.index('src="/static/app.js"')


SCRIPTS = [
    "sidebar/assets/app.js",
    "sidebar/assets/answer-render.js",
    "assistant/http/static/app.js",
    "assistant/http/static/answer-render.js",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_never_write_html(script: str) -> None:
    source = (SIDEBAR.parent / script).read_text(encoding="utf-8")
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in source, f"{script} uses {sink}"
