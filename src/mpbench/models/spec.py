"""The U-Net both frameworks build, described once.

Four encoder blocks (two 3×3 conv without bias + batch norm + ReLU, then 2×2 max-pool), a
bottleneck block, four decoder blocks (upsample ×2, concatenate the skip, two 3×3 conv + BN + ReLU),
a 1×1 conv to one channel; the sigmoid is computed in float32. Batch norm uses the same constants in
both frameworks (running-statistics momentum 0.1 in PyTorch's convention, eps 1e-5). Filters start at ``filters`` and
double per encoder step (f, 2f, 4f, 8f; bottleneck 16f), halving back in the decoder.

Upsampling modes:

- ``nearest``: nearest-neighbour ×2 (Keras ``UpSampling2D``), no parameters — the paper's choice.
- ``transpose``: a learned 2×2 stride-2 transposed convolution keeping the channel count.
- ``edgetpu``: nearest-neighbour ×2 built only from CONCATENATION and RESHAPE on 4-D tensors, ops
  the Edge TPU maps (after Kist & Döllinger, IEEE Access 8:139356, 2020, who replaced UpSampling2D
  by an Edge-TPU-friendly upsampling so that larger U-Nets map fully). Numerically equal to
  ``nearest``.
"""
from __future__ import annotations

from dataclasses import dataclass

UPSAMPLING_MODES = ("nearest", "transpose", "edgetpu")


@dataclass(frozen=True)
class UNetSpec:
    filters: int = 16
    depth: int = 4
    upsampling: str = "nearest"
    in_channels: int = 1
    out_channels: int = 1

    def __post_init__(self):
        if self.upsampling not in UPSAMPLING_MODES:
            raise ValueError(f"unknown upsampling {self.upsampling!r}; choose one of {UPSAMPLING_MODES}")
        if self.filters < 1 or self.depth < 1:
            raise ValueError("filters and depth must be positive")

    @property
    def encoder_channels(self) -> list[int]:
        return [self.filters * 2**i for i in range(self.depth)]

    @property
    def bottleneck_channels(self) -> int:
        return self.filters * 2**self.depth
