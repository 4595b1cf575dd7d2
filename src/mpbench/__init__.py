"""mpbench: measure what mixed precision and int8 quantization buy (speed, energy, accuracy)."""

__version__ = "0.1.0"
