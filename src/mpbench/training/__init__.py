"""Per-fold training with the same behaviour in both frameworks (see :mod:`.loop`)."""
