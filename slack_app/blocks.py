"""Block Kit messages of the bot (pt-BR), as plain dicts ready for chat.postMessage,
and the reverse: a Slack message text turned into a plain question.

Every message is ``{"text": fallback, "blocks": [...]}``: the text is what notifications
and screen readers show. Block Kit limits respected here: 3000 characters per section
text, 10 elements per context block, 50 blocks per message, 75 characters per button.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.kcs import FLAG_REASONS, REASON_LABELS
from assistant.types import Answer, Citation

Block = dict[str, Any]
Message = dict[str, Any]

# --- action ids (the handlers in app.py listen to these) -------------------------
ACTIONS_BLOCK_ID = "bpa_actions"
FEEDBACK_HELPFUL = "bpa_feedback_helpful"
FEEDBACK_UNHELPFUL = "bpa_feedback_unhelpful"
SHARE = "bpa_share"
FLAG = "bpa_flag"
# One select per cited section (ids unique in a message): the prefix is what app.py listens to.
FLAG_REASON_PREFIX = "bpa_flag_reason_"

# --- Block Kit limits --------------------------------------------------------------
SECTION_MAX = 3000
MAX_BLOCKS = 50
MAX_ANSWER_SECTIONS = 5
MAX_SOURCES = 10
EXCERPT_MAX = 280
FALLBACK_MAX = 3900

# --- user-facing texts (pt-BR) -----------------------------------------------------
USAGE = (
    "*Como usar o assistente de Boas Práticas*\n"
    "• `/boaspraticas <pergunta>` — a resposta aparece só para você, com um botão para "
    "compartilhar no canal.\n"
    "• Mencione o app em um canal (a resposta vem na thread) ou mande uma mensagem direta.\n"
    "• Para continuar o assunto, responda na mesma thread: eu considero a pergunta anterior.\n"
    "As respostas são montadas só com trechos citados da documentação, com links para as fontes."
)
WORKING = ":hourglass_flowing_sand: Buscando na documentação…"
ERROR = (
    ":warning: Não consegui responder agora. Tente de novo em alguns instantes; "
    "se o problema continuar, avise o time responsável pelo assistente."
)
NOT_READY = ":construction: O índice da documentação ainda não está pronto. Tente de novo em alguns minutos."
CHANNEL_NOT_ALLOWED = (
    "Não estou habilitado para responder neste canal. Mande a pergunta em uma mensagem direta para mim."
)
ABSTAINED = ":mag: Não encontrei na documentação um trecho que responda com segurança a essa pergunta."
POINTER = "A documentação não responde isso diretamente. O mais próximo:"
NO_SUGGESTIONS = "Tente reformular com outros termos, por exemplo o nome do módulo, da rotina ou do erro."
SHARED = ":white_check_mark: Resposta compartilhada no canal."
SHARE_EXPIRED = "Essa resposta não está mais disponível para compartilhar. Faça a pergunta de novo com `/boaspraticas`."
SHARE_FAILED = "Não consegui publicar neste canal. Convide o app para o canal (`/invite`) e tente de novo."
FEEDBACK_THANKS = "Obrigado pelo retorno!"
FEEDBACK_UNKNOWN = "Não encontrei essa resposta (talvez seja antiga), então o retorno não foi registrado."
FLAG_PROMPT = "*Sinalizar uma seção:* escolha o motivo ao lado da seção com problema."
FLAG_EXPIRED = (
    "Essa resposta não está mais disponível para sinalizar. Sinalize pela página do bpa ou pelo app do Zendesk."
)
FLAG_NOTHING = "Esta resposta não cita nenhuma seção para sinalizar."
FLAG_GONE = "Essa seção não está mais no índice atual; faça a pergunta de novo para sinalizar a versão atual."
MAX_FLAG_CHOICES = 5
FLAG_MODAL = "bpa_flag_comment"  # the modal "outro" opens, for the free text
FLAG_COMMENT_BLOCK = "flag_comment"
FLAG_COMMENT_ACTION = "comment"
FLAG_COMMENT_MAX = 500  # as /v1/flags


def flag_thanks(reason: str, label: str) -> str:
    return (
        f":triangular_flag_on_post: Seção sinalizada ({REASON_LABELS.get(reason, reason).lower()}): "
        f"{escape(label)}. Obrigado! Quem mantém a documentação vai revisar."
    )


def rate_limited(per_minute: int) -> str:
    return (
        f":raised_hand: Muitas perguntas em pouco tempo: o limite é de {per_minute} por minuto. "
        "Tente de novo em instantes."
    )


def text_message(text: str) -> Message:
    """A simple one-section message."""
    return {"text": _clip(text, FALLBACK_MAX), "blocks": [_section(text)]}


# --- escaping and truncation ---------------------------------------------------------


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters at a word boundary, ending with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def _split(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, preferring paragraph,
    line and sentence boundaries."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(". "))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit - 1
        chunks.append(rest[: cut + 1].strip())
        rest = rest[cut + 1 :].strip()
    if rest:
        chunks.append(rest)
    return chunks


def _link(url: str, label: str) -> str:
    safe_url = url.replace(" ", "%20").replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe_url}|{escape(label)}>"


def source_label(citation: Citation) -> str:
    """'Title › Section', without repeating the title when the path already starts with it."""
    title, section = citation.title.strip(), citation.section.strip()
    if not section or section == title:
        return title
    if not title or section.startswith(title):
        return section
    return f"{title} › {section}"


# --- blocks -------------------------------------------------------------------------


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(mrkdwn, SECTION_MAX)}}


def _context(*mrkdwn: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _clip(t, SECTION_MAX)} for t in mrkdwn[:10]],
    }


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        button["style"] = style
    return button


def _actions(answer_id: str, *, feedback: bool, shareable: bool, flaggable: bool = False) -> list[Block]:
    elements: list[Block] = []
    if feedback:
        elements.append(_button("👍 Útil", FEEDBACK_HELPFUL, answer_id))
        elements.append(_button("👎 Não ajudou", FEEDBACK_UNHELPFUL, answer_id))
    if flaggable:
        elements.append(_button("🚩 Sinalizar", FLAG, answer_id))
    if shareable:
        elements.append(_button("Compartilhar no canal", SHARE, answer_id, style="primary"))
    return [{"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": elements}] if elements else []


def _sources(citations: list[Citation]) -> list[Block]:
    blocks: list[Block] = []
    for citation in citations[:MAX_SOURCES]:
        blocks.append(_section(f"*[{citation.n}]* {_link(citation.url, source_label(citation))}"))
        excerpt = " ".join(citation.excerpt.split())
        elements = [f"_{escape(_clip(excerpt, EXCERPT_MAX))}_"] if excerpt else []
        # A line to paste into a ticket: Block Kit has no "copy" button, so the link is plain text.
        elements.append(paste_line(citation))
        blocks.append(_context(*elements))
    return blocks


def paste_line(citation: Citation) -> str:
    """'🔗 Title › Section — URL': the citation as a line an analyst can paste into a ticket."""
    return f":link: {escape(source_label(citation))} — {escape(citation.url)}"


def flag_targets(answer: Answer) -> list[Citation]:
    """The sections an answer shows: its citations, or the nearest sections of a pointer or refusal."""
    return (answer.citations if _outcome(answer) == "answer" else answer.suggestions)[:MAX_FLAG_CHOICES]


def flag_choice_message(answer: Answer) -> Message:
    """Each section the answer shows, with a menu of reasons beside it (a small choice: no modal)."""
    out: list[Block] = [_section(FLAG_PROMPT)]
    for citation in flag_targets(answer):
        out.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _clip(f"*[{citation.n}]* {_link(citation.url, source_label(citation))}", SECTION_MAX),
                },
                "accessory": {
                    "type": "static_select",
                    "action_id": f"{FLAG_REASON_PREFIX}{citation.n}",
                    "placeholder": {"type": "plain_text", "text": "Motivo…"},
                    "options": [
                        {
                            "text": {"type": "plain_text", "text": REASON_LABELS[reason]},
                            "value": f"{answer.answer_id}|{citation.n}|{reason}",
                        }
                        for reason in FLAG_REASONS
                    ],
                },
            }
        )
    return {"text": "Sinalizar uma seção da resposta", "blocks": out}


def flag_comment_modal(citation: Citation, metadata: str) -> Block:
    """ "Outro motivo": a modal asking what is wrong (free text, optional, up to 500 characters).
    ``metadata`` (private_metadata) says which answer, section and channel it is about."""
    return {
        "type": "modal",
        "callback_id": FLAG_MODAL,
        "title": {"type": "plain_text", "text": "Sinalizar seção"},
        "submit": {"type": "plain_text", "text": "Enviar"},
        "close": {"type": "plain_text", "text": "Cancelar"},
        "private_metadata": metadata[:3000],
        "blocks": [
            _section(f"*[{citation.n}]* {_link(citation.url, source_label(citation))}"),
            {
                "type": "input",
                "block_id": FLAG_COMMENT_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "O que está errado nesta seção?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": FLAG_COMMENT_ACTION,
                    "multiline": True,
                    "max_length": FLAG_COMMENT_MAX,
                },
            },
        ],
    }


def _footer(answer: Answer) -> Block:
    """Confidence in words (a calibrated probability shown as alta/média/baixa, never a
    percentage); a refusal has none to show."""
    index = f"índice `{escape(answer.snapshot)}`"
    if _outcome(answer) == "refusal":
        return _context(index)
    return _context(
        f"Confiança {answer.confidence_label} · {index} · resposta montada só com trechos citados da documentação"
    )


def _outcome(answer: Answer) -> str:
    # An Answer built without an outcome (older producers) still says whether it abstained.
    return "refusal" if answer.abstained and answer.outcome == "answer" else answer.outcome


def _lead(answer: Answer, default: str) -> str:
    """The first line of a pointer's or refusal's text (the server's own wording)."""
    first = answer.answer.strip().split("\n", 1)[0].strip()
    return first or default


def _answer_lines(answer: Answer) -> str:
    """One bullet per answer line: lists stay lists. A line pointing to an article links
    its title; without ``lines``, the answer text's own lines."""
    if not answer.lines:
        return "\n".join(f"• {escape(line.strip())}" for line in answer.answer.split("\n") if line.strip())
    out = []
    for line in answer.lines:
        text = _link(line.url, line.text) if line.url else escape(line.text)
        out.append(f"• {text} [{line.n}]")
    return "\n".join(out)


def answer_message(
    answer: Answer,
    *,
    shareable: bool = False,
    feedback_given: bool = False,
    asked_by: str | None = None,
) -> Message:
    """The full answer: text with [n] markers, sources, confidence footer and buttons.

    ``shareable`` adds the "Compartilhar no canal" button (ephemeral answers);
    ``feedback_given`` shows the thanks instead of the feedback buttons; ``asked_by`` (a
    user id) adds who asked and the question, for answers shared in a channel.
    """
    blocks: list[Block] = []
    if asked_by:
        blocks.append(_context(f"<@{asked_by}> perguntou: _{escape(_clip(answer.question, 500))}_"))
    outcome = _outcome(answer)
    if outcome == "pointer":
        # Not an answer: where the documentation comes closest, as links.
        blocks.append(_section(f":compass: *{escape(_lead(answer, POINTER))}*"))
        blocks.extend(_sources(answer.suggestions))
    elif outcome == "refusal":
        blocks.append(_section(f":mag: {escape(_lead(answer, ABSTAINED.removeprefix(':mag: ')))}"))
        if answer.suggestions:
            blocks.append(_section("*Seções mais próximas que encontrei:*"))
            blocks.extend(_sources(answer.suggestions))
        else:
            blocks.append(_context(NO_SUGGESTIONS))
    else:
        parts = _split(_answer_lines(answer), SECTION_MAX)
        if len(parts) > MAX_ANSWER_SECTIONS:
            parts = [
                *parts[: MAX_ANSWER_SECTIONS - 1],
                _clip(parts[MAX_ANSWER_SECTIONS - 1], SECTION_MAX - 1),
            ]
        blocks.extend(_section(part) for part in parts)
        if answer.citations:
            blocks.append({"type": "divider"})
            blocks.append(_context("*Fontes*"))
            blocks.extend(_sources(answer.citations))
    blocks.append(_footer(answer))
    flaggable = bool(flag_targets(answer))
    blocks.extend(_actions(answer.answer_id, feedback=not feedback_given, shareable=shareable, flaggable=flaggable))
    if feedback_given:
        blocks.append(_context(FEEDBACK_THANKS))
    return {"text": fallback_text(answer), "blocks": blocks[:MAX_BLOCKS]}


def fallback_text(answer: Answer) -> str:
    """Plain-text version of an answer (notifications, clients without blocks)."""
    outcome = _outcome(answer)
    if outcome == "pointer":
        lines = [_lead(answer, POINTER)]
        refs = answer.suggestions
    elif outcome == "refusal":
        lines = [_lead(answer, ABSTAINED.removeprefix(":mag: "))]
        refs = answer.suggestions
    else:
        lines = [f"• {line.text} [{line.n}]" for line in answer.lines] or [answer.answer]
        refs = answer.citations
    if refs:
        lines.append("\nFontes:" if outcome == "answer" else "\nSeções mais próximas:")
        lines.extend(f"[{c.n}] {source_label(c)}: {c.url}" for c in refs[:MAX_SOURCES])
    return _clip("\n".join(lines), FALLBACK_MAX)


_FEEDBACK_ACTIONS = {FEEDBACK_HELPFUL, FEEDBACK_UNHELPFUL}


def with_feedback_thanks(blocks: list[Block], helpful: bool) -> list[Block]:
    """The same message blocks with the feedback buttons replaced by a thank-you note."""
    thanks = _context(f"{'👍' if helpful else '👎'} {FEEDBACK_THANKS}")
    updated: list[Block] = []
    for block in blocks:
        if block.get("type") == "actions" and block.get("block_id") == ACTIONS_BLOCK_ID:
            rest = [e for e in block.get("elements", []) if e.get("action_id") not in _FEEDBACK_ACTIONS]
            if rest:
                updated.append({**block, "elements": rest})
            updated.append(thanks)
        else:
            updated.append(block)
    return updated


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<![^>]*>")


def clean_question(text: str) -> str:
    """Turn a Slack message into a plain question: drop the bot mention (and any other
    user mention), unwrap links and channel names, unescape &amp; &lt; &gt;."""
    text = _MENTION.sub("", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(1)}" if m.group(1) else "", text)
    text = _SPECIAL.sub("", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())
