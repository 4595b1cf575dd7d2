"""Reading BAGLS folders: ``N.png`` (frame), ``N_seg.png`` (glottis mask), ``N.meta`` (JSON).

A split folder may also be given one level up, as the Kaggle archive unpacks it
(``training/training/``, ``test/test/``): a folder whose only content is one sub-folder holding
the frames stands for that sub-folder (:func:`resolve_split_folder`).

Every error names the offending file and says what to do about it.
"""
from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)
_FRAME_RE = re.compile(r"^(\d+)\.png$")
# Entries an unpacked archive may leave beside the split folder; they do not count as content.
_IGNORED = ("__MACOSX",)


class BadSampleError(ValueError):
    """A BAGLS frame that cannot be used; ``path`` names the file at fault."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"{path}: {reason}. Fix or remove this frame, or set data.on_bad_sample: skip "
            "in the config to skip bad frames and list them in the bad-frame report."
        )


@dataclass(frozen=True)
class Frame:
    index: int
    image_path: Path
    mask_path: Path

    @property
    def meta_path(self) -> Path:
        return self.image_path.with_suffix(".meta")


def _has_frames(folder: Path) -> bool:
    return any(_FRAME_RE.match(p.name) for p in folder.iterdir())


def resolve_split_folder(folder: str | Path) -> Path:
    """The folder holding the frames: ``folder`` itself, or its only sub-folder if that holds them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"BAGLS folder {folder} does not exist. Set data.bagls_dir in the config to a folder "
            "holding N.png / N_seg.png / N.meta (e.g. BAGLS' training/), or set data.synthetic_frames "
            "to a number of frames (e.g. 96) to generate synthetic frames there."
        )
    if _has_frames(folder):
        return folder
    content = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in _IGNORED]
    if len(content) == 1 and content[0].is_dir() and _has_frames(content[0]):
        log.info("%s holds only the folder %s/ (as the Kaggle archive unpacks); using the frames in %s",
                 folder, content[0].name, content[0])
        return content[0]
    return folder


def list_frames(folder: str | Path) -> list[Frame]:
    """All frames in a BAGLS split folder (or its only sub-folder), sorted by N. Masks are not checked here."""
    folder = resolve_split_folder(folder)
    frames = []
    for p in folder.iterdir():
        m = _FRAME_RE.match(p.name)
        if m:
            frames.append(Frame(int(m.group(1)), p, folder / f"{m.group(1)}_seg.png"))
    if not frames:
        raise FileNotFoundError(
            f"BAGLS folder {folder} holds no frames (no files named N.png). Point data.bagls_dir "
            "at BAGLS' training/ or test/ folder."
        )
    return sorted(frames, key=lambda f: f.index)


def read_meta(frame: Frame) -> dict:
    """The frame's ``N.meta`` as a dict (BadSampleError if missing or not a JSON object)."""
    try:
        meta = json.loads(frame.meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadSampleError(frame.image_path, f"metadata {frame.meta_path.name} is missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadSampleError(frame.meta_path, f"unreadable JSON ({type(e).__name__}: {e})") from e
    if not isinstance(meta, dict):
        raise BadSampleError(frame.meta_path, "not a JSON object")
    return meta


def video_id(frame: Frame) -> int:
    """The meta's "Video Id" (BadSampleError if the meta or the key is missing or not an integer)."""
    vid = read_meta(frame).get("Video Id")
    if not isinstance(vid, int) or isinstance(vid, bool):
        raise BadSampleError(frame.meta_path, f'"Video Id" is {vid!r}, not an integer')
    return vid


# 16-bit grayscale PNG frames open in these modes; their pixels are scaled to 8 bits (see :func:`read_image`).
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_WIDE_MAX = 65535
# A mask's glottis value by how the mask was written; anything else is ambiguous and refused.
MASK_VALUES = {255: "0/255", 1: "0/1", _WIDE_MAX: "0/65535"}
EMPTY_MASK = "empty"


def _open(path: Path) -> Image.Image:
    """The decoded image; an unreadable file or one over PIL's decompression-bomb limit is a :class:`BadSampleError`.

    PIL only warns (``DecompressionBombWarning``) between ``Image.MAX_IMAGE_PIXELS`` and twice that and
    raises above; both are refused here, from the PNG header, before anything is decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return im.copy()   # closing the file releases the decoded pixels of ``im`` itself
    except FileNotFoundError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadSampleError(path, f"refused as a possible decompression bomb ({e}; PIL's limit is "
                                   f"Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS} px, a BAGLS frame has well "
                                   "under 1 Mpx)") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadSampleError(path, f"unreadable image ({type(e).__name__}: {e})") from e


def _wide_pixels(im: Image.Image, path: Path) -> np.ndarray:
    """The values of a 16-bit grayscale image; 32-bit ones must hold 16-bit values (PNG's deepest gray)."""
    a = np.asarray(im)
    if a.size and (a.min() < 0 or a.max() > _WIDE_MAX):
        raise BadSampleError(path, f"{im.mode} image with values {a.min()}..{a.max()}, outside the 16-bit range "
                                   f"0..{_WIDE_MAX}; save the frame as an 8- or 16-bit PNG")
    return a.astype(np.uint16)


def read_image(path: Path) -> np.ndarray:
    """A frame as 8-bit grayscale (uint8 HxW).

    Colour frames go through PIL's ITU-R 601-2 luma transform, so RGB and grayscale frames are treated
    alike. A **16-bit grayscale** PNG (mode ``I;16``) is *scaled* to 8 bits, ``round(v · 255 / 65535)``
    — PNG's own rule for changing sample depth, so 0 stays black, 65535 becomes 255 and the ordering of
    grey levels is kept (PIL's ``convert("L")`` would clip every value above 255 to white). 16-bit RGB
    PNGs are already reduced to 8 bits per channel by PIL when it opens them.
    """
    im = _open(path)
    if im.mode in _WIDE_MODES:
        wide = _wide_pixels(im, path).astype(np.uint32)
        return ((wide * 255 + _WIDE_MAX // 2) // _WIDE_MAX).astype(np.uint8)
    return np.asarray(im.convert("L"))


def read_mask(path: Path) -> tuple[np.ndarray, str]:
    """(binary mask uint8 HxW in {0,1}, how it was stored: ``"0/255"``, ``"0/1"``, ``"0/65535"`` or ``"empty"``).

    The value range is detected per file: background 0 and one glottis value, 255 (BAGLS), 1, or 65535
    (16-bit). Anything else — several non-zero values, a grey or colour label — is ambiguous (which
    pixels are glottis?) and refused as a :class:`BadSampleError` naming the file and its values; the
    old rule, ``> 127``, read a 0/1 mask as empty everywhere.
    """
    im = _open(path)
    values = _wide_pixels(im, path) if im.mode in _WIDE_MODES else np.asarray(im.convert("L"))
    present = np.unique(values)
    glottis = present[present != 0]
    if not len(glottis):
        return np.zeros(values.shape, np.uint8), EMPTY_MASK
    if len(glottis) == 1 and int(glottis[0]) in MASK_VALUES:
        return (values == glottis[0]).astype(np.uint8), MASK_VALUES[int(glottis[0])]
    shown = ", ".join(str(int(v)) for v in present[:8]) + (f", … ({len(present)} values)" if len(present) > 8 else "")
    raise BadSampleError(path, f"mask values {{{shown}}} are not background 0 and one glottis value (0/255 as BAGLS, "
                               "0/1 or 0/65535), so which pixels are glottis is ambiguous. Write the mask with 0 for "
                               "background and 255 for glottis")


@dataclass(frozen=True)
class Sample:
    """One frame read: the grayscale image, the binary mask and how the mask file stored it (:func:`read_mask`)."""
    image: np.ndarray
    mask: np.ndarray
    mask_values: str


def read_sample(frame: Frame) -> Sample:
    """The frame's image (:func:`read_image`) and mask (:func:`read_mask`), checked to be the same size."""
    if not frame.mask_path.exists():
        raise BadSampleError(frame.image_path, f"mask {frame.mask_path.name} is missing")
    image = read_image(frame.image_path)
    mask, values = read_mask(frame.mask_path)
    if image.shape != mask.shape:
        raise BadSampleError(
            frame.mask_path,
            f"mask size {mask.shape[1]}x{mask.shape[0]} differs from image "
            f"{frame.image_path.name} size {image.shape[1]}x{image.shape[0]}",
        )
    return Sample(image, mask, values)


def read_frame(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """Return (grayscale image uint8 HxW, binary mask uint8 HxW in {0,1}); see :func:`read_sample`."""
    s = read_sample(frame)
    return s.image, s.mask
