"""The sidebar as a KCS tool, end to end on a real assistant and state store (SQLite and
PostgreSQL): open it on a ticket, insert a link and a quote (the exact HTML the ZAF double's
comment box received), flag a section by keyboard; the gap report then counts them.

The three screenshots of docs/zendesk.md come from here: BPA_UPDATE_SCREENSHOTS=1 writes them
to docs/img/ (otherwise to the test's temporary directory, still checked).
"""

from __future__ import annotations

import html
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from starlette.testclient import TestClient

from assistant.http import create_app
from assistant.kcs import SectionRef
from assistant.maintenance.report import GapReporter
from assistant.privacy import mask_pii
from assistant.service import Assistant
from assistant.types import SearchHit, Suggestion
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest
from tests.browser.test_sidebar import SECURE_KEY, with_sidebar, zaf_calls
from tests.support.fake_assistant import FakeAssistant

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "token-do-admin"
SIDEBAR_WIDTH = 340
QUESTION = "O que é o ESN?"  # the corpus answers it (tests/browser/test_report_page.py)


@pytest.fixture(params=["sqlite", "postgresql"])
def kcs_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    update: dict[str, object] = {"api_keys": [SECURE_KEY], "admin_token": ADMIN, "report_group_distance": 0.8}
    if request.param == "postgresql":
        update["state_url"] = request.getfixturevalue("postgres_url")
    return settings.model_copy(update=update)


@pytest.fixture
def narrow(browser) -> Iterator[object]:
    """The sidebar's width: Zendesk's ticket sidebar is about 340 px."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": SIDEBAR_WIDTH, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
    )
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def label(title: str, section: str) -> str:
    return title if not section or section == title else f"{title} › {section}"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def shot(browser, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    browser.save_screenshot(str(target))
    if os.environ.get("BPA_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(target, ROOT / "docs" / "img" / name)
    return target


def wait_status(browser, item, text: str) -> None:
    WebDriverWait(browser, 10).until(lambda _: text in item.find_element(By.CSS_SELECTOR, ".kcs-status").text)


def fits(browser) -> None:
    wide = browser.execute_script(
        "return Array.from(document.querySelectorAll('body *')).filter(function (n) {"
        "  return n.getBoundingClientRect().right > window.innerWidth + 0.5; })"
        ".map(function (n) { return n.tagName + '.' + n.className + ' ' + n.getBoundingClientRect().right; });"
    )
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0 and not wide, f"a barra lateral passa de {SIDEBAR_WIDTH} px: {wide}"


def test_link_quote_and_flag_from_the_sidebar_reach_the_report(
    narrow, live_server, kcs_settings: Settings, tmp_path: Path
) -> None:
    browser = narrow
    embedder = FakeEmbedder()
    assert run_ingest(kcs_settings, embedder).ok
    assistant = Assistant(kcs_settings, embedder)
    app = create_app(kcs_settings, assistant, reporter=GapReporter(kcs_settings, assistant))
    server = live_server(with_sidebar(app))
    browser.get(server.url + "/zaf/assets/harness.html")

    # 1. Open on ticket 4321: suggestions, each with its three actions.
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sections li .insert-link")))
    suggest = zaf_calls(browser)["request"][0]
    assert '"ticket_id":"4321"' in suggest["data"]
    items = browser.find_elements(By.CSS_SELECTOR, "#sections > li")
    assert items and all(
        [b.text for b in li.find_elements(By.CSS_SELECTOR, ".kcs-actions button")]
        == ["Inserir link", "Inserir trecho", "Sinalizar"]
        for li in items
    )
    fits(browser)
    shot(browser, tmp_path, "zendesk-1-sugestoes.png")

    # 2. Insert the first suggestion's link, then a cited excerpt of an answer.
    first = items[0]
    anchor = first.find_element(By.CSS_SELECTOR, "a.section-link")
    url = anchor.get_attribute("href")
    title, _, section = anchor.get_attribute("title").partition(" › ")
    first.find_element(By.CSS_SELECTOR, ".insert-link").click()
    wait_status(browser, first, "Link inserido no comentário.")
    expected_link = f'<p><a href="{html.escape(url)}">{html.escape(label(title, section))}</a></p>'
    assert browser.execute_script("return window.__zafComment.html") == expected_link

    browser.find_element(By.ID, "question").send_keys(QUESTION)
    browser.find_element(By.ID, "ask-button").click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#citations li .insert-quote")))
    cited = browser.find_elements(By.CSS_SELECTOR, "#citations > li")[0]
    answer = zaf_calls(browser)["request"][-1]
    assert answer["url"].endswith("/v1/ask")
    ask = TestClient(app).post("/v1/ask", json={"question": QUESTION}, headers={"X-API-Key": SECURE_KEY}).json()
    citation = ask["citations"][0]
    cited.find_element(By.CSS_SELECTOR, ".insert-quote").click()
    wait_status(browser, cited, "Trecho inserido no comentário.")
    quote_lines = "<br>".join(html.escape(line.strip()) for line in mask_pii(citation["excerpt"]).split("\n"))
    ref = f'<a href="{html.escape(citation["url"])}">{html.escape(label(citation["title"], citation["section"]))}</a>'
    expected_quote = f"<blockquote>{quote_lines}</blockquote><p>Fonte: {ref}</p>"
    assert browser.execute_script("return window.__zafComment.html") == expected_link + expected_quote
    appended = [arg for name, arg in zaf_calls(browser)["invoke"] if name.startswith("ticket.comment.")]
    assert appended == [expected_link, expected_quote]
    # The same link again: appended again (the analyst asked for it), recorded once.
    first.find_element(By.CSS_SELECTOR, ".insert-link").click()
    WebDriverWait(browser, 10).until(
        lambda _: (
            browser.execute_script("return window.__zafComment.html").endswith(expected_link)
            and len(browser.execute_script("return window.__zafComment.html")) > len(expected_link + expected_quote)
        )
    )
    # What the analyst sees for the screenshot: the comment box the double received.
    browser.execute_script(
        "var box = document.createElement('section'); box.id = 'comment-preview';"
        "box.innerHTML = '<h2>Comentário do ticket</h2>' + window.__zafComment.html;"
        "box.style.borderTop = '1px solid #d8dcde'; box.style.overflowWrap = 'anywhere';"
        "document.querySelector('main').appendChild(box);"
        "box.scrollIntoView();"
    )
    fits(browser)
    shot(browser, tmp_path, "zendesk-2-link-e-trecho.png")
    browser.execute_script("document.getElementById('comment-preview').remove(); window.scrollTo(0, 0);")

    # 3. Flag the first suggestion, by keyboard only.
    toggle = first.find_element(By.CSS_SELECTOR, ".flag-toggle")
    resizes = sum(1 for name, _ in zaf_calls(browser)["invoke"] if name == "resize")
    toggle.send_keys(Keys.ENTER)
    # The form grows the sidebar: the iframe is resized to fit it.
    assert sum(1 for name, _ in zaf_calls(browser)["invoke"] if name == "resize") > resizes
    reason = first.find_element(By.CSS_SELECTOR, ".flag-reason")
    assert browser.switch_to.active_element == reason
    reason.send_keys(Keys.DOWN)  # desatualizado -> incorreto
    browser.switch_to.active_element.send_keys(Keys.TAB)
    comment = browser.switch_to.active_element
    assert comment == first.find_element(By.CSS_SELECTOR, ".flag-comment")
    comment.send_keys("O prazo mudou; cliente do CPF 529.982.247-25 reclamou.")
    fits(browser)
    shot(browser, tmp_path, "zendesk-3-sinalizar.png")
    comment.send_keys(Keys.TAB)
    assert browser.switch_to.active_element == first.find_element(By.CSS_SELECTOR, ".flag-send")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_status(browser, first, "Seção sinalizada. Obrigado!")
    flag_body = [r for r in zaf_calls(browser)["request"] if r["url"].endswith("/v1/flags")]
    assert len(flag_body) == 1 and '"reason":"incorreto"' in flag_body[0]["data"]

    for name in ("zendesk-1-sugestoes.png", "zendesk-2-link-e-trecho.png", "zendesk-3-sinalizar.png"):
        width, height = png_size(tmp_path / name)
        assert width == SIDEBAR_WIDTH and height > 300

    # 4. The report counts them: 1 link, 1 quote (the repeat not counted), 1 flag, on 1 ticket.
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {ADMIN}"}
    kcs = client.get("/v1/admin/report", params={"since": "1d"}, headers=auth).json()["kcs"]
    assert (kcs["tickets_opened"], kcs["tickets_linked"], kcs["link_rate"]) == (1, 1, 1.0)
    assert (kcs["links"], kcs["quotes"], kcs["flags"]) == (1, 1, 1)
    reuse = {(u["section"]["url"], u["links"], u["quotes"]) for u in kcs["reuse"]}
    assert (url, 1, 0) in reuse and (citation["url"], 0, 1) in reuse
    [flagged] = kcs["flagged"]
    assert flagged["section"]["url"] == url and flagged["reasons"] == {"incorreto": 1}
    assert flagged["comments"] == ["O prazo mudou; cliente do CPF [CPF] reclamou."]
    markdown = client.get("/v1/admin/report", params={"since": "1d", "format": "md"}, headers=auth).text
    assert "taxa de links: 100% (1 de 1 ticket(s)" in markdown
    assert "links inseridos: 1 · trechos inseridos: 1 · sinalizações: 1" in markdown
    assert "incorreto: 1" in markdown and "529.982.247-25" not in markdown
    page = client.get("/v1/admin/report", params={"since": "1d", "format": "html"}, headers=auth).text
    assert 'id="kcs"' in page
    assert page.count("<svg") == 3  # questions, feedback, reuse (no unanswered question here)


HOSTILE = SearchHit(
    chunk_id="hostil:0001",
    document_id="hostil",
    title='Tom & "Jerry" <script>alert(1)</script>',
    section="Seção <b>negrito</b> › Fim",
    url='https://docs.example.com/a?b=1&c="2"#x',
    text="Ligue para <img src=x onerror=alert(1)> & confirme.\nSegunda linha.",
    score=0.9,
)


class HostileAssistant(FakeAssistant):
    """Suggests one section whose every text is hostile HTML."""

    def suggest(self, subject: str, description: str, tags: list[str]) -> Suggestion:
        return Suggestion(results=[HOSTILE], checklist=[], snapshot=self.snapshot_id or "")

    def _section(self, chunk_id: str, snapshot: str) -> tuple[SearchHit, SectionRef]:
        ref = SectionRef(chunk_id=HOSTILE.chunk_id, document_id=HOSTILE.document_id, title=HOSTILE.title,
                         section=HOSTILE.section, url=HOSTILE.url)  # fmt: skip
        return HOSTILE, ref


def test_everything_inserted_is_escaped_and_a_plain_text_editor_gets_text(browser, live_server, settings) -> None:
    server = live_server(with_sidebar(create_app(settings, HostileAssistant())))
    browser.get(server.url + "/zaf/assets/harness.html")
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sections li .insert-link")))
    item = browser.find_element(By.CSS_SELECTOR, "#sections > li")
    item.find_element(By.CSS_SELECTOR, ".insert-link").click()
    wait_status(browser, item, "Link inserido")
    item.find_element(By.CSS_SELECTOR, ".insert-quote").click()
    wait_status(browser, item, "Trecho inserido")
    label = f"{HOSTILE.title} › {HOSTILE.section}"
    anchor = f'<a href="{html.escape(HOSTILE.url.replace(chr(34), "%22"))}">{html.escape(label)}</a>'
    quote = "<br>".join(html.escape(line) for line in HOSTILE.text.split("\n"))
    assert browser.execute_script("return window.__zafComment.html") == (
        f"<p>{anchor}</p><blockquote>{quote}</blockquote><p>Fonte: {anchor}</p>"
    )
    assert not browser.find_elements(By.CSS_SELECTOR, "script:not([src]), img")  # nothing ran in the sidebar

    # A plain-text comment box (rich text off): text, no markup.
    browser.execute_script("window.__zafRichText = false")
    item.find_element(By.CSS_SELECTOR, ".insert-quote").click()
    WebDriverWait(browser, 10).until(lambda _: browser.execute_script("return window.__zafComment.text"))
    plain = f"{label} — {HOSTILE.url}"
    assert browser.execute_script("return window.__zafComment.text") == (
        f"> Ligue para <img src=x onerror=alert(1)> & confirme.\n> Segunda linha.\nFonte: {plain}\n"
    )
