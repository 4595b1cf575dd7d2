"""CPU energy from Linux powercap (RAPL) counters, read directly from sysfs.

``/sys/class/powercap/intel-rapl:N`` is CPU package N (``name``: ``package-N``); its sub-zones
``intel-rapl:N:M`` are its core, uncore and — on servers — ``dram``. AMD CPUs expose the same
interface (kernel 5.8 and newer). Each zone has ``energy_uj`` (a counter in microjoules) and
``max_energy_range_uj`` (where it wraps to 0). :class:`PowercapMeter` sums the packages and their DRAM
(core and uncore are inside the package's count; ``psys``, the whole platform, would count them
twice and is left out) and unwraps each counter: a reading below the previous one adds
``max_energy_range_uj``. One wrap between two reads is handled; two are not, so a poller thread reads
every :attr:`PowercapMeter.poll_s` seconds — half the time a zone drawing :data:`MAX_ZONE_WATTS`
takes to run through its range, so no counter can wrap twice between two reads.

No powercap tree (a VM, a container without /sys/class/powercap, a non-x86 CPU, a kernel without
``intel_rapl``) or a counter this user may not read (Linux 5.10 and newer make ``energy_uj`` readable
by root only, after CVE-2020-8694) → :attr:`available` is False, readings are None and :attr:`reason`
says why. Energy is never estimated.

RAPL counts whole packages: on a node shared with other jobs the joules include their work. The
meter states this job's share — the CPUs it may run on over all CPUs (:attr:`note`) — and never
scales the joules by it.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/sys/class/powercap")
MAX_ZONE_WATTS = 1000.0      # bound on one zone's power for the poll interval (today's largest packages: ~500 W)
MAX_POLL_S = 60.0
SOURCE = "powercap_rapl"


@dataclass
class Zone:
    zone: str            # the sysfs folder, e.g. intel-rapl:0 or intel-rapl:0:2
    name: str            # its name file: package-0, dram
    path: Path
    max_range_uj: int
    last_uj: int = 0
    total_uj: int = 0    # unwrapped energy since the meter started
    wraps: int = 0


def _read_int(path: Path) -> int:
    text = path.read_text().strip()
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path} holds {text[:40]!r}, not an integer") from None


def _zone_dirs(root: Path) -> list[tuple[Path, str]]:
    """(folder, name) of the packages (``intel-rapl:N``) and their DRAM sub-zones, in a stable order."""
    out = []
    for d in sorted(root.glob("intel-rapl:*")):
        if not (d / "name").is_file():
            continue
        name = (d / "name").read_text().strip()
        if (d.name.count(":") == 1 and name.startswith("package")) or name == "dram":
            out.append((d, name))
    return out


def cpu_share() -> tuple[int, int]:
    """(CPUs this process may run on, CPUs of the machine)."""
    total = os.cpu_count() or 1
    try:
        used = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux: no affinity; powercap is Linux-only anyway
        used = total
    return used, total


def share_note(used: int, total: int) -> str:
    """What the package joules cover, for the record (never a scaling factor)."""
    if used >= total:
        return (f"RAPL counts whole CPU packages and their DRAM: this job may run on all {total} CPUs; anything "
                "else the machine ran meanwhile (the OS, other users) is in the joules too")
    return (f"RAPL counts whole CPU packages and their DRAM: this job may run on {used} of {total} CPUs "
            f"({used / total:.1%}); other jobs on the node are in the joules too (not scaled by that share)")


class PowercapMeter:
    """Cumulative CPU package and DRAM energy since the meter started (joules), from powercap counters.

    ``root``: the powercap folder (tests point it at a fake tree). ``poll``: start the poller thread
    (off in tests, which read by hand); :meth:`close` stops it. ``cpus``: (used, total) for the share
    note; by default this process's affinity over the machine's CPUs.
    """

    def __init__(self, root=DEFAULT_ROOT, *, poll: bool = True, cpus: tuple[int, int] | None = None):
        self.root = Path(root)
        self.available, self.reason = False, None
        self.zones: list[Zone] = []
        self.cpus_used, self.cpus_total = cpus or cpu_share()
        self.note = share_note(self.cpus_used, self.cpus_total)
        self.poll_s: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self.zones = self._open()
        except PermissionError as e:
            self.reason = (f"{e.filename or self.root} is not readable by this user: Linux 5.10 and newer let "
                           "only root read RAPL counters (CVE-2020-8694); an administrator can make energy_uj readable "
                           "(e.g. a udev rule or systemd-tmpfiles line setting mode 0444)")
            return
        except (OSError, ValueError) as e:
            self.reason = f"powercap counters under {self.root} do not read: {e}"
            return
        if not self.zones:
            return
        self.available = True
        self.poll_s = min(MAX_POLL_S, min(z.max_range_uj for z in self.zones) / (MAX_ZONE_WATTS * 1e6) / 2)
        if poll:
            self._thread = threading.Thread(target=self._poll, name="powercap-poller", daemon=True)
            self._thread.start()

    def _open(self) -> list[Zone]:
        if not self.root.is_dir():
            self.reason = (f"no powercap interface: {self.root} does not exist (a VM or container without it, a "
                           "non-x86 CPU, or a kernel without intel_rapl): CPU energy not measured")
            return []
        zones = []
        for d, name in _zone_dirs(self.root):
            max_range = _read_int(d / "max_energy_range_uj")
            if max_range <= 0:
                raise ValueError(f"{d / 'max_energy_range_uj'} is {max_range}: no range to unwrap the counter with")
            zones.append(Zone(d.name, name, d, max_range, last_uj=_read_int(d / "energy_uj")))
        if not zones:
            self.reason = (f"{self.root} has no RAPL package zones (intel-rapl:N named package-N): CPU energy not "
                           "measured")
        return zones

    def _update(self) -> None:
        with self._lock:
            for z in self.zones:
                now = _read_int(z.path / "energy_uj")
                delta = now - z.last_uj
                if delta < 0:          # the counter wrapped past max_energy_range_uj
                    delta += z.max_range_uj
                    z.wraps += 1
                z.total_uj += delta
                z.last_uj = now

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self._update()
            except OSError as e:
                self._fail(e)
                return

    def _fail(self, e: OSError) -> None:
        self.available, self.reason = False, f"a powercap counter stopped reading: {e}"

    def read_joules(self) -> float | None:
        """Package + DRAM joules since the meter started (None when unavailable)."""
        if not self.available:
            return None
        try:
            self._update()
        except OSError as e:
            self._fail(e)
            return None
        return sum(z.total_uj for z in self.zones) / 1e6

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self) -> dict:
        return {"available": self.available, "reason": self.reason, "source": SOURCE,
                "zones": [{"zone": z.zone, "name": z.name, "max_energy_range_uj": z.max_range_uj, "wraps": z.wraps}
                          for z in self.zones],
                "poll_s": self.poll_s, "cpus_used": self.cpus_used, "cpus_total": self.cpus_total,
                "note": self.note}

