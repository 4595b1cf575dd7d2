"""PyTorch U-Net from :class:`~mpbench.models.spec.UNetSpec`. Returns logits; apply sigmoid in float32."""
from __future__ import annotations

import torch
from torch import nn

from .spec import UNetSpec


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class EdgeTPUUpsample(nn.Module):
    """Nearest ×2 by concatenation and reshape (same values as nn.Upsample(mode='nearest')).

    Written channels-last: the module permutes to NHWC, repeats along W then H there, and permutes
    back. litert-torch exports NHWC graphs, so these permutes cancel against its own layout changes:
    the TFLite model has CONCATENATION and RESHAPE only. The same repetition written on NCHW axes
    costs a TRANSPOSE on each side of every upsampling (8 in a depth-4 U-Net) and 4 more RESHAPEs.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = x.permute(0, 2, 3, 1)
        y = torch.cat([y, y], dim=-1).reshape(n, h, 2 * w, c)
        y = torch.cat([y, y], dim=2).reshape(n, 2 * h, 2 * w, c)
        return y.permute(0, 3, 1, 2)


def _upsample(mode: str, channels: int) -> nn.Module:
    if mode == "nearest":
        return nn.Upsample(scale_factor=2, mode="nearest")
    if mode == "transpose":
        return nn.ConvTranspose2d(channels, channels, 2, stride=2)
    return EdgeTPUUpsample()


class UNet(nn.Module):
    def __init__(self, spec: UNetSpec):
        super().__init__()
        self.spec = spec
        chans = spec.encoder_channels
        self.down = nn.ModuleList()
        cin = spec.in_channels
        for c in chans:
            self.down.append(_conv_block(cin, c))
            cin = c
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _conv_block(cin, spec.bottleneck_channels)
        cin = spec.bottleneck_channels
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for c in reversed(chans):
            self.up.append(_upsample(spec.upsampling, cin))
            self.dec.append(_conv_block(cin + c, c))
            cin = c
        self.head = nn.Conv2d(cin, spec.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.up, self.dec, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def build_unet(spec: UNetSpec) -> UNet:
    return UNet(spec)
