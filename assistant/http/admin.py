"""Reindex jobs: POST /v1/admin/reindex (and BPA_REINDEX_SCHEDULE, assistant.http.schedule)
run a Reindexer in a background thread.

The server does not reload anything itself: the service picks up a newly published
snapshot on its own.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Depends, Path

from assistant.http.errors import ApiError
from assistant.http.job_files import Heartbeat, JobFiles, now_iso
from assistant.http.schemas import ErrorResponse, ReindexAccepted, ReindexStatus
from assistant.privacy import mask_pii
from index.errors import ExitCode
from index.settings import Settings

logger = logging.getLogger("bpa.http.admin")

JobStatus = Literal["running", "succeeded", "failed"]

# Settings the ingest child must share with this server (they may not come from the environment).
_INGEST_SETTINGS = (
    "data_dir",
    "sources",
    "glossary",
    "keep_snapshots",
    "embedder",
    "model_path",
    "embed_batch_size",
    "chunk_max_tokens",
    "chunk_overlap_tokens",
    "golden",
    "gate_max_drop",
)
# `bpa ingest`'s exit code when another process holds the ingest lock: another replica is
# re-indexing, which is not a failure.
INGEST_BUSY_EXIT = ExitCode.BUSY


@dataclass(frozen=True)
class ReindexResult:
    ok: bool
    exit_code: int
    summary: str


class Reindexer(Protocol):
    def __call__(self) -> ReindexResult: ...


class SubprocessReindexer:
    """Runs ``python -m bpa ingest`` with this process' environment and settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        command: list[str] | None = None,
        timeout: float | None = 3600.0,
        tail_lines: int = 20,
    ) -> None:
        self.settings = settings
        self.command = command or [sys.executable, "-m", "bpa", "ingest"]
        self.timeout = timeout
        self.tail_lines = tail_lines

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        values = self.settings.model_dump(include=set(_INGEST_SETTINGS))
        for name, value in values.items():
            if value is not None:
                env["BPA_" + name.upper()] = str(value)
        return env

    def __call__(self) -> ReindexResult:
        return self._run(self.command)

    def run_job(self, files: FilePath, job_id: str) -> ReindexResult:
        """Run under assistant.http.reindex_child, which outlives this process if it must:
        the job's outcome lands in ``files`` even when this replica is killed meanwhile."""
        supervisor = [sys.executable, "-m", "assistant.http.reindex_child", str(files), job_id, str(self.tail_lines)]
        return self._run([*supervisor, "--", *self.command])

    def _run(self, command: list[str]) -> ReindexResult:
        try:
            done = subprocess.run(
                command,
                env=self.environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ReindexResult(False, -1, f"A reindexação passou de {self.timeout:.0f} s e foi interrompida.")
        except OSError as exc:
            return ReindexResult(False, -1, f"Não foi possível iniciar a reindexação: {exc}")
        tail = "\n".join(done.stdout.splitlines()[-self.tail_lines :])
        return ReindexResult(done.returncode == 0, done.returncode, mask_pii(tail))


class JobAlreadyRunning(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class ReindexJobs:
    """At most one job at a time; keeps the last ``history`` jobs for status queries.

    With ``files`` (``data_dir/reindex-jobs``), every job's state and outcome are also on
    disk, so any replica sharing the data directory reports any job, after the replica that
    started it is gone; a job whose processes all died is reported failed (job_files).
    ``on_finish`` is told about every finished job (metrics)."""

    def __init__(
        self,
        reindexer: Reindexer,
        history: int = 20,
        on_finish: Callable[[ReindexStatus], None] | None = None,
        files: JobFiles | None = None,
    ) -> None:
        self._reindexer = reindexer
        self._history = history
        self._on_finish = on_finish
        self._files = files
        self._jobs: OrderedDict[str, ReindexStatus] = OrderedDict()
        self._running: str | None = None
        self._last: ReindexStatus | None = None
        self._lock = threading.Lock()

    @property
    def last_finished(self) -> ReindexStatus | None:
        """The most recently finished job, whoever started it (None: none since start)."""
        with self._lock:
            last, running = self._last, self._running
        stored = self._files.last_finished() if self._files is not None else None
        if stored is not None and stored.job_id == running:
            stored = None  # its supervisor wrote it first: reported here once this replica is done with it
        if stored is not None and (last is None or (stored.finished_at or "") > (last.finished_at or "")):
            return stored
        return last

    def start(self) -> ReindexStatus:
        with self._lock:
            if self._running is not None:
                raise JobAlreadyRunning(self._running)
            job = ReindexStatus(job_id=uuid.uuid4().hex, status="running", started_at=now_iso())
            self._remember(job)
            self._running = job.job_id
        if self._files is not None:
            self._files.write(job)
        threading.Thread(target=self._run, args=(job.job_id,), name=f"reindex-{job.job_id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> ReindexStatus | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and self._files is not None:
            job = self._files.read(job_id)  # started by another replica, or before a restart
        return job

    def _remember(self, job: ReindexStatus) -> None:
        self._jobs[job.job_id] = job
        while len(self._jobs) > self._history:
            self._jobs.popitem(last=False)

    def _run(self, job_id: str) -> None:
        logger.info("reindexação %s iniciada", job_id)
        try:
            result = self._reindex(job_id)
        except Exception:
            logger.error("reindexação %s falhou\n%s", job_id, mask_pii(traceback.format_exc()))
            result = ReindexResult(False, -1, "Erro inesperado ao reindexar; veja o log do servidor.")
        status: JobStatus = "succeeded" if result.ok else "failed"
        with self._lock:
            job = self._jobs[job_id].model_copy(
                update={
                    "status": status,
                    "finished_at": now_iso(),
                    "summary": result.summary,
                    "exit_code": result.exit_code,
                }
            )
            self._remember(job)
            self._running = None
            self._last = job
        if self._files is not None:
            self._files.write(job)
        logger.info("reindexação %s terminou: %s (código %s)", job_id, status, result.exit_code)
        if self._on_finish is not None:
            self._on_finish(job)

    def _reindex(self, job_id: str) -> ReindexResult:
        if self._files is None:
            return self._reindexer()
        with Heartbeat(self._files, job_id):
            # A reindexer that can run under a supervisor process (SubprocessReindexer) does:
            # the outcome is then recorded even if this replica dies first.
            run_job = getattr(self._reindexer, "run_job", None)
            if run_job is not None:
                result: ReindexResult = run_job(self._files.directory, job_id)
                return result
            return self._reindexer()


def build_admin_router(jobs: ReindexJobs, guard: Callable[..., None]) -> APIRouter:
    """The admin routes behind ``guard`` (security.make_admin_guard)."""
    router = APIRouter(
        prefix="/v1/admin",
        tags=["admin"],
        dependencies=[Depends(guard)],
        responses={401: {"model": ErrorResponse, "description": "Token ausente ou inválido."}},
    )

    @router.post(
        "/reindex",
        status_code=202,
        response_model=ReindexAccepted,
        summary="Reindexa a documentação (roda `bpa ingest` em segundo plano)",
        responses={409: {"model": ErrorResponse, "description": "Já há uma reindexação em andamento."}},
    )
    def start_reindex() -> ReindexAccepted:
        try:
            job = jobs.start()
        except JobAlreadyRunning as running:
            raise ApiError(
                409, "reindex_running", f"Já há uma reindexação em andamento (job {running.job_id})."
            ) from None
        return ReindexAccepted(job_id=job.job_id)

    @router.get(
        "/reindex/{job_id}",
        response_model=ReindexStatus,
        summary="Estado de uma reindexação",
        responses={404: {"model": ErrorResponse, "description": "Job desconhecido."}},
    )
    def reindex_status(job_id: Annotated[str, Path(max_length=64)]) -> ReindexStatus:
        job = jobs.get(job_id)
        if job is None:
            raise ApiError(404, "unknown_job", "Reindexação não encontrada (job_id desconhecido).")
        return job

    return router
