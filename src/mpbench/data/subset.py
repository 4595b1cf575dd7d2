"""Frame lists: ``data.subset`` (which BAGLS frames to use) and the list each preprocess run writes.

A frame list names frames by their BAGLS index N (``N.png``). Accepted formats:

- plain text, one index per line (blank lines and lines starting with ``#`` are ignored) — the
  format preprocess writes next to the HDF5 (``<h5 stem>_frames.txt``);
- CSV (a first line with a comma): the column named ``index``, else the first column; a first row
  that is not a number there is the header.

Errors name the file, the line and what to do.
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..io import write_text


def frames_list_path(h5_path: str | Path) -> Path:
    """``results/.../bagls_224.h5`` → ``results/.../bagls_224_frames.txt``."""
    h5_path = Path(h5_path)
    return h5_path.with_name(f"{h5_path.stem}_frames.txt")


def _parse_int(text: str, path: Path, line: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(
            f"data.subset file {path}, line {line}: {text.strip()!r} is not a frame index (an integer N "
            "of N.png). List one index per line, or give a CSV with a column named 'index'."
        ) from None
    if value < 0:
        raise ValueError(f"data.subset file {path}, line {line}: frame index {value} is negative")
    return value


def read_frame_list(path: str | Path) -> dict[int, int]:
    """Frame index → its line number in ``path``, in file order (see the module docstring for formats)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"data.subset file {path} does not exist. Set data.subset to a file listing frame indices "
            "(one per line, or a CSV with an 'index' column; relative paths start at the working "
            "directory), or to null to draw data.n_samples frames at random."
        )
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    # (line number, text) of every line that is neither blank nor a comment
    content = [(i, ln) for i, ln in enumerate(lines, 1) if ln.strip() and not ln.lstrip().startswith("#")]
    entries: list[tuple[int, str]] = []   # (line number, the index's text)
    if content and "," in content[0][1]:
        rows = [(i, next(csv.reader([ln]))) for i, ln in content]
        header = [c.strip() for c in rows[0][1]]
        col = header.index("index") if "index" in header else 0
        try:
            int(header[col])
        except ValueError:
            rows = rows[1:]   # a header row
        for i, row in rows:
            if col >= len(row):
                raise ValueError(f"data.subset file {path}, line {i}: no column {col + 1} ({header[col]!r})")
            entries.append((i, row[col]))
    else:
        entries = content
    if not entries:
        raise ValueError(f"data.subset file {path} lists no frames; list one frame index per line")
    first_line: dict[int, int] = {}
    for line, text in entries:
        value = _parse_int(text, path, line)
        if value in first_line:
            raise ValueError(
                f"data.subset file {path}, line {line}: frame {value} is listed twice (first on line "
                f"{first_line[value]}); a frame may appear once, or it could land in two folds."
            )
        first_line[value] = line
    return first_line


def write_frame_list(path: str | Path, indices) -> None:
    """One index per line (a format :func:`read_frame_list` and ``data.subset`` accept)."""
    write_text(path, "".join(f"{int(i)}\n" for i in indices))
