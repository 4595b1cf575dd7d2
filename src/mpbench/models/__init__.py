"""U-Nets for both frameworks built from one description (:class:`UNetSpec`)."""
from .spec import UPSAMPLING_MODES, UNetSpec

__all__ = ["UNetSpec", "UPSAMPLING_MODES"]
