"""GET /v1/admin/report: the maintainers' gap report (assistant.maintenance.report), behind the admin token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from assistant.http.errors import ApiError
from assistant.http.schemas import ErrorResponse
from assistant.maintenance.report import GapReport, ReportError

# The page is self-contained: nothing may be fetched, no script runs. Inline styles only
# (matplotlib's SVG carries style attributes).
REPORT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Reporter = Callable[[str], GapReport]


def build_report_router(reporter: Reporter, guard: Callable[..., None]) -> APIRouter:
    router = APIRouter(
        prefix="/v1/admin",
        tags=["admin"],
        dependencies=[Depends(guard)],
        responses={401: {"model": ErrorResponse, "description": "Token ausente ou inválido."}},
    )

    @router.get(
        "/report",
        response_model=GapReport,
        summary="Relatório de lacunas da documentação (JSON, HTML ou Markdown)",
        responses={
            200: {"content": {"text/html": {}, "text/markdown": {}}},
            422: {"model": ErrorResponse, "description": "Período ou formato inválido."},
            503: {"model": ErrorResponse, "description": "Nenhum índice publicado."},
        },
    )
    def gap_report(
        since: Annotated[str, Query(max_length=16, description="Período: número + h, d ou w (ex.: 7d).")] = "7d",
        format: Annotated[Literal["json", "html", "md"], Query(description="Formato da resposta.")] = "json",
    ) -> GapReport | Response:
        try:
            report = reporter(since)
        except ReportError as e:
            raise ApiError(422, "invalid_period", str(e), field="since") from None
        # Renderers imported on use: matplotlib takes a while to load and most apps never need it.
        if format == "html":
            from assistant.maintenance.report_html import render_html

            return HTMLResponse(render_html(report), headers=REPORT_HEADERS)
        if format == "md":
            from assistant.maintenance.report_text import render_markdown

            return PlainTextResponse(render_markdown(report), media_type="text/markdown", headers=REPORT_HEADERS)
        return report

    return router
