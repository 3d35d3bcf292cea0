"""Flow 1: the question page at / — ask, see the cited answer, give 👍."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from assistant.http import create_app
from assistant.types import AnswerLine
from index.settings import Settings
from tests.support.fake_assistant import ABSTAIN_TEXT, ANSWER_LINES, CITATIONS, POINTER_TEXT, FakeAssistant

pytestmark = pytest.mark.browser


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def ask(browser, base_url: str, question: str) -> None:
    browser.get(base_url + "/")
    box = browser.find_element(By.ID, "question")
    box.clear()
    box.send_keys(question)
    browser.find_element(By.ID, "ask-button").click()


def test_ask_shows_cited_answer_and_records_feedback(browser, live_server, settings: Settings) -> None:
    fake = FakeAssistant()
    server = live_server(create_app(settings, fake))
    ask(browser, server.url, "Cliente parado, o que faço?")

    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.ID, "result")))
    answer = browser.find_element(By.ID, "answer")
    assert "registre o motivo no ticket" in answer.text
    # Lists stay lists: one list item per answer line, each ending in its marker.
    lines = answer.find_elements(By.CSS_SELECTOR, "ul.answer-lines > li")
    assert [li.text for li in lines] == [f"{line.text} [{line.n}]" for line in ANSWER_LINES]
    markers = answer.find_elements(By.CSS_SELECTOR, "a.cite-marker")
    assert [m.text for m in markers] == ["[1]", "[2]"]
    assert [m.get_attribute("href") for m in markers] == [c.url for c in CITATIONS]
    # The page's options of the shared answer-render.js: markers name their section, lines have a class.
    assert [m.get_attribute("title") for m in markers] == [f"{c.title} › {c.section}" for c in CITATIONS]
    assert all(m.get_attribute("target") == "_blank" for m in markers)
    assert all(li.get_attribute("class") == "answer-line" for li in lines)
    confidence = browser.find_element(By.ID, "confidence").text
    assert confidence.startswith("Confiança alta") and "%" not in confidence
    assert browser.find_element(By.ID, "result-title").text == "Resposta"

    items = browser.find_elements(By.CSS_SELECTOR, "#citations li")
    assert len(items) == 2
    links = [item.find_element(By.CSS_SELECTOR, "a.citation-link") for item in items]
    assert [a.get_attribute("href") for a in links] == [c.url for c in CITATIONS]
    assert [a.text for a in links] == [f"{c.title} › {c.section}" for c in CITATIONS]
    assert items[0].find_element(By.CSS_SELECTOR, ".excerpt").text == CITATIONS[0].excerpt
    assert not browser.find_element(By.ID, "suggestions").is_displayed()
    assert fake.asks[-1].channel == "web"

    browser.find_element(By.ID, "feedback-up").click()
    wait_until(lambda: len(fake.feedbacks) == 1)
    feedback = fake.feedbacks[0]
    assert (feedback.answer_id, feedback.helpful, feedback.channel) == ("ans-1", True, "web")
    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.ID, "feedback-status"), "Obrigado"))
    assert not browser.find_element(By.ID, "feedback-down").is_enabled()


def test_abstention_lists_suggested_sections(browser, live_server, settings: Settings) -> None:
    server = live_server(create_app(settings, FakeAssistant()))
    ask(browser, server.url, "Qual o preço da licença?")

    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.ID, "suggestions")))
    assert browser.find_element(By.ID, "answer").text == ABSTAIN_TEXT
    assert browser.find_elements(By.CSS_SELECTOR, "#answer .refusal")
    assert browser.find_element(By.ID, "result").get_attribute("data-outcome") == "refusal"
    assert not browser.find_element(By.ID, "citations").is_displayed()
    suggested = browser.find_elements(By.CSS_SELECTOR, "#suggestions li a.citation-link")
    assert [a.get_attribute("href") for a in suggested] == [c.url for c in CITATIONS]
    assert "%" not in browser.find_element(By.ID, "confidence").text


def test_pointer_is_shown_as_a_pointer_not_an_answer(browser, live_server, settings: Settings) -> None:
    server = live_server(create_app(settings, FakeAssistant()))
    ask(browser, server.url, "qual o 0800 do suporte?")

    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.ID, "suggestions")))
    assert browser.find_element(By.ID, "result").get_attribute("data-outcome") == "pointer"
    assert browser.find_element(By.ID, "result-title").text == "Sem resposta direta"
    assert browser.find_element(By.CSS_SELECTOR, "#answer .pointer").text == POINTER_TEXT
    assert browser.find_elements(By.CSS_SELECTOR, "#answer .answer-lines") == []  # never styled as an answer
    assert not browser.find_element(By.ID, "citations").is_displayed()
    suggested = browser.find_elements(By.CSS_SELECTOR, "#suggestions li a.citation-link")
    assert [a.get_attribute("href") for a in suggested] == [c.url for c in CITATIONS]
    assert [a.text for a in suggested] == [f"{c.title} › {c.section}" for c in CITATIONS]
    confidence = browser.find_element(By.ID, "confidence").text
    assert confidence.startswith("Confiança baixa") and "%" not in confidence


def test_answer_without_lines_is_listed_line_by_line(browser, live_server, settings: Settings) -> None:
    class Unlined(FakeAssistant):
        def ask(self, request):  # type: ignore[override]
            answer = super().ask(request)
            text = "\n".join(f"{line.text} [{line.n}]" for line in ANSWER_LINES)
            return answer.model_copy(update={"lines": [], "answer": text})

    server = live_server(create_app(settings, Unlined()))
    ask(browser, server.url, "Cliente parado?")
    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.ID, "result")))
    lines = browser.find_elements(By.CSS_SELECTOR, "#answer ul.answer-lines > li")
    assert [li.text for li in lines] == [f"{line.text} [{line.n}]" for line in ANSWER_LINES]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#answer a.cite-marker")) == 2


def test_server_error_message_is_shown(browser, live_server, settings: Settings) -> None:
    fake = FakeAssistant(snapshot_id=None)
    server = live_server(create_app(settings, fake))
    ask(browser, server.url, "Cliente parado, o que faço?")

    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.ID, "status"), "bpa ingest"))
    assert "error" in browser.find_element(By.ID, "status").get_attribute("class")
    assert not browser.find_element(By.ID, "result").is_displayed()


def test_answer_text_is_not_interpreted_as_html(browser, live_server, settings: Settings) -> None:
    class Hostile(FakeAssistant):
        def ask(self, request):  # type: ignore[override]
            answer = super().ask(request)
            hostile = "<img src=x onerror=\"document.title='pwned'\"> texto"
            return answer.model_copy(update={"answer": f"{hostile} [1]", "lines": [AnswerLine(text=hostile, n=1)]})

    server = live_server(create_app(settings, Hostile()))
    ask(browser, server.url, "Cliente parado?")
    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.ID, "result")))
    answer = browser.find_element(By.ID, "answer")
    assert answer.find_elements(By.TAG_NAME, "img") == []
    assert "<img" in answer.text
    assert browser.title != "pwned"


def test_a_cited_section_is_flagged_from_the_page(browser, live_server, settings: Settings) -> None:
    fake = FakeAssistant()
    server = live_server(create_app(settings, fake))
    ask(browser, server.url, "Cliente parado, o que faço?")
    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#citations li .flag-toggle")))
    second = browser.find_elements(By.CSS_SELECTOR, "#citations > li")[1]
    toggle = second.find_element(By.CSS_SELECTOR, ".flag-toggle")
    assert toggle.text == "Sinalizar" and toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    form = second.find_element(By.CSS_SELECTOR, ".flag-form")
    options = [o.get_attribute("value") for o in form.find_elements(By.CSS_SELECTOR, "option")]
    assert options == ["desatualizado", "incorreto", "incompleto", "outro"]
    form.find_element(By.CSS_SELECTOR, "option[value=outro]").click()
    comment = form.find_element(By.CSS_SELECTOR, ".flag-comment")
    assert comment.get_attribute("maxlength") == "500"
    comment.send_keys("Falta o caso do cliente em férias.")
    form.find_element(By.CSS_SELECTOR, ".flag-send").click()
    WebDriverWait(browser, 10).until(
        lambda _: second.find_element(By.CSS_SELECTOR, ".kcs-status").text == "Seção sinalizada. Obrigado!"
    )
    assert toggle.text == "Sinalizada" and not toggle.is_enabled()
    [receipt] = fake.flags.values()
    assert (receipt.target.chunk_id, receipt.reason) == (CITATIONS[1].chunk_id, "outro")


def test_a_refused_flag_shows_the_servers_message(browser, live_server, settings: Settings) -> None:
    fake = FakeAssistant()
    server = live_server(create_app(settings, fake))
    ask(browser, server.url, "Cliente parado, o que faço?")
    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#citations li .flag-toggle")))
    fake.snapshot_id = "snap-novo"  # a reindex since the answer: its snapshot is no longer served
    first = browser.find_elements(By.CSS_SELECTOR, "#citations > li")[0]
    first.find_element(By.CSS_SELECTOR, ".flag-toggle").click()
    first.find_element(By.CSS_SELECTOR, ".flag-send").click()
    status = first.find_element(By.CSS_SELECTOR, ".kcs-status")
    WebDriverWait(browser, 10).until(lambda _: "não está mais disponível" in status.text)
    assert "error" in status.get_attribute("class") and fake.flags == {}
