"""The constants a deployment tunes, kept as data (corpus/calibration.toml), not code.

``[confidence]`` is the decision's logistic model: bench/calibrate.py fits it on the dev sets
pooled and writes it with ``--write``. ``[fusion]`` and ``[compose]`` optionally override the
retrieval and composition constants (``assistant.answering.retrieval.FusionConfig``,
``assistant.answering.compose.ComposeConfig``; their fields are the keys). A deployment that plugs in its
own embedding model or corpus refits and rewrites this file without editing code. A missing
file, or a missing table, means the built-in defaults.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.answering.config import ComposeConfig
from assistant.answering.decide import FEATURES, ConfidenceConfig
from assistant.answering.retrieval import FusionConfig
from index.errors import BpaError


class CalibrationError(BpaError):
    """The calibration file exists but cannot be used."""


@dataclass(frozen=True)
class Calibration:
    confidence: ConfidenceConfig = field(default_factory=ConfidenceConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    compose: ComposeConfig = field(default_factory=ComposeConfig)


def _overrides(cls: type, table: dict[str, Any], name: str) -> Any:
    known = {f.name: f.type for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(f"[{name}] não conhece {', '.join(unknown)}; campos: {', '.join(known)}")
    values = {k: (int(v) if known[k] == "int" else float(v)) for k, v in table.items()}
    return cls(**values)


def load_calibration(path: Path) -> Calibration:
    if not path.exists():
        return Calibration()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out = Calibration()
        if "confidence" in data:
            section = data["confidence"]
            weights = section["weights"]
            out = dataclasses.replace(out, confidence=ConfidenceConfig(
                weights=tuple((name, float(weights[name])) for name in FEATURES if name in weights),
                bias=float(section["bias"]),
                threshold=float(section.get("threshold", 0.5)),
            ))  # fmt: skip
        if "fusion" in data:
            out = dataclasses.replace(out, fusion=_overrides(FusionConfig, data["fusion"], "fusion"))
        if "compose" in data:
            out = dataclasses.replace(out, compose=_overrides(ComposeConfig, data["compose"], "compose"))
        return out
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise CalibrationError(
            f"{path}: arquivo de calibração inválido ({e}); gere-o de novo com bench/calibrate.py --write"
        ) from e


def _table(name: str, cfg: Any, defaults: Any) -> list[str]:
    """Only the fields that differ from the built-in defaults: the file says what was tuned."""
    changed = [f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(defaults, f.name)]
    return [f"[{name}]", *(f"{k} = {getattr(cfg, k)!r}" for k in changed), ""] if changed else []


def write_calibration(path: Path, calibration: Calibration) -> None:
    cfg = calibration.confidence
    lines = [
        "# Written by bench/calibrate.py --write: the decision's logistic model, fitted on the dev",
        "# sets pooled (see the script for the cross-validated figures). Refit after changing the",
        "# embedding model or the corpus a lot. Optional [fusion] and [compose] tables override",
        "# assistant.answering.retrieval.FusionConfig and assistant.answering.compose.ComposeConfig by field name.",
        "[confidence]",
        f"bias = {cfg.bias!r}",
        f"threshold = {cfg.threshold!r}",
        "",
        "[confidence.weights]",
        *(f"{name} = {weight!r}" for name, weight in cfg.weights),
        "",
        *_table("fusion", calibration.fusion, FusionConfig()),
        *_table("compose", calibration.compose, ComposeConfig()),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
