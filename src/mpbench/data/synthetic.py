"""Synthetic glottis frames written exactly as real BAGLS writes them.

BAGLS (Gómez et al., Sci. Data 2020) stores, per split folder, ``N.png`` (the endoscopic frame),
``N_seg.png`` (glottis mask) and ``N.meta`` (JSON metadata), N = 0, 1, 2, ... This generator writes
what the real files hold (checked against real BAGLS frames, tests/test_bagls_real.py):

- ``N.png`` is always 8-bit RGB; grayscale cameras give R = G = B and ``"Color": false``;
- ``N_seg.png`` is 8-bit L with values {0, 255}, all 0 when the glottis is closed;
- ``N.meta`` is JSON with BAGLS' 12 keys and value types (:data:`META_TYPES`), its
  ``"Video resolution (px, HxW)"`` equal to the PNG size;
- frame sizes are BAGLS' nine sizes (:data:`FRAME_SIZES`), tied to the camera as in BAGLS, so
  about 44 % of the frames are narrower than 224 px (BAGLS' test split: 38.6 %).

Frames come in videos of a few consecutive frames (one "Video Id": same camera, size, colour,
tissue and glottis position; the opening varies from frame to frame as the folds oscillate, and
about 10 % of frames are closed). As in BAGLS, a video's frames are spread over N. Each frame shows tissue
with vignetting, texture and noise, sometimes the endoscope's black circular aperture, two
lighter vocal folds and between them a dark, thin, slit-shaped opening (about 5 to 22 px wide,
80 to 210 px long), the mask. The meta's "Subject disorder status" is ``"synthetic"``.

Deterministic by seed; about 80 frames per second on one core, PNG writing included.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# BAGLS' 12 meta keys and the types of their values (None: JSON null).
META_TYPES: dict[str, tuple[type, ...]] = {
    "Video Id": (int,),
    "Camera": (str,),
    "Sampling rate (Hz)": (int,),
    "Video resolution (px, HxW)": (list,),
    "Color": (bool,),
    "Endoscope orientation": (str, type(None)),
    "Endoscope application": (str,),
    "Age range (yrs)": (str,),
    "Subject sex": (str,),
    "Subject disorder status": (str,),
    "Segmenter": (int,),
    "Post-processed": (int,),
}


@dataclass(frozen=True)
class Camera:
    name: str
    sizes: tuple[tuple[int, int], ...]   # (H, W)
    rates_hz: tuple[int, ...]
    color: bool
    orientation: str | None
    application: str


# The cameras of BAGLS with the frame sizes, sampling rates and colour they come with there.
CAMERAS = (
    Camera("KayPentax HSV 9710 (Photron)", ((512, 512), (512, 256), (512, 128), (320, 256), (288, 128)),
           (2000, 4000, 6000, 8000), False, "70°", "oral"),
    Camera("KayPentax HSV 9700 (Photron)", ((256, 120),), (2000,), False, "70°", "oral"),
    Camera("HERS 5562 Endocam Wolf", ((256, 256),), (4000,), False, "70°", "oral"),
    Camera("Phantom v210", ((352, 208),), (3000,), False, None, ""),
    Camera("FASTCAM Mini AX100 type 540K-C-16GB", ((352, 256), (256, 256)), (1000,), True, None, "nasal"),
)
# (height, width): BAGLS' frame sizes.
FRAME_SIZES = tuple(sorted({s for c in CAMERAS for s in c.sizes}))
FRAMES_PER_VIDEO = (2, 5)      # inclusive range
# A video's opening (0..1) over its frames: OPENING_MEAN + 0.6 sin(phase), clipped; below
# CLOSED_BELOW the frame is closed (empty mask): about 10 % of frames (BAGLS sample: 6 of 31; more
# closed frames slow the first epochs of the tests' tiny trainings).
OPENING_MEAN = 0.75
CLOSED_BELOW = 0.18
HALF_LENGTH = (0.15, 0.28)     # a video's half length of the opening, fraction of the frame height …
HALF_LENGTH_PX = (30, 110)     # … clipped to this range, px (BAGLS sample: lengths 20..210 px)
MAX_HALF_WIDTH_PX = (5.0, 11.0)   # a video's half width of the opening, fully open, px
MIN_WIDTH_FRACTION = 0.5      # width of a barely open glottis, as a fraction of the full opening
# Gray levels: BAGLS' tissue is 14..180 and its glottis 7..83 (sample means); here the contrast is
# kept high so that the demo's and tests' small U-Nets learn in a few epochs.
TISSUE_LEVEL = (130.0, 210.0)  # a video's tissue brightness at the frame centre
GLOTTIS_LEVEL = (10.0, 30.0)   # a video's gray level inside the opening
APERTURE_FRACTION = 0.5        # videos showing the endoscope's black circular edge
AGE_RANGES = ("10-20", "20-30", "30-40", "40-50", "50-60", "60-70", "70-80", "")
SEXES = ("w", "W", "m", "M", "")
# The marker the generator writes into its folder (marker_name): the folder is its own to replace.
MARKER_PREFIX = ".mpbench-synthetic-"


@dataclass(frozen=True)
class _Video:
    """What the frames of one video share."""
    video_id: int
    camera: Camera
    h: int
    w: int
    meta: dict
    tint: np.ndarray          # RGB multipliers (all 1 for grayscale cameras)
    brightness: float
    texture_seed: int         # of the low-frequency tissue texture (made per frame: little memory)
    aperture_radius: float | None   # the endoscope's circular field of view, px (None: none visible)
    cy: float
    cx: float
    angle: float              # radians off vertical
    half_len: float
    max_half_width: float     # px, at full opening
    power: float
    taper: float
    glottis_level: float      # gray level inside the opening
    phase: float
    step: float               # phase advance per frame (radians)


def _video(rng: np.random.Generator, video_id: int) -> _Video:
    camera = CAMERAS[rng.integers(len(CAMERAS))]
    h, w = camera.sizes[rng.integers(len(camera.sizes))]
    rate = int(camera.rates_hz[rng.integers(len(camera.rates_hz))])
    tint = (np.array([1.0, rng.uniform(0.45, 0.65), rng.uniform(0.4, 0.6)], np.float32) if camera.color
            else np.ones(3, np.float32))
    half_len = float(np.clip(rng.uniform(*HALF_LENGTH) * h, *HALF_LENGTH_PX))
    cy = rng.uniform(0.42, 0.58) * h
    cx = rng.uniform(0.4, 0.6) * w
    radius = None
    if rng.random() < APERTURE_FRACTION:
        # The endoscope's circular field of view, large enough to hold the whole glottis.
        radius = max(rng.uniform(0.35, 0.55) * max(h, w), half_len + np.hypot(cy - h / 2, cx - w / 2) + 24)
    meta = {
        "Video Id": int(video_id),
        "Camera": camera.name,
        "Sampling rate (Hz)": rate,
        "Video resolution (px, HxW)": [int(h), int(w)],
        "Color": bool(camera.color),
        "Endoscope orientation": camera.orientation,
        "Endoscope application": camera.application,
        "Age range (yrs)": AGE_RANGES[rng.integers(len(AGE_RANGES))],
        "Subject sex": SEXES[rng.integers(len(SEXES))],
        "Subject disorder status": "synthetic",
        "Segmenter": int(rng.integers(0, 3)),
        "Post-processed": int(rng.integers(1, 3)),
    }
    return _Video(
        video_id=video_id, camera=camera, h=h, w=w, meta=meta, tint=tint,
        brightness=float(rng.uniform(*TISSUE_LEVEL)), texture_seed=int(rng.integers(2**31)),
        aperture_radius=radius, cy=cy, cx=cx,
        angle=float(rng.uniform(-0.3, 0.3)), half_len=half_len, max_half_width=float(rng.uniform(*MAX_HALF_WIDTH_PX)),
        power=float(rng.uniform(1.6, 2.6)), taper=float(rng.uniform(-0.4, 0.4)),
        glottis_level=float(rng.uniform(*GLOTTIS_LEVEL)), phase=float(rng.uniform(0, 2 * np.pi)),
        step=float(rng.uniform(0.5, 1.3)),
    )


def _frame(rng: np.random.Generator, v: _Video, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t`` of video ``v``: (image uint8 HxWx3, mask uint8 HxW in {0, 255})."""
    h, w = v.h, v.w
    opening = float(np.clip(OPENING_MEAN + 0.6 * np.sin(v.phase + t * v.step), 0, 1))
    cy, cx = v.cy + rng.normal(0, 2), v.cx + rng.normal(0, 2)   # slight camera motion
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    u = dy * np.cos(v.angle) + dx * np.sin(v.angle)    # along the slit
    s = -dy * np.sin(v.angle) + dx * np.cos(v.angle)   # across the slit
    ul = np.clip(u / v.half_len, -1, 1)
    # The vocal folds: two lighter bands along the slit.
    folds = np.exp(-((s / (3 * v.max_half_width + 8)) ** 2) - np.maximum(np.abs(u / v.half_len) - 1, 0) ** 2 * 8)
    r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    coarse = np.random.default_rng(v.texture_seed).normal(0, 14, size=(h // 32 + 2, w // 32 + 2))
    texture = np.asarray(Image.fromarray(coarse.astype(np.float32), "F").resize((w, h), Image.BILINEAR))
    gray = v.brightness * np.clip(1.1 - 0.45 * r2, 0.5, 1.0) * (1 + 0.3 * folds) + texture
    mask = np.zeros((h, w), bool)
    if opening >= CLOSED_BELOW:
        open_fraction = MIN_WIDTH_FRACTION + (1 - MIN_WIDTH_FRACTION) * opening
        half_width = open_fraction * v.max_half_width * (1 + v.taper * ul)
        mask = np.abs(u / v.half_len) ** v.power + np.abs(s / half_width) ** v.power <= 1.0
        if mask.sum() < 20:   # too thin to see: a closed glottis
            mask[:] = False
        gray = np.where(mask, v.glottis_level + 0.3 * texture, gray)
    if v.aperture_radius is not None:
        inside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= v.aperture_radius ** 2
        gray = np.where(inside, gray, gray * 0.04)
    img = gray[..., None] * v.tint[None, None, :]
    noise = rng.normal(0, 5, size=(h, w, 3 if v.camera.color else 1)).astype(np.float32)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(img, (h, w, 3))), (mask * 255).astype(np.uint8)


def synthetic_frames(n_frames: int, seed: int = 0):
    """Yield ``n_frames`` (N, image HxWx3 uint8, mask HxW uint8 {0, 255}, meta dict), in N order."""
    rng = np.random.default_rng(seed)
    videos: list[tuple[_Video, int]] = []   # (video, frame number within it)
    vid = 0
    while len(videos) < n_frames:
        video = _video(rng, vid)
        videos += [(video, t) for t in range(int(rng.integers(FRAMES_PER_VIDEO[0], FRAMES_PER_VIDEO[1] + 1)))]
        vid += 1
    videos = videos[:n_frames]
    order = rng.permutation(n_frames)   # N of each frame: a video's frames are spread over N
    for n in range(n_frames):
        video, t = videos[order[n]]
        img, mask = _frame(np.random.default_rng([seed, int(order[n])]), video, t)
        yield n, img, mask, video.meta


def marker_name(n_frames: int, seed: int) -> str:
    """The marker file the generator writes first into its folder: names the frames' count and seed."""
    return f"{MARKER_PREFIX}{n_frames}-seed{seed}.json"


def _synthetic_meta(path: Path) -> bool:
    try:
        return path.is_file() and json.loads(path.read_text()).get("Subject disorder status") == "synthetic"
    except (OSError, ValueError, AttributeError):
        return False


def _own_file(path: Path, marked: bool) -> bool:
    """Whether ``path`` is a file this generator writes: a marker, an ``N.meta`` whose "Subject disorder
    status" is ``"synthetic"``, or ``N.png`` / ``N_seg.png`` in a folder with its marker (``marked``) or
    beside such a meta."""
    name = path.name
    if not path.is_file():
        return False
    if name.startswith(MARKER_PREFIX) and name.endswith(".json"):
        return True
    stem, _, ext = name.partition(".")
    number = stem[:-4] if stem.endswith("_seg") else stem
    if not number.isdigit() or ext not in ("png", "meta"):
        return False
    if ext == "meta":
        return stem == number and _synthetic_meta(path)
    return marked or _synthetic_meta(path.with_name(f"{number}.meta"))


def foreign_folder_problem(folder: str | Path, n_frames: int) -> str | None:
    """Why the generator must not write into ``folder`` (None: it may).

    It may write into a missing or empty folder, or one holding only what it wrote (a marker and
    synthetic frames; a folder of an earlier mpbench without a marker counts when every file is one
    of its frames). Anything else — a user's BAGLS copy, a notes file — is refused, so that
    regenerating (which replaces the frames) never deletes what it did not write.
    """
    folder = Path(folder)
    if not folder.exists():
        return None
    if not folder.is_dir():
        found = "is a file"
    else:
        entries = sorted(folder.iterdir())
        marked = any(p.name.startswith(MARKER_PREFIX) for p in entries)
        foreign = next((p for p in entries if not _own_file(p, marked)), None)
        if foreign is None:
            return None
        found = f"holds files mpbench's synthetic generator did not write (e.g. {foreign.name}; {len(entries)} entries)"
    return (f"data.bagls_dir {folder} {found}, and data.synthetic_frames is {n_frames}: generating "
            "synthetic frames would replace it. Nothing was changed. To train on the frames there, set "
            "data.synthetic_frames: 0; for synthetic frames, point data.bagls_dir at a new folder.")


def write_synthetic_bagls(folder: str | Path, n_frames: int, seed: int = 0) -> Path:
    """Write ``n_frames`` synthetic BAGLS frames (``N.png``, ``N_seg.png``, ``N.meta``) to ``folder``.

    Refuses (``ValueError``, nothing changed) a folder holding anything it did not write
    (:func:`foreign_folder_problem`); removes the frames and marker of an earlier call there, writes
    its marker (:func:`marker_name`) first, then the frames.
    """
    folder = Path(folder)
    problem = foreign_folder_problem(folder, n_frames)
    if problem:
        raise ValueError(problem)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / marker_name(n_frames, seed)).write_text(json.dumps(
        {"written_by": "mpbench.data.synthetic", "n_frames": n_frames, "seed": seed}, indent=2))
    for n, img, mask, meta in synthetic_frames(n_frames, seed):
        Image.fromarray(img, "RGB").save(folder / f"{n}.png", compress_level=1)
        Image.fromarray(mask, "L").save(folder / f"{n}_seg.png", compress_level=1)
        (folder / f"{n}.meta").write_text(json.dumps(meta, indent=4))
    return folder
