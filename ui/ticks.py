"""Slider values a person can read: log sliders step through 1-1.5-2-3-5-7 per decade (pure, testable)."""
from __future__ import annotations

import math

MANTISSAS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)


def log_options(low: float, high: float, value: float | None = None) -> list[float]:
    """Round values from low to high (both > 0), plus `value` itself so a link's exact value shows."""
    if not (0 < low < high):
        raise ValueError(f"a log slider needs 0 < low < high, got {low}, {high}")
    out = {low, high}
    for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for m in MANTISSAS:
            v = float(f"{m}e{e}")
            if low <= v <= high:
                out.add(v)
    if value is not None and value > 0 and math.isfinite(value):
        out.add(float(value))
    return sorted(out)


def linear_range(low: float, high: float, value: float | None = None, n: int = 100) -> tuple[float, float, float]:
    """(min, max, step) for a linear slider: the spec's range widened to include `value`."""
    if value is not None and math.isfinite(value):
        low, high = min(low, value), max(high, value)
    if high <= low:
        high = low + 1.0
    return float(low), float(high), float(f"{(high - low) / n:.2g}")


def fmt(v: float) -> str:
    """Short display: 0.001 -> 1e-03 style only where it helps."""
    if v == 0:
        return "0"
    if abs(v) < 1e-3 or abs(v) >= 1e4:
        return f"{v:.3g}"
    return f"{v:.4g}"
