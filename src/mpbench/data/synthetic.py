"""Synthetic glottis frames written in the real BAGLS on-disk format.

BAGLS (Gómez et al., Sci. Data 2020) stores, per split folder, ``N.png`` (the endoscopic frame),
``N_seg.png`` (binary glottis mask, 0/255) and ``N.meta`` (JSON metadata), N = 0, 1, 2, ...
Frames come in several sizes and may be RGB or grayscale. This generator writes exactly that, so the
real reader (:mod:`mpbench.data.bagls`) cannot tell it from BAGLS: a pinkish, vignetted, noisy
tissue background with one dark glottis-like opening whose shape, size, angle and position vary,
and some frames with an empty mask (closed glottis), as in real videos.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

# (height, width) as in BAGLS' most common frame sizes.
FRAME_SIZES = ((256, 256), (512, 256), (256, 512), (512, 512))
CLOSED_FRACTION = 0.1
RGB_FRACTION = 0.5


def _glottis_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A dark slit: a rotated super-ellipse, elongated along the anterior-posterior axis."""
    cy = rng.uniform(0.3, 0.7) * h
    cx = rng.uniform(0.3, 0.7) * w
    half_len = rng.uniform(0.12, 0.3) * min(h, w)
    half_width = half_len * rng.uniform(0.12, 0.45)
    angle = rng.uniform(-0.5, 0.5)  # radians off vertical
    power = rng.uniform(1.6, 3.0)   # shape: diamond-ish .. rounded
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    u = dy * np.cos(angle) + dx * np.sin(angle)   # along the slit
    v = -dy * np.sin(angle) + dx * np.cos(angle)  # across the slit
    # Asymmetric opening: wider at the posterior end, as a glottis often is.
    taper = 1.0 + 0.35 * np.clip(u / half_len, -1, 1)
    r = np.abs(u / half_len) ** power + np.abs(v / (half_width * taper)) ** power
    return r <= 1.0


def synthetic_frame(rng: np.random.Generator, h: int, w: int, closed: bool):
    """Return (image uint8 HxWx3, mask uint8 HxW in {0,255})."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    vignette = np.clip(1.1 - 0.6 * r2, 0.15, 1.0)
    base = np.array([rng.uniform(170, 230), rng.uniform(90, 140), rng.uniform(80, 130)], np.float32)
    # Low-frequency tissue texture: coarse noise upsampled.
    coarse = rng.normal(0, 18, size=(h // 32 + 1, w // 32 + 1)).astype(np.float32)
    texture = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.BILINEAR))
    img = vignette[..., None] * (base[None, None, :] + texture[..., None])
    if closed:
        mask = np.zeros((h, w), bool)
    else:
        mask = _glottis_mask(rng, h, w)
        depth = rng.uniform(0.08, 0.3)  # how dark the opening is
        img[mask] *= depth
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), (mask * 255).astype(np.uint8)


def write_synthetic_bagls(folder: str | Path, n_frames: int, seed: int = 0) -> Path:
    """Write ``n_frames`` synthetic BAGLS frames (``N.png``, ``N_seg.png``, ``N.meta``) to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in range(n_frames):
        h, w = FRAME_SIZES[rng.integers(len(FRAME_SIZES))]
        closed = rng.random() < CLOSED_FRACTION
        rgb = rng.random() < RGB_FRACTION
        img, mask = synthetic_frame(rng, h, w, closed)
        image = Image.fromarray(img, "RGB") if rgb else Image.fromarray(img, "RGB").convert("L")
        image.save(folder / f"{n}.png", compress_level=1)
        Image.fromarray(mask, "L").save(folder / f"{n}_seg.png", compress_level=1)
        meta = {
            "Image size": [w, h],
            "Video ID": int(n // 20),
            "Subject disorder status": "synthetic",
            "Camera": "mpbench synthetic generator",
            "Endoscope application": "synthetic",
            "Color": bool(rgb),
            "Glottis closed": bool(closed),
            "Seed": int(seed),
        }
        (folder / f"{n}.meta").write_text(json.dumps(meta))
    return folder
