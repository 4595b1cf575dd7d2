"""The HDF5 carries its own checksum; a damaged one is named with the fix before anything is scheduled."""
import shutil

import h5py
import numpy as np
import pytest

from mpbench.data.dataset import load_h5
from mpbench.data.integrity import DIGEST_ATTR, content_digest, damaged_h5_message, h5_problem
from mpbench.io import DamagedFileError


@pytest.fixture
def h5_copy(h5_path, tmp_path):
    dst = tmp_path / "bagls_224.h5"
    shutil.copyfile(h5_path, dst)
    return dst


def test_preprocess_writes_a_checksum_of_what_it_wrote(h5_copy):
    d = load_h5(h5_copy)
    datasets = {k: d[k] for k in ("images", "masks", "fold", "source", "video_id", "mask_pixels", "mask_pixels_lost")}
    assert d["attrs"][DIGEST_ATTR] == content_digest(datasets)
    assert h5_problem(h5_copy) is None


def test_a_changed_frame_no_longer_matches(h5_copy):
    with h5py.File(h5_copy, "r+") as f:
        f["images"][3, 100, 100] ^= 0xFF
    assert "does not match the checksum" in h5_problem(h5_copy)


def test_a_truncated_file_is_named(h5_copy):
    data = h5_copy.read_bytes()
    h5_copy.write_bytes(data[: len(data) // 2])
    assert "does not open or read as HDF5" in h5_problem(h5_copy)
    with pytest.raises(DamagedFileError, match=f"{h5_copy} is damaged.*rule preprocess"):
        load_h5(h5_copy)
    message = damaged_h5_message(h5_copy, h5_problem(h5_copy))
    assert str(h5_copy) in message and "no result was touched" in message and "are not rerun" in message


def test_missing_dataset_and_files_without_checksum(h5_copy, tmp_path):
    assert h5_problem(tmp_path / "absent.h5") is None   # nothing yet: preprocess will write it
    with h5py.File(h5_copy, "r+") as f:
        del f.attrs[DIGEST_ATTR]                         # written before checksums existed: opened, not hashed
    assert h5_problem(h5_copy) is None
    with h5py.File(h5_copy, "r+") as f:
        del f["masks"]
    assert h5_problem(h5_copy) == "it has no dataset 'masks'"


def test_digest_depends_on_values_shapes_and_strings():
    a = {"images": np.zeros((2, 4), np.uint8), "source": np.array(["0.png", "1.png"], dtype=object)}
    assert content_digest(a) == content_digest(dict(a))
    assert content_digest(a) != content_digest({**a, "images": np.zeros((4, 2), np.uint8)})
    assert content_digest(a) != content_digest({**a, "source": np.array(["0.png", "2.png"], dtype=object)})
