"""PyTorch side of the trainer: precisions, device-resident data, Dice loss, IoU on device."""
from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_path
from ..models import UNetSpec
from ..models.unet_torch import build_unet
from .settings import PrecisionUnavailable, TrainSettings

APEX_HELP = ("NVIDIA Apex is not importable. It is not on PyPI: build it from NVIDIA's apex source "
             "repository with its CUDA extensions (pip install -v --no-build-isolation ...), or use "
             "precision mixed_fp16 (torch.autocast + GradScaler, Apex O1's successor).")


def set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss over the whole batch, computed in float32."""
    p = torch.sigmoid(logits.float())
    t = target.float()
    inter = (p * t).sum()
    return 1.0 - (2.0 * inter + eps) / (p.sum() + t.sum() + eps)


def resolve_device(settings: TrainSettings) -> torch.device:
    if settings.device_type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {settings.device!r} is a CUDA device (config devices.{settings.device}.type) but "
                f"PyTorch {torch.__version__} sees no GPU (CUDA build: {torch.version.cuda}). Run this job on "
                "a GPU node (SLURM profile) or add the device to train.devices only where a GPU exists.")
        return torch.device("cuda")
    return torch.device("cpu")


class PrecisionContext:
    """Autocast/scaler/half-precision setup for one precision name."""

    def __init__(self, precision: str, device: torch.device, settings: TrainSettings):
        self.precision, self.device = precision, device
        self.autocast_dtype = {"mixed_fp16": torch.float16, "mixed_bf16": torch.bfloat16}.get(precision)
        self.param_dtype = torch.float16 if precision == "fp16" else torch.float32
        self.scaler = torch.amp.GradScaler(device.type) if precision == "mixed_fp16" else None
        self.static_scale = settings.fp16_loss_scale if precision == "fp16" else None
        self.apex = None
        if precision == "fp32":
            set_tf32(False)
        elif precision == "tf32":
            set_tf32(True)
        if precision in ("apex_o1", "apex_o3"):
            if device.type != "cuda":
                raise PrecisionUnavailable(f"{precision} needs a CUDA GPU (Apex AMP is CUDA-only)")
            try:
                from apex import amp  # noqa: F401
            except ImportError as e:
                raise PrecisionUnavailable(APEX_HELP) from e
            self.apex = amp

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)


class TorchBackend:
    def __init__(self, settings: TrainSettings, split):
        self.s = settings
        torch.manual_seed(settings.seed * 100 + settings.fold)
        if settings.device_type == "cpu":
            torch.set_num_threads(settings.threads)
        self.device = resolve_device(settings)
        if self.device.type == "cuda":
            # Off by default: on an H100, strict fp32 f=64 batch 128 autotuning did not finish in minutes.
            torch.backends.cudnn.benchmark = settings.cudnn_benchmark
        self.gpu_index = torch.cuda.current_device() if self.device.type == "cuda" else None
        self.prec = PrecisionContext(settings.precision, self.device, settings)
        self.memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
        model = build_unet(UNetSpec(settings.filters, upsampling=settings.upsampling))
        self.model = model.to(self.device, dtype=self.prec.param_dtype, memory_format=self.memory_format)
        eps = settings.fp16_adam_epsilon if settings.precision in ("fp16", "apex_o3") else 1e-8
        self.opt = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate, eps=eps,
                                    fused=self.device.type == "cuda" and self.prec.apex is None)
        if self.prec.apex is not None:
            level = "O1" if settings.precision == "apex_o1" else "O3"
            self.model, self.opt = self.prec.apex.initialize(self.model, self.opt, opt_level=level)
        self.x_train, self.y_train = self._to_device(split.x_train, split.y_train)
        self.x_val, self.y_val = self._to_device(split.x_val, split.y_val)
        self.gen = torch.Generator().manual_seed(settings.seed * 100 + settings.fold)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def _to_device(self, images: np.ndarray, masks: np.ndarray):
        """Whole split resident on the device, normalised to [-1, 1] there."""
        x = torch.from_numpy(images).to(self.device).unsqueeze(1)
        x = x.to(self.prec.param_dtype).div_(127.5).sub_(1.0).contiguous(memory_format=self.memory_format)
        y = torch.from_numpy(masks).to(self.device).unsqueeze(1).to(self.prec.param_dtype)
        return x, y

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def train_step(self, xb, yb) -> torch.Tensor:
        with self.prec.autocast():
            logits = self.model(xb)
        loss = dice_loss(logits, yb)
        self.opt.zero_grad(set_to_none=True)
        if self.prec.scaler is not None:
            self.prec.scaler.scale(loss).backward()
            self.prec.scaler.step(self.opt)
            self.prec.scaler.update()
        elif self.prec.apex is not None:
            with self.prec.apex.scale_loss(loss, self.opt) as scaled:
                scaled.backward()
            self.opt.step()
        elif self.prec.static_scale:
            (loss * self.prec.static_scale).backward()
            for p in self.model.parameters():
                if p.grad is not None:
                    p.grad.div_(self.prec.static_scale)
            self.opt.step()
        else:
            loss.backward()
            self.opt.step()
        return loss.detach()

    def train_epoch(self) -> float:
        self.model.train()
        n = len(self.x_train)
        perm = torch.randperm(n, generator=self.gen).to(self.device)
        total = torch.zeros((), device=self.device, dtype=torch.float32)
        for i in range(0, n, self.s.batch_size):
            idx = perm[i:i + self.s.batch_size]
            total += self.train_step(self.x_train[idx], self.y_train[idx]).float() * len(idx)
        self.sync()
        return float(total.item() / n)

    @torch.no_grad()
    def evaluate(self) -> float:
        self.model.eval()
        inter = torch.zeros((), device=self.device, dtype=torch.float64)
        union = torch.zeros_like(inter)
        bs = self.s.batch_size
        for i in range(0, len(self.x_val), bs):
            with self.prec.autocast():
                pred = self.model(self.x_val[i:i + bs]).float() > 0.0   # sigmoid(x) > 0.5
            truth = self.y_val[i:i + bs] > 0.5
            inter += (pred & truth).sum()
            union += (pred | truth).sum()
        self.sync()
        u = union.item()
        return 1.0 if u == 0 else float(inter.item() / u)

    # --- persistence -------------------------------------------------------------------------
    def _full_state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "scaler": self.prec.scaler.state_dict() if self.prec.scaler else None,
                "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state()}

    def save_checkpoint(self, folder: Path):
        with atomic_path(Path(folder) / "last.pt") as tmp:
            torch.save(self._full_state(), tmp)

    def load_checkpoint(self, folder: Path):
        st = torch.load(Path(folder) / "last.pt", map_location=self.device, weights_only=False)
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        if self.prec.scaler and st["scaler"]:
            self.prec.scaler.load_state_dict(st["scaler"])
        self.gen.set_state(st["gen"])
        torch.set_rng_state(st["torch_rng"])

    def save_best(self, folder: Path):
        with atomic_path(Path(folder) / "best.pt") as tmp:
            torch.save(copy.deepcopy(self.model.state_dict()), tmp)

    def restore_best(self, folder: Path):
        self.model.load_state_dict(torch.load(Path(folder) / "best.pt", map_location=self.device))

    def save_model(self, path: Path):
        """The best weights as a float32 state dict (.pt), loadable without mpbench's precision set-up."""
        state = {k: v.float() if v.is_floating_point() else v for k, v in self.model.state_dict().items()}
        with atomic_path(path) as tmp:
            torch.save({"state_dict": state, "spec": vars(self.model.spec) if hasattr(self.model, "spec")
                        else None, "precision": self.s.precision}, tmp)

    def weights_finite(self) -> bool:
        with torch.no_grad():
            return bool(torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all())

    def peak_memory_bytes(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated())
        import resource
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)

    @staticmethod
    def is_oom(exc: BaseException) -> bool:
        return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()
