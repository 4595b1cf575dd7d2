"""A job's work in a child process, so that a native crash is a recorded failure, not a lost job.

The TFLite converter and interpreter are C++: on a model whose weights grew without bound (a run
that blew up without a NaN) they can abort the process (seen: ``free(): double free detected`` during
int8 calibration). In the job's own process that kills it with no record, and the grid's later jobs
for that cell have nothing to read. :func:`run` calls the work in a child Python process
(``python -m mpbench.isolation``: it gets the function and its arguments on stdin, logs to the job's
log files) and raises :class:`NativeCrash`, naming the signal, when the child dies of one; the job
then records the failure and the grid goes on. A Python exception in the child is logged there and
raised in the job as ``RuntimeError``.

A separate interpreter rather than ``multiprocessing``: Snakemake runs a job's script as ``__main__``
without a ``__name__`` guard, which a spawned child would execute again.
"""
from __future__ import annotations

import logging
import pickle
import signal
import subprocess
import sys

# Signals of a crash in native code. Any other (SIGKILL from the out-of-memory killer, SIGTERM from SLURM's
# time limit) is not the model's fault: the job fails and can be retried.
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}


class NativeCrash(RuntimeError):
    """The child process died of a signal (a segfault or an abort in native code)."""


def run(fn, /, **kwargs) -> None:
    """``fn(**kwargs)`` in a child Python process (``fn`` importable by name, the arguments picklable); its
    logging goes to this process's log files, its records name this process's Snakemake job. Raises
    :class:`NativeCrash` when the child dies of a crash signal (:data:`CRASH_SIGNALS`), ``RuntimeError``
    when it raised (the traceback is in the log) or was killed by another signal."""
    from . import provenance
    root = logging.getLogger()
    log_files = [h.baseFilename for h in root.handlers if isinstance(h, logging.FileHandler)]
    payload = pickle.dumps((fn.__module__, fn.__qualname__, kwargs, log_files, root.level,
                            provenance.scheduled_job()))
    child = subprocess.run([sys.executable, "-m", "mpbench.isolation"], input=payload, check=False)
    if child.returncode == 0:
        return
    if child.returncode < 0:
        number = -child.returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number in CRASH_SIGNALS:
            raise NativeCrash(f"the process doing it died of {name} (a crash in native code, e.g. the TFLite "
                              "converter or interpreter; its last output is in the job's log and stderr)")
        raise RuntimeError(f"{fn.__qualname__}: its child process was killed by {name} (not a crash of the "
                           "model: e.g. out of memory or a time limit); the job fails and can be rerun")
    raise RuntimeError(f"{fn.__qualname__} failed in its child process (exit code {child.returncode}); "
                       "the traceback is in the job's log")


def _child() -> None:
    import importlib

    from . import provenance
    from .logs import FORMAT
    module, qualname, kwargs, log_files, level, job = pickle.loads(sys.stdin.buffer.read())
    logging.basicConfig(level=level, format=FORMAT,
                        handlers=[logging.StreamHandler(), *(logging.FileHandler(f, mode="a") for f in log_files)])
    provenance.inherit_job(job)
    try:
        fn = importlib.import_module(module)
        for part in qualname.split("."):
            fn = getattr(fn, part)
        fn(**kwargs)
    except BaseException:
        logging.getLogger(__name__).exception("%s.%s failed", module, qualname)
        raise SystemExit(1) from None


if __name__ == "__main__":
    _child()
