"""Fit the decision's probability on both dev sets pooled, and report it cross-validated.

    BPA_EMBEDDER=e5 .venv/bin/python bench/calibrate.py [--write] [--questions A.jsonl B.jsonl]

Each question goes through the production pipeline once (``Assistant.run``: retrieve →
rerank → evidence → decide → compose); the trace gives the decision's features
(assistant/answering/decide.py) and the label, "the composed answer contains a gold phrase"
(False for every question the page does not answer). A logistic regression (L2, Platt
scaling on the features) is fitted on the pooled questions, and measured where it was not
fitted:

- leave-one-set-out: fit on dev, measure on dev-blind, and the reverse;
- 5-fold: the pooled questions in 5 folds (each set spread over the folds).

For each, per set: unanswerable declined, answerable declined, answer-hit, ECE (10 bins),
at the fixed threshold 0.5 (answer when more likely right than wrong: no constant is
chosen for a gap in the scores). ``--write`` stores the pooled fit in corpus/calibration.toml,
which the assistant reads at start (setting BPA_CALIBRATION).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from assistant.answering.calibration import load_calibration, write_calibration
from assistant.answering.decide import FEATURES, ConfidenceConfig, Decision, decide
from assistant.maintenance.evaluation import calibration, composed_hit, load_questions
from assistant.service import Assistant
from assistant.types import Ask
from index.embedding.factory import make_embedder
from index.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SETS = [ROOT.parent / "shared" / "eval" / "dev.jsonl", ROOT.parent / "shared" / "eval" / "dev-blind.jsonl"]
L2 = 1.0  # ridge on standardized features: 94 questions, a handful of features


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2) -> ConfidenceConfig:
    """Logistic regression on standardized features, returned on the raw scale."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1 / (1 + np.exp(-(z @ w[1:] + w[0])))
        nll = -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)).sum() + l2 * (w[1:] ** 2).sum()
        grad = np.concatenate([[(p - y).sum()], z.T @ (p - y) + 2 * l2 * w[1:]])
        return float(nll), grad

    w = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B").x
    weights = w[1:] / sd
    bias = float(w[0] - (weights * mu).sum())
    return ConfidenceConfig(weights=tuple((f, round(float(c), 6)) for f, c in zip(FEATURES, weights, strict=True)),
                            bias=round(bias, 6))  # fmt: skip


def measure(rows: list[dict], cfgs: list[ConfidenceConfig]) -> dict[str, float]:
    """The decision's figures on ``rows``, each decided with its own config (a fold's fit)."""
    decisions: list[Decision] = [decide(r["signals"], c, r["has_line"]) for r, c in zip(rows, cfgs, strict=True)]
    ans = [(r, d) for r, d in zip(rows, decisions, strict=True) if r["answerable"]]
    unans = [(r, d) for r, d in zip(rows, decisions, strict=True) if not r["answerable"]]
    ece, _ = calibration([d.probability for d in decisions], [r["right"] for r in rows])
    return {
        "declined_unanswerable": sum(d.outcome != "answer" for _, d in unans) / max(1, len(unans)),
        "declined_answerable": sum(d.outcome != "answer" for _, d in ans) / max(1, len(ans)),
        "answer_hit": sum(d.outcome == "answer" and r["right"] for r, d in ans) / max(1, len(ans)),
        "first_line_hit": sum(d.outcome == "answer" and r["lead_hit"] for r, d in ans) / max(1, len(ans)),
        "ece": ece,
    }


def collect(assistant: Assistant, paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        for q in load_questions(path):
            trace = assistant.trace(Ask(q.question))
            right, lead_hit = composed_hit(trace, q.gold)
            rows.append({
                "set": path.stem, "id": q.id, "answerable": q.answerable, "right": right, "lead_hit": lead_hit,
                "signals": trace.signals, "has_line": bool(trace.composed.lines),
                "x": [trace.signals.features()[f] for f in FEATURES],
            })  # fmt: skip
    return rows


def _fit_rows(rows: list[dict]) -> ConfidenceConfig:
    return fit(np.array([r["x"] for r in rows]), np.array([float(r["right"]) for r in rows]))


def _measure_one(rows: list[dict], name: str, cfg: ConfidenceConfig) -> dict[str, float]:
    subset = [r for r in rows if r["set"] == name]
    return measure(subset, [cfg] * len(subset))


def _table(title: str, per_set: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'conjunto':<12}{'recusa s/c':>12}{'recusa ind.':>12}{'acerto':>9}{'1ª linha':>10}{'ECE':>8}")
    for name, m in per_set.items():
        print(f"{name:<12}{m['declined_unanswerable']:>12.3f}{m['declined_answerable']:>12.3f}"
              f"{m['answer_hit']:>9.3f}{m['first_line_hit']:>10.3f}{m['ece']:>8.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", nargs="+", type=Path, default=SETS)
    parser.add_argument("--write", action="store_true", help="write the pooled fit to the calibration file")
    args = parser.parse_args()
    settings = Settings()
    assistant = Assistant(settings, make_embedder(settings))
    rows = collect(assistant, args.questions)
    names = sorted({r["set"] for r in rows}, key=[p.stem for p in args.questions].index)

    pooled = _fit_rows(rows)
    print("ajuste conjunto (todas as perguntas):", dict(pooled.weights), "bias", pooled.bias)
    _table("no próprio ajuste (in-sample)", {n: _measure_one(rows, n, pooled) for n in names})

    if len(names) > 1:
        loso = {}
        for held in names:
            cfg = _fit_rows([r for r in rows if r["set"] != held])
            loso[held] = _measure_one(rows, held, cfg)
        _table("deixando um conjunto de fora (ajuste no outro)", loso)

    rng = np.random.default_rng(0)
    folds: list[list[int]] = [[] for _ in range(5)]
    for n in names:  # each set spread over the folds
        idx = [i for i, r in enumerate(rows) if r["set"] == n]
        for j, i in enumerate(rng.permutation(idx)):
            folds[j % 5].append(int(i))
    predicted: dict[int, ConfidenceConfig] = {}
    for fold in folds:
        cfg = _fit_rows([r for i, r in enumerate(rows) if i not in set(fold)])
        for i in fold:
            predicted[i] = cfg
    cv = {}
    for n in names:
        idx = [i for i, r in enumerate(rows) if r["set"] == n]
        cv[n] = measure([rows[i] for i in idx], [predicted[i] for i in idx])
    _table("validação cruzada, 5 partes (conjuntos misturados)", cv)
    current = assistant.components.abstaining
    _table("configuração em uso", {n: _measure_one(rows, n, current) for n in names})
    upper = {n: sum(r["right"] for r in rows if r["set"] == n and r["answerable"]) for n in names}
    print(
        "\nteto (resposta composta contém o gold, sem recusar nada):",
        {n: round(upper[n] / max(1, sum(r["answerable"] for r in rows if r["set"] == n)), 3) for n in names},
    )
    if args.write:
        current_file = load_calibration(settings.calibration)  # keep any [fusion] / [compose] overrides
        write_calibration(settings.calibration, dataclasses.replace(current_file, confidence=pooled))
        print(f"gravado em {settings.calibration}")
    if math.isnan(pooled.bias):
        raise SystemExit("ajuste falhou")


if __name__ == "__main__":
    main()
