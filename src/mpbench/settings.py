"""Everything one grid cell's jobs need (train, infer, quantize, Edge TPU), in one flat JSON-able record."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from . import precisions
from .data.dataset import NORMALISATIONS
from .frameworks.table import FRAMEWORKS


def auto_channels_last(precision: str, device_type: str) -> bool:
    """The memory format ``train.channels_last: auto`` picks: channels-last (NHWC) where the convolutions
    run on reduced-precision matrix units — float16/bfloat16 compute (tensor cores, AMX), or TF32 on a
    GPU — and PyTorch's default NCHW for float32 without them (strict fp32, and tf32 on a CPU).

    Why: on an H100 strict fp32 at f = 64, batch 128 ran at 6.2 ms/image channels-last against about
    4.7 ms/image NCHW, while the tensor-core precisions gain from NHWC (benchmarks/RESULTS.md, issue
    17); a speed-up over a slowed-down fp32 would overstate mixed precision. A prior from those
    measurements: ``benchmarks/train_step.py`` times both formats where it matters.
    """
    p = precisions.get(precision)
    return p.compute_dtype != "float32" or (device_type == "cuda" and bool(p.tf32))


@dataclass(frozen=True)
class RunSettings:
    framework: str
    device: str
    device_type: str          # "cpu" or "cuda"
    precision: str
    filters: int
    fold: int
    batch_size: int = 128
    learning_rate: float = 5e-4
    max_epochs: int = 200
    patience: int = 10
    emulated_max_epochs: int | None = None   # epoch limit where the precision is emulated on this CPU (None: none)
    upsampling: str = "nearest"
    fp16_adam_epsilon: float = 1e-4
    fp16_loss_scale: float = 128.0
    channels_last: bool | str = "auto"   # PyTorch memory format: True, False, or "auto" (resolved, see below)
    channels_last_from: str = "config"   # "auto" when channels_last was resolved by auto_channels_last()
    fused_adam: bool = False
    data_placement: str = "device"   # "device": the fold resident on the device; "host": in RAM, copied per batch
    cudnn_benchmark: bool = False
    samples_limit: int | None = None
    threads: int = 2
    seed: int = 42
    empty_iou: float = 1.0    # IoU of an image whose mask and prediction are both empty
    normalisation: str = "symmetric"   # pixels → [-1, 1] ("symmetric") or [0, 1] ("unit")

    def __post_init__(self):
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"unknown framework {self.framework!r}; choose one of {tuple(FRAMEWORKS)}")
        precisions.get(self.precision)   # raises naming the known ones
        if self.data_placement not in ("device", "host"):
            raise ValueError(f"data_placement must be 'device' or 'host', got {self.data_placement!r}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {self.normalisation!r}")
        if self.device_type not in ("cpu", "cuda"):
            raise ValueError(f"device_type must be 'cpu' or 'cuda', got {self.device_type!r}")
        if self.channels_last == "auto":   # resolved once, so every record holds the format that ran
            object.__setattr__(self, "channels_last", auto_channels_last(self.precision, self.device_type))
            object.__setattr__(self, "channels_last_from", "auto")
        elif not isinstance(self.channels_last, bool):
            raise ValueError(f"channels_last must be true, false or 'auto', got {self.channels_last!r}")

    @property
    def spec(self) -> precisions.Precision:
        return precisions.PRECISIONS[self.precision]

    @property
    def run_seed(self) -> int:
        """The seed of this fold's run (weights, shuffling): same in both frameworks."""
        return self.seed * 100 + self.fold

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict, framework: str, device: str, precision: str, filters: int, fold: int):
        """Settings of one grid cell from the validated workflow config (schema defaults filled in)."""
        from .grid import batch_size, device_spec
        t = config["train"]
        fixed = {"framework", "device", "device_type", "precision", "filters", "fold", "batch_size", "seed"}
        kw = {f.name: t[f.name] for f in fields(cls) if f.name in t and f.name not in fixed}
        return cls(framework=framework, device=device, device_type=device_spec(config, device)["type"],
                   precision=precision, filters=int(filters), fold=int(fold),
                   batch_size=batch_size(t, framework, device, precision, int(filters)),
                   seed=config["data"]["seed"], empty_iou=float(config["evaluation"]["empty_iou"]),
                   normalisation=config["data"]["normalisation"], **kw)
