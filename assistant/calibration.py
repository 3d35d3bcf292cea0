"""The decision's fitted constants, kept as data (corpus/calibration.toml), not code.

bench/calibrate.py fits them on the dev sets pooled and writes the file; a deployment that
plugs in its own embedding model or corpus refits and rewrites it, without editing code.
A missing file means the built-in defaults (the fit for the default model and corpus).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from assistant.confidence import FEATURES, ConfidenceConfig
from index.errors import BpaError


class CalibrationError(BpaError):
    """The calibration file exists but cannot be used."""


def load_calibration(path: Path) -> ConfidenceConfig:
    if not path.exists():
        return ConfidenceConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        section = data["confidence"]
        weights = section["weights"]
        return ConfidenceConfig(
            weights=tuple((name, float(weights[name])) for name in FEATURES if name in weights),
            bias=float(section["bias"]),
            threshold=float(section.get("threshold", 0.5)),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise CalibrationError(
            f"{path}: arquivo de calibração inválido ({e}); gere-o de novo com bench/calibrate.py --write"
        ) from e


def write_calibration(path: Path, cfg: ConfidenceConfig) -> None:
    lines = [
        "# Written by bench/calibrate.py --write: the decision's logistic model, fitted on the dev",
        "# sets pooled (see the script for the cross-validated figures). Refit after changing the",
        "# embedding model or the corpus a lot.",
        "[confidence]",
        f"bias = {cfg.bias!r}",
        f"threshold = {cfg.threshold!r}",
        "",
        "[confidence.weights]",
        *(f"{name} = {weight!r}" for name, weight in cfg.weights),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
