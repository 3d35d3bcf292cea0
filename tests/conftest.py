"""Shared fixtures: every test gets its own data directory and fake-embedder settings."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from index.settings import Settings
from tests.support import pg_cluster
from tests.support.common import ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point BPA_DATA_DIR at a fresh tmp dir so no test touches ./var."""
    d = tmp_path / "var"
    monkeypatch.setenv("BPA_DATA_DIR", str(d))
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "BPA_ADMIN_TOKEN",
        "BPA_API_KEYS",
    ):
        monkeypatch.delenv(name, raising=False)
    return d


@pytest.fixture
def settings(data_dir: Path, tmp_path: Path) -> Settings:
    """Settings for unit tests: fake embedder, the default corpus' sources file."""
    return Settings(
        data_dir=data_dir,
        embedder="fake",
        sources=ROOT / "corpus" / "sources.toml",
        glossary=ROOT / "corpus" / "glossary.toml",
    )


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    """One throwaway PostgreSQL cluster for the session (skips when PostgreSQL is not installed)."""
    reason = pg_cluster.unavailable()
    if reason:
        pytest.skip(reason)
    with pg_cluster.cluster() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_cluster: str) -> Iterator[str]:
    """A fresh, empty database on the session's cluster."""
    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_cluster}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"{postgres_cluster}/{name}"
    # An app is a web of references: collect the test's states now, so their connection
    # pools close before the next test's (the cluster allows a bounded number of clients).
    gc.collect()
