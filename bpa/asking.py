"""Commands that ask: search, ask, eval, the gap report and glossary suggestions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from bpa.app import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_NO_INDEX,
    _assistant,
    _fail,
    _print_json,
    _settings,
    app,
    err,
    glossary_app,
    out,
)
from bpa.output import print_url, print_wrapped
from index.errors import BpaError, NoSnapshotError, StorageError

# --------------------------------------------------------------------------------------
# questions


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
    from assistant.maintenance.evaluation import EvalError, load_questions, run_eval
    from bpa.output import print_eval_report

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
        print_eval_report(result, out)


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
