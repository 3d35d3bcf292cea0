"""Snapshots: what is written is what is read; publish is atomic; retention keeps the current one."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.service import Assistant
from assistant.types import Ask
from index.embedding.fake import FakeEmbedder
from index.errors import NoSnapshotError, SnapshotError
from index.models import Block, Document, Section
from index.settings import Settings
from index.snapshot import DocumentRecord, Snapshot, SnapshotStore, SourceStatus
from index.units import UNITS_VERSION, split_units, unit_embed_texts
from ingest.chunk import ChunkingConfig, chunk_document
from tests.support.common import strip_unit_vectors, write_before_prepared


def _doc(doc_id: str, text: str) -> Document:
    root = Section(
        "Manual", children=[Section("Prazos de atendimento", anchor="prazos", blocks=[Block("paragraph", text)])]
    )
    return Document(id=doc_id, source="s", key=doc_id, title="Manual", url=f"https://h/{doc_id}", content_hash=doc_id,
                    root=root)  # fmt: skip


def _publish(store: SnapshotStore, texts: list[str], parent: str | None = None) -> str:
    emb = FakeEmbedder()
    writer = store.writer(emb.model_id, emb.dim, {"fingerprint": "x"})
    for i, text in enumerate(texts):
        doc = _doc(f"d{i}", text)
        chunks = chunk_document(doc, ChunkingConfig())
        vectors = emb.embed([c.embed_text for c in chunks], "passage")
        units = [emb.embed(unit_embed_texts(c), "passage") for c in chunks]
        writer.add(DocumentRecord.from_document(doc), chunks, vectors, units)
    return writer.publish({"s": SourceStatus("ok", len(texts))}, parent=parent).id


def test_round_trip(data_dir: Path) -> None:
    store = SnapshotStore(data_dir)
    with pytest.raises(NoSnapshotError):
        store.open_current()
    sid = _publish(store, ["O prazo de aceite é de dez dias.", "Clientes parados exigem contato telefônico."])
    snap = store.open_current()
    assert snap.id == sid and snap.manifest.documents == 2 and len(snap.passage_matrix()[0]) == 2
    assert sorted(c.text for c in snap.all_chunks().values())[0].startswith("Clientes parados")
    query = FakeEmbedder().embed(["Manual › Prazos de atendimento\nO prazo de aceite é de dez dias."], "query")[0]
    top, cosine = snap.dense(query, 2)[0]
    assert "dez dias" in snap.chunks([top])[top].text and cosine == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(np.linalg.norm(snap.vector(top)), 1.0, rtol=1e-5)
    record = snap.document("d0")
    assert record is not None and record.outline == [
        {"title": "Prazos de atendimento", "path": "Manual › Prazos de atendimento", "anchor": "prazos"}
    ]


def _tables(snapshot_dir: Path) -> set[str]:
    with sqlite3.connect(snapshot_dir / "index.sqlite") as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_one_lexical_index_no_fts_table(data_dir: Path) -> None:
    # BM25F is computed in memory by assistant.answering.retrieval; the snapshot keeps no second one.
    store = SnapshotStore(data_dir)
    sid = _publish(store, ["Clientes parados exigem contato telefônico."])
    tables = _tables(store.root / sid)
    assert {"documents", "chunks", "units"} <= tables
    assert not [t for t in tables if "fts" in t]


def test_snapshot_written_with_an_fts_table_still_opens(data_dir: Path, settings: Settings) -> None:
    # Snapshots from before the FTS5 table was dropped: an extra table and an "analyzer" key.
    store = SnapshotStore(data_dir)
    sid = _publish(store, ["O prazo de aceite é de dez dias.", "Clientes parados exigem contato telefônico."])
    path = store.root / sid
    with sqlite3.connect(path / "index.sqlite") as db:
        db.execute('CREATE VIRTUAL TABLE chunks_fts USING fts5(section, body, tokenize = "unicode61")')
        db.execute("INSERT INTO chunks_fts (rowid, section, body) SELECT rowid, section_path, text FROM chunks")
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    (path / "manifest.json").write_text(json.dumps({**manifest, "analyzer": "pt-snowball-2"}), encoding="utf-8")
    assert store.manifest(sid).documents == 2
    hits = Assistant(settings, FakeEmbedder()).search("cliente parado telefone", k=1)
    assert "telefônico" in hits[0].text


def test_mismatched_vectors_are_refused(data_dir: Path) -> None:
    store = SnapshotStore(data_dir)
    writer = store.writer("m", 4, {})
    doc = _doc("d", "texto")
    with pytest.raises(SnapshotError):
        writer.add(
            DocumentRecord.from_document(doc), chunk_document(doc, ChunkingConfig()), np.zeros((0, 4), np.float32), []
        )
    writer.abort()
    assert not list((data_dir / "snapshots").glob(".tmp-*"))


def test_retention_never_deletes_the_current_snapshot(data_dir: Path) -> None:
    store = SnapshotStore(data_dir, keep=2)
    ids = [_publish(store, [f"versão {i}"]) for i in range(3)]
    assert store.ids() == ids[1:]
    store.rollback(ids[1])
    ids.append(_publish(store, ["versão 3"]))
    assert store.current_id() == ids[3] and store.ids() == ids[2:]
    with pytest.raises(SnapshotError):
        store.set_current("nao-existe")


def test_unit_vectors_round_trip_in_chunk_and_unit_order(data_dir: Path) -> None:
    store = SnapshotStore(data_dir)
    texts = ["O prazo de aceite é de dez dias. Depois disso, o ticket fecha.", "Ligue para o cliente parado."]
    _publish(store, texts)
    snap = store.open_current()
    assert snap.manifest.units_version == UNITS_VERSION and snap.manifest.units == 3
    units = snap.all_units()
    assert units is not None
    owners, positions, vectors = units
    assert positions.tolist() == [0, 1, 0] and owners[0] == owners[1] != owners[2]
    chunk = snap.chunks([int(owners[0])])[int(owners[0])]
    assert split_units(chunk.text) == ["O prazo de aceite é de dez dias.", "Depois disso, o ticket fecha."]
    expected = FakeEmbedder().embed(unit_embed_texts(chunk), "passage")
    np.testing.assert_allclose(vectors[:2], expected, rtol=1e-5)
    np.testing.assert_allclose(snap.units_of(int(owners[0])), expected, rtol=1e-5)


def test_unit_vectors_must_match_the_chunk_units(data_dir: Path) -> None:
    store = SnapshotStore(data_dir)
    emb = FakeEmbedder()
    writer = store.writer(emb.model_id, emb.dim, {})
    doc = _doc("d", "Uma frase. Outra frase.")
    chunks = chunk_document(doc, ChunkingConfig())
    one_unit = [emb.embed(["só uma"], "passage") for _ in chunks]
    with pytest.raises(SnapshotError, match="2 units but 1 unit vectors"):
        writer.add(DocumentRecord.from_document(doc), chunks, emb.embed([c.embed_text for c in chunks], "passage"),
                   one_unit)  # fmt: skip
    writer.abort()


def test_snapshot_without_unit_vectors_still_opens(data_dir: Path) -> None:
    """Snapshots written before unit vectors existed keep serving (and rollback to them works)."""
    store = SnapshotStore(data_dir)
    sid = _publish(store, ["Ligue para o cliente parado."])
    strip_unit_vectors(data_dir / "snapshots" / sid)
    snap = store.open_current()
    assert snap.unit_vectors is None and snap.all_units() is None and snap.units_of(1) is None
    assert len(snap.passage_matrix()[0]) == 1


def test_a_snapshot_stores_the_passage_vectors_once(data_dir: Path) -> None:
    store = SnapshotStore(data_dir)
    texts = ["O prazo de aceite é de dez dias.", "Clientes parados exigem contato telefônico."]
    sid = _publish(store, texts)
    path = store.root / sid
    assert not list(path.glob("*.faiss"))  # the vectors live in prepared/ only
    snap = store.open_current()
    rowids, matrix = snap.passage_matrix()
    chunks = snap.chunks(rowids.tolist())
    expected = FakeEmbedder().embed([chunks[int(r)].embed_text for r in rowids], "passage")
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(snap.vector(int(rowids[1])), expected[1])
    np.testing.assert_array_equal(snap.passage_vectors(rowids[::-1]), expected[::-1])
    with pytest.raises(SnapshotError, match="sem vetor"):
        snap.passage_vectors(np.array([999]))


def test_a_snapshot_with_its_vectors_in_faiss_files_still_opens_and_serves(data_dir: Path, settings: Settings) -> None:
    store = SnapshotStore(data_dir)
    sid = _publish(store, ["O prazo de aceite é de dez dias.", "Clientes parados exigem contato telefônico."])
    new = store.open(sid)
    rowids, matrix = (np.array(a) for a in new.passage_matrix())
    new.close()
    write_before_prepared(store.root / sid)
    old = store.open(sid)
    assert (store.root / sid / "vectors.faiss").exists() and old.manifest.prepared is None
    got_rowids, got = old.passage_matrix()
    np.testing.assert_array_equal(got_rowids, rowids)
    np.testing.assert_array_equal(got, matrix)
    np.testing.assert_array_equal(old.vector(int(rowids[0])), matrix[0])
    assert old.dense(matrix[1], 1)[0][0] == rowids[1]
    hits = Assistant(settings, FakeEmbedder()).search("cliente parado telefone", k=1)
    assert "telefônico" in hits[0].text


def test_a_snapshot_without_any_passage_vectors_is_refused(data_dir: Path) -> None:
    store = SnapshotStore(data_dir)
    sid = _publish(store, ["O prazo de aceite é de dez dias."])
    (store.root / sid / "prepared" / "vectors.npy").unlink()
    with pytest.raises(SnapshotError, match=r"sem prepared/vectors\.npy"):
        store.open(sid)


def _republish(store: SnapshotStore, texts: list[str], model_id: str, previous: Snapshot | None) -> dict[str, Any]:
    emb = FakeEmbedder()
    writer = store.writer(model_id, emb.dim, {"fingerprint": "x"}, previous)
    for i, text in enumerate(texts):
        doc = _doc(f"d{i}", text)
        chunks = chunk_document(doc, ChunkingConfig())
        units = [emb.embed(unit_embed_texts(c), "passage") for c in chunks]
        writer.add(DocumentRecord.from_document(doc), chunks, emb.embed([c.embed_text for c in chunks], "passage"),
                   units)  # fmt: skip
    return writer.publish({"s": SourceStatus("ok", len(texts))}, None).hubs


def test_the_writer_reuses_hub_neighbours_only_from_a_snapshot_of_the_same_model(data_dir: Path) -> None:
    store = SnapshotStore(data_dir)
    words = "prazo aceite cliente parado ticket contato telefone nota fiscal estoque pedido rotina".split()
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(words, 6)) + "." for _ in range(30)]
    _publish(store, texts)
    model_id = FakeEmbedder().model_id
    same = _republish(store, [*texts[:29], "Clientes parados exigem contato."], model_id, store.open_current())
    assert same["reused"] + same["searched"] == 30 and same["searched"] < 15
    other = _republish(store, texts, "outro-modelo", store.open_current())
    assert other == {"method": "exact", "reused": 0, "searched": 30}
    assert _republish(store, texts, "outro-modelo", None) == other  # no previous snapshot: the same


def test_many_units_are_stored_as_float16_and_read_as_float32(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.prepared as prepared
    from ingest.pipeline import run_ingest

    questions = ["cliente parado, o que faço?", "quantas interações públicas posso fazer sem ligar?",
                 "Qual o horário do atendimento do suporte?", "Quando transferir um ticket?"]  # fmt: skip
    answers = {}
    for dtype, minimum in (("float32", 10**9), ("float16", 0)):
        monkeypatch.setattr(prepared, "UNITS_FLOAT16_MIN", minimum)
        s = settings.model_copy(update={"data_dir": tmp_path / dtype})
        run_ingest(s, FakeEmbedder())
        snap = SnapshotStore(s.data_dir).open_current()
        assert np.load(snap.path / "prepared" / "units.npy", mmap_mode="r").dtype == np.dtype(dtype)
        assert snap.manifest.retrieval["units_dtype"] == dtype
        units = snap.units_by_chunk()
        assert units is not None and all(v.dtype == np.float32 for v in units.values())
        assistant = Assistant(s, FakeEmbedder())
        answers[dtype] = [assistant.ask(Ask(q)) for q in questions]
        if dtype == "float16":  # an incremental ingest reuses float16 units like any others
            assert run_ingest(s, FakeEmbedder(), full=False).embedded_units == 0
    for a, b in zip(answers["float32"], answers["float16"], strict=True):
        assert (a.outcome, [line.text for line in a.lines]) == (b.outcome, [line.text for line in b.lines])
