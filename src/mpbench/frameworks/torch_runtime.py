"""PyTorch runtime: device, precision set-up, on-device normalisation, sync, memory, model files, predict.

The trained model file (``model.pt``) holds the best weights as a float32 state dict with the
U-Net spec, loadable without mpbench's precision set-up: ``{"state_dict", "spec", "precision"}``.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from .. import CLUSTER_INSTALL
from ..data.dataset import pixel_scale_offset
from ..io import atomic_path, damaged
from ..models import UNetSpec
from ..models.unet_torch import build_unet
from ..precisions import PrecisionUnavailable
from . import host_peak_memory_bytes, says_out_of_memory

APEX_HELP = ("NVIDIA Apex is not importable. It is not on PyPI: build it from NVIDIA's apex source "
             "repository with its CUDA extensions (pip install -v --no-build-isolation ...), or use "
             "precision mixed_fp16 (torch.autocast + GradScaler, Apex O1's successor).")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss over the whole batch, computed in float32."""
    p = torch.sigmoid(logits.float())
    t = target.float()
    inter = (p * t).sum()
    return 1.0 - (2.0 * inter + eps) / (p.sum() + t.sum() + eps)


class TorchRuntime:
    def __init__(self, settings):
        self.s = settings
        self.precision = settings.spec
        torch.manual_seed(settings.run_seed)
        if settings.device_type == "cpu":
            torch.set_num_threads(settings.threads)
        self.device = self._resolve_device()
        if self.device.type == "cuda":
            # Off by default: on an H100, strict fp32 f=64 batch 128 autotuning did not finish in minutes.
            torch.backends.cudnn.benchmark = settings.cudnn_benchmark
        self.gpu_index = torch.cuda.current_device() if self.device.type == "cuda" else None
        set_tf32(bool(self.precision.tf32))
        self.apex = self._import_apex() if self.precision.apex_level else None
        self.param_dtype = DTYPES[self.precision.param_dtype]
        autocast = self.precision.autocast_dtype
        self.autocast_dtype = DTYPES[autocast] if autocast else None
        self.memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format

    def _resolve_device(self) -> torch.device:
        s = self.s
        if s.device_type == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError(
                    f"device {s.device!r} is a CUDA device (config devices.{s.device}.type) but "
                    f"PyTorch {torch.__version__} sees no GPU (CUDA build: {torch.version.cuda}). Run this job on "
                    "a GPU node (SLURM profile) or add the device to train.devices only where a GPU exists; a "
                    f"CUDA build of PyTorch comes with the cluster line at the repository root: {CLUSTER_INSTALL} "
                    "(`python -m mpbench doctor` shows what PyTorch sees).")
            return torch.device("cuda")
        return torch.device("cpu")

    def _import_apex(self):
        if self.device.type != "cuda":
            raise PrecisionUnavailable(f"{self.precision.name} needs a CUDA GPU (Apex AMP is CUDA-only)")
        try:
            from apex import amp
        except ImportError as e:
            raise PrecisionUnavailable(APEX_HELP) from e
        return amp

    # --- data and execution ------------------------------------------------------------------
    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def to_device(self, images: np.ndarray, masks: np.ndarray | None = None, device=None):
        """uint8 (N, H, W) frames → (N, 1, H, W) normalised (``settings.normalisation``); masks (if given) in {0, 1}.

        On this runtime's device, or on ``device`` (``"cpu"``: host-resident data, pinned when a GPU
        will read it, copied per batch by :meth:`batch_to_device`).
        """
        device = torch.device(device) if device else self.device
        x = torch.from_numpy(np.ascontiguousarray(images)).to(device).unsqueeze(1)
        scale, offset = pixel_scale_offset(self.s.normalisation)
        x = (x.float() * scale + offset).to(self.param_dtype).contiguous(memory_format=self.memory_format)
        y = None if masks is None else torch.from_numpy(np.ascontiguousarray(masks)).to(device).unsqueeze(1)
        y = None if y is None else y.to(self.param_dtype)
        if device != self.device and self.device.type == "cuda":
            x = x.pin_memory()
            y = None if y is None else y.pin_memory()
        return x if y is None else (x, y)

    def batch_to_device(self, t: torch.Tensor) -> torch.Tensor:
        """A host-resident batch on the device (no copy when it is there already)."""
        return t.to(self.device, non_blocking=True)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    @staticmethod
    def is_oom(exc: BaseException) -> bool:
        return isinstance(exc, torch.OutOfMemoryError) or says_out_of_memory(exc)

    def reset_peak_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def peak_memory_bytes(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated())
        return host_peak_memory_bytes()

    # --- models ------------------------------------------------------------------------------
    def build_model(self, spec: UNetSpec, state_dict: dict | None = None) -> torch.nn.Module:
        model = build_unet(spec)
        if state_dict is not None:
            model.load_state_dict(state_dict)
        return model.to(self.device, dtype=self.param_dtype, memory_format=self.memory_format)

    def save_model(self, model: torch.nn.Module, path: Path) -> None:
        state = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        with atomic_path(path) as tmp:
            torch.save({"state_dict": state, "spec": vars(model.spec) if hasattr(model, "spec") else None,
                        "precision": self.precision.name}, tmp)

    def load_model(self, path: Path) -> torch.nn.Module:
        """The trained model; a missing file or one that does not load names the file and the rule to rerun."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: rule train_pytorch writes it (rerun snakemake)")
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)   # data, never code
            spec = UNetSpec(**saved["spec"]) if saved.get("spec") else UNetSpec(self.s.filters,
                                                                                 upsampling=self.s.upsampling)
            state_dict = saved["state_dict"]
        except Exception as e:   # truncated: OSError, EOFError, RuntimeError (zip archive), KeyError …
            raise damaged(path, e, "a PyTorch model (state dict + U-Net spec)", "train_pytorch") from e
        return self.build_model(spec, state_dict).eval()

    def predictor(self, model: torch.nn.Module):
        """Normalised device batch → float32 probabilities, in this precision, no autograd."""
        def predict(x):
            with torch.inference_mode(), self.autocast():
                return torch.sigmoid(model(x).float())
        return predict
