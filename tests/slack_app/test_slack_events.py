"""Mentions and DMs through POST /slack/events, asserted on what Slack's Web API received."""

from __future__ import annotations

import time

from assistant.errors import InvalidQuestion, StateUnavailable
from index.settings import Settings
from slack_app import blocks
from tests.support.fake_assistant import CITATIONS, AskCall, FakeAssistant
from tests.support.slack import BOT_ID, BOT_USER_ID, MockSlackServer
from tests.support.slack_harness import (
    SOURCE_1,
    SOURCE_2,
    SlackHarness,
    action_ids,
    block_texts,
    direct_message,
    mention,
)


def test_url_verification_echoes_the_challenge(harness: SlackHarness) -> None:
    response = harness.post('{"type": "url_verification", "challenge": "abc123"}', "application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": "abc123"}


def test_mention_is_answered_in_its_thread_with_sources_and_buttons(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    started = time.monotonic()
    response = harness.event(mention())
    assert response.status_code == 200
    assert time.monotonic() - started < 3  # acked before the answer

    [post] = slack.wait_for("chat.postMessage")
    assert post.headers["authorization"] == "Bearer xoxb-test-token"
    assert post.body["channel"] == "CGENERAL1"
    assert post.body["thread_ts"] == "1700000000.000100"
    texts = block_texts(post.body["blocks"])
    assert "• Quando o cliente ficar parado, registre o motivo no ticket e combine o próximo contato. [1]" in texts
    assert SOURCE_1 in texts
    assert SOURCE_2 in texts
    assert "Confiança alta ·" in texts and "%" not in texts
    assert action_ids(post.body["blocks"]) == [blocks.FEEDBACK_HELPFUL, blocks.FEEDBACK_UNHELPFUL, blocks.FLAG]
    assert all(e["value"] == "ans-1" for b in post.body["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert "registre o motivo" in post.body["text"] and CITATIONS[0].url in post.body["text"]

    # the mention was stripped and the channel recorded
    assert assistant.asks == [
        AskCall("como abrir um chamado?", top_k=None, sources=None, context=None, channel="slack")
    ]

    harness.settle()
    methods = [m for m in slack.methods() if m != "auth.test"]
    assert methods == ["reactions.add", "chat.postMessage", "reactions.remove"]
    for method in ("reactions.add", "reactions.remove"):
        [call] = slack.calls_to(method)
        assert call.body["channel"] == "CGENERAL1"
        assert call.body["timestamp"] == "1700000000.000100"
        assert call.body["name"] == "hourglass_flowing_sand"


def test_direct_message_is_answered_in_a_thread(harness: SlackHarness, slack: MockSlackServer) -> None:
    harness.event(direct_message())
    [post] = slack.wait_for("chat.postMessage")
    assert post.body["channel"] == "DDIRECT01"
    assert post.body["thread_ts"] == "1700000100.000200"


def test_follow_up_in_an_answered_thread_passes_the_first_question_as_context(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    harness.event(mention("<@UBOT0001> como abrir um chamado?"))
    slack.wait_for("chat.postMessage")
    harness.event(mention("<@UBOT0001> e se for urgente?", ts="1700000000.000300", thread_ts="1700000000.000100"))
    posts = slack.wait_for("chat.postMessage", count=2)
    assert posts[1].body["thread_ts"] == "1700000000.000100"
    assert assistant.asks[1] == AskCall(
        "e se for urgente?", top_k=None, sources=None, context="como abrir um chamado?", channel="slack"
    )


def test_a_mention_in_an_unknown_thread_has_no_context(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    harness.event(mention(ts="1700000000.000300", thread_ts="1700000000.000050"))
    [post] = slack.wait_for("chat.postMessage")
    assert post.body["thread_ts"] == "1700000000.000050"
    assert assistant.asks[0].context is None


def test_retry_and_repeated_event_id_give_exactly_one_answer(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    assert harness.event(mention(), event_id="EvSAME").status_code == 200
    retry = harness.event(
        mention(),
        event_id="EvSAME",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status_code == 200
    assert harness.event(mention(), event_id="EvSAME").status_code == 200
    # the same message delivered under another event (a DM both as message.im and app_mention)
    harness.event(mention(), event_id="EvOTHER")
    harness.settle()
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(assistant.asks) == 1


def test_an_event_another_replica_handled_is_not_answered(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    assistant.first_delivery("event:EvELSEWHERE")  # claimed through the shared state store
    retry = harness.event(mention(), event_id="EvELSEWHERE", headers={"X-Slack-Retry-Num": "1"})
    assert retry.status_code == 200
    harness.event(mention(ts="1700000000.000900"), event_id="EvNEW")  # a new event is answered
    harness.settle()
    assert [p.body["thread_ts"] for p in slack.calls_to("chat.postMessage")] == ["1700000000.000900"]


def test_without_the_state_store_this_process_still_skips_its_own_retries(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    assistant.delivery_error = StateUnavailable("registro de perguntas indisponível")
    assert harness.event(mention(), event_id="EvDOWN").status_code == 200
    retry = harness.event(mention(), event_id="EvDOWN", headers={"X-Slack-Retry-Num": "1"})
    assert retry.status_code == 200
    harness.settle()
    assert len(slack.calls_to("chat.postMessage")) == 1  # answered once: no store, no silence


def test_bad_or_stale_signature_is_refused_without_any_slack_call(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    assert harness.event(mention(), secret="wrong-secret").status_code == 401
    stale = int(time.time()) - 10 * 60
    assert harness.event(mention(), timestamp=stale).status_code == 401
    unsigned = harness.client.post("/slack/events", json={"type": "event_callback", "event": mention()})
    assert unsigned.status_code == 401
    harness.settle()
    assert slack.calls == []
    assert assistant.asks == []


def test_bots_edits_other_subtypes_and_own_posts_are_ignored(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    harness.event(direct_message(bot_id="BOTHER01", user="UOTHERBOT"))
    harness.event(direct_message(subtype="bot_message", bot_id="BOTHER01"))
    harness.event(
        direct_message(
            subtype="message_changed",
            message={"type": "message", "user": "UASKER01", "text": "editado", "ts": "1700000100.000200"},
        )
    )
    harness.event(direct_message(subtype="channel_join"))
    harness.event(direct_message(user=BOT_USER_ID, bot_id=BOT_ID, text="minha própria resposta"))
    harness.event(mention(bot_id="BOTHER01"))
    harness.event(direct_message(channel_type="channel", channel="CGENERAL1"))  # not a DM
    harness.settle()
    assert assistant.asks == []
    assert [m for m in slack.methods() if m != "auth.test"] == []


def test_assistant_failure_posts_a_warning_in_the_thread(harness: SlackHarness, slack: MockSlackServer) -> None:
    harness.assistant.ask_error = RuntimeError("boom")
    harness.event(mention())
    [post] = slack.wait_for("chat.postMessage")
    assert post.body["thread_ts"] == "1700000000.000100"
    assert post.body["text"].startswith(":warning: Não consegui responder agora")
    slack.wait_for("reactions.remove")


def test_invalid_question_and_missing_index_get_their_pt_br_messages(
    harness: SlackHarness, slack: MockSlackServer
) -> None:
    harness.assistant.ask_error = InvalidQuestion("A pergunta precisa ter pelo menos uma palavra.")
    harness.event(mention())
    [post] = slack.wait_for("chat.postMessage")
    assert post.body["text"] == "A pergunta precisa ter pelo menos uma palavra."

    harness.assistant.ask_error = None
    harness.assistant.snapshot_id = None
    harness.event(mention(ts="1700000000.000900"))
    posts = slack.wait_for("chat.postMessage", count=2)
    assert "índice da documentação ainda não está pronto" in posts[1].body["text"]


def test_abstention_says_so_and_lists_the_nearest_sections(harness: SlackHarness, slack: MockSlackServer) -> None:
    harness.event(mention("<@UBOT0001> qual o preço da licença?"))  # the fake abstains on "preço"
    [post] = slack.wait_for("chat.postMessage")
    texts = block_texts(post.body["blocks"])
    assert "Não encontrei na documentação" in texts
    assert SOURCE_1 in texts
    assert SOURCE_2 in texts
    assert "Não encontrei na documentação" in post.body["text"]


def test_empty_mention_gets_the_usage_help(
    harness: SlackHarness, slack: MockSlackServer, assistant: FakeAssistant
) -> None:
    harness.event(mention("<@UBOT0001>"))
    [post] = slack.wait_for("chat.postMessage")
    assert "/boaspraticas" in post.body["text"]
    assert assistant.asks == []


def test_channel_allow_list(slack_settings: Settings, slack: MockSlackServer) -> None:
    settings = slack_settings.model_copy(update={"slack_channels": ["CALLOWED1"]})
    assistant = FakeAssistant()
    harness = SlackHarness(assistant, settings, slack)
    harness.event(mention(channel="COTHER001"))
    [whisper] = slack.wait_for("chat.postEphemeral")
    assert whisper.body["user"] == "UASKER01"
    assert "Não estou habilitado" in whisper.body["text"]
    assert assistant.asks == []

    harness.event(mention(channel="CALLOWED1", ts="1700000000.000500"))
    [post] = slack.wait_for("chat.postMessage")
    assert post.body["channel"] == "CALLOWED1"
    harness.event(direct_message())  # DMs are always allowed
    slack.wait_for("chat.postMessage", count=2)
    harness.settle()
    assert {c.body["channel"] for c in slack.calls_to("chat.postMessage")} == {"CALLOWED1", "DDIRECT01"}


def test_per_user_rate_limit_gets_a_friendly_message(slack_settings: Settings, slack: MockSlackServer) -> None:
    settings = slack_settings.model_copy(update={"slack_user_rate_per_minute": 2})
    assistant = FakeAssistant()
    harness = SlackHarness(assistant, settings, slack)
    for i in range(3):
        harness.event(mention(ts=f"1700000000.00010{i}"))
    harness.event(mention(ts="1700000000.000200", user="UANOTHER1"))  # other users are not limited
    harness.settle()
    assert len(slack.calls_to("chat.postMessage")) == 3
    [limited] = slack.calls_to("chat.postEphemeral")
    assert limited.body["user"] == "UASKER01"
    assert "limite é de 2 por minuto" in limited.body["text"]
    assert len(assistant.asks) == 3


def test_a_rate_limited_post_is_retried_after_retry_after(harness: SlackHarness, slack: MockSlackServer) -> None:
    slack.fail(r"/api/chat\.postMessage", status=429, retry_after="0", times=1)
    harness.event(mention())
    [post] = slack.wait_for("chat.postMessage")  # the retry (the refused attempt is not a call)
    assert "registre o motivo" in post.body["text"]  # the answer, not the error warning
    harness.settle()
    assert slack.count(r"/api/chat\.postMessage") == 2
