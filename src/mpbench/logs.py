"""Logging set-up for workflow jobs: one log file per job, mirrored to stderr, every attempt kept.

Snakemake deletes a job's log before it reruns the job, so the lines before a kill (a SLURM time
limit, a crash) would be lost. Each attempt is therefore also written, line by line, to
``<log>.attempts/<n>.log`` beside the log (not a declared output, so Snakemake leaves it); the
newest :data:`KEEP_ATTEMPTS` attempts are kept, and the job log's first line names the folder.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import sys
from datetime import datetime
from pathlib import Path

KEEP_ATTEMPTS = 10
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def attempts_dir(logfile: str | Path) -> Path:
    """The folder that keeps every attempt's copy of ``logfile``."""
    logfile = Path(logfile)
    return logfile.with_name(logfile.name + ".attempts")


def attempt_logs(logfile: str | Path) -> list[Path]:
    """The kept attempts of ``logfile``, oldest first."""
    folder = attempts_dir(logfile)
    found = [(int(m.group(1)), p) for p in folder.glob("*.log") if (m := re.fullmatch(r"(\d+)\.log", p.name))]
    return [p for _, p in sorted(found)]


def _next_attempt(logfile: Path, keep: int) -> tuple[Path, list[Path]]:
    """The file for this attempt, and the earlier ones still kept (older than the newest ``keep - 1``
    are deleted)."""
    earlier = attempt_logs(logfile)
    n = int(earlier[-1].stem) + 1 if earlier else 1
    for old in earlier[:max(0, len(earlier) - (keep - 1))]:
        old.unlink(missing_ok=True)
    return attempts_dir(logfile) / f"{n}.log", earlier[-(keep - 1):] if keep > 1 else []


def setup(logfile: str | Path | None = None, level: int = logging.INFO, keep: int = KEEP_ATTEMPTS) -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    attempt, earlier = None, []
    if logfile:
        logfile = Path(logfile)
        logfile.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="a"))
        try:
            attempt, earlier = _next_attempt(logfile, keep)
            attempt.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(attempt, mode="a"))
        except OSError as e:   # the job still runs; only the copy is missing
            print(f"mpbench: cannot keep a copy of this attempt's log under {attempts_dir(logfile)}: {e}",
                  file=sys.stderr)
            attempt = None
    logging.basicConfig(level=level, handlers=handlers, force=True, format=FORMAT)
    logger = logging.getLogger("mpbench")
    if attempt is not None:
        job = os.environ.get("SLURM_JOB_ID")
        where = f"{socket.gethostname()}{f', SLURM job {job}' if job else ''}"
        logger.info("attempt %s of this job (pid %d on %s, %s); %s", attempt.stem, os.getpid(), where,
                    datetime.now().isoformat(timespec="seconds"),
                    f"earlier attempts' logs: {', '.join(p.name for p in earlier)} in {attempt.parent}" if earlier
                    else f"every attempt's log is kept in {attempt.parent}")

    def log_uncaught(exc_type, exc, tb):
        # The job's own log then says why it failed (a SLURM job's stderr is elsewhere).
        if not issubclass(exc_type, KeyboardInterrupt):
            logger.critical("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
        else:
            sys.__excepthook__(exc_type, exc, tb)
    sys.excepthook = log_uncaught
    return logger
