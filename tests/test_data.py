import json
import logging
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

from mpbench.data.bagls import BadSampleError, list_frames, read_frame
from mpbench.data.dataset import load_h5, normalise, split_fold
from mpbench.data.preprocess import assign_video_folds, crop_pair, crop_window, preprocess_bagls
from mpbench.data.subset import read_frame_list
from mpbench.data.synthetic import FRAME_SIZES, META_TYPES, write_synthetic_bagls


def test_synthetic_is_bagls_format(bagls_dir):
    frames = list_frames(bagls_dir)
    assert [f.index for f in frames] == list(range(48))
    sizes, colours, empty, videos = set(), set(), 0, {}
    for f in frames:
        assert f.mask_path.exists() and f.meta_path.exists()
        meta = json.loads(f.meta_path.read_text())
        assert list(meta) == list(META_TYPES)
        for key, types in META_TYPES.items():
            assert type(meta[key]) in types, (key, meta[key])
        with Image.open(f.image_path) as im, Image.open(f.mask_path) as seg:
            assert im.mode == "RGB" and seg.mode == "L"
            rgb, raw_mask = np.asarray(im), np.asarray(seg)
        h, w = rgb.shape[:2]
        assert meta["Video resolution (px, HxW)"] == [h, w] and (h, w) in FRAME_SIZES
        assert set(np.unique(raw_mask)) <= {0, 255}
        grey = (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
        assert grey != meta["Color"]
        sizes.add((h, w))
        colours.add(meta["Color"])
        videos.setdefault(meta["Video Id"], []).append(
            (meta["Camera"], meta["Video resolution (px, HxW)"], meta["Color"], meta["Sampling rate (Hz)"]))
        image, mask = read_frame(f)
        assert image.dtype == np.uint8 and image.ndim == 2
        assert set(np.unique(mask)) <= {0, 1}
        empty += int(mask.sum() == 0)
        if mask.any():  # the glottis is a thin slit, darker than the tissue around it
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            y0, y1, x0, x1 = max(rows[0] - 10, 0), rows[-1] + 11, max(cols[0] - 10, 0), cols[-1] + 11
            around = image[y0:y1, x0:x1][mask[y0:y1, x0:x1] == 0]
            assert image[mask == 1].mean() < around.mean() - 30
            assert 2 <= mask.sum(axis=1).max() <= 24
    assert len(sizes) >= 4 and any(w < 224 for _, w in sizes) and colours == {True, False}
    assert 0 < empty < 48
    assert max(len(v) for v in videos.values()) >= 2 and len(videos) >= 6
    assert all(len(set(map(str, v))) == 1 for v in videos.values())  # a video's frames share camera, size, colour


def test_synthetic_is_deterministic(tmp_path):
    a = write_synthetic_bagls(tmp_path / "a", 6, seed=5)
    b = write_synthetic_bagls(tmp_path / "b", 6, seed=5)
    c = write_synthetic_bagls(tmp_path / "c", 6, seed=6)
    names = sorted(p.name for p in a.iterdir() if not p.name.startswith("."))   # the marker aside
    assert len(names) == 18 and sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert any((a / n).read_bytes() != (c / n).read_bytes() for n in names)


def test_narrow_frames_are_padded(bagls_dir, h5_path):
    """Frames narrower than the crop (BAGLS: 120, 128, 208 px) are zero-padded left and right."""
    d = load_h5(h5_path)
    frames = {f.image_path.name: f for f in list_frames(bagls_dir)}
    narrow = [k for k, name in enumerate(d["source"]) if read_frame(frames[name])[0].shape[1] < 224]
    assert narrow
    for k in narrow:
        w = read_frame(frames[d["source"][k]])[0].shape[1]
        pad = (224 - w) // 2
        assert (d["images"][k][:, :pad] == 0).all() and (d["images"][k][:, pad + w:] == 0).all()
        assert d["masks"][k][:, :pad].sum() == 0
        assert d["images"][k][:, pad:pad + w].any()


def test_h5_round_trip(bagls_dir, h5_path):
    d = load_h5(h5_path)
    assert d["images"].dtype == np.uint8 and d["images"].shape == (40, 224, 224)
    assert d["masks"].dtype == np.uint8 and set(np.unique(d["masks"])) == {0, 1}
    assert d["fold"].dtype == np.int8
    assert d["attrs"]["seed"] == 1 and d["attrs"]["crop_policy"] == "center"   # the label-free default
    assert d["attrs"]["source_folder"] == str(bagls_dir.resolve())
    assert d["attrs"]["folds_by"] == "frame" and d["attrs"]["subset"] == ""
    metas = {f"{k}.png": json.loads((bagls_dir / f"{k}.meta").read_text()) for k in range(48)}
    assert d["video_id"].tolist() == [metas[name]["Video Id"] for name in d["source"]]
    # Stored values equal a fresh crop of the named source frame.
    frames = {f.image_path.name: f for f in list_frames(bagls_dir)}
    for k in (0, 17, 39):
        image, mask = read_frame(frames[d["source"][k]])
        img, msk, lost = crop_pair(image, mask, 224, "center")
        np.testing.assert_array_equal(d["images"][k], img)
        np.testing.assert_array_equal(d["masks"][k], msk)
        assert d["mask_pixels"][k] == np.count_nonzero(mask)
        assert d["mask_pixels_lost"][k] == lost == np.count_nonzero(mask) - np.count_nonzero(msk)
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
    img, msk, lost = crop_pair(image, mask, 224, "glottis")
    assert img.shape == (224, 224) and msk.sum() == mask.sum() and lost == 0
    assert (img == 0).any()  # zero padding above and below
    img_c, msk_c, lost_c = crop_pair(image, mask, 224, "center")
    assert msk_c.sum() == 0 and lost_c == mask.sum()  # a centre crop misses this glottis, and says so


@pytest.mark.parametrize("shape", [(512, 256), (256, 120), (512, 512), (224, 224)])
def test_label_free_crop_never_reads_the_mask(shape):
    """The default window is the same whether the mask is all zeros or all ones (or not given)."""
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    crops = [crop_pair(image, np.full(shape, v, np.uint8), 224, "center") for v in (0, 1)]
    np.testing.assert_array_equal(crops[0][0], crops[1][0])
    padded = tuple(max(224, n) for n in shape)
    assert crop_window(padded, 224, "center") == crop_window(padded, 224, "center", np.ones(padded))
    assert crops[0][2] == 0 and crops[1][2] == shape[0] * shape[1] - 224 * 224 + (
        224 * 224 - min(224, shape[0]) * min(224, shape[1]))   # every mask pixel outside the window


def test_glottis_policy_is_label_guided():
    mask = np.zeros((512, 256), np.uint8)
    mask[10:30, 20:40] = 1
    assert crop_window(mask.shape, 224, "glottis", mask) == (0, 0)
    assert crop_window(mask.shape, 224, "glottis", np.zeros_like(mask)) == crop_window(mask.shape, 224, "center")
    with pytest.raises(ValueError, match="label-guided"):
        crop_window(mask.shape, 224, "glottis")


def test_crop_loss_in_report(bagls_dir, tmp_path):
    report = tmp_path / "report.json"
    summary = preprocess_bagls(bagls_dir, tmp_path / "c.h5", n_samples=40, seed=1, n_folds=2, bad_report=report)
    d = load_h5(tmp_path / "c.h5")
    crop = json.loads(report.read_text())["crop"]
    assert crop == summary["crop"] and crop["policy"] == "center" and not crop["label_guided"]
    assert crop["frames_with_glottis"] == int((d["mask_pixels"] > 0).sum())
    assert crop["frames_losing_glottis_pixels"] == int((d["mask_pixels_lost"] > 0).sum())
    lost = d["mask_pixels_lost"].sum() / d["mask_pixels"].sum()
    assert crop["glottis_pixels_lost_fraction"] == pytest.approx(lost)
    guided = preprocess_bagls(bagls_dir, tmp_path / "g.h5", n_samples=40, seed=1, n_folds=2)["crop"]
    assert guided == summary["crop"]   # deterministic
    glottis = preprocess_bagls(bagls_dir, tmp_path / "g.h5", n_samples=40, seed=1, n_folds=2,
                               crop_policy="glottis")["crop"]
    assert glottis["label_guided"] and glottis["glottis_pixels_lost_fraction"] <= crop["glottis_pixels_lost_fraction"]


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
    with pytest.raises(ValueError, match="only 5 usable frames") as e:
        preprocess_bagls(d, tmp_path / "o.h5", n_samples=6, on_bad_sample="skip", bad_report=tmp_path / "r.json")
    # The message names the bad frame itself: no report is written in this case.
    assert "2.png: mask 2_seg.png is missing" in str(e.value) and "r.json" not in str(e.value)
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "r.json").exists()


def test_h5_is_chunked_and_compressed(h5_path):
    with h5py.File(h5_path) as f:
        assert f["images"].compression == "gzip" and f["images"].chunks is not None


# --- Kaggle layout: training/training/ ---------------------------------------------------------


def test_nested_kaggle_folder_is_used(bagls_dir, tmp_path, caplog):
    outer = tmp_path / "training"
    inner = _copy(bagls_dir, tmp_path, n=8).rename(outer.with_name("inner_tmp"))
    outer.mkdir()
    inner.rename(outer / "training")
    (outer / ".DS_Store").write_text("")   # hidden files do not count
    with caplog.at_level(logging.INFO, logger="mpbench.data.bagls"):
        frames = list_frames(outer)
    assert [f.index for f in frames] == list(range(8)) and frames[0].image_path.parent == outer / "training"
    assert "using the frames in" in caplog.text and str(outer / "training") in caplog.text
    summary = preprocess_bagls(outer, tmp_path / "o.h5", n_samples=6, n_folds=2)
    assert summary["source_folder"] == str((outer / "training").resolve())
    # Any single sub-folder name works; two sub-folders are ambiguous.
    (outer / "training").rename(outer / "frames")
    assert len(list_frames(outer)) == 8
    (outer / "other").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no frames"):
        list_frames(outer)


# --- data.subset and the frame list written beside the HDF5 -------------------------------------


def test_frame_list_written_and_reproduces_the_h5(bagls_dir, tmp_path):
    out = tmp_path / "a" / "bagls_224.h5"
    summary = preprocess_bagls(bagls_dir, out, n_samples=20, seed=4, n_folds=2)
    listed = tmp_path / "a" / "bagls_224_frames.txt"
    assert summary["frames_list"] == str(listed)
    a = load_h5(out)
    assert listed.read_text().split() == [name.removesuffix(".png") for name in a["source"]]
    # Another lab: the same frames, seed and folder give the same HDF5 content, folds included.
    b_path = tmp_path / "b" / "bagls_224.h5"
    preprocess_bagls(bagls_dir, b_path, n_samples=20, seed=4, n_folds=2, subset=listed)
    b = load_h5(b_path)
    assert a["source"] == b["source"]
    np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_array_equal(a["fold"], b["fold"])
    assert b["attrs"]["subset"] == str(listed.resolve())
    assert (tmp_path / "b" / "bagls_224_frames.txt").read_text() == listed.read_text()


@pytest.mark.parametrize("text, expected", [
    ("3\n1\n\n# a comment\n7\n", [3, 1, 7]),
    ("index,video_id,H\n5,1,256\n2,1,256\n", [5, 2]),          # MANIFEST.csv style
    ("frame,note\n4,x\n9,y\n", [4, 9]),                        # no 'index' column: the first
    ("8,a\n6,b\n", [8, 6]),                                    # CSV without a header
    ("# made by hand, from video 3\nindex,x\n\n12,a\n", [12]),     # comments and blank lines skipped
])
def test_frame_list_formats(tmp_path, text, expected):
    path = tmp_path / "subset.csv"
    path.write_text(text)
    assert list(read_frame_list(path)) == expected


def test_subset_used_in_listed_order(bagls_dir, tmp_path):
    path = tmp_path / "subset.txt"
    path.write_text("11\n3\n40\n7\n25\n")
    d = load_h5(preprocess_bagls(bagls_dir, tmp_path / "o.h5", n_samples=4, n_folds=2, subset=path)
                and tmp_path / "o.h5")
    assert d["source"] == ["11.png", "3.png", "40.png", "7.png"]   # the first n_samples listed


def test_subset_errors(bagls_dir, tmp_path):
    run = lambda subset, n=3: preprocess_bagls(bagls_dir, tmp_path / "o.h5", n_samples=n, n_folds=2, subset=subset)
    with pytest.raises(FileNotFoundError, match=r"data.subset file .*nope.txt does not exist"):
        run(tmp_path / "nope.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n2\n999\n3\n")
    with pytest.raises(ValueError, match=r"bad.txt lists frames that are not in .*: 999 \(line 3\)"):
        run(bad)
    bad.write_text("1\n2\nseven\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 3: 'seven' is not a frame index"):
        run(bad)
    bad.write_text("1\n2\n1\n")
    with pytest.raises(ValueError, match="line 3: frame 1 is listed twice"):
        run(bad)
    bad.write_text("1\n2\n")
    with pytest.raises(ValueError, match="lists 2 frames but data.n_samples is 3"):
        run(bad)
    bad.write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists no frames"):
        run(bad)
    assert not (tmp_path / "o.h5").exists()


def test_subset_skips_bad_frames_like_the_draw(bagls_dir, tmp_path):
    d = _copy(bagls_dir, tmp_path, n=8)
    (d / "2_seg.png").unlink()
    path = tmp_path / "subset.txt"
    path.write_text("2\n5\n1\n6\n")
    summary = preprocess_bagls(d, tmp_path / "o.h5", n_samples=3, n_folds=2, subset=path, on_bad_sample="skip")
    assert load_h5(tmp_path / "o.h5")["source"] == ["5.png", "1.png", "6.png"] and len(summary["bad_frames"]) == 1
    assert (tmp_path / "o_frames.txt").read_text() == "5\n1\n6\n"


# --- folds by video ------------------------------------------------------------------------------


def test_video_folds_keep_videos_together_and_balance(bagls_dir, tmp_path):
    out = tmp_path / "v.h5"
    summary = preprocess_bagls(bagls_dir, out, n_samples=40, seed=1, n_folds=3, folds_by="video")
    d = load_h5(out)
    assert d["attrs"]["folds_by"] == "video" and (d["video_id"] >= 0).all()
    for v in np.unique(d["video_id"]):
        assert len(set(d["fold"][d["video_id"] == v])) == 1, f"video {v} in two folds"
    sizes = np.bincount(d["fold"], minlength=3)
    largest_video = np.bincount(d["video_id"]).max()
    # Tolerance: fold sizes differ by at most the frame count of the largest video.
    assert sizes.min() > 0 and sizes.max() - sizes.min() <= largest_video
    assert summary["fold_sizes"] == sizes.tolist()
    again = tmp_path / "again.h5"
    preprocess_bagls(bagls_dir, again, n_samples=40, seed=1, n_folds=3, folds_by="video")
    np.testing.assert_array_equal(load_h5(again)["fold"], d["fold"])


def test_assign_video_folds_balance_and_determinism():
    rng = np.random.default_rng(0)
    videos = np.repeat(np.arange(60), rng.integers(1, 9, size=60))
    rng.shuffle(videos)
    for n_folds in (2, 4, 5):
        for seed in range(5):
            folds = assign_video_folds(videos, n_folds, np.random.default_rng(seed))
            assert all(len(set(folds[videos == v])) == 1 for v in range(60))
            sizes = np.bincount(folds, minlength=n_folds)
            assert sizes.max() - sizes.min() <= 8   # the largest video has at most 8 frames
            np.testing.assert_array_equal(folds, assign_video_folds(videos, n_folds, np.random.default_rng(seed)))
    assert not np.array_equal(assign_video_folds(videos, 4, np.random.default_rng(0)),
                              assign_video_folds(videos, 4, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="needs at least data.n_folds = 4 videos.*from 3 video"):
        assign_video_folds(np.array([1, 1, 2, 3]), 4, np.random.default_rng(0))


def test_video_folds_need_the_meta(bagls_dir, tmp_path):
    d = _copy(bagls_dir, tmp_path, n=8)
    (d / "3.meta").unlink()
    (d / "4.meta").write_text("{not json")
    with pytest.raises(BadSampleError, match="3.meta is missing"):
        preprocess_bagls(d, tmp_path / "o.h5", n_samples=2, n_folds=2, folds_by="video",
                         subset=_listing(tmp_path, 3, 4))
    # Folds by frame need no meta: the video id is then recorded as -1.
    preprocess_bagls(d, tmp_path / "o.h5", n_samples=2, n_folds=2, subset=_listing(tmp_path, 3, 4))
    assert load_h5(tmp_path / "o.h5")["video_id"].tolist() == [-1, -1]
    summary = preprocess_bagls(d, tmp_path / "o.h5", n_samples=4, n_folds=2, folds_by="video",
                               on_bad_sample="skip", subset=_listing(tmp_path, 3, 4, 0, 1, 2, 5))
    assert [b["reason"] for b in summary["bad_frames"]][0] == "metadata 3.meta is missing"
    assert "unreadable JSON" in summary["bad_frames"][1]["reason"]


def _listing(tmp_path, *indices):
    path = tmp_path / "list.txt"
    path.write_text("".join(f"{i}\n" for i in indices))
    return path


# --- rule preprocess in the workflow -------------------------------------------------------------


def test_workflow_names_both_keys_and_lists_the_frame_file(tmp_path):
    from conftest import h5_of, run_snakemake, small_config
    cfg = small_config(tmp_path, "dry", data={"n_samples": 60})   # 48 synthetic frames
    run = run_snakemake("-n", "--quiet", "rules", "--configfile", str(cfg), timeout=120)
    assert run.returncode != 0
    assert "data.n_samples (60) is larger than data.synthetic_frames (48)" in run.stdout + run.stderr
    cfg = small_config(tmp_path, "ok", data={"folds_by": "video", "subset": str(tmp_path / "list.txt"),
                                             "crop": {"policy": "center", "size": 224}})
    (tmp_path / "list.txt").write_text("".join(f"{i}\n" for i in range(48)))
    run = run_snakemake("-n", "--configfile", str(cfg), "--", str(h5_of(cfg)),
                        timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "bagls_224_frames.txt" in run.stdout and str(tmp_path / "list.txt") in run.stdout
