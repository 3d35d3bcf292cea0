"""The Bolt app: events, the slash command and the buttons, on one code path for both
run modes (HTTP in ``slack_app.http``, Socket Mode in ``slack_app.socket_mode``).

Every listener acknowledges at once and does the work in a Bolt *lazy listener* (a
thread of the listener executor), so Slack always gets its ack within 3 seconds.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from assistant import BpaError, InvalidQuestion, NoSnapshotError, StateUnavailable, UnknownAnswer
from assistant.kcs import FLAG_REASONS, FlagReason, StaleSnapshot, UnknownSection
from assistant.protocol import AssistantService
from assistant.types import Answer, Ask, Citation
from slack_app import blocks
from slack_app.blocks import Message
from slack_app.state import BoundedMap, RateLimiter, SeenKeys

if TYPE_CHECKING:
    from index.settings import Settings

log = logging.getLogger(__name__)

COMMAND = "/boaspraticas"
WORKING_REACTION = "hourglass_flowing_sand"


class SlackConfigError(BpaError):
    """The Slack settings are missing or were refused; the message is pt-BR (the CLI
    prints it as it is)."""


def build_app(assistant: AssistantService, settings: Settings, *, token_verification: bool = True) -> App:
    """A Bolt ``App`` answering with ``assistant``; its Web API client uses
    ``settings.slack_api_url``.

    ``token_verification`` calls auth.test now (fail fast, as Socket Mode wants); without
    it the first request does that call, so a web server starts even when Slack is down.
    """
    if not settings.slack_bot_token:
        raise SlackConfigError("Defina SLACK_BOT_TOKEN (o token do bot, xoxb-…) para usar o Slack.")
    base_url = settings.slack_api_url.rstrip("/") + "/"
    client = WebClient(token=settings.slack_bot_token, base_url=base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    try:
        app = App(
            name="bpa",
            client=client,
            signing_secret=settings.slack_signing_secret or "",
            token_verification_enabled=token_verification,
            process_before_response=True,
            listener_executor=ThreadPoolExecutor(max_workers=8, thread_name_prefix="bpa-slack"),
            logger=logging.getLogger("slack_app.bolt"),
        )
    except BoltError as e:
        raise SlackConfigError(f"O Slack recusou o token do bot (auth.test): {e}") from e
    SlackBot(assistant, settings).register(app)
    return app


def _ack(ack: Callable[..., Any]) -> None:
    ack()


class SlackBot:
    """The listeners, plus the bounded in-memory state they share."""

    def __init__(self, assistant: AssistantService, settings: Settings) -> None:
        self.assistant = assistant
        self.allowed_channels = frozenset(settings.slack_channels)
        self.seen = SeenKeys()
        self.threads: BoundedMap[tuple[str, str], str] = BoundedMap(2000)  # thread -> first question
        self.answers: BoundedMap[str, Answer] = BoundedMap(500)  # recent answers, for "share" and "Sinalizar"
        self.limiter = RateLimiter(settings.slack_user_rate_per_minute)

    def register(self, app: App) -> None:
        app.middleware(self.skip_duplicates)
        app.event("app_mention")(ack=_ack, lazy=[self.on_mention])
        app.event("message")(ack=_ack, lazy=[self.on_direct_message])
        app.command(COMMAND)(ack=self.ack_command, lazy=[self.on_command])
        app.action(blocks.SHARE)(ack=_ack, lazy=[self.on_share])
        for action_id in (blocks.FEEDBACK_HELPFUL, blocks.FEEDBACK_UNHELPFUL):
            app.action(action_id)(ack=_ack, lazy=[self.on_feedback])
        app.action(blocks.FLAG)(ack=_ack, lazy=[self.on_flag])
        app.action(re.compile("^" + re.escape(blocks.FLAG_REASON_PREFIX) + r"\d+$"))(
            ack=_ack, lazy=[self.on_flag_reason]
        )
        app.view(blocks.FLAG_MODAL)(ack=_ack, lazy=[self.on_flag_comment])

    # --- middleware --------------------------------------------------------------------

    def skip_duplicates(self, req: BoltRequest, body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse:
        """Acknowledge, without handling, an event already seen: Slack's retries
        (``X-Slack-Retry-Num``) repeat the event_id, and a DM mentioning the bot may come
        both as ``message.im`` and ``app_mention`` for the same message."""
        if req.lazy_only or body.get("type") != "event_callback":
            return next()
        event = body.get("event") or {}
        keys = [f"event:{body['event_id']}"] if body.get("event_id") else []
        if event.get("channel") and event.get("ts") and not event.get("subtype"):
            keys.append(f"message:{event['channel']}:{event['ts']}")
        if keys and not self._first_delivery(keys):
            retry = req.headers.get("x-slack-retry-num", [None])[0]
            log.info("Ignoring a duplicate Slack event %s (retry %s)", body.get("event_id"), retry)
            return BoltResponse(status=200, body="")
        return next()

    def _first_delivery(self, keys: list[str]) -> bool:
        """Seen here first (no round trip for a retry to this process), then in the state store
        the replicas share: a retry delivered to another replica is skipped there too. When the
        store cannot tell, this process' memory decides: a rare double answer beats none."""
        if not self.seen.first_time(*keys):
            return False
        try:
            return self.assistant.first_delivery(*keys)
        except StateUnavailable:
            return True  # logged and counted by the state store

    # --- events ------------------------------------------------------------------------

    def on_mention(self, event: dict[str, Any], client: WebClient) -> None:
        if _is_question(event):
            self._answer_in_thread(event, client)

    def on_direct_message(self, event: dict[str, Any], client: WebClient) -> None:
        if event.get("channel_type") == "im" and _is_question(event):
            self._answer_in_thread(event, client)

    def _answer_in_thread(self, event: dict[str, Any], client: WebClient) -> None:
        channel, ts, user = event["channel"], event["ts"], event["user"]
        thread_ts = event.get("thread_ts") or ts

        def reply(message: Message) -> None:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message)

        def whisper(text: str) -> None:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=text)

        if not self._channel_allowed(channel, event.get("channel_type")):
            _quietly(whisper, blocks.CHANNEL_NOT_ALLOWED)
            return
        question = blocks.clean_question(event.get("text") or "")
        if not question:
            _quietly(reply, blocks.text_message(blocks.USAGE))
            return
        if not self.limiter.allow(user):
            _quietly(whisper, blocks.rate_limited(self.limiter.per_minute))
            return

        context = self.threads.get((channel, thread_ts)) if event.get("thread_ts") else None
        _quietly(client.reactions_add, channel=channel, timestamp=ts, name=WORKING_REACTION)
        try:
            message, answer = self._ask(question, context=context)
            try:
                reply(message)
            except Exception:
                log.exception("Could not post the answer in %s", channel)
                _quietly(reply, blocks.text_message(blocks.ERROR))
                return
            if answer is not None:
                self.threads.put_if_absent((channel, thread_ts), answer.question)
        finally:
            _quietly(client.reactions_remove, channel=channel, timestamp=ts, name=WORKING_REACTION)

    # --- slash command -----------------------------------------------------------------

    def ack_command(self, ack: Callable[..., Any], command: dict[str, Any]) -> None:
        if blocks.clean_question(command.get("text") or ""):
            ack(response_type="ephemeral", text=blocks.WORKING)
        else:
            ack(response_type="ephemeral", **blocks.text_message(blocks.USAGE))

    def on_command(self, command: dict[str, Any], respond: Callable[..., Any]) -> None:
        question = blocks.clean_question(command.get("text") or "")
        if not question:
            return  # the ack already showed the usage help
        if not self._channel_allowed(command.get("channel_id", ""), None):
            respond(response_type="ephemeral", text=blocks.CHANNEL_NOT_ALLOWED)
            return
        if not self.limiter.allow(command.get("user_id", "")):
            respond(response_type="ephemeral", text=blocks.rate_limited(self.limiter.per_minute))
            return
        message, answer = self._ask(question, shareable=True)
        if answer is not None:
            self.answers.put(answer.answer_id, answer)
        _quietly(respond, response_type="ephemeral", **message)

    # --- buttons -----------------------------------------------------------------------

    def on_share(
        self, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Callable[..., Any]
    ) -> None:
        answer = self.answers.get(action.get("value", ""))
        if answer is None:
            respond(response_type="ephemeral", replace_original=False, text=blocks.SHARE_EXPIRED)
            return
        channel: str = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        try:
            client.chat_postMessage(channel=channel, **blocks.answer_message(answer, asked_by=body["user"]["id"]))
        except SlackApiError as e:
            log.warning("Could not share an answer in %s: %s", channel, e.response.get("error"))
            respond(response_type="ephemeral", replace_original=False, text=blocks.SHARE_FAILED)
            return
        respond(replace_original=True, text=blocks.SHARED)

    def on_feedback(self, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any]) -> None:
        answer_id = action.get("value", "")
        helpful = action.get("action_id") == blocks.FEEDBACK_HELPFUL
        try:
            self.assistant.feedback(answer_id, helpful, channel="slack")
        except UnknownAnswer:
            respond(response_type="ephemeral", replace_original=False, text=blocks.FEEDBACK_UNKNOWN)
            return
        except Exception:
            log.exception("Could not store feedback for %s", answer_id)
            respond(response_type="ephemeral", replace_original=False, text=blocks.ERROR)
            return
        message = body.get("message") or {}
        answer = self.answers.get(answer_id)
        if message.get("blocks"):
            new_blocks = blocks.with_feedback_thanks(message["blocks"], helpful)
            respond(replace_original=True, text=message.get("text") or blocks.FEEDBACK_THANKS, blocks=new_blocks)
        elif answer is not None:  # ephemeral answers do not come back in the payload
            respond(replace_original=True, **blocks.answer_message(answer, shareable=True, feedback_given=True))
        else:
            respond(response_type="ephemeral", replace_original=False, text=blocks.FEEDBACK_THANKS)

    def on_flag(self, action: dict[str, Any], respond: Callable[..., Any]) -> None:
        """The flag button: a small ephemeral choice, each section shown with a menu of reasons."""
        answer = self.answers.get(action.get("value", ""))
        if answer is None:
            respond(response_type="ephemeral", replace_original=False, text=blocks.FLAG_EXPIRED)
        elif not blocks.flag_targets(answer):
            respond(response_type="ephemeral", replace_original=False, text=blocks.FLAG_NOTHING)
        else:
            respond(response_type="ephemeral", replace_original=False, **blocks.flag_choice_message(answer))

    def on_flag_reason(
        self, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Callable[..., Any]
    ) -> None:
        value = str((action.get("selected_option") or {}).get("value", ""))
        answer_id, _, rest = value.partition("|")
        n, _, reason = rest.partition("|")
        answer = self.answers.get(answer_id)
        target = next((c for c in blocks.flag_targets(answer) if str(c.n) == n), None) if answer else None
        if answer is None or target is None or reason not in FLAG_REASONS:
            respond(response_type="ephemeral", replace_original=False, text=blocks.FLAG_EXPIRED)
            return
        user = str((body.get("user") or {}).get("id", ""))
        why = cast(FlagReason, reason)
        if why == "outro":  # what is wrong, in the analyst's words: a modal with a text box
            channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
            metadata = json.dumps({"answer_id": answer_id, "n": n, "channel": channel})
            try:
                modal = blocks.flag_comment_modal(target, metadata)
                client.views_open(trigger_id=body.get("trigger_id", ""), view=modal)
            except SlackApiError as e:
                log.warning("Could not open the flag modal: %s", e.response.get("error"))
                respond(response_type="ephemeral", replace_original=False, text=blocks.ERROR)
            return
        recorded, text = self._flag(answer, target, why, None, user)
        respond(replace_original=recorded, response_type="ephemeral", text=text)

    def on_flag_comment(self, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """The "outro" modal was sent: record the flag with its comment, thank in the channel."""
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        user = str((body.get("user") or {}).get("id", ""))
        answer = self.answers.get(str(meta.get("answer_id", "")))
        n = str(meta.get("n", ""))
        target = next((c for c in blocks.flag_targets(answer) if str(c.n) == n), None) if answer else None
        values = ((view.get("state") or {}).get("values") or {}).get(blocks.FLAG_COMMENT_BLOCK) or {}
        comment = str((values.get(blocks.FLAG_COMMENT_ACTION) or {}).get("value") or "").strip()
        if answer is None or target is None:
            text = blocks.FLAG_EXPIRED
        else:
            text = self._flag(answer, target, "outro", comment[: blocks.FLAG_COMMENT_MAX] or None, user)[1]
        if meta.get("channel") and user:
            _quietly(client.chat_postEphemeral, channel=str(meta["channel"]), user=user, text=text)

    def _flag(
        self, answer: Answer, target: Citation, reason: FlagReason, comment: str | None, user: str
    ) -> tuple[bool, str]:
        """Record a flag from Slack: whether it was recorded, and the text to show (thanks, or why not)."""
        try:
            # One flag per user, answer, section and reason: a retried interaction is not a second flag.
            self.assistant.flag(
                target.chunk_id, answer.snapshot, reason, comment,
                request_id=f"slack-{user}-{answer.answer_id}-{target.n}-{reason}", channel="slack",
            )  # fmt: skip
        except (UnknownSection, StaleSnapshot):
            return False, blocks.FLAG_GONE
        except Exception:
            log.exception("Could not store a flag for %s", answer.answer_id)
            return False, blocks.ERROR
        return True, blocks.flag_thanks(reason, blocks.source_label(target))

    # --- helpers -----------------------------------------------------------------------

    def _ask(
        self, question: str, *, context: str | None = None, shareable: bool = False
    ) -> tuple[Message, Answer | None]:
        """The message answering ``question`` (or explaining why not) and the answer."""
        try:
            answer = self.assistant.ask(Ask(question, context=context, channel="slack"))
        except InvalidQuestion as e:
            return blocks.text_message(e.message), None
        except NoSnapshotError:
            return blocks.text_message(blocks.NOT_READY), None
        except Exception:
            log.exception("The assistant failed to answer a Slack question")
            return blocks.text_message(blocks.ERROR), None
        self.answers.put(answer.answer_id, answer)  # for "share" and "Sinalizar"
        return blocks.answer_message(answer, shareable=shareable), answer

    def _channel_allowed(self, channel: str, channel_type: str | None) -> bool:
        """Direct messages are always allowed; channels only when listed (if a list is set)."""
        if not self.allowed_channels or channel_type == "im" or channel.startswith("D"):
            return True
        return channel in self.allowed_channels


def _is_question(event: dict[str, Any]) -> bool:
    """A person's new message: no subtype (edits, joins, bot posts…), no bot, and the
    user, channel and ts a reply needs."""
    if event.get("subtype") or event.get("bot_id"):
        return False
    return all(isinstance(event.get(key), str) and event[key] for key in ("user", "channel", "ts"))


def _quietly(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Make a cosmetic or best-effort Slack call; log instead of raising."""
    try:
        call(*args, **kwargs)
    except SlackApiError as e:
        log.warning("Slack call %s failed: %s", getattr(call, "__name__", call), e.response.get("error"))
    except Exception:
        log.exception("Slack call %s failed", getattr(call, "__name__", call))
