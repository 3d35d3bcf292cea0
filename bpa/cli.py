"""`bpa`: the command-line edge and composition root.

It builds Settings once, wires the packages together and translates domain errors into
pt-BR messages and exit codes. Nothing imports this module.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from bpa.output import gate_cell, gate_line, print_manifest, print_records, print_url, print_wrapped, source_line, when
from index.errors import BpaError, NoSnapshotError, StorageError
from index.settings import Settings

# Model weights come from installed packages, never from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EXIT_FAILED = 1  # ran, but something failed (a document, a source)
EXIT_CONFIG = 2  # invalid input: sources file, arguments
EXIT_NO_INDEX = 3
EXIT_BUSY = 4

app = typer.Typer(help="bpa — Boas Práticas Assistant", no_args_is_help=True, add_completion=False)
index_app = typer.Typer(help="Snapshots do índice: info, lista, rollback.", no_args_is_help=True)
sources_app = typer.Typer(help="Arquivo de fontes.", no_args_is_help=True)
glossary_app = typer.Typer(help="Glossário de expansão de consultas.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(sources_app, name="sources")
app.add_typer(glossary_app, name="glossary")
out = Console()
err = Console(stderr=True, soft_wrap=True)


def _settings(sources: Path | None = None, **fields: Any) -> Settings:
    """Settings from the environment (plus ``fields``); invalid values end the command."""
    try:
        settings = Settings(**fields)
    except ValidationError as e:
        problems = []
        for error in e.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            # A validator's own (pt-BR) message, without pydantic's "Value error, " prefix.
            detail = str(error.get("ctx", {}).get("error") or error["msg"])
            problems.append(f"BPA_{field.upper()}: {detail}")
        raise _fail("configuração inválida: " + "; ".join(problems), EXIT_CONFIG) from None
    if sources is not None:
        settings = settings.model_copy(update={"sources": sources})
    return settings


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]erro:[/] {message}")
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


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


# --------------------------------------------------------------------------------------
# questions


def _assistant(settings: Settings, embedder: Any = None) -> Any:
    from assistant.service import Assistant
    from index.embedding.factory import make_embedder

    return Assistant(settings, embedder or make_embedder(settings))


@app.command()
def search(
    texto: str,
    k: Annotated[int, typer.Option("-k", help="Quantos trechos.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Saída JSON.")] = False,
) -> None:
    """Mostra os trechos mais relevantes para um texto."""
    from assistant.errors import InvalidQuestion

    settings = _settings()
    try:
        hits = _assistant(settings).search(texto, k=k)
    except InvalidQuestion as e:
        raise _fail(e.message, EXIT_CONFIG) from None
    except NoSnapshotError as e:
        raise _fail(str(e), EXIT_NO_INDEX) from None
    if as_json:
        _print_json([h.model_dump() for h in hits])
        return
    for i, h in enumerate(hits, 1):
        print_wrapped(out, f"{i}. {h.section}  ({h.score:.3f})", hang="   ", style="bold")
        print_wrapped(out, h.text if len(h.text) <= 300 else h.text[:300].rstrip() + "…", indent="   ")
        print_url(out, h.url, indent="   ")
        out.print()


@app.command()
def ask(
    pergunta: str,
    as_json: Annotated[bool, typer.Option("--json", help="Saída JSON.")] = False,
) -> None:
    """Responde a uma pergunta com trechos citados da documentação."""
    from assistant.errors import InvalidQuestion
    from assistant.types import Ask

    settings = _settings()
    try:
        answer = _assistant(settings).ask(Ask(pergunta, channel="cli"))
    except InvalidQuestion as e:
        raise _fail(e.message, EXIT_CONFIG) from None
    except NoSnapshotError as e:
        raise _fail(str(e), EXIT_NO_INDEX) from None
    if as_json:
        _print_json(answer.model_dump())
        return
    print_wrapped(out, answer.answer)
    out.print()
    for c in answer.citations or answer.suggestions:
        print_wrapped(out, f"[{c.n}] {c.title} › {c.section}", hang="    ", style="bold")
        print_url(out, c.url, indent="    ")
    if not answer.abstained:  # words, not a percentage: the number is a probability, not a grade
        out.print(f"\n[dim]confiança {answer.confidence_label} · snapshot {answer.snapshot}[/]")


@app.command("eval")
def evaluate(
    questions: Annotated[Path, typer.Option(help="Arquivo JSONL de perguntas.")],
    k: Annotated[int, typer.Option("-k", help="Profundidade do recall.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Saída JSON.")] = False,
) -> None:
    """Mede recall, MRR, acerto das respostas e abstenção num conjunto de perguntas."""
    from assistant.maintenance.evaluation import EvalError, load_questions, print_report, run_eval

    settings = _settings()
    try:
        items = load_questions(questions)
        result = run_eval(settings, _assistant(settings), items, k=k)
    except EvalError as e:
        raise _fail(str(e), EXIT_CONFIG) from None
    except NoSnapshotError as e:
        raise _fail(str(e), EXIT_NO_INDEX) from None
    if as_json:
        _print_json(result)
    else:
        print_report(result, out)


# --------------------------------------------------------------------------------------
# maintenance


def _gap_report(period: str) -> Any:
    """The gap report of ``period`` (assistant.maintenance.report), domain errors turned into exits."""
    from assistant.maintenance.report import GapReporter, ReportError

    settings = _settings()
    try:
        return GapReporter(settings, _assistant(settings))(period)
    except ReportError as e:
        raise _fail(str(e), EXIT_CONFIG) from None
    except NoSnapshotError as e:
        raise _fail(str(e), EXIT_NO_INDEX) from None
    except BpaError as e:
        raise _fail(str(e), EXIT_FAILED) from None


@app.command()
def report(
    since: Annotated[str, typer.Option(help="Período: número + h, d ou w (ex.: 7d, 24h, 4w).")] = "7d",
    fmt: Annotated[str, typer.Option("--format", help="html, md ou json.")] = "html",
    out_file: Annotated[Path | None, typer.Option("--out", help="Grava neste arquivo (padrão: a saída).")] = None,
) -> None:
    """Relatório de lacunas: perguntas sem resposta por assunto, 👎, seções, glossário."""
    renderers = {"html", "md", "json"}
    if fmt not in renderers:
        raise _fail(f"formato inválido {fmt!r}: use html, md ou json", EXIT_CONFIG)
    gaps = _gap_report(since)
    if fmt == "json":
        text = gaps.model_dump_json(indent=2) + "\n"
    elif fmt == "md":
        from assistant.maintenance.report_text import render_markdown

        text = render_markdown(gaps)
    else:
        from assistant.maintenance.report_html import render_html

        text = render_html(gaps)
    if out_file is None:
        sys.stdout.write(text)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as e:
        raise _fail(str(StorageError(out_file, e)), EXIT_FAILED) from None
    err.print(f"relatório gravado em {escape(str(out_file))}", soft_wrap=True)


@glossary_app.command("suggest")
def glossary_suggest(
    since: Annotated[str, typer.Option(help="Período: número + h, d ou w (ex.: 30d).")] = "30d",
) -> None:
    """Imprime candidatos ao glossário (sintaxe de corpus/glossary.toml) para revisão; não altera nada."""
    from assistant.maintenance.report_text import glossary_toml

    gaps = _gap_report(since)
    sys.stdout.write(glossary_toml(gaps.glossary, gaps.period))


# --------------------------------------------------------------------------------------
# serving


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Endereço (padrão: BPA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Porta (padrão: BPA_PORT).")] = None,
) -> None:
    """Serve a API HTTP, a página web e (se configurado) o Slack em /slack/events."""
    base = _settings()
    # Built anew (not copied) so derived defaults such as public_url follow host and port.
    _serve(_settings(host=host or base.host, port=port or base.port))


def _serve(settings: Settings, embedder: Any = None) -> None:
    import logging

    import uvicorn

    from assistant.http.admin import SubprocessReindexer
    from assistant.http.app import create_app, warn_if_exposed
    from assistant.maintenance.report import GapReporter

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    assistant = _assistant(settings, embedder)
    admin = bool(settings.admin_token)
    reindexer = SubprocessReindexer(settings) if admin or settings.reindex_schedule else None
    web = create_app(settings, assistant, reindexer, GapReporter(settings, assistant) if admin else None)
    try:
        from slack_app import mount

        if mount(web, assistant, settings):
            out.print("Slack: /slack/events ativo")
    except ImportError:
        pass
    warn_if_exposed(settings, logging.getLogger("bpa"))
    schedule = web.state.reindex_schedule
    if schedule is not None:
        out.print(f"Reindexação agendada: {schedule.expression} (UTC; próxima: {when(schedule.next_run.isoformat())})")
    out.print(f"bpa servindo em [bold]http://{settings.host}:{settings.port}/[/] (API em /docs)", soft_wrap=True)
    # proxy_headers=False: uvicorn would trust X-Forwarded-For from 127.0.0.1 by default; the app
    # honours it only from BPA_TRUSTED_PROXIES.
    uvicorn.run(web, host=settings.host, port=settings.port, log_level="info", proxy_headers=False)


@app.command()
def slack() -> None:
    """Roda o bot do Slack em Socket Mode (SLACK_APP_TOKEN e SLACK_BOT_TOKEN)."""
    from slack_app import run_socket_mode

    settings = _settings()
    try:
        run_socket_mode(_assistant(settings), settings)
    except BpaError as e:
        raise _fail(str(e), EXIT_CONFIG) from None


@app.command()
def run() -> None:
    """O trabalho principal: indexa o corpus se não houver índice e serve a API e a página web."""
    from index.embedding.factory import make_embedder
    from index.snapshot import SnapshotStore
    from index.units import UNITS_VERSION

    settings = _settings()
    store = SnapshotStore(settings.data_dir)
    current = store.current_id()
    manifest = store.manifest(current) if current is not None else None
    embedder = make_embedder(settings)  # loaded once: the ingest below and the server share it
    if manifest is None:
        out.print("Nenhum índice ainda: indexando as fontes...")
        _ingest(settings, embedder=embedder)
    elif manifest.model_id != embedder.model_id:
        out.print("O índice foi feito com outro modelo de embedding: reindexando...")
        _ingest(settings, full=True, embedder=embedder)
    elif manifest.units_version != UNITS_VERSION:
        # An index from an older bpa: a plain ingest adds the unit vectors, reusing the rest.
        out.print("O índice não tem os vetores de frases desta versão: atualizando...")
        _ingest(settings, embedder=embedder)
    _serve(settings, embedder)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
