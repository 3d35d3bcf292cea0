"""Scheduled re-indexing: BPA_REINDEX_SCHEDULE starts the admin API's reindex job on a cron.

croniter computes the times (no hand-written cron parser); a daemon thread waits for the
next one and starts a job through ReindexJobs, so a scheduled run and one asked for through
the API never overlap in this process. Across replicas the ingest lock serialises them:
the replicas that find it held end with `bpa ingest`'s "busy" exit code, which is not
counted as a failure (admin.INGEST_BUSY_EXIT).

Times are in UTC. A run missed while the process was down (or still running the previous
job) is not replayed: the schedule goes on from the next time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

from assistant.http.admin import JobAlreadyRunning, ReindexJobs

logger = logging.getLogger("bpa.http.schedule")

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ReindexSchedule:
    """Starts ``jobs`` at the times of ``expression`` (validated by Settings)."""

    def __init__(self, expression: str, jobs: ReindexJobs, *, clock: Clock = _utcnow, max_sleep: float = 30.0) -> None:
        self.expression = expression
        self.jobs = jobs
        self.clock = clock
        # Waits are cut into short naps that re-read the clock: a clock that jumps (NTP, a
        # suspended VM, a test) is followed within max_sleep.
        self.max_sleep = max_sleep
        self.next_run = self.after(clock())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after(self, moment: datetime) -> datetime:
        return croniter(self.expression, moment).get_next(datetime)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bpa-reindex-schedule", daemon=True)
        self._thread.start()
        logger.info("reindexação agendada (%s); próxima: %s", self.expression, self.next_run.isoformat())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def tick(self) -> bool:
        """Start the job if it is due; True when a run was due (started or skipped)."""
        now = self.clock()
        if now < self.next_run:
            return False
        try:
            job = self.jobs.start()
            logger.info("reindexação agendada iniciada: job %s", job.job_id)
        except JobAlreadyRunning as running:
            logger.warning("reindexação agendada pulada: o job %s ainda está em andamento", running.job_id)
        self.next_run = self.after(now)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.tick():
                wait = (self.next_run - self.clock()).total_seconds()
                self._stop.wait(min(max(wait, 0.0), self.max_sleep))
