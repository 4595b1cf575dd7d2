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


def _open_gray(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("L"))
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadSampleError(path, f"unreadable image ({type(e).__name__}: {e})") from e


def read_frame(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """Return (grayscale image uint8 HxW, binary mask uint8 HxW in {0,1}).

    Grayscale uses PIL's ITU-R 601-2 luma transform, so RGB and grayscale frames are treated alike.
    """
    if not frame.mask_path.exists():
        raise BadSampleError(frame.image_path, f"mask {frame.mask_path.name} is missing")
    image = _open_gray(frame.image_path)
    mask = _open_gray(frame.mask_path)
    if image.shape != mask.shape:
        raise BadSampleError(
            frame.mask_path,
            f"mask size {mask.shape[1]}x{mask.shape[0]} differs from image "
            f"{frame.image_path.name} size {image.shape[1]}x{image.shape[0]}",
        )
    return image, (mask > 127).astype(np.uint8)
