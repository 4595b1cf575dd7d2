"""Energy and time to train, and to a target IoU, from a training record's per-epoch history.

Every history entry (one epoch, :mod:`mpbench.training.loop`) has ``seconds`` and the energy of the
training pass, ``val_seconds`` and the energy of the validation pass after it, and ``val_iou``. Energy
comes from one source: ``gpu`` (NVML: ``joules``, ``val_joules``) or ``cpu`` (powercap:
``cpu_joules``, ``val_cpu_joules``).

- **Energy to train**: every epoch the run trained, its first (warm-up) epoch and its validation
  passes included — what the run cost, not the steady-state rate (that is ``joules_per_sample``).
- **Time and energy to target** (MLPerf-style time-to-train): from the first epoch to the end of the
  validation that first reaches ``val_iou >= target``, validation included; None when no epoch
  reaches it. Like MLPerf's, the clock covers the training and validation passes only: model
  building, data loading and checkpoint writing are outside it.

Any epoch without a reading makes the total None, with the reason: a sum missing an epoch would
understate the cost.
"""
from __future__ import annotations

SOURCES = {"gpu": ("joules", "val_joules"), "cpu": ("cpu_joules", "val_cpu_joules")}
VALIDATION_INCLUDED = "all epochs, the first (warm-up) and every validation pass included"
TARGET_SCOPE = ("training and validation passes up to the validation that first reaches the target "
                "(model building, data loading and checkpoints excluded, as MLPerf's time-to-train)")


def _keys(source: str) -> tuple[str, str]:
    if source not in SOURCES:
        raise ValueError(f"unknown energy source {source!r}; one of {sorted(SOURCES)}")
    return SOURCES[source]


def _sum(epochs: list[dict], source: str) -> tuple[float | None, float, str | None]:
    """(joules, seconds, reason joules is None) over ``epochs``, validation passes included."""
    train_key, val_key = _keys(source)
    joules, seconds, missing = 0.0, 0.0, None
    for h in epochs:
        seconds += h["seconds"] + (h.get("val_seconds") or 0.0)
        validated = h.get("val_iou") is not None   # a diverged epoch stops before validating
        for key in (train_key, val_key) if validated else (train_key,):
            if h.get(key) is None and missing is None:
                missing = f"epoch {h['epoch']} has no {key} ({source} energy not measured)"
            joules += h.get(key) or 0.0
    return (None if missing else joules), seconds, missing


def to_train(history: list[dict], source: str = "gpu") -> dict:
    """``{"joules", "seconds", "epochs", "reason"}`` of the whole run (see the module doc)."""
    if not history:
        return {"joules": None, "seconds": None, "epochs": 0, "reason": "no epoch in the history"}
    joules, seconds, reason = _sum(history, source)
    return {"joules": joules, "seconds": seconds, "epochs": len(history), "reason": reason}


def to_target(history: list[dict], target_iou: float, source: str = "gpu") -> dict:
    """``{"target_iou", "epoch", "seconds", "joules", "reason"}``: the first epoch whose validation IoU
    reaches ``target_iou`` and the time and energy up to it; ``epoch`` None when none does."""
    for i, h in enumerate(history):
        if h.get("val_iou") is not None and h["val_iou"] >= target_iou:
            joules, seconds, reason = _sum(history[: i + 1], source)
            return {"target_iou": target_iou, "epoch": h["epoch"], "seconds": seconds, "joules": joules,
                    "reason": reason}
    best = max((h["val_iou"] for h in history if h.get("val_iou") is not None), default=None)
    return {"target_iou": target_iou, "epoch": None, "seconds": None, "joules": None,
            "reason": f"never reached: best validation IoU {best:.4f} < {target_iou}" if best is not None
            else "never reached: no epoch validated"}
