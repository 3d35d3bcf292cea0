"""The supervisor of one reindex job: ``python -m assistant.http.reindex_child JOB_DIR JOB_ID
TAIL_LINES -- COMMAND...``.

It runs COMMAND (``bpa ingest``), touches the job's heartbeat while it runs, writes the
outcome into the job's file when it ends and prints COMMAND's output. The replica that
started it reads that output as before; when that replica is gone (killed mid-reindex), the
outcome is still recorded, and any replica reports it (assistant.http.job_files).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from assistant.http.job_files import Heartbeat, JobFiles, now_iso
from assistant.http.schemas import ReindexStatus
from assistant.privacy import mask_pii


def tail_of(output: str, lines: int) -> str:
    return mask_pii("\n".join(output.splitlines()[-lines:]))


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        print("uso: python -m assistant.http.reindex_child JOB_DIR JOB_ID TAIL_LINES -- COMANDO...", file=sys.stderr)
        return 2
    files, job_id, lines, command = JobFiles(Path(argv[0])), argv[1], int(argv[2]), argv[4:]
    with Heartbeat(files, job_id):
        try:
            done = subprocess.run(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", check=False
            )
            output, code, summary = done.stdout, done.returncode, tail_of(done.stdout, lines)
        except OSError as exc:
            summary = f"Não foi possível iniciar a reindexação: {exc}"
            output, code = summary + "\n", 127
    started = files.read(job_id)
    files.write(
        ReindexStatus(
            job_id=job_id,
            status="succeeded" if code == 0 else "failed",
            started_at=started.started_at if started else now_iso(),
            finished_at=now_iso(),
            summary=summary,
            exit_code=code,
        )
    )
    try:  # the replica that started it may be gone: nobody reads this then
        sys.stdout.write(output)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
