"""Message layout and Block Kit limits, and the bot's bounded state."""

from __future__ import annotations

from typing import Any

from assistant.types import Answer, AnswerLine
from slack_app import blocks
from slack_app.state import BoundedMap, RateLimiter, SeenKeys
from tests.support.slack_harness import action_ids, block_texts, citation


def make_answer(text: str = "Resposta [1].", n_citations: int = 2, **overrides: Any) -> Answer:
    values: dict[str, Any] = {
        "answer_id": "ans-x",
        "question": "como abrir um chamado?",
        "answer": text,
        "abstained": False,
        "confidence": 0.5,
        "citations": [citation(i + 1) for i in range(n_citations)],
        "snapshot": "snap-1",
        "latency_ms": 1.0,
    }
    values.update(overrides)
    return Answer(**values)


def all_text_objects(message: dict[str, Any]) -> list[str]:
    out = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out.extend(e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str))
    return out


def test_long_answers_and_many_sources_stay_within_block_kit_limits() -> None:
    sentence = "Registre o motivo no ticket e combine o próximo contato com o cliente [1]. "
    long_excerpt = "palavra " * 2000
    answer = make_answer(
        text=sentence * 400,  # ~30k characters
        n_citations=60,
        citations=[citation(i + 1, excerpt=long_excerpt, title="T" * 500) for i in range(60)],
    )
    message = blocks.answer_message(answer, shareable=True)
    assert len(message["blocks"]) <= blocks.MAX_BLOCKS
    assert all(len(t) <= blocks.SECTION_MAX for t in all_text_objects(message))
    assert all(len(b["elements"]) <= 10 for b in message["blocks"] if b["type"] == "context")
    assert len(message["text"]) <= blocks.FALLBACK_MAX
    # the buttons survive the truncation
    assert action_ids(message["blocks"]) == [
        blocks.FEEDBACK_HELPFUL,
        blocks.FEEDBACK_UNHELPFUL,
        blocks.FLAG,
        blocks.SHARE,
    ]
    # excerpts are cut at a word, with an ellipsis
    excerpt_contexts = [t for t in all_text_objects(message) if t.startswith("_palavra")]
    assert excerpt_contexts and all(t.endswith("…_") and len(t) <= blocks.EXCERPT_MAX + 2 for t in excerpt_contexts)


def test_text_is_escaped_and_links_are_slack_links() -> None:
    answer = make_answer(
        text="Use <tag> & confira [1].",
        citations=[citation(1, title="A & B", section="Seção <x>", url="https://d.example.com/a b|c")],
    )
    texts = block_texts(blocks.answer_message(answer)["blocks"])
    assert "Use &lt;tag&gt; &amp; confira [1]." in texts
    assert "<https://d.example.com/a%20b%7Cc|A &amp; B › Seção &lt;x&gt;>" in texts


def test_source_label_does_not_repeat_the_title() -> None:
    assert blocks.source_label(citation(1, title="Doc", section="Doc › Parte")) == "Doc › Parte"
    assert blocks.source_label(citation(1, title="Doc", section="Parte")) == "Doc › Parte"
    assert blocks.source_label(citation(1, title="Doc", section="")) == "Doc"


def test_abstention_without_suggestions_suggests_rephrasing() -> None:
    answer = make_answer(text="", abstained=True, citations=[], suggestions=[])
    message = blocks.answer_message(answer)
    texts = block_texts(message["blocks"])
    assert "Não encontrei" in texts and "reformular" in texts
    assert message["text"]


def test_feedback_thanks_replaces_only_the_feedback_buttons() -> None:
    message = blocks.answer_message(make_answer(), shareable=True)
    updated = blocks.with_feedback_thanks(message["blocks"], helpful=True)
    assert action_ids(updated) == [blocks.FLAG, blocks.SHARE]
    assert "👍 Obrigado pelo retorno!" in block_texts(updated)
    assert len(updated) == len(message["blocks"]) + 1


def test_clean_question_strips_mentions_and_slack_markup() -> None:
    raw = "<@UBOT0001> veja <https://x.example.com/a|este link> no <#C123|suporte> &amp; <!here> me diga &lt;ok&gt;"
    assert blocks.clean_question(raw) == "veja este link no #suporte & me diga <ok>"
    assert blocks.clean_question("<@UBOT0001>   ") == ""


def test_seen_keys_expire_and_are_bounded() -> None:
    now = [0.0]
    seen = SeenKeys(ttl=10, max_size=3, clock=lambda: now[0])
    assert seen.first_time("a")
    assert not seen.first_time("a")
    assert not seen.first_time("b", "a")  # any known key makes it a duplicate
    now[0] = 20
    assert seen.first_time("a")
    for key in "cdef":
        seen.first_time(key)
    assert seen.first_time("a")  # evicted by size


def test_rate_limiter_uses_a_sliding_window_per_user() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.allow("u1") and limiter.allow("u1")
    assert not limiter.allow("u1")
    assert limiter.allow("u2")
    now[0] = 61
    assert limiter.allow("u1")


def test_bounded_map_keeps_the_first_value_and_evicts_the_oldest() -> None:
    m: BoundedMap[str, str] = BoundedMap(max_size=2)
    m.put_if_absent("t1", "primeira")
    m.put_if_absent("t1", "segunda")
    assert m.get("t1") == "primeira"
    m.put("t2", "x")
    m.put("t3", "y")
    assert m.get("t1") is None and m.get("t3") == "y"


def test_answer_lines_are_one_bullet_each_and_article_lines_link_the_title() -> None:
    lines = [
        AnswerLine(text="Ligue para o cliente após 3 interações.", n=1),
        AnswerLine(text="EC - ZEN - Prazo de SLA", n=2, url="https://kcs.example.com/sla"),
    ]
    answer = make_answer(text="ignorado [1]", lines=lines, confidence_label="média")
    message = blocks.answer_message(answer)
    texts = all_text_objects(message)
    bullets = (
        "• Ligue para o cliente após 3 interações. [1]\n• <https://kcs.example.com/sla|EC - ZEN - Prazo de SLA> [2]"
    )
    assert bullets in texts
    footer = [t for t in texts if t.startswith("Confiança")]
    assert footer and footer[0].startswith("Confiança média ·") and "%" not in footer[0]
    assert "• Ligue para o cliente após 3 interações. [1]" in message["text"]


def test_answer_without_lines_lists_the_text_lines() -> None:
    answer = make_answer(text="Primeira linha [1]\nSegunda linha [2]", lines=[])
    assert "• Primeira linha [1]\n• Segunda linha [2]" in all_text_objects(blocks.answer_message(answer))


def test_pointer_is_a_pointer_to_the_nearest_sections_not_an_answer() -> None:
    answer = make_answer(
        text="A documentação não responde isso diretamente. O mais próximo:", abstained=True, citations=[],
        suggestions=[citation(3), citation(4)], outcome="pointer", confidence_label="baixa",
    )  # fmt: skip
    message = blocks.answer_message(answer)
    texts = all_text_objects(message)
    assert texts[0] == ":compass: *A documentação não responde isso diretamente. O mais próximo:*"
    assert any("<https://docs.example.com/doc3#secao-3|Documento 3 › Seção 3>" in t for t in texts)
    assert not any(t.startswith("•") for t in texts) and "*Fontes*" not in texts
    assert next(t for t in texts if t.startswith("Confiança")).startswith("Confiança baixa ·")
    assert message["text"].startswith("A documentação não responde isso diretamente.")
    assert "Seções mais próximas:" in message["text"]


def test_refusal_is_plain_and_shows_no_confidence() -> None:
    answer = make_answer(
        text="Não encontrei isso nas Boas Práticas.", abstained=True, citations=[], suggestions=[citation(3)],
        outcome="refusal", confidence_label="baixa",
    )  # fmt: skip
    texts = all_text_objects(blocks.answer_message(answer))
    assert texts[0] == ":mag: Não encontrei isso nas Boas Práticas."
    assert not any("Confiança" in t for t in texts)
    assert not any(t.startswith(":compass:") for t in texts)


def test_each_citation_has_a_line_to_paste_and_the_flag_choice_is_valid_block_kit() -> None:
    answer = make_answer(n_citations=2)
    message = blocks.answer_message(answer)
    texts = block_texts(message["blocks"])
    for c in answer.citations:
        assert f":link: {blocks.escape(blocks.source_label(c))} — {blocks.escape(c.url)}" in texts
    assert all(len(b["elements"]) <= 10 for b in message["blocks"] if b["type"] == "context")
    choice = blocks.flag_choice_message(make_answer(n_citations=8))
    sections = [b for b in choice["blocks"] if b.get("accessory")]
    assert len(sections) == blocks.MAX_FLAG_CHOICES
    ids = [b["accessory"]["action_id"] for b in sections]
    assert len(set(ids)) == len(ids)  # unique in the message
    for block in sections:
        select = block["accessory"]
        assert select["type"] == "static_select" and select["placeholder"]["type"] == "plain_text"
        assert all(len(o["text"]["text"]) <= 75 and len(o["value"]) <= 150 for o in select["options"])
    # Nothing to flag: no flag button.
    refusal = make_answer(text="Não encontrei.", n_citations=0, abstained=True, outcome="refusal")
    assert blocks.FLAG not in action_ids(blocks.answer_message(refusal)["blocks"])
