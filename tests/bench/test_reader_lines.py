"""bench/reader/lines.py: its figures on line choices built here."""

from __future__ import annotations

import numpy as np
import pytest

from bench.reader.lines import Choice, figures


def choice(
    right: list[bool], hand: list[float], reader: list[float], *, lead: bool, fact: list[bool] | None = None
) -> Choice:
    n = len(right)
    return Choice(
        lead, any(right), right, np.array(hand), np.array(reader), fact or [True] * n, [0] * n, list(range(n))
    )


def test_figures_count_each_way_of_choosing_a_line() -> None:
    rows = [
        # The hand score leads with the wrong line; the reader reads the right one.
        choice([False, True], [0.9, 0.8], [-2.0, 3.0], lead=False),
        # No candidate line: counted, never right.
        choice([], [], [], lead=False),
        # A fact is asked: the reader's favourite does not hold it, so it may not lead.
        choice([True, False], [0.2, 0.9], [5.0, 1.0], lead=False, fact=[False, True]),
    ]
    out = figures(rows)
    assert out["oracle"] == pytest.approx(2 / 3)
    assert out["hand"] == 0.0
    assert out["reader"] == pytest.approx(1 / 3)
    assert out["n in passage"] == 2
    assert out["in passage: reader"] == pytest.approx(1 / 2)  # the fact rule holds inside the passage too
    assert out["in passage: hand"] == 0.0
    # The fact rule leaves the third question's passage one line, the wrong one.
    assert out["in passage: first"] == 0.0
    # z-scored blends: with two lines the reader's margin decides as soon as its weight is 1 or more.
    assert out["blend 2"] == pytest.approx(1 / 3)
