"""bench/reader/train.py end to end on its committed fixture: runs, resumes, refuses a
foreign checkpoint, and writes reader weights that load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.common import ROOT

torch = pytest.importorskip("torch")

TRAIN = ROOT / "bench" / "reader" / "train.py"


def _train(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TRAIN), "--fixture", "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.model
def test_fixture_training_runs_resumes_and_loads(tmp_path: Path) -> None:
    from index.embedding.e5_reader import load_reader

    out = tmp_path / "run"
    first = _train(out, "--max-steps", "3")
    assert first.returncode == 0, first.stderr
    assert (out / "checkpoint.npz").exists()
    second = _train(out, "--max-steps", "6")
    assert second.returncode == 0, second.stderr
    assert "resuming at step 3" in second.stdout
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]  # the second run continued, it did not start over
    result = json.loads(second.stdout.strip().splitlines()[-1])
    assert result["steps"] == 6
    assert all(np.isfinite(json.loads(line)["loss"]) for line in (out / "log.jsonl").read_text().splitlines())
    assert (out / "reader.npz").stat().st_size < 5_000_000
    reader, e5, meta = load_reader(out / "reader.npz")
    assert meta["layers"] == 2
    seqs = [e5.pair_ids("query: Qual é a capital de Portugal?", f"passage: {t}", 48) for t in ("Lisboa.", "Porto.")]
    with torch.inference_mode():
        logits = reader(*e5.batch(seqs))
    assert logits.shape == (2,) and torch.isfinite(logits).all() and float(logits.abs().sum()) > 0
    # A checkpoint from other settings is refused, not silently mixed in.
    other = _train(out, "--max-steps", "6", "--rank", "4")
    assert other.returncode != 0 and "outra configuração" in other.stderr


@pytest.mark.model
def test_init_continues_a_trained_reader_and_refuses_another_shape(tmp_path: Path) -> None:
    from index.embedding.e5_reader import read_reader_file

    first = _train(tmp_path / "a", "--max-steps", "3")
    assert first.returncode == 0, first.stderr
    start = json.loads(first.stdout.strip().splitlines()[-1])["after"]
    second = _train(tmp_path / "b", "--max-steps", "1", "--init", str(tmp_path / "a" / "reader.npz"))
    assert second.returncode == 0, second.stderr
    # It starts where the first run ended (same validation figures before any step), not from zero.
    before = json.loads(second.stdout.strip().splitlines()[-1])["before"]
    assert before["val_loss"] == pytest.approx(start["val_loss"], rel=1e-5) and before["val_auc"] != 0.5
    meta, _ = read_reader_file(tmp_path / "b" / "reader.npz")
    assert len(meta["settings"]["init"]) == 64  # the starting file, by sha256
    other = _train(tmp_path / "c", "--max-steps", "1", "--rank", "4", "--init", str(tmp_path / "a" / "reader.npz"))
    assert other.returncode != 0 and "outras camadas, posto ou alvos" in other.stderr


def test_caps_override_the_default_pairs_per_source(tmp_path: Path) -> None:
    probe = (
        "import json, sys; sys.path.insert(0, 'bench/reader'); import train; "
        "print(json.dumps(train.source_caps(sys.argv[1])))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, "squad-sentence=20000, assin=0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    caps = json.loads(run.stdout)
    assert caps["squad-sentence"] == 20000 and caps["assin"] == 0
    assert caps["milkqa"] == 2000  # untouched sources keep data.DEFAULT_CAPS
    # A source that does not exist, or a count that is not one, is refused before anything runs.
    unknown = _train(tmp_path / "a", "--caps", "faquad=100")
    assert (
        unknown.returncode == 2
        and "fonte desconhecida 'faquad'" in unknown.stderr
        and "squad-sentence" in unknown.stderr
    )
    bad = _train(tmp_path / "b", "--caps", "milkqa=muitos")
    assert bad.returncode == 2 and "fonte=N" in bad.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
