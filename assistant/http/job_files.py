"""Reindex jobs on disk (``data_dir/reindex-jobs/``), so any replica reports any job.

Each job is ``<job_id>.json`` (its ReindexStatus, replaced atomically) and, while it runs,
``<job_id>.alive``, whose modification time the processes running it touch every
``HEARTBEAT`` seconds: the replica that started it and the supervisor process
(``assistant.http.reindex_child``) that runs ``bpa ingest`` and writes the outcome even when
that replica is gone. A job still "running" with no heartbeat for ``stale_after`` seconds
had every process running it die: it is reported failed, not running forever.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from assistant.http.schemas import ReindexStatus

log = logging.getLogger("bpa.http.admin")

HEARTBEAT = 5.0  # seconds between touches of a running job's heartbeat
STALE_AFTER = 30.0  # seconds without a heartbeat after which a running job is reported failed
_JOB_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex: never a path

DIED = (
    "O processo que rodava esta reindexação terminou sem registrar o resultado "
    "(réplica ou processo encerrado); rode de novo se o índice não foi publicado."
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class JobFiles:
    def __init__(self, directory: Path, *, stale_after: float = STALE_AFTER, keep: int = 20) -> None:
        self.directory = directory
        self.stale_after = stale_after
        self.keep = keep

    def _path(self, job_id: str, suffix: str) -> Path | None:
        return self.directory / f"{job_id}{suffix}" if _JOB_ID.fullmatch(job_id) else None

    def write(self, job: ReindexStatus) -> None:
        """Record a job's state (atomic); a finished job's heartbeat file is removed.
        Storage failures are logged, not raised: the job itself goes on."""
        path = self._path(job.job_id, ".json")
        if path is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if job.status == "running":
                self.touch(job.job_id)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(job.model_dump_json())
            os.replace(tmp, path)
            if job.status != "running":
                (self.directory / f"{job.job_id}.alive").unlink(missing_ok=True)
                self._prune()
        except OSError as e:
            log.error("estado da reindexação %s não gravado em %s: %s", job.job_id, self.directory, e)

    def touch(self, job_id: str) -> None:
        path = self._path(job_id, ".alive")
        if path is not None:
            try:
                path.touch()
            except OSError as e:
                log.debug("heartbeat da reindexação %s não gravado: %s", job_id, e)

    def read(self, job_id: str) -> ReindexStatus | None:
        path = self._path(job_id, ".json")
        if path is None:
            return None
        try:
            job = ReindexStatus.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, json.JSONDecodeError):
            return None
        return self._judged(job)

    def _judged(self, job: ReindexStatus) -> ReindexStatus:
        if job.status != "running":
            return job
        alive = self.directory / f"{job.job_id}.alive"
        try:
            beat = alive.stat().st_mtime
        except OSError:
            beat = 0.0
        if time.time() - beat <= self.stale_after:
            return job
        return job.model_copy(update={"status": "failed", "summary": DIED, "finished_at": job.finished_at})

    def last_finished(self) -> ReindexStatus | None:
        """The most recently finished job, whichever replica ran it."""
        finished = [j for j in self._all() if j.status != "running" and j.finished_at]
        return max(finished, key=lambda j: j.finished_at or "", default=None)

    def _all(self) -> list[ReindexStatus]:
        if not self.directory.is_dir():
            return []
        jobs = (self.read(p.stem) for p in self.directory.glob("*.json"))
        return [j for j in jobs if j is not None]

    def _prune(self) -> None:
        files = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[self.keep :]:
            old.unlink(missing_ok=True)
            (self.directory / f"{old.stem}.alive").unlink(missing_ok=True)


class Heartbeat:
    """Touches a job's heartbeat every ``interval`` seconds until stopped (a daemon thread)."""

    def __init__(self, files: JobFiles, job_id: str, interval: float = HEARTBEAT) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(files, job_id, interval), daemon=True)

    def _run(self, files: JobFiles, job_id: str, interval: float) -> None:
        while not self._stop.wait(interval):
            files.touch(job_id)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
