"""The composition of the HTTP service: create_app(settings, service, reindexer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from assistant.http.admin import (
    INGEST_BUSY_EXIT,
    Reindexer,
    ReindexJobs,
    SubprocessReindexer,
    build_admin_router,
)
from assistant.http.api import build_api_router
from assistant.http.errors import UnexpectedErrorMiddleware, install_error_handlers
from assistant.http.job_files import JobFiles
from assistant.http.kcs import build_kcs_router, install_kcs_error_handlers
from assistant.http.metrics import Metrics, MetricsMiddleware
from assistant.http.ops import build_ops_router
from assistant.http.pages import STATIC_DIR, build_pages_router
from assistant.http.report import Reporter, build_report_router
from assistant.http.schedule import ReindexSchedule
from assistant.http.schemas import ReindexStatus
from assistant.http.security import (
    BodySizeLimitMiddleware,
    SlidingWindowLimiter,
    install_access_log_masking,
    install_cors,
    install_trusted_proxies,
    make_admin_guard,
    make_client_guard,
    warn_if_exposed,
)
from assistant.protocol import AssistantService
from index.settings import Settings

__all__ = ["create_app", "warn_if_exposed"]

# Largest request body accepted: a ticket description (20,000 chars) with room to spare.
MAX_BODY_BYTES = 256 * 1024

DESCRIPTION = """Responde a perguntas dos analistas de suporte TOTVS somente com trechos citados
da documentação de boas práticas. Erros seguem sempre o formato
`{"error": {"code": "...", "message": "..."}}`, com mensagens em pt-BR."""


def _lifespan(
    schedule: ReindexSchedule | None, service: AssistantService
) -> Callable[[FastAPI], AsyncIterator[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_access_log_masking()  # after the server has configured its loggers
        if schedule is not None:
            schedule.start()
        try:
            yield
        finally:
            if schedule is not None:
                schedule.stop()
            await asyncio.to_thread(service.close)  # bounded flush, then the store's connections

    return lifespan  # type: ignore[return-value]


def create_app(
    settings: Settings,
    service: AssistantService,
    reindexer: Reindexer | None = None,
    reporter: Reporter | None = None,
) -> FastAPI:
    """Build the app. ``reindexer`` backs /v1/admin/reindex (enabled only when
    settings.admin_token is set) and BPA_REINDEX_SCHEDULE (started with the app's
    lifespan); pass SubprocessReindexer(settings) in production.
    ``reporter`` backs /v1/admin/report (assistant.maintenance.report.GapReporter; without it, no route)."""
    metrics = Metrics()
    jobs: ReindexJobs | None = None
    if settings.admin_token or settings.reindex_schedule:

        def observe(job: ReindexStatus) -> None:
            if job.exit_code != INGEST_BUSY_EXIT:  # another replica holds the lock and runs it
                metrics.observe_reindex(job.status == "succeeded")

        jobs = ReindexJobs(
            reindexer or SubprocessReindexer(settings),
            on_finish=observe,
            files=JobFiles(settings.data_dir / "reindex-jobs"),
        )
    schedule = ReindexSchedule(settings.reindex_schedule, jobs) if settings.reindex_schedule and jobs else None
    # /docs and /redoc load Swagger UI and ReDoc from this server (assets shipped in the
    # fastapi-offline package), not from a CDN: they work on an offline network.
    app = FastAPIOffline(
        title="bpa — Boas Práticas Assistant",
        version="1",
        description=DESCRIPTION,
        lifespan=_lifespan(schedule, service),
        static_url="/docs/assets",
    )
    limiter = SlidingWindowLimiter(settings.rate_limit_per_minute)
    guard = make_client_guard(settings, limiter)

    install_error_handlers(app)
    install_kcs_error_handlers(app)
    app.include_router(build_ops_router(service, metrics, jobs))
    app.include_router(build_api_router(settings, service, metrics, guard))
    app.include_router(build_kcs_router(service, guard))
    if settings.admin_token and jobs is not None:
        admin_guard = make_admin_guard(settings, limiter)
        app.include_router(build_admin_router(jobs, admin_guard))
        if reporter is not None:
            app.include_router(build_report_router(reporter, admin_guard))
    app.include_router(build_pages_router(service))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Added innermost first: trusted proxies wrap CORS, which wraps metrics, which wraps the
    # body limit and the 500 shield.
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_cors(app, settings)
    install_trusted_proxies(app, settings)  # outermost: every layer sees the real client
    app.state.metrics = metrics
    app.state.reindex_schedule = schedule
    app.state.rate_limiter = limiter
    return app
