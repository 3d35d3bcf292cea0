"""Snapshots: what is written is what is read; publish is atomic; retention keeps the current one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bpa_testing import strip_unit_vectors

from index.embedding.fake import FakeEmbedder
from index.errors import NoSnapshotError, SnapshotError
from index.models import Block, Document, Section
from index.snapshot import DocumentRecord, SnapshotStore, SourceStatus
from index.textutil import analyze
from index.units import UNITS_VERSION, split_units, unit_embed_texts
from ingest.chunk import ChunkingConfig, chunk_document


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


def test_round_trip_dense_and_lexical(data_dir: Path) -> None:
    store = SnapshotStore(data_dir)
    with pytest.raises(NoSnapshotError):
        store.open_current()
    sid = _publish(store, ["O prazo de aceite é de dez dias.", "Clientes parados exigem contato telefônico."])
    snap = store.open_current()
    assert snap.id == sid and snap.manifest.documents == 2 and snap.vectors.ntotal == 2
    [(rowid, score)] = snap.lexical(analyze("cliente parado telefone"), 1)
    assert "telefônico" in snap.chunks([rowid])[rowid].text and score > 0
    query = FakeEmbedder().embed(["Manual › Prazos de atendimento\nO prazo de aceite é de dez dias."], "query")[0]
    top, cosine = snap.dense(query, 2)[0]
    assert "dez dias" in snap.chunks([top])[top].text and cosine == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(np.linalg.norm(snap.vector(top)), 1.0, rtol=1e-5)
    record = snap.document("d0")
    assert record is not None and record.outline == [
        {"title": "Prazos de atendimento", "path": "Manual › Prazos de atendimento", "anchor": "prazos"}
    ]


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
    assert snap.vectors.ntotal == 1

