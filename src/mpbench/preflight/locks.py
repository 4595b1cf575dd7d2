"""Who is using a results folder or a checkpoint: locks that name their holder and notice dead ones.

Snakemake's own lock lives in a checkout's ``.snakemake/``: two checkouts (or two ``--directory``
working folders) that share one absolute ``results_dir`` do not see each other. Two locks close that:

* :class:`ResultsLock` — ``RESULTS/.mpbench.lock/<host>-<pid>.json``, one file per running workflow,
  taken by the Snakefile's ``onstart`` and dropped by ``onsuccess``/``onerror`` (Snakemake runs no
  hooks for dry-runs, ``--report``, ``--lint`` or inside SLURM job steps, which pass ``--no-hooks``).
  Runs from the same working folder may share it (Snakemake's lock arbitrates between them); a live
  run from another working folder refuses the start. A holder on this host whose process is gone is
  named and removed; one on another host cannot be checked and is named with how to remove it.
* :func:`claim_checkpoint` — an ``flock`` on ``<checkpoint>/.lock`` held while a training job runs,
  plus ``owner.json`` naming it: a second job that finds the lock held refuses to adopt the
  checkpoint. The kernel releases an ``flock`` when its process dies (killed, time limit), so a
  retried job resumes normally.
"""
from __future__ import annotations

import atexit
import errno
import fcntl
import json
import logging
import os
import socket
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .. import io

log = logging.getLogger(__name__)
RESULTS_LOCK = ".mpbench.lock"
CKPT_LOCK, CKPT_OWNER = ".lock", "owner.json"


class LockedError(RuntimeError):
    """Another live process holds the lock; the message names it and what to do."""


# --- processes -------------------------------------------------------------------------------------
def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (tells a reused pid apart), where /proc has it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def me(**extra) -> dict:
    """This process as a lock holder: pid, host, boot, start, working folder, SLURM job."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "boot_id": _boot_id(), "pid_start": _start_ticks(pid),
            "started": datetime.now().isoformat(timespec="seconds"), "cwd": os.getcwd(),
            "slurm_job": os.environ.get("SLURM_JOB_ID"), **extra}


def alive(holder: dict) -> bool | None:
    """True/False for a holder on this host (same boot, pid running, same start); None elsewhere."""
    if holder.get("host") != socket.gethostname():
        return None
    if holder.get("boot_id") and _boot_id() and holder["boot_id"] != _boot_id():
        return False
    pid = int(holder.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: running
    start = _start_ticks(pid)
    return not (holder.get("pid_start") and start and start != holder["pid_start"])


def describe(holder: dict) -> str:
    slurm = f", SLURM job {holder['slurm_job']}" if holder.get("slurm_job") else ""
    return (f"pid {holder.get('pid')} on {holder.get('host')} (started {holder.get('started')}{slurm}, "
            f"working folder {holder.get('cwd')})")


def _read_holder(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else None
    except (OSError, ValueError):
        return None


# --- the results folder ----------------------------------------------------------------------------
class ResultsLock:
    """The lock on one results folder for one workflow run (see the module doc)."""

    def __init__(self, results_dir, workdir=None):
        self.results = Path(results_dir)
        self.folder = self.results / RESULTS_LOCK
        self.workdir = str(Path(workdir or os.getcwd()).resolve())
        self.path = self.folder / f"{socket.gethostname()}-{os.getpid()}.json"

    @contextmanager
    def _guard(self):
        """Serialises acquire/release of concurrent starts (best effort where flock is unsupported)."""
        with open(self.folder / ".guard", "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX)
            except OSError:
                pass
            yield

    def holders(self) -> list[tuple[Path, dict]]:
        out = []
        for p in sorted(self.folder.glob("*.json")):
            holder = _read_holder(p)
            out.append((p, holder or {"pid": None, "host": None, "cwd": None, "unreadable": True}))
        return out

    def acquire(self) -> list[str]:
        """Take the lock; returns what was found stale and removed (for the caller to log)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LockedError(f"cannot create the results lock {self.folder}: {io.first_line(e)}. results_dir "
                              f"({self.results}) must be a folder this user can write.") from e
        removed = []
        with self._guard():
            foreign = []
            for path, holder in self.holders():
                if path == self.path:
                    continue
                state = alive(holder)
                if state is False or holder.get("unreadable"):
                    why = "unreadable" if holder.get("unreadable") else "that process is no longer running"
                    removed.append(f"removed a stale lock on {self.results}: {describe(holder)}: {why} ({path})")
                    path.unlink(missing_ok=True)
                elif holder.get("cwd") != self.workdir:
                    foreign.append((path, holder, state))
            if foreign:
                lines = []
                for path, holder, state in foreign:
                    how = ("running" if state else "on another host, so it cannot be checked from here: if that "
                           f"run is over, delete {path}")
                    lines.append(f"  {describe(holder)} — {how}")
                raise LockedError(
                    f"results_dir {self.results} is in use by another workflow run (another checkout or working "
                    "folder; Snakemake's own lock does not reach across them):\n" + "\n".join(lines) + "\n"
                    "Wait for it to finish, or give this run its own results_dir (e.g. --config "
                    "results_dir=…). Nothing was changed.")
            io.write_json(self.path, me(cwd=self.workdir, results_dir=str(self.results)))
        atexit.register(self.release)   # also when Snakemake ends without its onsuccess/onerror hooks
        return removed

    def release(self) -> None:
        """Drop this process's lock file (never another's), and the lock folder once empty."""
        try:
            with self._guard():
                self.path.unlink(missing_ok=True)
                if not any(self.folder.glob("*.json")):
                    (self.folder / ".guard").unlink(missing_ok=True)
            self.folder.rmdir()
        except OSError:
            pass   # another run still holds it, or the folder is gone


# --- a training checkpoint -------------------------------------------------------------------------
@contextmanager
def claim_checkpoint(folder):
    """Hold ``folder`` (a training checkpoint) for this process; :class:`LockedError` if a live one has it.

    Yields the previous owner's record (or None): a job that takes over a checkpoint whose owner
    died logs who that was.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / CKPT_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise io.write_error(folder / CKPT_LOCK, e) from e
    previous = _read_holder(folder / CKPT_OWNER)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = describe(previous) if previous else "another process"
            raise LockedError(
                f"checkpoint {folder} is being written by {who}: another run of this grid cell is live "
                "(two snakemake runs, e.g. from two checkouts, sharing results_dir?). This job leaves it "
                "alone. Wait for that run to finish or stop it, then rerun.") from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            # No flock on this filesystem: the owner file is all there is (checkable on its own host).
            log.warning("no file locks on the filesystem of %s (%s); relying on its owner file", folder, e)
            if previous and previous.get("pid") != os.getpid() and alive(previous):
                raise LockedError(f"checkpoint {folder} is being written by {describe(previous)} (running); this "
                                  "job leaves it alone. Wait for that run to finish or stop it, then rerun.") from None
        if previous and (previous.get("pid"), previous.get("host")) != (os.getpid(), socket.gethostname()):
            log.info("checkpoint %s was last held by %s, which has ended", folder, describe(previous))
        io.write_json(folder / CKPT_OWNER, me())
        yield previous
    finally:
        os.close(fd)
