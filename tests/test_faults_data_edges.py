"""Data and config edges of issue 23, reproduced as a new user met them: masks stored 0/1 (case 3),
16-bit frames, a decompression-bomb PNG, and config values that passed the schema but broke or
silently changed a run — batch larger than the fold, a crop size the U-Net cannot pool, NaN learning
rate, negative seed (case 9)."""
import copy
import json
import logging
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from mpbench.data import bagls
from mpbench.data.bagls import BadSampleError, list_frames
from mpbench.data.dataset import load_h5
from mpbench.data.preprocess import preprocess_bagls
from mpbench.data.synthetic import write_synthetic_bagls
from mpbench.preflight import checks

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "config" / "schema.yaml")


def copy_frames(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def rewrite_masks(folder: Path, convert) -> None:
    """Every N_seg.png rewritten as ``convert`` makes it from its 0/255 values."""
    for f in list_frames(folder):
        with Image.open(f.mask_path) as im:
            values = np.asarray(im)
        Image.fromarray(convert(values)).save(f.mask_path)


def demo_config() -> dict:
    """config/demo.yaml laid over config/config.yaml, as the workflow sees it."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for section, values in yaml.safe_load((REPO / "config" / "demo.yaml").read_text()).items():
        cfg[section] = {**cfg[section], **values} if isinstance(values, dict) else values
    return cfg


# --- case 3: the value range of masks ------------------------------------------------------------
def test_masks_stored_0_1_are_read_as_the_glottis_not_as_empty(bagls_dir, tmp_path):
    """Binarised with > 127, a 0/1 mask was empty everywhere and every frame scored empty_iou = 1."""
    ones = copy_frames(bagls_dir, tmp_path / "ones")
    rewrite_masks(ones, lambda v: (v > 0).astype(np.uint8))
    ref = preprocess_bagls(bagls_dir, tmp_path / "ref.h5", n_samples=24, seed=1, n_folds=2, crop_size=64)
    got = preprocess_bagls(ones, tmp_path / "ones.h5", n_samples=24, seed=1, n_folds=2, crop_size=64)
    np.testing.assert_array_equal(load_h5(tmp_path / "ones.h5")["masks"], load_h5(tmp_path / "ref.h5")["masks"])
    empty = ref["masks"]["empty"]
    assert 0 < empty < 24 / 2   # synthetic frames: a minority has a closed glottis
    assert got["masks"]["values"] == {"0/1": 24 - empty, "empty": empty}
    assert ref["masks"]["values"] == {"0/255": 24 - empty, "empty": empty}
    assert not got["masks"]["mostly_empty"]


@pytest.mark.parametrize("values", [(0, 1, 255), (0, 128, 255), (0, 100)])
def test_an_ambiguous_mask_is_refused_naming_the_file_and_its_values(bagls_dir, tmp_path, values):
    d = copy_frames(bagls_dir, tmp_path / "bagls")
    frame = next(f for f in list_frames(d) if np.asarray(Image.open(f.mask_path)).any())
    with Image.open(frame.mask_path) as im:
        mask = np.asarray(im).copy()
    glottis = np.flatnonzero(mask)
    for k, v in enumerate(values[1:]):   # the glottis pixels split between the non-zero values
        mask.flat[glottis[k::len(values) - 1]] = v
    Image.fromarray(mask).save(frame.mask_path)
    n = len(list_frames(d))
    with pytest.raises(BadSampleError) as e:
        preprocess_bagls(d, tmp_path / "o.h5", n_samples=n, seed=1, n_folds=2, crop_size=64)
    msg = str(e.value)
    assert msg.startswith(str(frame.mask_path)) and "{" + ", ".join(map(str, values)) + "}" in msg
    assert "ambiguous" in msg and "on_bad_sample" in msg
    summary = preprocess_bagls(d, tmp_path / "o.h5", n_samples=n - 1, seed=1, n_folds=2, crop_size=64,
                               on_bad_sample="skip")
    assert [b["file"] for b in summary["bad_frames"]] == [str(frame.mask_path)]
    assert frame.image_path.name not in load_h5(tmp_path / "o.h5")["source"]


def test_most_masks_empty_is_warned_and_reported(bagls_dir, tmp_path, caplog):
    """Masks that are not the frames' (e.g. another label's file, blank exports) look like closed glottises."""
    d = copy_frames(bagls_dir, tmp_path / "bagls")
    frames = list_frames(d)
    for f in frames[: len(frames) * 3 // 4]:
        with Image.open(f.mask_path) as im:
            Image.new("L", im.size).save(f.mask_path)
    with caplog.at_level(logging.WARNING):
        summary = preprocess_bagls(d, tmp_path / "o.h5", n_samples=len(frames), seed=1, n_folds=2, crop_size=64,
                                   bad_report=tmp_path / "report.json")
    m = summary["masks"]
    assert m["mostly_empty"] and m["empty"] >= len(frames) * 3 // 4 and m["empty_fraction"] > 0.5
    assert json.loads((tmp_path / "report.json").read_text())["masks"] == m
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{m['empty']} of {len(frames)} masks drawn from {d}" in w and "no glottis pixel" in w
               and "evaluation.empty_iou" in w for w in warned), warned


# --- case 9: 16-bit frames, decompression bombs ---------------------------------------------------
def test_16_bit_frames_are_scaled_to_8_bits_not_clipped_to_white(bagls_dir, tmp_path):
    d = copy_frames(bagls_dir, tmp_path / "wide")
    for f in list_frames(d):
        with Image.open(f.image_path) as im:
            gray = np.asarray(im.convert("L"))
        Image.fromarray(gray.astype(np.uint16) * 257).save(f.image_path)   # the same grey levels in 16 bits
        with Image.open(f.image_path) as im:
            assert im.mode == "I;16"
    preprocess_bagls(bagls_dir, tmp_path / "ref.h5", n_samples=24, seed=1, n_folds=2, crop_size=64)
    preprocess_bagls(d, tmp_path / "wide.h5", n_samples=24, seed=1, n_folds=2, crop_size=64)
    np.testing.assert_array_equal(load_h5(tmp_path / "wide.h5")["images"], load_h5(tmp_path / "ref.h5")["images"])
    ramp = Image.fromarray(np.arange(0, 65536, 256, dtype=np.uint16).reshape(16, 16))
    ramp.save(tmp_path / "ramp.png")
    expected = np.round(np.arange(0, 65536, 256) * 255 / 65535).astype(np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(bagls.read_image(tmp_path / "ramp.png"), expected)   # 0 → 0, top → 255, monotone


def write_black_png(path: Path, width: int, height: int) -> int:
    """A valid 8-bit grayscale PNG of ``width``×``height`` black pixels, compressed row block by row block
    (a few hundred KiB on disk for 10⁸ pixels: a decompression bomb). Returns its size in bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z, rows, parts = zlib.compressobj(9), b"\0" * ((width + 1) * 1000), []
    for start in range(0, height, 1000):
        parts.append(z.compress(rows if height - start >= 1000 else rows[: (width + 1) * (height - start)]))
    parts.append(z.flush())
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    path.write_bytes(data)
    return len(data)


@pytest.mark.parametrize("level", ["warning", "error"])
def test_a_decompression_bomb_is_named_and_skipped_like_any_bad_frame(bagls_dir, tmp_path, level):
    """Over Image.MAX_IMAGE_PIXELS PIL only warns (and decodes ~90 MB); over twice that it raises an error
    that is no OSError: it stopped preprocessing, unnamed, even under on_bad_sample: skip."""
    d = copy_frames(bagls_dir, tmp_path / "bagls")
    limit = Image.MAX_IMAGE_PIXELS
    height = limit // 10_000 + 1 if level == "warning" else 2 * limit // 10_000 + 1
    bomb = list_frames(d)[5].image_path
    assert write_black_png(bomb, 10_000, height) < 1_000_000
    n = len(list_frames(d))
    with pytest.raises(BadSampleError) as e:
        preprocess_bagls(d, tmp_path / "o.h5", n_samples=n, seed=1, n_folds=2, crop_size=64)
    assert str(e.value).startswith(str(bomb)) and "decompression bomb" in str(e.value)
    assert "on_bad_sample" in str(e.value)
    summary = preprocess_bagls(d, tmp_path / "o.h5", n_samples=n - 1, seed=1, n_folds=2, crop_size=64,
                               on_bad_sample="skip")
    (skipped,) = summary["bad_frames"]
    assert skipped["file"] == str(bomb) and "decompression bomb" in skipped["reason"]
    assert bomb.name not in load_h5(tmp_path / "o.h5")["source"]


# --- case 9: config values that passed the schema -------------------------------------------------
def test_a_batch_larger_than_the_training_fold_is_refused_naming_the_key_and_the_fold():
    """Recorded batch 64, trained at 8: the record's batch size and its timing said different things."""
    cfg = demo_config()
    cfg["data"].update(n_samples=16, n_folds=2)
    cfg["train"]["batch_size"] = 64
    (problem,) = checks.config_problems(cfg)
    assert problem.startswith("train.batch_size is 64, larger than the 8 training frames of fold 0 "
                              "(data.n_samples 16 in data.n_folds 2 folds)")
    assert "Set train.batch_size to at most 8" in problem
    cfg["train"]["batch_size"] = 8
    assert checks.config_problems(cfg) == []
    cfg["train"]["batch_size_overrides"] = [{"precision": "mixed_bf16", "batch_size": 12}]
    cfg["train"]["samples_limit"] = 6
    cfg["train"]["batch_size"] = 6
    (problem,) = checks.config_problems(cfg)
    assert problem.startswith("train.batch_size_overrides[0] is 12, larger than the 6 training frames of fold 0 "
                              "(data.n_samples 16 in data.n_folds 2 folds, train.samples_limit 6)")


def test_a_batch_larger_than_a_fold_by_video_stops_the_training_job_before_any_epoch(tmp_path):
    """Folds by video are sized when the HDF5 is written: the training job checks, and trains nothing."""
    from mpbench.settings import RunSettings
    from mpbench.training import loop
    src = write_synthetic_bagls(tmp_path / "bagls", 16, seed=5)
    h5 = tmp_path / "v.h5"
    preprocess_bagls(src, h5, n_samples=16, seed=1, n_folds=2, crop_size=64, folds_by="video")
    n_train = int((load_h5(h5)["fold"] != 0).sum())
    s = RunSettings(framework="pytorch", device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                    batch_size=64, max_epochs=2, channels_last=False, threads=2)
    out = tmp_path / "cell"
    with pytest.raises(ValueError) as e:
        loop.train(s, h5, out / "result.json", out / "model.pt", out / "checkpoint")
    assert str(e.value).startswith(f"train.batch_size is 64, larger than the {n_train} training frames of fold 0 "
                                   f"in {h5}")
    assert not (out / "result.json").exists() and not (out / "model.pt").exists()


@pytest.mark.parametrize("size", [100, 225])
def test_a_crop_size_the_unet_cannot_pool_is_refused_naming_data_crop_size(bagls_dir, tmp_path, size):
    cfg = demo_config()
    cfg["data"]["crop"]["size"] = size
    validate(cfg, SCHEMA)
    (problem,) = checks.config_problems(cfg)
    lower = size // 16 * 16
    assert problem.startswith(f"data.crop.size is {size}, not a multiple of 16")
    assert f"Set data.crop.size to {lower} or {lower + 16}" in problem
    with pytest.raises(ValueError, match=f"data.crop.size is {size}, not a multiple of 16"):
        preprocess_bagls(bagls_dir, tmp_path / "o.h5", n_samples=8, n_folds=2, crop_size=size)
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize(("key", "value"), [("learning_rate", float("nan")), ("learning_rate", float("inf")),
                                            ("fp16_loss_scale", float("nan"))])
def test_a_non_finite_number_is_refused_naming_the_key(key, value):
    """NaN passes every bound of a JSON schema (every comparison with it is false)."""
    cfg = demo_config()
    cfg["train"][key] = value
    validate(cfg, SCHEMA)
    (problem,) = checks.config_problems(cfg)
    assert problem.startswith(f"train.{key} is {value}, not a finite number")


def test_a_negative_seed_is_refused_by_the_schema():
    cfg = demo_config()
    cfg["data"]["seed"] = -1
    with pytest.raises(WorkflowError, match=r"-1 is less than the minimum of 0(.|\n)*\['data'\]\['seed'\]"):
        validate(copy.deepcopy(cfg), SCHEMA)


def test_the_workflow_refuses_these_values_at_once_naming_each_key(tmp_path):
    from conftest import run_snakemake, small_config
    cfg = small_config(tmp_path, "edges", data={"crop": {"policy": "center", "size": 72}},
                       train={"batch_size": 32, "learning_rate": float("nan")})
    run = run_snakemake("-n", "--configfile", str(cfg), timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "train.learning_rate is nan, not a finite number" in out
    assert "data.crop.size is 72, not a multiple of 16" in out
    assert "train.batch_size is 32, larger than the 20 training frames of fold 0" in out
    assert not (tmp_path / "edges").exists()
