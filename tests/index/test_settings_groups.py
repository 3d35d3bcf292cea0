"""Settings are declared by the layer that reads them; each field in exactly one group."""

from __future__ import annotations

from index.settings import (
    AnsweringSettings,
    HttpSettings,
    IndexSettings,
    IngestSettings,
    MaintenanceSettings,
    Settings,
    SlackSettings,
)

GROUPS = (IndexSettings, IngestSettings, AnsweringSettings, HttpSettings, MaintenanceSettings, SlackSettings)


def test_every_field_is_declared_by_exactly_one_group() -> None:
    declared = [name for group in GROUPS for name in group.__annotations__ if name != "model_config"]
    assert len(declared) == len(set(declared)), "a field declared by two groups"
    assert set(declared) == set(Settings.model_fields)


def test_the_flat_environment_names_still_apply(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BPA_TOP_K", "7")
    monkeypatch.setenv("BPA_RATE_LIMIT_PER_MINUTE", "9")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-teste")
    s = Settings()
    assert (s.top_k, s.rate_limit_per_minute, s.slack_bot_token) == (7, 9, "xoxb-teste")
