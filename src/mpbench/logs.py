"""Logging set-up for workflow jobs: one log file per job, mirrored to stderr."""
from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup(logfile: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="a"))
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger = logging.getLogger("mpbench")

    def log_uncaught(exc_type, exc, tb):
        # The job's own log then says why it failed (a SLURM job's stderr is elsewhere).
        if not issubclass(exc_type, KeyboardInterrupt):
            logger.critical("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
        else:
            sys.__excepthook__(exc_type, exc, tb)
    sys.excepthook = log_uncaught
    return logger
