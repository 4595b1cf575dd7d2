"""Running ``edgetpu_compiler`` and parsing what it prints.

The compiler (x86-64 Linux only, from Coral's own Debian repository — not on PyPI) writes
``<name>_edgetpu.tflite`` and ``<name>_edgetpu.log`` next to ``-o``; with ``-s`` it also prints the
operator table. :func:`parse_log` reads either the printed output or the .log file: version,
on-chip memory used for parameters, off-chip streaming, subgraphs, op totals and the per-operator
table (mapped to the Edge TPU or left on the CPU, with the compiler's reason).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

INSTALL_HELP = ("edgetpu_compiler is not installed. It exists only for x86-64 Debian/Ubuntu from Coral's "
                "package repository (package edgetpu-compiler; see coral.ai/docs/edgetpu/compiler). "
                "Install it there, set edgetpu.compiler in the config to its path, or set "
                "edgetpu.required: false to record the Edge TPU stage as unavailable.")

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_ROW = re.compile(r"^([A-Z][A-Z0-9_]+)\s+(\d+)\s+(\S.*?)\s*$")
_SIZE = r"([\d.]+\s*[KMG]?i?B)"
_FIELDS = {
    "compiler_version": (r"Edge TPU Compiler version\s+(\S+)", str),
    "compile_ms": (r"Model compiled successfully in\s+(\d+)\s*ms", int),
    "on_chip_used_bytes": (r"On-chip memory used for caching model parameters:\s*" + _SIZE, "bytes"),
    "on_chip_remaining_bytes": (r"On-chip memory remaining for caching model parameters:\s*" + _SIZE, "bytes"),
    "off_chip_used_bytes": (r"Off-chip memory used for streaming uncached model parameters:\s*" + _SIZE, "bytes"),
    "edgetpu_subgraphs": (r"Number of Edge TPU subgraphs:\s*(\d+)", int),
    "total_ops": (r"Total number of operations:\s*(\d+)", int),
    "ops_on_edgetpu_reported": (r"Number of operations that will run on Edge TPU:\s*(\d+)", int),
    "ops_on_cpu_reported": (r"Number of operations that will run on CPU:\s*(\d+)", int),
}
MAPPED = "Mapped to Edge TPU"


def to_bytes(text: str) -> int:
    m = re.fullmatch(r"([\d.]+)\s*([KMG]?i?B)", text.strip())
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"not a memory size: {text!r}")
    return int(round(float(m.group(1)) * _UNITS[m.group(2)]))


def parse_log(text: str) -> dict:
    """Everything the compiler reports, as a dict; op counts are summed from the operator table."""
    out: dict = {}
    for key, (pattern, kind) in _FIELDS.items():
        m = re.search(pattern, text)
        out[key] = None if not m else (to_bytes(m.group(1)) if kind == "bytes" else kind(m.group(1)))
    rows = []
    in_table = False
    for line in text.splitlines():
        if re.match(r"^Operator\s+Count\s+Status", line):
            in_table = True
            continue
        m = _ROW.match(line) if in_table else None
        if m:
            rows.append({"op": m.group(1), "count": int(m.group(2)), "status": m.group(3)})
    on_tpu = sum(r["count"] for r in rows if r["status"] == MAPPED)
    on_cpu = sum(r["count"] for r in rows if r["status"] != MAPPED)
    mapped: dict[str, int] = {}
    cpu: dict[str, dict[str, int]] = {}
    for r in rows:
        if r["status"] == MAPPED:
            mapped[r["op"]] = mapped.get(r["op"], 0) + r["count"]
        else:
            cpu.setdefault(r["op"], {})[r["status"]] = cpu.setdefault(r["op"], {}).get(r["status"], 0) + r["count"]
    # With everything mapped, newer compilers print only the summary and "all operations mapped".
    all_mapped_note = "all operations" in text.lower() and "mapped" in text.lower() and not rows
    out.update({
        "operators": rows, "ops_mapped": mapped, "ops_on_cpu": cpu,
        "n_ops_on_edgetpu": on_tpu if rows else out["ops_on_edgetpu_reported"],
        "n_ops_on_cpu": on_cpu if rows else out["ops_on_cpu_reported"],
        "fully_mapped": (bool(rows) and on_cpu == 0) or all_mapped_note,
    })
    if out["n_ops_on_edgetpu"] is None and out["total_ops"] is not None and out["n_ops_on_cpu"] is None:
        out["n_ops_on_edgetpu"], out["n_ops_on_cpu"] = out["total_ops"], 0   # only the summary printed
    return out


def find_compiler(configured: str = "edgetpu_compiler") -> str | None:
    """Absolute path of the compiler, or None."""
    p = Path(configured)
    if p.is_absolute() or "/" in configured:
        return str(p) if p.is_file() else None
    return shutil.which(configured)


def compile_model(compiler: str, tflite_path, out_dir, timeout_s: int = 600) -> tuple[int, str, Path]:
    """Run the compiler (``-s`` prints the operator table); returns (returncode, output, compiled path)."""
    tflite_path, out_dir = Path(tflite_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([compiler, "-s", "-o", str(out_dir), str(tflite_path)], capture_output=True,
                          text=True, timeout=timeout_s)
    return proc.returncode, proc.stdout + proc.stderr, out_dir / f"{tflite_path.stem}_edgetpu.tflite"
