from pathlib import Path

import pytest

from mpbench.data.preprocess import preprocess_bagls
from mpbench.data.synthetic import write_synthetic_bagls

REPO = Path(__file__).resolve().parents[1]
REAL_SAMPLE = REPO.parent / "shared" / "data" / "bagls_sample"


@pytest.fixture(scope="session")
def bagls_dir(tmp_path_factory) -> Path:
    """48 synthetic frames in the BAGLS on-disk format."""
    return write_synthetic_bagls(tmp_path_factory.mktemp("bagls"), 48, seed=3)


@pytest.fixture(scope="session")
def h5_path(bagls_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("h5") / "bagls.h5"
    preprocess_bagls(bagls_dir, out, n_samples=40, seed=1, n_folds=2)
    return out
