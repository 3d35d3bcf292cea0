"""The /boaspraticas command, the share button and the feedback buttons."""

from __future__ import annotations

import json
from typing import Any

from index.settings import Settings
from slack_app import blocks
from tests.support.fake_assistant import AskCall, FakeAssistant, FeedbackCall
from tests.support.slack import MockSlackServer
from tests.support.slack_harness import SOURCE_1, SOURCE_2, SlackHarness, action_ids, block_texts


def command(harness: SlackHarness, text: str, name: str = "cmd1", channel: str = "CGENERAL1") -> Any:
    return harness.form(
        {
            "token": "legacy",
            "team_id": "T0000TEST",
            "channel_id": channel,
            "channel_name": "geral",
            "user_id": "UASKER01",
            "user_name": "analista",
            "command": "/boaspraticas",
            "text": text,
            "api_app_id": "A0000TEST",
            "response_url": harness.slack.response_url(name),
            "trigger_id": "123.456.abc",
        }
    )


def click(
    harness: SlackHarness,
    action_id: str,
    value: str,
    *,
    response: str = "click1",
    message: dict[str, Any] | None = None,
) -> Any:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0000TEST", "domain": "bpa-test"},
        "user": {"id": "UASKER01", "username": "analista", "team_id": "T0000TEST"},
        "api_app_id": "A0000TEST",
        "token": "legacy",
        "trigger_id": "123.456.def",
        "channel": {"id": "CGENERAL1", "name": "geral"},
        "container": {"type": "message", "channel_id": "CGENERAL1", "is_ephemeral": message is None},
        "response_url": harness.slack.response_url(response),
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": blocks.ACTIONS_BLOCK_ID,
                "value": value,
                "action_ts": "1700000200.000001",
            }
        ],
    }
    if message is not None:
        payload["message"] = message
        payload["container"]["message_ts"] = message["ts"]
    return harness.interaction(payload)


def test_command_acks_fast_then_answers_ephemerally_with_a_share_button(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    response = command(harness, "como abrir um chamado?")
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"

    [reply] = slack.wait_for("response:cmd1")
    assert reply.body["response_type"] == "ephemeral"
    assert SOURCE_1 in block_texts(reply.body["blocks"])
    assert action_ids(reply.body["blocks"]) == [
        blocks.FEEDBACK_HELPFUL,
        blocks.FEEDBACK_UNHELPFUL,
        blocks.FLAG,
        blocks.SHARE,
    ]
    assert reply.body["text"]
    assert assistant.asks == [
        AskCall("como abrir um chamado?", top_k=None, sources=None, context=None, channel="slack")
    ]
    harness.settle()
    assert slack.calls_to("chat.postMessage") == []  # nothing public


def test_empty_command_shows_usage_help(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    response = command(harness, "   ")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "/boaspraticas" in body["text"] and "Como usar" in body["text"]
    harness.settle()
    assert assistant.asks == []
    assert [m for m in slack.methods() if m != "auth.test"] == []


def test_command_failure_is_a_warning_not_silence(harness: SlackHarness, slack: MockSlackServer) -> None:
    harness.assistant.ask_error = RuntimeError("boom")
    command(harness, "como abrir um chamado?")
    [reply] = slack.wait_for("response:cmd1")
    assert reply.body["text"].startswith(":warning:")


def test_share_button_posts_the_answer_in_the_channel(harness: SlackHarness, slack: MockSlackServer) -> None:
    command(harness, "como abrir um chamado?")
    slack.wait_for("response:cmd1")

    assert click(harness, blocks.SHARE, "ans-1", response="share1").status_code == 200
    [post] = slack.wait_for("chat.postMessage")
    assert post.body["channel"] == "CGENERAL1"
    assert "thread_ts" not in post.body
    texts = block_texts(post.body["blocks"])
    assert "<@UASKER01> perguntou: _como abrir um chamado?_" in texts
    assert SOURCE_2 in texts
    assert action_ids(post.body["blocks"]) == [blocks.FEEDBACK_HELPFUL, blocks.FEEDBACK_UNHELPFUL, blocks.FLAG]
    [done] = slack.wait_for("response:share1")
    assert done.body["replace_original"] is True
    assert "compartilhada" in done.body["text"]


def test_share_of_an_unknown_answer_explains_instead_of_posting(harness: SlackHarness, slack: MockSlackServer) -> None:
    click(harness, blocks.SHARE, "ans-unknown", response="share2")
    [reply] = slack.wait_for("response:share2")
    assert reply.body["replace_original"] is False
    assert "não está mais disponível" in reply.body["text"]
    harness.settle()
    assert slack.calls_to("chat.postMessage") == []


def test_share_where_the_bot_cannot_post_tells_how_to_fix(harness: SlackHarness, slack: MockSlackServer) -> None:
    slack.api_error("chat.postMessage", "not_in_channel")
    command(harness, "como abrir um chamado?")
    slack.wait_for("response:cmd1")
    click(harness, blocks.SHARE, "ans-1", response="share3")
    [reply] = slack.wait_for("response:share3")
    assert "/invite" in reply.body["text"]


def test_feedback_click_records_feedback_and_replaces_the_buttons(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    from tests.support.slack_harness import mention

    harness.event(mention())
    [post] = slack.wait_for("chat.postMessage")
    message = {
        "type": "message",
        "ts": "1800000000.000002",
        "text": post.body["text"],
        "blocks": post.body["blocks"],
    }

    assert click(harness, blocks.FEEDBACK_UNHELPFUL, "ans-1", response="fb1", message=message).status_code == 200
    [update] = slack.wait_for("response:fb1")
    assert assistant.feedbacks == [FeedbackCall("ans-1", helpful=False, comment=None, channel="slack")]
    assert update.body["replace_original"] is True
    assert action_ids(update.body["blocks"]) == [blocks.FLAG]  # the flag stays
    texts = block_texts(update.body["blocks"])
    assert "Obrigado pelo retorno!" in texts
    assert SOURCE_1 in texts  # answer kept


def test_feedback_on_an_ephemeral_answer_keeps_the_share_button(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    command(harness, "como abrir um chamado?")
    slack.wait_for("response:cmd1")
    click(harness, blocks.FEEDBACK_HELPFUL, "ans-1", response="fb2")
    [update] = slack.wait_for("response:fb2")
    assert assistant.feedbacks == [FeedbackCall("ans-1", helpful=True, comment=None, channel="slack")]
    assert action_ids(update.body["blocks"]) == [blocks.FLAG, blocks.SHARE]
    assert "Obrigado pelo retorno!" in block_texts(update.body["blocks"])


def test_feedback_for_an_unknown_answer_says_it_was_not_recorded(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    click(harness, blocks.FEEDBACK_HELPFUL, "ans-never", response="fb3")
    [reply] = slack.wait_for("response:fb3")
    assert reply.body["replace_original"] is False
    assert "não foi registrado" in reply.body["text"]
    assert assistant.feedbacks == []


def test_command_respects_the_allow_list_and_the_rate_limit(slack_settings: Settings, slack: MockSlackServer) -> None:
    settings = slack_settings.model_copy(update={"slack_channels": ["CALLOWED1"], "slack_user_rate_per_minute": 1})
    assistant = FakeAssistant()
    harness = SlackHarness(assistant, settings, slack)
    command(harness, "como abrir um chamado?", name="c1", channel="COTHER001")
    [refused] = slack.wait_for("response:c1")
    assert "Não estou habilitado" in refused.body["text"]
    command(harness, "como abrir um chamado?", name="c2", channel="CALLOWED1")
    command(harness, "e agora?", name="c3", channel="CALLOWED1")
    harness.settle()
    [answered] = slack.calls_to("response:c2")
    [limited] = slack.calls_to("response:c3")
    assert action_ids(answered.body["blocks"])
    assert "limite é de 1 por minuto" in limited.body["text"]
    assert [a.question for a in assistant.asks] == ["como abrir um chamado?"]


def choose(harness: SlackHarness, action_id: str, value: str, *, response: str) -> Any:
    """A choice in a static_select (the flag's reasons)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0000TEST", "domain": "bpa-test"},
        "user": {"id": "UASKER01", "username": "analista", "team_id": "T0000TEST"},
        "api_app_id": "A0000TEST",
        "token": "legacy",
        "trigger_id": "123.456.ghi",
        "channel": {"id": "CGENERAL1", "name": "geral"},
        "container": {"type": "message", "channel_id": "CGENERAL1", "is_ephemeral": True},
        "response_url": harness.slack.response_url(response),
        "actions": [
            {
                "type": "static_select",
                "action_id": action_id,
                "block_id": "flag1",
                "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": value},
                "action_ts": "1700000300.000001",
            }
        ],
    }
    return harness.interaction(payload)


def test_flag_opens_a_choice_of_reasons_per_section_and_records_the_chosen_one(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    from tests.support.fake_assistant import CITATIONS, SNAPSHOT_ID

    command(harness, "como abrir um chamado?")
    slack.wait_for("response:cmd1")
    assert click(harness, blocks.FLAG, "ans-1", response="flag1").status_code == 200
    [choice] = slack.wait_for("response:flag1")
    assert choice.body["replace_original"] is False and choice.body["response_type"] == "ephemeral"
    selects = [b["accessory"] for b in choice.body["blocks"] if b.get("accessory")]
    assert [s["action_id"] for s in selects] == [f"{blocks.FLAG_REASON_PREFIX}1", f"{blocks.FLAG_REASON_PREFIX}2"]
    assert [o["value"] for o in selects[1]["options"]] == [
        f"ans-1|2|{r}" for r in ("desatualizado", "incorreto", "incompleto", "outro")
    ]
    assert SOURCE_2 in block_texts(choice.body["blocks"])

    for _ in range(2):  # Slack may deliver an interaction twice: one flag
        choose(harness, f"{blocks.FLAG_REASON_PREFIX}2", "ans-1|2|incompleto", response="flag2")
    done = slack.wait_for("response:flag2", count=2)
    assert all("Seção sinalizada (incompleto)" in d.body["text"] and d.body["replace_original"] for d in done)
    [receipt] = assistant.flags.values()
    assert (receipt.target.chunk_id, receipt.reason) == (CITATIONS[1].chunk_id, "incompleto")
    assert receipt.snapshot == SNAPSHOT_ID


def test_flag_of_an_unknown_answer_or_a_forged_choice_records_nothing(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    click(harness, blocks.FLAG, "ans-never", response="flag3")
    [reply] = slack.wait_for("response:flag3")
    assert reply.body["text"] == blocks.FLAG_EXPIRED
    command(harness, "como abrir um chamado?")
    slack.wait_for("response:cmd1")
    for value, name in (("ans-1|9|incorreto", "flag4"), ("ans-1|1|chato", "flag5"), ("lixo", "flag6")):
        choose(harness, f"{blocks.FLAG_REASON_PREFIX}1", value, response=name)
        [reply] = slack.wait_for(f"response:{name}")
        assert reply.body["text"] == blocks.FLAG_EXPIRED
    assert assistant.flags == {}


def test_flag_with_another_reason_asks_what_is_wrong_in_a_modal(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    from tests.support.fake_assistant import CITATIONS

    command(harness, "como abrir um chamado?")
    slack.wait_for("response:cmd1")
    choose(harness, f"{blocks.FLAG_REASON_PREFIX}1", "ans-1|1|outro", response="flag7")
    [opened] = slack.wait_for("views.open")
    view = opened.body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert opened.body["trigger_id"] == "123.456.ghi"
    assert view["type"] == "modal" and view["callback_id"] == blocks.FLAG_MODAL and len(view["title"]["text"]) <= 24
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["optional"] is True and field["element"]["max_length"] == 500
    assert assistant.flags == {}  # nothing until the modal is sent

    submission = {
        "type": "view_submission",
        "team": {"id": "T0000TEST", "domain": "bpa-test"},
        "user": {"id": "UASKER01", "username": "analista", "team_id": "T0000TEST"},
        "api_app_id": "A0000TEST",
        "token": "legacy",
        "trigger_id": "123.456.jkl",
        "view": {
            **view,
            "id": "V0001",
            "state": {
                "values": {
                    blocks.FLAG_COMMENT_BLOCK: {
                        blocks.FLAG_COMMENT_ACTION: {
                            "type": "plain_text_input",
                            "value": "Falta o caso do cliente em férias.",
                        }
                    }
                }
            },
        },
    }
    assert harness.interaction(submission).status_code == 200
    [thanks] = slack.wait_for("chat.postEphemeral")
    assert (thanks.body["channel"], thanks.body["user"]) == ("CGENERAL1", "UASKER01")
    assert "Seção sinalizada (outro motivo)" in thanks.body["text"]
    [receipt] = assistant.flags.values()
    assert (receipt.target.chunk_id, receipt.reason) == (CITATIONS[0].chunk_id, "outro")
    assert [k for k in assistant.flags] == ["slack-UASKER01-ans-1-1-outro"]
    assert assistant.flag_comments == ["Falta o caso do cliente em férias."]
