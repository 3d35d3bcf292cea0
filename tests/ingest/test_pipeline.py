"""Ingest runs end to end: incremental reuse, bad input, nothing lost, CLI exit codes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from index.snapshot import SnapshotStore
from index.units import split_units
from ingest.pipeline import IngestBusy, ingest_lock, run_ingest
from ingest.sources import ConfigError
from tests.support.common import ROOT, SEED, strip_unit_vectors, write_before_prepared


def _corpus(tmp_path: Path, files: dict[str, str | bytes], extra: str = "") -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    for name, content in files.items():
        p = corpus / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    toml = corpus / "sources.toml"
    toml.write_text('[[source]]\nname = "docs"\ntype = "files"\npath = "*.html"\n' + extra, encoding="utf-8")
    return toml


def _settings(data_dir: Path, sources: Path) -> Settings:
    return Settings(data_dir=data_dir, sources=sources, embedder="fake")


PAGE_A = "<h1>Página A</h1><h2>Seção</h2><p>Texto da página A sobre tickets.</p>"
PAGE_B = "<h1>Página B</h1><h2>Outra</h2><p>Conteúdo da página B sobre clientes.</p>"


def test_second_ingest_embeds_nothing_and_keeps_chunk_ids(settings: Settings) -> None:
    embedder = FakeEmbedder()
    first = run_ingest(settings, embedder)
    assert first.published and first.new == 1 and first.embedded == first.chunks > 50
    assert first.embedded_units > first.chunks
    store = SnapshotStore(settings.data_dir)
    ids_before = sorted(c.id for c in store.open_current().all_chunks().values())
    second = run_ingest(settings, embedder)
    assert second.embedded == 0 and second.embedded_units == 0 and second.unchanged == 1 and not second.published
    assert second.snapshot_id == first.snapshot_id
    third = run_ingest(settings, embedder, full=True)  # a forced rebuild keeps ids too
    assert third.published and third.embedded == third.chunks and third.embedded_units == first.embedded_units
    assert sorted(c.id for c in store.open_current().all_chunks().values()) == ids_before


def test_manifest_records_model_chunking_and_sources(settings: Settings) -> None:
    report = run_ingest(settings, FakeEmbedder())
    m = SnapshotStore(settings.data_dir).manifest(report.snapshot_id or "")
    assert m.model_id == "fake-hash-64" and m.dim == 64
    assert m.chunking["max_tokens"] == settings.chunk_max_tokens and m.chunking["fingerprint"]
    assert m.sources["boas-praticas"].status == "ok" and m.documents == 1 and m.chunks == report.chunks


def test_edit_reembeds_only_changed_chunks(tmp_path: Path, data_dir: Path) -> None:
    toml = _corpus(tmp_path, {"a.html": PAGE_A, "b.html": PAGE_B})
    s = _settings(data_dir, toml)
    run_ingest(s, FakeEmbedder())
    (toml.parent / "a.html").write_text(PAGE_A.replace("tickets", "chamados"), encoding="utf-8")
    report = run_ingest(s, FakeEmbedder())
    # A one-sentence passage is its own unit: its vector is copied, not embedded again.
    assert (report.changed, report.unchanged, report.embedded, report.embedded_units) == (1, 1, 1, 0)
    snap = SnapshotStore(data_dir).open_current()
    [rowid] = [r for r, c in snap.all_chunks().items() if "chamados" in c.text]
    np.testing.assert_array_equal(snap.units_of(rowid), snap.vector(rowid)[None, :])


def test_snapshot_without_unit_vectors_is_upgraded_reusing_passage_vectors(settings: Settings) -> None:
    embedder = FakeEmbedder()
    first = run_ingest(settings, embedder)
    strip_unit_vectors(settings.data_dir / "snapshots" / (first.snapshot_id or ""))
    upgrade = run_ingest(settings, embedder)
    assert upgrade.published and upgrade.embedded == 0 and upgrade.embedded_units == first.embedded_units
    snap = SnapshotStore(settings.data_dir).open_current()
    every_unit = sum(len(split_units(c.text)) for c in snap.all_chunks().values())
    assert snap.manifest.units == every_unit > upgrade.embedded_units and snap.all_units() is not None
    again = run_ingest(settings, embedder)
    assert not again.published and again.embedded_units == 0


def test_removed_file_disappears(tmp_path: Path, data_dir: Path) -> None:
    toml = _corpus(tmp_path, {"a.html": PAGE_A, "b.html": PAGE_B})
    s = _settings(data_dir, toml)
    run_ingest(s, FakeEmbedder())
    (toml.parent / "b.html").unlink()
    report = run_ingest(s, FakeEmbedder())
    assert report.removed == 1
    titles = [d.title for d in SnapshotStore(data_dir).open_current().documents()]
    assert titles == ["Página A"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "vazio"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binário"),
        ("<html><body></body></html>", "nenhum texto"),
    ],
)
def test_bad_file_is_reported_and_keeps_previous_chunks(
    tmp_path: Path, data_dir: Path, content: str | bytes, reason: str
) -> None:
    toml = _corpus(tmp_path, {"a.html": PAGE_A, "b.html": PAGE_B})
    s = _settings(data_dir, toml)
    run_ingest(s, FakeEmbedder())
    before = {c.id for c in SnapshotStore(data_dir).open_current().all_chunks().values()}
    bad = toml.parent / "b.html"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    (toml.parent / "a.html").write_text(PAGE_A + "<p>Mais um parágrafo.</p>", encoding="utf-8")
    report = run_ingest(s, FakeEmbedder())
    assert report.failed == 1 and not report.ok
    assert any("b.html" in e and reason in e for e in report.errors), report.errors
    snap = SnapshotStore(data_dir).open_current()
    assert {d.title for d in snap.documents()} == {"Página A", "Página B"}  # B carried over
    after = {c.id for c in snap.all_chunks().values()}
    assert len(before & after) >= 1 and after != before  # A changed, B's chunks kept


def test_unreadable_file_is_reported(tmp_path: Path, data_dir: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files regardless of permissions")
    toml = _corpus(tmp_path, {"a.html": PAGE_A})
    (toml.parent / "a.html").chmod(0)
    report = run_ingest(_settings(data_dir, toml), FakeEmbedder())
    assert report.failed == 1 and "não foi possível ler" in report.errors[0]


def test_invalid_sources_file_names_line_and_field(tmp_path: Path, data_dir: Path) -> None:
    toml = tmp_path / "sources.toml"
    toml.write_text(
        '[[source]]\nname = "ok"\ntype = "files"\npath = "x"\n\n'
        '[[source]]\nname = "Mau Nome"\ntype = "files"\npath = "y"\n'
    )
    with pytest.raises(ConfigError, match=r"sources.toml:7: .*campo 'name'"):
        run_ingest(_settings(data_dir, toml), FakeEmbedder())
    toml.write_text('[[source]]\nname = "x"\ntype = "ftp"\n')
    with pytest.raises(ConfigError, match="campo 'type'"):
        run_ingest(_settings(data_dir, toml), FakeEmbedder())
    assert not (data_dir / "snapshots").exists()


def test_concurrent_ingest_is_refused(settings: Settings) -> None:
    with ingest_lock(settings.data_dir), pytest.raises(IngestBusy):
        run_ingest(settings, FakeEmbedder())


def test_retention_and_rollback(tmp_path: Path, data_dir: Path) -> None:
    toml = _corpus(tmp_path, {"a.html": PAGE_A})
    s = _settings(data_dir, toml)
    ids = []
    for i in range(5):
        (toml.parent / "a.html").write_text(PAGE_A + f"<p>versão {i}</p>", encoding="utf-8")
        ids.append(run_ingest(s, FakeEmbedder()).snapshot_id)
    store = SnapshotStore(data_dir, keep=s.keep_snapshots)
    assert store.ids() == ids[-3:] and store.current_id() == ids[-1]
    assert store.rollback() == ids[-2]
    assert "versão 3" in next(iter(store.open_current().all_chunks().values())).text


def _cli(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bpa", *args],
        env=env,
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=120,
        **kw,
    )  # type: ignore[call-overload]


def _env(data_dir: Path, sources: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BPA_DATA_DIR": str(data_dir),
        "BPA_SOURCES": str(sources),
        "BPA_EMBEDDER": "fake",
        "PYTHONPATH": str(ROOT),
    }


def test_cli_exit_codes_and_summary(tmp_path: Path, data_dir: Path) -> None:
    toml = _corpus(tmp_path, {"a.html": PAGE_A, "b.html": ""})
    result = _cli(["ingest"], _env(data_dir, toml))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "b.html" in result.stderr and "vazio" in result.stderr
    assert "novos" in result.stdout and "snapshot publicado" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nname = 1\ntype = "files"\npath = "x"\n')
    result = _cli(["ingest", "--sources", str(bad)], _env(data_dir, toml))
    assert result.returncode == 2 and "bad.toml:2" in result.stderr and "'name'" in result.stderr
    bad.write_text('[[source]]\nname = "x"\n')
    result = _cli(["ingest", "--sources", str(bad)], _env(data_dir, toml))
    assert result.returncode == 2 and "campo 'type': campo obrigatório ausente" in result.stderr


def test_sigkill_mid_ingest_leaves_published_snapshot_intact(tmp_path: Path, data_dir: Path) -> None:
    """Kill a real ingest while it embeds; the previous snapshot must still load."""
    many = {f"p{i}.html": SEED.read_text(encoding="utf-8").replace("Suporte", f"Suporte {i}") for i in range(30)}
    toml = _corpus(tmp_path, {"a.html": PAGE_A})
    env = _env(data_dir, toml)
    assert _cli(["ingest"], env).returncode == 0
    store = SnapshotStore(data_dir)
    published = store.current_id()
    for name, html in many.items():
        (toml.parent / name).write_text(html, encoding="utf-8")
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bpa", "ingest"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if store.current_id() != published:  # it finished before the kill: go again from here
            published = store.current_id()
            for name in many:
                (toml.parent / name).write_text(many[name] + f"<p>{delay}</p>", encoding="utf-8")
            continue
        snap = store.open_current()
        assert snap.id == published and snap.manifest.chunks == len(snap.all_chunks())
        assert len(snap.passage_matrix()[0]) == snap.manifest.chunks
    # the next ingest cleans up after the killed one and succeeds
    assert _cli(["ingest"], env).returncode == 0
    assert not list((data_dir / "snapshots").glob(".tmp-*"))
    shutil.rmtree(toml.parent)


def test_ingest_one_source_carries_the_others_over(tmp_path: Path, data_dir: Path) -> None:
    toml = _corpus(tmp_path, {"a.html": PAGE_A}, extra='\n[[source]]\nname = "outra"\ntype = "files"\npath = "b.htm"\n')
    (toml.parent / "b.htm").write_text(PAGE_B, encoding="utf-8")
    s = _settings(data_dir, toml)
    run_ingest(s, FakeEmbedder())
    (toml.parent / "a.html").write_text(PAGE_A.replace("tickets", "chamados"), encoding="utf-8")
    (toml.parent / "b.htm").write_text(PAGE_B.replace("clientes", "usuários"), encoding="utf-8")
    report = run_ingest(s, FakeEmbedder(), only_source="outra")
    assert report.changed == 1 and report.sources["docs"].status == "skipped"
    texts = " ".join(c.text for c in SnapshotStore(data_dir).open_current().all_chunks().values())
    assert "usuários" in texts and "tickets" in texts and "chamados" not in texts
    with pytest.raises(ConfigError, match="não existe"):
        run_ingest(s, FakeEmbedder(), only_source="nenhuma")


class _RecordingEmbedder(FakeEmbedder):
    """The fake embedder, remembering every batch it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def embed(self, texts: list[str], kind: str) -> np.ndarray:  # type: ignore[override]
        self.batches.append(list(texts))
        return super().embed(texts, kind)  # type: ignore[arg-type]


def test_each_distinct_text_is_embedded_once_longest_first(tmp_path: Path, data_dir: Path) -> None:
    # Two articles from one template: the same boilerplate section, word for word.
    boiler = (
        "<h2>Ambiente</h2><p>Válido para todas as versões. Consulte o catálogo antes de abrir o ticket. "
        "Informe a release e o ambiente.</p>"
    )
    pages = {
        "a.html": f"<h1>Modelo</h1>{boiler}<h2>Solução A</h2><p>Reprocessar a nota. Conferir o log.</p>",
        "b.html": f"<h1>Modelo</h1>{boiler}<h2>Solução B</h2><p>Refazer o cadastro do cliente inteiro.</p>",
    }
    toml = _corpus(tmp_path, pages)
    embedder = _RecordingEmbedder()
    s = Settings(data_dir=data_dir, sources=toml, embedder="fake", embed_batch_size=3)
    report = run_ingest(s, embedder)
    sent = [t for batch in embedder.batches for t in batch]
    assert len(sent) == len(set(sent))  # nothing embedded twice
    snap = SnapshotStore(data_dir).open_current()
    chunks = snap.all_chunks()
    distinct = len({c.embed_text for c in chunks.values()})
    assert report.embedded == len(chunks) > distinct  # the template repeats
    for stage in (sent[:distinct], sent[distinct:]):  # passages, then units
        assert stage and [len(t) for t in stage] == sorted((len(t) for t in stage), reverse=True)
    # Every chunk and unit still got its own text's vector.
    fake = FakeEmbedder()
    for rowid, chunk in chunks.items():
        np.testing.assert_allclose(snap.vector(rowid), fake.embed([chunk.embed_text], "passage")[0], atol=1e-6)
        units = snap.units_of(rowid)
        assert units is not None
        want = fake.embed([f"{chunk.section}\n{u}" for u in split_units(chunk.text)], "passage")
        np.testing.assert_allclose(units, want, atol=1e-6)


_WORDS = (
    "ticket cliente parado contato telefone prazo aceite chamado suporte análise rotina produto versão "
    "patch ambiente banco dados fiscal nota estoque pedido compra venda faturamento título baixa "
    "financeiro contábil folha ponto integração servidor licença acesso usuário senha relatório"
).split()


def _page(rng: np.random.Generator, n: int, sections: int = 5) -> str:
    """A page of ``sections`` sections of random words, and a boilerplate one every page shares."""
    body = "".join(
        f"<h2>Seção {n}.{s}</h2><p>{' '.join(rng.choice(_WORDS, int(rng.integers(8, 20))))}.</p>"
        for s in range(sections)
    )
    return f"<h1>Página {n}</h1>{body}<h2>Contato</h2><p>Abra um chamado no portal do suporte.</p>"


def _hubs(data_dir: Path) -> tuple[dict[str, float], dict[str, Any]]:
    """The published snapshot's hub baseline per chunk id, and how the baselines were found."""
    snap = SnapshotStore(data_dir).open_current()
    p = snap.prepared()
    ids = {rowid: c.id for rowid, c in snap.all_chunks().items()}
    return {ids[int(r)]: float(h) for r, h in zip(p.rowids, p.hub, strict=True)}, snap.manifest.hubs


def test_an_incremental_ingest_gives_the_hub_baselines_of_a_full_one(tmp_path: Path, data_dir: Path) -> None:
    rng = np.random.default_rng(8)
    toml = _corpus(tmp_path, {f"p{n:02d}.html": _page(rng, n) for n in range(12)})
    s = _settings(data_dir, toml)
    first = run_ingest(s, FakeEmbedder())
    assert _hubs(data_dir)[1] == {"method": "exact", "reused": 0, "searched": first.chunks}
    # One page changed (a section rewritten), one removed, one added.
    (toml.parent / "p03.html").write_text(_page(np.random.default_rng(9), 3), encoding="utf-8")
    (toml.parent / "p05.html").unlink()
    (toml.parent / "p12.html").write_text(_page(rng, 12), encoding="utf-8")
    second = run_ingest(s, FakeEmbedder())
    assert (second.changed, second.removed, second.new) == (1, 1, 1)
    incremental, done = _hubs(data_dir)
    assert done["method"] == "exact" and 0 < done["searched"] < second.chunks // 2
    assert done["reused"] + done["searched"] == second.chunks
    run_ingest(s, FakeEmbedder(), full=True)
    full, done = _hubs(data_dir)
    assert done["reused"] == 0 and full == incremental


@pytest.mark.parametrize("format", ["before prepared", "without neighbour lists", "damaged neighbour lists"])
def test_an_ingest_over_an_older_snapshot_computes_every_hub_baseline(
    tmp_path: Path, data_dir: Path, format: str
) -> None:
    rng = np.random.default_rng(10)
    toml = _corpus(tmp_path, {f"p{n:02d}.html": _page(rng, n) for n in range(6)})
    s = _settings(data_dir, toml)
    first = run_ingest(s, FakeEmbedder())
    path = data_dir / "snapshots" / (first.snapshot_id or "")
    if format == "before prepared":
        write_before_prepared(path)
    else:  # what the previous version wrote: prepared/ without the hubs' neighbours; or a damaged file
        with np.load(path / "prepared" / "rows.npz") as z:
            kept = {k: z[k] for k in z.files if not k.startswith("hub_")}
            if format == "damaged neighbour lists":
                kept |= {k: z[k] for k in z.files if k.startswith("hub_")}
                kept["hub_rows"] = kept["hub_rows"] + len(z["rowids"])
        np.savez(path / "prepared" / "rows.npz", **kept)
    (toml.parent / "p02.html").write_text(_page(rng, 2), encoding="utf-8")
    second = run_ingest(s, FakeEmbedder())
    assert second.published and second.embedded < second.chunks  # the vectors were still reused
    incremental, done = _hubs(data_dir)
    assert done == {"method": "exact", "reused": 0, "searched": second.chunks}
    run_ingest(s, FakeEmbedder(), full=True)
    assert _hubs(data_dir)[0] == incremental


def test_snapshot_from_before_hub_neighbour_lists_is_republished_without_embedding(settings: Settings) -> None:
    first = run_ingest(settings, FakeEmbedder())
    store = SnapshotStore(settings.data_dir)
    write_before_prepared(store.root / (first.snapshot_id or ""))
    again = run_ingest(settings, FakeEmbedder())
    assert again.published and again.snapshot_id != first.snapshot_id
    assert again.embedded == 0 and again.embedded_units == 0  # vectors reused
    assert store.open_current().manifest.hubs["searched"] == again.chunks
    assert not run_ingest(settings, FakeEmbedder()).published  # then nothing to do
