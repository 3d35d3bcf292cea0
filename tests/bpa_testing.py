"""Paths shared by tests (a module of its own: `conftest` names clash across test folders)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = ROOT / "corpus" / "boas-praticas-do-suporte.html"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
