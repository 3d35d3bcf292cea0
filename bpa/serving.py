"""Commands that serve: the HTTP API and web page, Slack, and `bpa run`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bpa.app import (
    EXIT_CONFIG,
    _assistant,
    _fail,
    _settings,
    app,
    out,
)
from bpa.ingesting import _ingest
from bpa.output import when
from index.errors import BpaError
from index.settings import Settings

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
