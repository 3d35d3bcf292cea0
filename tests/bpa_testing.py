"""Paths shared by tests (a module of its own: `conftest` names clash across test folders)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = ROOT / "corpus" / "boas-praticas-do-suporte.html"
SHARED_EVAL = ROOT.parent / "shared" / "eval"


def strip_unit_vectors(snapshot_dir: Path) -> None:
    """Make a snapshot look like one written before answer-unit vectors existed."""
    manifest = json.loads((snapshot_dir / "manifest.json").read_text(encoding="utf-8"))
    for key in ("units", "units_version"):
        manifest.pop(key)
    (snapshot_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (snapshot_dir / "units.faiss").unlink(missing_ok=True)  # older snapshots: the unit vectors
    (snapshot_dir / "prepared" / "units.npy").unlink(missing_ok=True)
