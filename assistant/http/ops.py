"""Operations routes: liveness, readiness, Prometheus metrics. Never behind API keys."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from assistant.errors import NO_INDEX_MESSAGE
from assistant.http.admin import ReindexJobs
from assistant.http.errors import error_response
from assistant.http.metrics import Metrics
from assistant.http.schemas import ErrorResponse, HealthResponse, ReadyResponse
from assistant.protocol import AssistantService


def build_ops_router(service: AssistantService, metrics: Metrics, jobs: ReindexJobs | None = None) -> APIRouter:
    """``jobs``: the reindex jobs (admin API, schedule) whose last result /readyz shows."""
    router = APIRouter(tags=["operação"])

    @router.get("/healthz", response_model=HealthResponse, summary="O processo está no ar")
    async def healthz() -> HealthResponse:
        # On the event loop, touching nothing: it answers even when every worker thread waits.
        return HealthResponse()

    @router.get(
        "/readyz",
        response_model=ReadyResponse,
        responses={503: {"model": ErrorResponse, "description": "Nenhum índice publicado."}},
        summary="Há um índice publicado para responder",
    )
    def readyz() -> ReadyResponse | Response:
        snapshot = service.snapshot_id
        if snapshot is None:
            return error_response(503, "no_snapshot", NO_INDEX_MESSAGE)
        # Still 200 when the state store is degraded: every answer is still given, and taking
        # every instance that shares the data directory out of rotation would stop them all.
        # The state is what the background check last saw: this never waits for the store.
        return ReadyResponse(
            snapshot=snapshot,
            state="degraded" if service.state_health.degraded else "ok",
            last_reindex=jobs.last_finished if jobs else None,
        )

    # HEAD too, for load balancers' probes: same status and headers, and (HTTP says so) no body.
    for path, endpoint in (("/healthz", healthz), ("/readyz", readyz)):
        router.add_api_route(
            path,
            endpoint,
            methods=["HEAD"],
            operation_id=f"{endpoint.__name__}_head",
            summary=f"{path} sem corpo (sondas de balanceadores de carga)",
            response_model=None,
            responses={200: {"description": "Pronto/no ar."}, 503: {"description": "Sem índice publicado."}},
        )

    @router.get("/metrics", summary="Métricas Prometheus", response_class=Response)
    def prometheus_metrics() -> Response:
        return Response(metrics.render(service.snapshot_id, service.state_health), media_type=metrics.content_type)

    return router
