"""The CLI's base: the typer apps, the consoles, exit codes, and the helpers every command uses
(Settings from the environment, errors as pt-BR messages and exit codes)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from index.errors import ExitCode
from index.settings import Settings

# Model weights come from installed packages, never from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EXIT_FAILED = ExitCode.FAILED  # ran, but something failed (a document, a source)
EXIT_CONFIG = ExitCode.CONFIG  # invalid input: sources file, arguments
EXIT_NO_INDEX = ExitCode.NO_INDEX
EXIT_BUSY = ExitCode.BUSY

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


def _assistant(settings: Settings, embedder: Any = None) -> Any:
    from assistant.service import Assistant
    from index.embedding.factory import make_embedder

    return Assistant(settings, embedder or make_embedder(settings))
