"""The Slack bot: answers mentions, DMs and ``/boaspraticas`` with the assistant's cited
answers. It depends only on the assistant's public interface.

- ``build_app(assistant, settings)``: the Bolt app (one code path for both modes);
- ``mount(fastapi_app, assistant, settings)``: HTTP mode, ``POST /slack/events``;
- ``run_socket_mode(assistant, settings)``: Socket Mode.
"""

from slack_app.app import SlackConfigError, build_app
from slack_app.http import mount
from slack_app.socket_mode import run_socket_mode

__all__ = ["SlackConfigError", "build_app", "mount", "run_socket_mode"]
