"""Real BAGLS frames (fixture ``real_sample``): the synthetic generator writes what BAGLS writes, and
real frames go through preprocessing. Skipped, with the reason, where the sample is absent."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from mpbench.data.bagls import list_frames, read_frame
from mpbench.data.dataset import load_h5
from mpbench.data.preprocess import preprocess_bagls
from mpbench.data.synthetic import FRAME_SIZES, META_TYPES
from mpbench.settings import RunSettings


def manifest(folder) -> list[dict]:
    with open(folder / "MANIFEST.csv", newline="") as f:
        return list(csv.DictReader(f))


def properties(folder) -> dict:
    """What a BAGLS-format folder looks like: file modes, sizes, mask values, meta keys and types."""
    p = {"image_modes": set(), "mask_modes": set(), "mask_values": set(), "sizes": set(), "meta_keys": set(),
         "types": {}, "closed": 0, "open": 0, "gray_matches_meta": True, "resolution_matches": True,
         "colour": set(), "videos": {}}
    for frame in list_frames(folder):
        meta = json.loads(frame.meta_path.read_text())
        with Image.open(frame.image_path) as im, Image.open(frame.mask_path) as seg:
            p["image_modes"].add(im.mode)
            p["mask_modes"].add(seg.mode)
            rgb, mask = np.asarray(im), np.asarray(seg)
        h, w = mask.shape
        p["sizes"].add((h, w))
        values = set(np.unique(mask).tolist())
        p["mask_values"] |= values
        p["closed" if values == {0} else "open"] += 1
        p["meta_keys"].add(tuple(meta))
        for key, value in meta.items():
            p["types"].setdefault(key, set()).add(type(value))
        gray = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        p["gray_matches_meta"] &= gray != meta["Color"]
        p["resolution_matches"] &= meta["Video resolution (px, HxW)"] == [h, w]
        p["colour"].add(meta["Color"])
        p["videos"].setdefault(meta["Video Id"], set()).add((meta["Camera"], (h, w), meta["Color"]))
    return p


def test_manifest_describes_the_files(real_sample):
    rows = manifest(real_sample)
    assert len(rows) == len(list_frames(real_sample)) > 0
    for row in rows:
        n = row["index"]
        meta = json.loads((real_sample / f"{n}.meta").read_text())
        with Image.open(real_sample / f"{n}.png") as im, Image.open(real_sample / f"{n}_seg.png") as seg:
            assert (im.mode, seg.mode) == (row["image_mode"], row["mask_mode"])
            assert im.size == (int(row["W"]), int(row["H"]))
            mask = np.asarray(seg)
        assert "/".join(str(v) for v in np.unique(mask)) == row["mask_values"]
        assert meta["Video Id"] == int(row["video_id"]) and meta["Camera"] == row["camera"]
        assert meta["Color"] == (row["color_meta"] == "True")


def test_synthetic_writes_what_bagls_writes(real_sample, bagls_dir):
    real, syn = properties(real_sample), properties(bagls_dir)
    assert syn["image_modes"] == real["image_modes"] == {"RGB"}
    assert syn["mask_modes"] == real["mask_modes"] == {"L"}
    assert syn["mask_values"] == real["mask_values"] == {0, 255}
    assert syn["closed"] > 0 and real["closed"] > 0 and syn["open"] > syn["closed"]
    # Exactly BAGLS' 12 meta keys, in BAGLS' order, with value types seen in BAGLS.
    assert syn["meta_keys"] == real["meta_keys"] == {tuple(META_TYPES)}
    for key, types in syn["types"].items():
        assert types <= real["types"][key], key
        assert real["types"][key] <= set(META_TYPES[key]), key
    real_sizes = {(int(r["H"]), int(r["W"])) for r in manifest(real_sample)}
    assert syn["sizes"] <= real_sizes and set(FRAME_SIZES) <= real_sizes
    assert any(w < 224 for _, w in syn["sizes"]) and any(w < 224 for _, w in real_sizes)
    assert syn["gray_matches_meta"] and real["gray_matches_meta"]
    assert syn["resolution_matches"] and real["resolution_matches"]
    assert syn["colour"] == real["colour"] == {True, False}
    # A video's frames share camera, size and colour, in BAGLS and here.
    assert all(len(v) == 1 for v in real["videos"].values()) and all(len(v) == 1 for v in syn["videos"].values())


def test_real_sample_preprocesses(real_sample, tmp_path):
    rows = {int(r["index"]): r for r in manifest(real_sample)}
    out = tmp_path / "real.h5"
    summary = preprocess_bagls(real_sample, out, n_samples=len(rows), n_folds=2, seed=0)
    d = load_h5(out)
    assert d["images"].shape == (len(rows), 224, 224) and set(np.unique(d["masks"])) == {0, 1}
    assert summary["n_videos"] == len({r["video_id"] for r in rows.values()})
    frames = {f.image_path.name: f for f in list_frames(real_sample)}
    for k, name in enumerate(d["source"]):
        row = rows[int(name.removesuffix(".png"))]
        h, w = int(row["H"]), int(row["W"])
        assert d["video_id"][k] == int(row["video_id"])
        # The label-free centre crop may cut the glottis: what it loses is recorded per frame.
        _, mask = read_frame(frames[name])
        assert d["masks"][k].sum() + d["mask_pixels_lost"][k] == mask.sum() == d["mask_pixels"][k]
        assert abs(mask.sum() / (h * w) - float(row["mask_fraction"])) < 1e-4
        if w < 224:   # narrow frames are zero-padded left and right
            pad = (224 - w) // 2
            assert (d["images"][k][:, :pad] == 0).all() and (d["images"][k][:, pad + w:] == 0).all()
    listed = tmp_path / "real_frames.txt"
    assert sorted(map(int, listed.read_text().split())) == sorted(rows)
    # On these frames the centre crop loses some glottis; the label-guided crop keeps every glottis.
    assert summary["crop"]["frames_losing_glottis_pixels"] > 0
    guided = preprocess_bagls(real_sample, tmp_path / "g.h5", n_samples=len(rows), n_folds=2, seed=0,
                              crop_policy="glottis")
    assert guided["crop"]["frames_losing_glottis_pixels"] == 0
    assert load_h5(tmp_path / "g.h5")["mask_pixels_lost"].sum() == 0


def test_real_sample_folds_by_video_and_manifest_as_subset(real_sample, tmp_path):
    """MANIFEST.csv (column 'index') works as data.subset; video 120's two frames share a fold."""
    out = tmp_path / "video.h5"
    preprocess_bagls(real_sample, out, n_samples=20, n_folds=3, seed=1, folds_by="video",
                     subset=real_sample / "MANIFEST.csv")
    d = load_h5(out)
    assert d["source"] == [f"{r['index']}.png" for r in manifest(real_sample)[:20]]
    for v in np.unique(d["video_id"]):
        assert len(set(d["fold"][d["video_id"] == v])) == 1
    sizes = np.bincount(d["fold"])
    assert sizes.max() - sizes.min() <= np.bincount(d["video_id"]).max()


def test_real_sample_nested_like_kaggle(real_sample, tmp_path):
    """The Kaggle archive's test/test/ layout (a link to the sample, nothing copied)."""
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "test").symlink_to(real_sample.resolve(), target_is_directory=True)
    frames = list_frames(tmp_path / "test")
    assert len(frames) == len(manifest(real_sample)) and frames[0].image_path.parent == tmp_path / "test" / "test"


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_real_sample_trains_one_epoch(real_sample, framework, tmp_path):
    """Preprocess the real frames (224×224, folds by video) and train f=8 for one epoch on them: the trainer
    takes real BAGLS, not only the generator's imitation."""
    from mpbench.training import loop
    h5 = tmp_path / "real.h5"
    preprocess_bagls(real_sample, h5, n_samples=len(manifest(real_sample)), n_folds=2, seed=0, folds_by="video")
    s = RunSettings(framework=framework, device="cpu", device_type="cpu", precision="fp32", filters=8, fold=0,
                    batch_size=8, learning_rate=5e-4, max_epochs=1, patience=10, channels_last=False, threads=2)
    model = tmp_path / ("model.pt" if framework == "pytorch" else "model.keras")
    r = loop.train(s, h5, tmp_path / "result.json", model, tmp_path / "checkpoint")
    assert r.status == "ok" and r.epochs == 1 and model.stat().st_size > 0
    (epoch,) = r.details["history"]
    assert np.isfinite(epoch["loss"]) and 0.0 <= r.iou <= 1.0 and r.latency["throughput"] > 0
    assert r.latency["excluded"].startswith("nothing: every epoch was the first")    # one epoch: warm-up in it
    folds = load_h5(h5)["fold"]
    assert (r.details["n_train"], r.details["n_val"]) == ((folds != 0).sum(), (folds == 0).sum())
