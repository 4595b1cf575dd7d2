"""Everything one training run needs, in one flat, JSON-serialisable record."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

PRECISIONS = ("fp32", "tf32", "mixed_fp16", "mixed_bf16", "fp16", "apex_o1", "apex_o3")
FRAMEWORKS = ("tensorflow", "pytorch")


@dataclass(frozen=True)
class TrainSettings:
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
    upsampling: str = "nearest"
    fp16_adam_epsilon: float = 1e-4
    fp16_loss_scale: float = 128.0
    channels_last: bool = True
    cudnn_benchmark: bool = False
    samples_limit: int | None = None
    threads: int = 2
    seed: int = 42

    def __post_init__(self):
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"unknown framework {self.framework!r}; choose one of {FRAMEWORKS}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {PRECISIONS}")
        if self.device_type not in ("cpu", "cuda"):
            raise ValueError(f"device_type must be 'cpu' or 'cuda', got {self.device_type!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict, framework: str, device: str, precision: str, filters: int, fold: int):
        """Settings of one grid cell from the validated workflow config."""
        from ..grid import batch_size, device_spec
        t = config["train"]
        fixed = {"framework", "device", "device_type", "precision", "filters", "fold", "batch_size", "seed"}
        kw = {f.name: t[f.name] for f in fields(cls) if f.name in t and f.name not in fixed}
        return cls(framework=framework, device=device, device_type=device_spec(config, device)["type"],
                   precision=precision, filters=int(filters), fold=int(fold),
                   batch_size=batch_size(t, framework, device, precision, int(filters)),
                   seed=config["data"].get("seed", 42), **kw)


class PrecisionUnavailable(RuntimeError):
    """The precision cannot run here (e.g. Apex missing); the message says what to install."""
