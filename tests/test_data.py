import json
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import REAL_SAMPLE
from mpbench.data.bagls import BadSampleError, list_frames, read_frame
from mpbench.data.dataset import load_h5, normalise, split_fold
from mpbench.data.preprocess import crop_pair, preprocess_bagls


def test_synthetic_is_bagls_format(bagls_dir):
    frames = list_frames(bagls_dir)
    assert [f.index for f in frames] == list(range(48))
    sizes, modes, empty = set(), set(), 0
    for f in frames:
        assert f.mask_path.exists() and f.meta_path.exists()
        meta = json.loads(f.meta_path.read_text())
        with Image.open(f.image_path) as im:
            sizes.add(im.size)
            modes.add(im.mode)
            assert list(im.size) == meta["Image size"]
        image, mask = read_frame(f)
        assert image.dtype == np.uint8 and image.ndim == 2
        assert set(np.unique(mask)) <= {0, 1}
        empty += int(mask.sum() == 0)
        if mask.any():  # the glottis is darker than its surroundings
            assert image[mask == 1].mean() < image[mask == 0].mean() - 30
    assert len(sizes) >= 3 and modes == {"RGB", "L"}
    assert 0 < empty < 48


def test_real_sample_preprocesses(tmp_path):
    if not REAL_SAMPLE.exists():
        pytest.skip(f"no real BAGLS sample at {REAL_SAMPLE}")
    folders = [p.parent for p in REAL_SAMPLE.rglob("*_seg.png")]
    folder = sorted(set(folders))[0]
    n = len(list_frames(folder))
    out = tmp_path / "real.h5"
    preprocess_bagls(folder, out, n_samples=min(n, 8), n_folds=2)
    d = load_h5(out)
    assert d["images"].shape[1:] == (224, 224) and d["masks"].max() == 1


def test_h5_round_trip(bagls_dir, h5_path):
    d = load_h5(h5_path)
    assert d["images"].dtype == np.uint8 and d["images"].shape == (40, 224, 224)
    assert d["masks"].dtype == np.uint8 and set(np.unique(d["masks"])) == {0, 1}
    assert d["fold"].dtype == np.int8
    assert d["attrs"]["seed"] == 1 and d["attrs"]["crop_policy"] == "glottis"
    assert d["attrs"]["source_folder"] == str(bagls_dir.resolve())
    # Stored values equal a fresh crop of the named source frame.
    frames = {f.image_path.name: f for f in list_frames(bagls_dir)}
    for k in (0, 17, 39):
        img, msk = crop_pair(*read_frame(frames[d["source"][k]]), 224, "glottis")
        np.testing.assert_array_equal(d["images"][k], img)
        np.testing.assert_array_equal(d["masks"][k], msk)
    # Folds: disjoint, covering, balanced.
    a, b = split_fold(d, 0), split_fold(d, 1)
    assert len(a.x_val) + len(b.x_val) == 40 and abs(len(a.x_val) - len(b.x_val)) <= 1
    assert len(a.x_train) == len(b.x_val)
    assert set(np.flatnonzero(d["fold"] == 0)).isdisjoint(np.flatnonzero(d["fold"] == 1))
    assert len(set(d["source"])) == 40
    with pytest.raises(ValueError, match="fold 2 out of range"):
        split_fold(d, 2)


def test_seed_reproducible(bagls_dir, h5_path, tmp_path):
    preprocess_bagls(bagls_dir, tmp_path / "same.h5", n_samples=40, seed=1, n_folds=2)
    preprocess_bagls(bagls_dir, tmp_path / "other.h5", n_samples=40, seed=2, n_folds=2)
    a, same, other = load_h5(h5_path), load_h5(tmp_path / "same.h5"), load_h5(tmp_path / "other.h5")
    np.testing.assert_array_equal(a["images"], same["images"])
    np.testing.assert_array_equal(a["fold"], same["fold"])
    assert a["source"] == same["source"] and a["source"] != other["source"]


def test_glottis_crop_keeps_glottis_and_pads_small_frames():
    image = np.full((100, 600), 200, np.uint8)
    mask = np.zeros_like(image)
    mask[40:60, 520:560] = 1
    image[mask == 1] = 10
    img, msk = crop_pair(image, mask, 224, "glottis")
    assert img.shape == (224, 224) and msk.sum() == mask.sum()
    assert (img == 0).any()  # zero padding above and below
    img_c, msk_c = crop_pair(image, mask, 224, "center")
    assert msk_c.sum() == 0  # a centre crop misses this glottis


def test_normalise():
    x = np.array([0, 255], np.uint8)
    np.testing.assert_allclose(normalise(x, "symmetric"), [-1, 1])
    np.testing.assert_allclose(normalise(x, "unit"), [0, 1])


def _copy(bagls_dir, tmp_path, n=12):
    dst = tmp_path / "bagls"
    dst.mkdir()
    for i in range(n):
        for suffix in (".png", "_seg.png", ".meta"):
            shutil.copy(bagls_dir / f"{i}{suffix}", dst / f"{i}{suffix}")
    return dst


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.bagls_dir"):
        preprocess_bagls(tmp_path / "nope", tmp_path / "o.h5", n_samples=4)


@pytest.mark.parametrize("defect", ["missing_mask", "size_mismatch", "corrupt_png", "corrupt_mask"])
def test_bad_frame_is_named_and_nothing_is_left(bagls_dir, tmp_path, defect):
    d = _copy(bagls_dir, tmp_path)
    bad = {"missing_mask": d / "5_seg.png", "size_mismatch": d / "5_seg.png",
           "corrupt_png": d / "5.png", "corrupt_mask": d / "5_seg.png"}[defect]
    if defect == "missing_mask":
        bad.unlink()
    elif defect == "size_mismatch":
        Image.new("L", (17, 13)).save(bad)
    else:
        bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    out = tmp_path / "out.h5"
    with pytest.raises(BadSampleError) as e:
        preprocess_bagls(d, out, n_samples=12, n_folds=2)
    assert ("5.png" if defect == "missing_mask" else bad.name) in str(e.value)
    assert "on_bad_sample" in str(e.value)
    assert not out.exists() and list(tmp_path.glob("**/*.tmp*")) == []

    report = tmp_path / "report.json"
    summary = preprocess_bagls(d, out, n_samples=11, n_folds=2, on_bad_sample="skip", bad_report=report)
    assert out.exists() and len(summary["bad_frames"]) == 1
    listed = json.loads(report.read_text())["bad_frames"][0]["file"]
    assert listed.endswith(("5.png", "5_seg.png"))
    assert "5.png" not in load_h5(out)["source"]


def test_too_few_frames(bagls_dir, tmp_path):
    d = _copy(bagls_dir, tmp_path, n=6)
    with pytest.raises(ValueError, match="holds 6 frames but data.n_samples is 8"):
        preprocess_bagls(d, tmp_path / "o.h5", n_samples=8)
    (d / "2_seg.png").unlink()
    with pytest.raises(ValueError, match="only 5 usable frames"):
        preprocess_bagls(d, tmp_path / "o.h5", n_samples=6, on_bad_sample="skip", bad_report=tmp_path / "r.json")
    assert not (tmp_path / "o.h5").exists()


def test_h5_is_chunked_and_compressed(h5_path):
    with h5py.File(h5_path) as f:
        assert f["images"].compression == "gzip" and f["images"].chunks is not None
