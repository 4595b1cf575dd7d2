import os
import sys
from pathlib import Path

# The library lives in src/; make it importable here and in every job's script.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)

from mpbench import grid

RESULTS = config["results_dir"].rstrip("/")
DATA = config["data"]
H5 = f"{RESULTS}/data/bagls_{DATA['crop']['size']}.h5"


wildcard_constraints:
    framework="tensorflow|pytorch",
    device="[A-Za-z0-9_]+",
    precision="fp32|tf32|mixed_fp16|mixed_bf16|fp16|apex_o1|apex_o3",
    filters=r"\d+",
    fold=r"\d+",


def bagls_input(wildcards):
    """The BAGLS folder: made by rule synthetic_bagls, or the user's (may not exist at dry-run)."""
    if DATA["synthetic_frames"] > 0:
        return DATA["bagls_dir"]
    if not os.path.isdir(DATA["bagls_dir"]):
        return []  # preprocess then fails with a message naming data.bagls_dir
    return DATA["bagls_dir"]


def train_result(run):
    return f"{RESULTS}/train/{run['framework']}/{run['device']}/{run['precision']}/f{run['filters']}/fold{run['fold']}/result.json"


def all_outputs():
    return [H5] + [train_result(r) for r in grid.train_runs(config)]
