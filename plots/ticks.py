"""Numbers a person reads on an axis: steps of 1, 2 or 5 × 10^k (0, 20, 40, 60 ... never 0, 20, 39, 59),
and a symmetric log scale for values of either sign that span decades. Pure functions.
"""
from __future__ import annotations

import math

import numpy as np

MANTISSAS = (1, 2, 5)


def nice_steps(low: float):
    """1, 2, 5 × 10^k from the first one >= low upwards (low > 0), without end."""
    k = math.floor(math.log10(low)) - 1
    while True:
        for m in MANTISSAS:
            v = m * 10.0 ** k
            if v >= low * (1 - 1e-12):
                yield int(round(v)) if v >= 1 else v
        k += 1


def nice_step(span: float, most: int, multiple_of: int | None = None) -> float:
    """The smallest 1/2/5 × 10^k step that cuts `span` into at most `most` parts (a multiple of
    `multiple_of` where given: whole steps, or labels that fall on a slider's frames)."""
    if not (span > 0 and math.isfinite(span)):
        return 1
    most = max(1, int(most))
    low = span / most
    if multiple_of:
        low = max(low, multiple_of)
    for v in nice_steps(low):
        if multiple_of is None or (v >= 1 and int(v) % int(multiple_of) == 0):
            return v
    raise AssertionError("unreachable")  # pragma: no cover


def step_ticks(steps: int, most: int = 6, multiple_of: int = 1) -> list[int]:
    """Tick values 0, s, 2s, ... <= steps with s = nice_step(steps, most), whole numbers."""
    if steps <= 0:
        return [0]
    s = int(nice_step(steps, most, multiple_of))
    return list(range(0, steps + 1, s))


# ---------------------------------------------------------------- symmetric log
def symlog(a) -> np.ndarray:
    """sign(a) · log10(1 + |a|): about a itself near 0, about ±log10|a| far from it; NaN stays NaN."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.sign(a) * np.log10(1.0 + np.abs(a))


def symlog_inverse(y) -> np.ndarray:
    """The value whose symlog is y: sign(y) · (10^|y| − 1)."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.sign(y) * (10.0 ** np.abs(y) - 1.0)


def _label(v: float) -> str:
    """1, 2, 5 x 10^k as the axes elsewhere write them: 0.5, 1, 20, 500, 10³, 2×10⁴, with a real minus."""
    sign = "−" if v < 0 else ""
    a = abs(v)
    k = math.floor(math.log10(a) + 1e-9)
    m = round(a / 10.0 ** k)
    if -2 <= k <= 2:
        return sign + f"{a:g}"
    return sign + ("" if m == 1 else f"{m}×") + f"10<sup>{k}</sup>"


def symlog_ticks(lo: float, hi: float, most: int = 7) -> tuple[list[float], list[str]]:
    """(tickvals, ticktext) for an axis of symlog values from lo to hi: 0 and ±{1, 2, 5} × 10^k at
    symlog(value), labelled with the value itself. Round powers of ten and 0 come first; a tick closer
    than (hi - lo) / most to one already kept is left out, so there are at most about most + 1. A range
    too narrow for two of those gets round linear steps of the value instead (2.2, 2.4, 2.6 ...)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0], ["0"]
    lo, hi = min(lo, hi), max(lo, hi)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    top = int(math.ceil(max(abs(lo), abs(hi)))) + 1
    gap = (hi - lo) / max(1, most)
    powers = [s * 10.0 ** k for k in range(top, -4, -1) for s in (1, -1)]
    rest = [s * m * 10.0 ** k for m in (2, 5) for k in range(top, -4, -1) for s in (1, -1)]
    kept: list[tuple[float, str]] = []
    for v in [0.0, *powers, *rest]:
        at = float(symlog(v))
        if lo - 1e-9 <= at <= hi + 1e-9 and all(abs(at - a) >= gap for a, _ in kept):
            kept.append((at, "0" if v == 0 else _label(v)))
    if len(kept) < 2:
        a, b = float(symlog_inverse(lo)), float(symlog_inverse(hi))
        step = nice_step(b - a, 4)
        values = np.arange(math.ceil(a / step), math.floor(b / step) + 1) * step
        kept = [(float(symlog(v)), f"{v:.12g}".replace("-", "−")) for v in values]
    kept.sort()
    return [a for a, _ in kept], [t for _, t in kept]
