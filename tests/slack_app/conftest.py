"""Fixtures of the Slack bot tests: a mock Slack Web API, a fake assistant, the harness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from index.settings import Settings
from tests.support.fake_assistant import FakeAssistant
from tests.support.slack import MockSlackServer
from tests.support.slack_harness import BOT_TOKEN, SIGNING_SECRET, SlackHarness


@pytest.fixture
def slack() -> Iterator[MockSlackServer]:
    with MockSlackServer() as server:
        yield server


@pytest.fixture
def slack_settings(settings: Settings, slack: MockSlackServer) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
        }
    )


@pytest.fixture
def assistant() -> FakeAssistant:
    return FakeAssistant()


@pytest.fixture
def harness(assistant: FakeAssistant, slack_settings: Settings, slack: MockSlackServer) -> Iterator[SlackHarness]:
    h = SlackHarness(assistant, slack_settings, slack)
    yield h
    h.settle()  # no listener thread outlives the test
