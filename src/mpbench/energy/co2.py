"""Grams of CO2 from measured energy: kWh × the grid's carbon intensity (g CO2/kWh, from the config).

Nothing is modelled: no energy is estimated from hardware specifications or utilisation, so where no
meter measured the joules there are no grams either (None). The intensity is an average of the grid
the job drew from (config ``energy.carbon_intensity_g_per_kwh``, with its source); the grams are only
as good as that figure and cover only the counters read (GPU, CPU packages and DRAM), not the rest
of the node, its cooling or the hardware's manufacture.
"""
from __future__ import annotations

import math

JOULES_PER_KWH = 3.6e6


def kwh(joules: float | None) -> float | None:
    return None if joules is None else joules / JOULES_PER_KWH


def grams_co2(joules: float | None, g_per_kwh: float) -> float | None:
    """``joules`` (measured) as grams of CO2 at ``g_per_kwh``; None when nothing was measured."""
    if not (isinstance(g_per_kwh, int | float) and math.isfinite(g_per_kwh) and g_per_kwh >= 0):
        raise ValueError(f"carbon intensity must be a finite number of g CO2/kWh, 0 or more, not {g_per_kwh!r} "
                         "(config energy.carbon_intensity_g_per_kwh)")
    return None if joules is None else kwh(joules) * g_per_kwh
