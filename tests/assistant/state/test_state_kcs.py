"""The KCS tables (ticket views, links, flags) on both backends: two store objects on one target
stand for two replicas; a failed write raises for links and flags (the analyst asked) and is
contained for the sidebar's open (nobody asked)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from assistant.errors import StateUnavailable
from assistant.state import GuardedState, open_store
from tests.support.pii_cases import PII_CASES


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    if request.param == "sqlite":
        return tmp_path / "state.sqlite"
    return str(request.getfixturevalue("postgres_url"))


def test_a_link_is_recorded_once_per_ticket_section_and_action_across_replicas(target: Path | str) -> None:
    a, b = open_store(target), open_store(target)
    first = a.record_link("10", "doc\x1fA › B", "link", "doc:1", "snap", "zendesk")
    # Another passage of the same section, from another replica: the same link, not a second one.
    again = b.record_link("10", "doc\x1fA › B", "link", "doc:2", "snap-2", "zendesk")
    assert again == first and again["chunk_id"] == "doc:1"
    b.record_link("10", "doc\x1fA › B", "quote", "doc:2", "snap", "zendesk")
    b.record_link("11", "doc\x1fA › B", "link", "doc:1", "snap", "zendesk")
    assert [(r["ticket_id"], r["action"]) for r in a.ticket_links()] == [
        ("10", "link"),
        ("10", "quote"),
        ("11", "link"),
    ]


def test_a_ticket_view_is_one_row_counting_the_opens(target: Path | str) -> None:
    a, b = open_store(target), open_store(target)
    a.record_ticket_view("10", "zendesk", "snap", ["doc:1", "doc:2"])
    b.record_ticket_view("10", "zendesk", "snap-2", ["doc:3"])
    a.record_ticket_view("11", "zendesk", "snap", [])
    views = {v["ticket_id"]: v for v in b.ticket_views()}
    assert (views["10"]["opens"], views["10"]["snapshot"], views["10"]["chunk_ids"]) == (2, "snap-2", '["doc:3"]')
    assert views["11"]["opens"] == 1


def test_flags_are_masked_and_recorded_once_per_key(target: Path | str) -> None:
    store = open_store(target)
    for i, (written, _) in enumerate(PII_CASES):
        store.record_flag(f"k{i:03d}", "doc\x1fA", "doc:1", "snap", "outro", f"ver {written}", None, "web")
    again = store.record_flag("k000", "doc\x1fA", "doc:1", "snap", "incorreto", "outro texto", "10", "slack")
    assert again["reason"] == "outro" and again["channel"] == "web"
    stored = [f["comment"] for f in sorted(store.section_flags(), key=lambda r: r["dedupe_key"])]
    assert stored == [f"ver {p}" for _, p in PII_CASES]


def unusable(tmp_path: Path) -> Path:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    return blocker / "state.sqlite"


def test_failures_raise_for_links_and_flags_and_are_contained_for_views(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = GuardedState(unusable(tmp_path))
    with caplog.at_level(logging.DEBUG, logger="bpa.state"):
        assert state.record_ticket_view("10", "zendesk", "snap", []) is False
        with pytest.raises(StateUnavailable):
            state.record_link("10", "doc\x1fA", "link", "doc:1", "snap", "zendesk")
        with pytest.raises(StateUnavailable):
            state.record_flag("k", "doc\x1fA", "doc:1", "snap", "outro", "cpf 529.982.247-25", None, "web")
    assert state.health().errors == 3
    assert "link no ticket 10 não registrado" in caplog.text and "529.982.247-25" not in caplog.text
