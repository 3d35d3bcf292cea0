"""Hub baselines updated from the previous snapshot's neighbour lists equal a full search."""

from __future__ import annotations

import numpy as np
import pytest

import index.hubs as hubs


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _corpus(rng: np.random.Generator, n: int, d: int = 24) -> np.ndarray:
    """Clustered unit vectors (neighbourhoods worth the name), with near-copies: rows 1-3 of
    row 0, and a tenth of the rows copies of another row plus noise."""
    centres = rng.standard_normal((max(2, n // 40), d))
    m = centres[rng.integers(len(centres), size=n)] + 0.6 * rng.standard_normal((n, d))
    m[1:4] = m[0] + 1e-3 * rng.standard_normal((3, d))
    copies = rng.choice(np.arange(4, n), n // 10, replace=False)
    m[copies] = m[rng.integers(n, size=len(copies))] + 1e-3 * rng.standard_normal((len(copies), d))
    return _unit(m)


def _edit(
    rng: np.random.Generator, old: np.ndarray, removed: int, changed: int, added: int
) -> tuple[np.ndarray, hubs.HubReuse]:
    """A new corpus from ``old``: some rows removed, some changed (a new vector), some added,
    the new rows among the kept ones; and what the writer would reuse of ``old``."""
    n = len(old)
    gone = rng.choice(n, removed + changed, replace=False)
    kept = np.setdiff1d(np.arange(n), gone)
    fresh = _corpus(rng, added + changed)
    # A few of the new passages are near-copies of kept ones (skipped as neighbours).
    fresh[:3] = _unit(old[kept[:3]] + 1e-3 * rng.standard_normal((3, old.shape[1])))
    slots = np.sort(rng.choice(len(kept) + len(fresh), len(fresh), replace=False))
    new_rows = np.setdiff1d(np.arange(len(kept) + len(fresh)), slots)
    matrix = np.empty((len(kept) + len(fresh), old.shape[1]), dtype=np.float32)
    matrix[new_rows], matrix[slots] = old[kept], fresh
    return matrix, hubs.HubReuse(hubs.hub_neighbours(old)[0], kept, new_rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_hub_baselines_equal_the_exact_full_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    old = _corpus(rng, 600)
    matrix, reuse = _edit(rng, old, removed=12, changed=6, added=20)
    full, full_done = hubs.hub_neighbours(matrix)
    incremental, done = hubs.hub_neighbours(matrix, reuse=reuse)
    np.testing.assert_array_equal(incremental.baseline(), full.baseline())
    np.testing.assert_array_equal(incremental.cosines, full.cosines)
    assert full_done["method"] == done["method"] == "exact" and full_done["searched"] == len(matrix)
    # Most kept passages kept their neighbours; only the rest and the new ones were searched.
    assert done["reused"] > len(matrix) // 2 and done["reused"] + done["searched"] == len(matrix)
    # The definition, straight: the mean of the five highest cosines with every other passage.
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -1.0)
    sims[sims > hubs.DUPLICATE_COSINE] = -1.0
    np.testing.assert_allclose(incremental.baseline(), np.sort(sims, axis=1)[:, -5:].mean(axis=1), rtol=1e-5)


def test_successive_incremental_publishes_stay_equal_to_full_ones() -> None:
    rng = np.random.default_rng(3)
    matrix = _corpus(rng, 400)
    lists = hubs.hub_neighbours(matrix)[0]
    for _ in range(3):  # each publish reuses the lists the previous incremental one stored
        matrix, reuse = _edit(rng, matrix, removed=8, changed=4, added=10)
        reuse.previous = lists
        lists, done = hubs.hub_neighbours(matrix, reuse=reuse)
        assert done["reused"] > len(matrix) // 2
        np.testing.assert_array_equal(lists.baseline(), hubs.hub_neighbours(matrix)[0].baseline())


def test_a_kept_passage_gains_a_new_neighbour_nearer_than_its_old_ones() -> None:
    rng = np.random.default_rng(7)
    old = _corpus(rng, 300)
    before = hubs.hub_neighbours(old)[0]
    # A new passage between row 10 and its nearest: it must enter row 10's neighbours.
    row = 10
    near = _unit((old[row] + old[before.rows[row, 0]])[None, :] + 0.05 * rng.standard_normal((1, old.shape[1])))
    matrix = np.concatenate([old, near])
    reuse = hubs.HubReuse(before, np.arange(len(old)), np.arange(len(old)))
    after, done = hubs.hub_neighbours(matrix, reuse=reuse)
    assert len(old) in after.rows[row] and done["searched"] == 1
    np.testing.assert_array_equal(after.baseline(), hubs.hub_neighbours(matrix)[0].baseline())


def test_incremental_knn_hub_baselines_match_the_full_knn_search(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hubs, "HUB_EXACT_MAX", 100)  # the k-NN path (a flat index: exact neighbours)
    rng = np.random.default_rng(4)
    old = _corpus(rng, 500)
    matrix, reuse = _edit(rng, old, removed=10, changed=5, added=15)
    assert not reuse.previous.exact
    full, _ = hubs.hub_neighbours(matrix)
    incremental, done = hubs.hub_neighbours(matrix, reuse=reuse)
    assert done["method"] == "knn" and done["reused"] > len(matrix) // 2
    np.testing.assert_array_equal(incremental.baseline(), full.baseline())


def test_many_new_passages_are_compared_through_an_ivf_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hubs, "HUB_EXACT_MAX", 100)
    monkeypatch.setattr(hubs, "_HUB_NEW_FLAT_PAIRS", 0)  # kept x new through IVF
    rng = np.random.default_rng(11)
    old = _corpus(rng, 1500)
    matrix, reuse = _edit(rng, old, removed=100, changed=100, added=1000)
    full, _ = hubs.hub_neighbours(matrix)
    incremental, done = hubs.hub_neighbours(matrix, reuse=reuse)
    assert done["reused"] > 0
    got, want = incremental.baseline(), full.baseline()
    # As good as the approximate search: most baselines the same, none far off.
    assert np.mean(got == want) > 0.9 and np.abs(got - want).max() < 0.05


def test_approximate_lists_are_not_reused_for_an_exact_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    old = _corpus(rng, 200)
    monkeypatch.setattr(hubs, "HUB_EXACT_MAX", 100)
    approximate = hubs.hub_neighbours(old)[0]
    monkeypatch.setattr(hubs, "HUB_EXACT_MAX", 20_000)
    reuse = hubs.HubReuse(approximate, np.arange(len(old)), np.arange(len(old)))
    _, done = hubs.hub_neighbours(old, reuse=reuse)
    assert done == {"method": "exact", "reused": 0, "searched": len(old)}


def test_tiny_corpora_keep_the_exact_definition() -> None:
    rng = np.random.default_rng(6)
    for n in (0, 1, 2, 4, 6):
        m = _unit(rng.standard_normal((n, 8))) if n else np.zeros((0, 8), dtype=np.float32)
        got = hubs.hub_baseline(m)
        if n < 2:
            assert got.tolist() == [0.0] * n
            continue
        sims = m @ m.T
        np.fill_diagonal(sims, -1.0)
        k = min(hubs.HUB_K, n - 1)
        np.testing.assert_allclose(got, np.sort(sims, axis=1)[:, -k:].mean(axis=1), rtol=1e-5)


def test_knn_path_finds_neighbours_for_passages_with_many_near_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    # Boilerplate repeated in more documents than the k-NN search returns: every neighbour
    # it finds is a near-copy (skipped). Searched again over all passages, those passages
    # get their real neighbourhood, as on the exact path, never a missing baseline.
    rng = np.random.default_rng(7)
    m = _corpus(rng, 400)
    boiler = rng.standard_normal(m.shape[1])
    m[:60] = _unit(boiler + 1e-3 * rng.standard_normal((60, m.shape[1])))
    exact, _ = hubs.hub_neighbours(m)
    monkeypatch.setattr(hubs, "HUB_EXACT_MAX", 10)
    knn, done = hubs.hub_neighbours(m)
    assert done["method"] == "knn"
    assert (knn.rows[:60] >= 0).all()
    np.testing.assert_allclose(knn.baseline()[:60], exact.baseline()[:60], rtol=1e-5)
