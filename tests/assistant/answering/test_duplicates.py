"""The same text in two documents counts once in the ranking and is cited together."""

from __future__ import annotations

from pathlib import Path

from assistant.answering.duplicates import merge_copies
from assistant.answering.retrieval import Scored
from assistant.render import citation
from assistant.service import Assistant
from assistant.types import Ask
from index.embedding.fake import FakeEmbedder
from index.models import Chunk
from index.settings import Settings
from ingest.pipeline import run_ingest

RULE = "Não deve haver mais do que 3 interações públicas no ticket sem contato telefônico com o cliente."


def _scored(rowid: int, document: str, text: str, score: float) -> Scored:
    chunk = Chunk(f"c{rowid}", document, rowid, ("Seção",), "secao", f"https://x/{document}#secao", text)
    return Scored(rowid=rowid, chunk=chunk, score=score)


def test_a_copy_in_another_document_folds_into_the_first_occurrence() -> None:
    ranked = [
        _scored(1, "tdn", RULE, 3.0),
        _scored(2, "kcs", "Cliente parado: ligue para o cliente.", 2.5),
        _scored(3, "kcs", RULE.replace("telefônico", "telefonico") + " ", 2.0),  # the copy, accents aside
    ]
    merged = merge_copies(ranked)
    assert [r.rowid for r in merged] == [1, 2]
    assert [c.rowid for c in merged[0].copies] == [3]


def test_a_sentence_repeated_in_one_document_and_different_texts_stay_apart() -> None:
    ranked = [_scored(1, "tdn", RULE, 3.0), _scored(2, "tdn", RULE, 2.0), _scored(3, "kcs", "Outro assunto.", 1.0)]
    assert [r.rowid for r in merge_copies(ranked)] == [1, 2, 3]


def test_the_answer_cites_the_copy_together(tmp_path: Path, settings: Settings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("tdn", "kcs"):
        (docs / f"{name}.html").write_text(
            f"<html><head><title>{name.upper()}</title></head><body><h1>Interações</h1><p>{RULE}</p>"
            f"<h1>Outro {name}</h1><p>Texto próprio de {name} sobre outro procedimento qualquer.</p></body></html>",
            encoding="utf-8",
        )
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[source]]\nname = "a"\ntype = "files"\npath = "docs/tdn.html"\n\n'
        '[[source]]\nname = "b"\ntype = "files"\npath = "docs/kcs.html"\n',
        encoding="utf-8",
    )
    settings = settings.model_copy(update={"sources": sources})
    run_ingest(settings, FakeEmbedder())
    assistant = Assistant(settings, FakeEmbedder())
    trace = assistant.trace(Ask("quantas interações públicas sem contato telefônico?"))
    same = [r for r in trace.ranked if RULE in r.chunk.text]
    assert len(same) == 1 and len(same[0].copies) == 1
    assert {same[0].chunk.document_id, same[0].copies[0].chunk.document_id} == {
        r.chunk.document_id for r in trace.retrieved if RULE in r.chunk.text
    }
    cited = citation(assistant.current(), 1, same[0], RULE)
    assert [link.document_id for link in cited.also_in] == [same[0].copies[0].chunk.document_id]
    assert cited.also_in[0].url.startswith("http")
