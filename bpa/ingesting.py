"""Commands that build and manage the index: ingest, index info/list/rollback, sources check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from bpa.app import (
    EXIT_BUSY,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_NO_INDEX,
    _fail,
    _settings,
    app,
    err,
    index_app,
    out,
    sources_app,
)
from bpa.output import gate_cell, gate_line, print_manifest, print_records, print_wrapped, source_line, when
from index.errors import BpaError
from index.settings import Settings

# --------------------------------------------------------------------------------------
# ingest


@app.command()
def ingest(
    sources: Annotated[Path | None, typer.Option(help="Arquivo de fontes (padrão: BPA_SOURCES).")] = None,
    full: Annotated[bool, typer.Option(help="Reprocessa e reembeda tudo.")] = False,
    source: Annotated[str | None, typer.Option(help="Reindexa só esta fonte.")] = None,
    force: Annotated[
        bool, typer.Option(help="Publica mesmo que o portão de avaliação (BPA_GOLDEN) recuse o snapshot.")
    ] = False,
) -> None:
    """Indexa as fontes e publica um novo snapshot (incremental), se passar no portão de avaliação."""
    _ingest(_settings(sources), full=full, source=source, force=force)


def _ingest(
    settings: Settings, *, full: bool = False, source: str | None = None, embedder: Any = None, force: bool = False
) -> None:
    """Run an ingest; ``embedder`` is the model already loaded by the caller, if any."""
    from assistant.maintenance.evaluation import EvalError, load_questions
    from index.embedding.factory import make_embedder
    from ingest.pipeline import IngestBusy, run_ingest
    from ingest.sources import ConfigError

    try:
        from ingest.sources import load_sources

        load_sources(settings.sources)  # fail fast, before loading the model
        golden = load_questions(settings.golden) if settings.golden.exists() else None
        if golden is None:
            err.print(f"[yellow]aviso:[/] portão de avaliação desligado: {escape(str(settings.golden))} não existe")
        embedder = embedder or make_embedder(settings)
        gate = _gate(settings, embedder, golden, force) if golden is not None else None
        with _progress() as progress, _ingest_warnings():
            report = run_ingest(settings, embedder, only_source=source, full=full, progress=progress, gate=gate)
    except (ConfigError, EvalError) as e:
        raise _fail(str(e), EXIT_CONFIG) from None
    except IngestBusy as e:
        raise _fail(str(e), EXIT_BUSY) from None
    except BpaError as e:
        raise _fail(str(e), EXIT_FAILED) from None
    _print_ingest_report(report)
    if report.rejected_id is not None:
        raise _fail(_rejection(report, golden or []), EXIT_FAILED)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _gate(settings: Settings, embedder: Any, golden: list[Any], force: bool) -> Any:
    from assistant.maintenance.gate import EvaluationGate

    return EvaluationGate(settings, embedder, golden, force=force)


def _rejection(report: Any, golden: list[Any]) -> str:
    """The pt-BR refusal: why, which questions broke, what is served, how to override."""
    gate = report.gate
    asked = {q.id: q.question for q in golden}
    broken = "; ".join(f"{qid} ({asked.get(qid, '?')})" for qid in gate.broken) or "nenhuma pergunta isolada"
    served = f"o snapshot {report.snapshot_id} continua publicado" if report.snapshot_id else "nada foi publicado"
    return (
        f"o portão de avaliação recusou o snapshot {report.rejected_id}: {'; '.join(gate.reasons)}. "
        f"Perguntas que quebraram: {escape(broken)}. {served[0].upper()}{served[1:]}; o recusado aparece em "
        f"`bpa index list`. Corrija a documentação (ou {escape(gate.golden)}) ou publique mesmo assim com "
        "`bpa ingest --force`."
    )


class _ingest_warnings:
    """Show what the sources log as warnings (a skipped redirect, a replaced link), masked."""

    def __enter__(self) -> None:
        import logging

        from rich.markup import escape

        from assistant.privacy import mask_pii

        class Show(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                err.print(f"[yellow]aviso:[/] {escape(mask_pii(record.getMessage()))}", highlight=False)

        self.logger = logging.getLogger("ingest")
        self.handler = Show(logging.WARNING)
        self.logger.addHandler(self.handler)

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)


class _progress:
    """A rich progress bar fed by the pipeline's (stage, done, total) callback."""

    def __enter__(self) -> Any:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err)
        self.bar.start()
        self.tasks: dict[str, Any] = {}
        labels = {"fetch": "fontes", "embed": "embeddings (trechos)", "embed-units": "embeddings (frases)"}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in self.tasks:
                self.tasks[stage] = self.bar.add_task(labels.get(stage, stage), total=total)
            self.bar.update(self.tasks[stage], completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def _print_ingest_report(report: Any) -> None:
    columns = ("novos", "alterados", "inalterados", "removidos", "falhas", "chunks", "embeddings", "frases",
               "segundos")  # fmt: skip
    counts = (report.new, report.changed, report.unchanged, report.removed, report.failed, report.chunks,
              report.embedded, report.embedded_units)  # fmt: skip
    row = [*(str(x) for x in counts), f"{report.seconds:.1f}"]
    print_records(out, "Resumo da indexação", columns, [row], numeric=columns)
    for name, status in report.sources.items():
        out.print(Text(f"fonte {name}: {source_line(status)}", style="red" if status.error else ""), soft_wrap=True)
    for e in report.errors:
        err.print(Text.assemble(("falha:", "red"), f" {e}"))
    if report.gate is not None:
        print_wrapped(out, f"portão de avaliação: {gate_line(report.gate)}", hang="  ")
    if report.published:
        out.print(f"snapshot publicado: [bold]{report.snapshot_id}[/]")
    elif report.rejected_id is not None:
        out.print(f"snapshot recusado (não publicado): [bold]{report.rejected_id}[/]")
    elif report.snapshot_id:
        out.print(f"nada mudou (0 embeddings); snapshot {report.snapshot_id} continua publicado")


# --------------------------------------------------------------------------------------
# index


@index_app.command("info")
def index_info(as_json: Annotated[bool, typer.Option("--json", help="Saída JSON (o manifesto).")] = False) -> None:
    """Mostra o snapshot publicado."""
    from index.snapshot import SnapshotStore

    settings = _settings()
    store = SnapshotStore(settings.data_dir, settings.keep_snapshots)
    current = store.current_id()
    if current is None:
        raise _fail("nenhum índice publicado ainda; rode `bpa ingest`", EXIT_NO_INDEX)
    m = store.manifest(current)
    if as_json:
        sys.stdout.write(m.to_json() + "\n")
    else:
        print_manifest(out, m, current=True)


@index_app.command("list")
def index_list() -> None:
    """Lista os snapshots guardados (para rollback)."""
    from index.snapshot import SnapshotStore

    settings = _settings()
    store = SnapshotStore(settings.data_dir, settings.keep_snapshots)
    current = store.current_id()
    rows = []
    for sid in reversed(store.ids()):
        m = store.manifest(sid)
        rows.append(["*" if sid == current else "", sid, when(m.created_at), m.model_id, str(m.documents),
                     str(m.chunks), gate_cell(m.gate)])  # fmt: skip
    # Ids are typed back into `rollback --to`: never cut (print_records falls back to one block per snapshot).
    columns = ("", "id", "criado em (UTC)", "modelo", "docs", "chunks", "portão r@5/acerto")
    print_records(out, "Snapshots (* = publicado)", columns, rows, keys=2, numeric=("docs", "chunks"))
    rejected = [store.rejected_manifest(sid) for sid in reversed(store.rejected_ids())]
    if rejected:
        rows = [["rejeitado", m.id, when(m.created_at), m.model_id, str(m.documents), str(m.chunks),
                 gate_cell(m.gate)] for m in rejected]  # fmt: skip
        print_records(out, "Snapshots rejeitados pelo portão (não publicados)", columns, rows, keys=2,
                      numeric=("docs", "chunks"))  # fmt: skip


@index_app.command("rollback")
def index_rollback(
    to: Annotated[str | None, typer.Option(help="Id do snapshot (padrão: o anterior).")] = None,
) -> None:
    """Volta o snapshot publicado para um anterior."""
    from index.snapshot import SnapshotStore
    from ingest.pipeline import IngestBusy, ingest_lock

    settings = _settings()
    try:
        with ingest_lock(settings.data_dir):  # an ingest publishing meanwhile would undo it
            sid = SnapshotStore(settings.data_dir, settings.keep_snapshots).rollback(to)
    except IngestBusy as e:
        raise _fail(str(e), EXIT_BUSY) from None
    except BpaError as e:
        raise _fail(str(e), EXIT_FAILED) from None
    out.print(f"snapshot publicado agora: [bold]{sid}[/]")


# --------------------------------------------------------------------------------------
# sources


@sources_app.command("check")
def sources_check(sources: Annotated[Path | None, typer.Option(help="Arquivo de fontes.")] = None) -> None:
    """Valida o arquivo de fontes e testa o acesso a cada fonte, sem indexar."""
    from ingest.check import check_sources
    from ingest.sources import ConfigError

    settings = _settings(sources)
    try:
        results = check_sources(settings)
    except ConfigError as e:
        raise _fail(str(e), EXIT_CONFIG) from None
    bad = 0
    for name, ok, detail in results:
        out.print(f"{'[green]ok[/]' if ok else '[red]falhou[/]'}  {escape(name)}: {escape(detail)}", soft_wrap=True)
        bad += 0 if ok else 1
    if bad:
        raise typer.Exit(EXIT_FAILED)
