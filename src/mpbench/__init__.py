"""mpbench: measure what mixed precision and int8 quantization buy (speed, energy, accuracy)."""

__version__ = "0.1.0"

# The one install line for GPU cluster nodes (README, "Cluster install"), run in a Python 3.11 venv at
# the repository root: GPU TensorFlow (tensorflow[and-cuda]), the SLURM executor, NVML energy and
# the QAT packages. Error messages about a missing GPU stack name it.
CLUSTER_INSTALL = "pip install -e '.[gpu,slurm,energy,qat,edge-torch]'"
