"""PyTorch trainer: optimiser and loss scaling per precision, Dice loss, IoU on the device, checkpoints."""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from ..frameworks.torch_runtime import TorchRuntime, dice_loss
from ..io import atomic_path
from ..metrics import iou_scores
from ..models import UNetSpec
from ..settings import RunSettings


class TorchBackend:
    def __init__(self, settings: RunSettings, split):
        self.s = settings
        self.rt = TorchRuntime(settings)
        p = self.rt.precision
        self.gpu_index, self.device = self.rt.gpu_index, self.rt.device
        self.model = self.rt.build_model(UNetSpec(settings.filters, upsampling=settings.upsampling))
        eps = settings.fp16_adam_epsilon if p.half_adam_epsilon else 1e-8
        self.opt = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate, eps=eps,
                                    fused=settings.fused_adam and self.device.type == "cuda" and self.rt.apex is None)
        if self.rt.apex is not None:
            self.model, self.opt = self.rt.apex.initialize(self.model, self.opt, opt_level=p.apex_level)
        native_dynamic = p.loss_scaling == "dynamic" and self.rt.apex is None
        self.scaler = torch.amp.GradScaler(self.device.type) if native_dynamic else None
        self.static_scale = settings.fp16_loss_scale if p.loss_scaling == "static" else None
        # The fold resident on the device, or (data_placement: host, as the paper) in RAM, copied per batch.
        where = "cpu" if settings.data_placement == "host" else None
        self.x_train, self.y_train = self.rt.to_device(split.x_train, split.y_train, device=where)
        self.x_val, self.y_val = self.rt.to_device(split.x_val, split.y_val, device=where)
        self.gen = torch.Generator().manual_seed(settings.run_seed)
        self.rt.reset_peak_memory()

    def sync(self) -> None:
        self.rt.sync()

    def train_step(self, xb, yb) -> torch.Tensor:
        with self.rt.autocast():
            logits = self.model(xb)
        loss = dice_loss(logits, yb)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        elif self.rt.apex is not None:
            with self.rt.apex.scale_loss(loss, self.opt) as scaled:
                scaled.backward()
            self.opt.step()
        elif self.static_scale:
            (loss * self.static_scale).backward()
            for p in self.model.parameters():
                if p.grad is not None:
                    p.grad.div_(self.static_scale)
            self.opt.step()
        else:
            loss.backward()
            self.opt.step()
        return loss.detach()

    def train_epoch(self) -> float:
        self.model.train()
        n = len(self.x_train)
        perm = torch.randperm(n, generator=self.gen).to(self.x_train.device)
        total = torch.zeros((), device=self.device, dtype=torch.float32)
        to_dev = self.rt.batch_to_device
        for i in range(0, n, self.s.batch_size):
            idx = perm[i:i + self.s.batch_size]
            total += self.train_step(to_dev(self.x_train[idx]), to_dev(self.y_train[idx])).float() * len(idx)
        self.sync()
        return float(total.item() / n)

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean per-image validation IoU; :attr:`scores` keeps the per-image values and the pooled IoU."""
        self.model.eval()
        inter, union = [], []
        bs = self.s.batch_size
        for i in range(0, len(self.x_val), bs):
            with self.rt.autocast():
                pred = self.model(self.rt.batch_to_device(self.x_val[i:i + bs])).float() > 0.0   # sigmoid > 0.5
            truth = self.rt.batch_to_device(self.y_val[i:i + bs]) > 0.5
            inter.append((pred & truth).sum(dim=(1, 2, 3)))
            union.append((pred | truth).sum(dim=(1, 2, 3)))
        self.sync()
        self.scores = iou_scores(torch.cat(inter).cpu().numpy(), torch.cat(union).cpu().numpy(), self.s.empty_iou)
        return self.scores["mean"]

    def weights_finite(self) -> bool:
        with torch.no_grad():
            return bool(torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all())

    def is_oom(self, exc: BaseException) -> bool:
        return self.rt.is_oom(exc)

    def peak_memory_bytes(self) -> int | None:
        return self.rt.peak_memory_bytes()

    # --- persistence -------------------------------------------------------------------------
    def _full_state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler else None,
                "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state()}

    def save_checkpoint(self, folder: Path):
        with atomic_path(Path(folder) / "last.pt") as tmp:
            torch.save(self._full_state(), tmp)

    def load_checkpoint(self, folder: Path):
        # weights_only: tensors and plain containers only — a pickled object in a planted or copied
        # checkpoint is refused (UnpicklingError: the loop sets the checkpoint aside), never run.
        st = torch.load(Path(folder) / "last.pt", map_location=self.device, weights_only=True)
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        if self.scaler and st["scaler"]:
            self.scaler.load_state_dict(st["scaler"])
        self.gen.set_state(st["gen"])
        torch.set_rng_state(st["torch_rng"])

    def save_best(self, folder: Path):
        with atomic_path(Path(folder) / "best.pt") as tmp:
            torch.save(copy.deepcopy(self.model.state_dict()), tmp)

    def restore_best(self, folder: Path):
        self.model.load_state_dict(torch.load(Path(folder) / "best.pt", map_location=self.device, weights_only=True))

    def save_model(self, path: Path):
        """The best weights as a float32 state dict (.pt), loadable without mpbench's precision set-up."""
        self.rt.save_model(self.model, path)
