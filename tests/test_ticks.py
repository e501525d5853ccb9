"""plots.ticks: round steps (1, 2, 5 x 10^k) and the symmetric log scale, value by value."""
import math

import numpy as np
import pytest

from plots.ticks import nice_step, step_ticks, symlog, symlog_inverse, symlog_ticks


@pytest.mark.parametrize(("span", "most", "multiple_of", "expected"), [
    (300, 6, None, 50), (300, 15, None, 20), (100, 10, None, 10), (59, 6, None, 10), (7, 3, None, 5),
    (1, 6, None, 0.2), (0.03, 3, None, 0.01), (1e6, 4, None, 500_000),
    (300, 199, 1, 2), (4, 99, 1, 1), (1000, 6, 5, 200), (300, 6, 20, 100), (300, 100, 20, 20), (90, 4, 2, 50),
])
def test_nice_step_is_the_smallest_round_step_that_fits(span, most, multiple_of, expected):
    s = nice_step(span, most, multiple_of)
    assert s == pytest.approx(expected)
    mantissa = s / 10 ** math.floor(math.log10(s) + 1e-9)
    assert round(mantissa, 9) in (1, 2, 5)
    assert span / s <= most * (1 + 1e-12)
    if multiple_of:
        assert s % multiple_of == 0


def test_step_ticks_read_0_20_40_not_0_20_39():
    assert step_ticks(300) == [0, 50, 100, 150, 200, 250, 300]
    assert step_ticks(60, most=3) == [0, 20, 40, 60]
    assert step_ticks(59, most=3) == [0, 20, 40]
    assert step_ticks(7) == [0, 2, 4, 6] and step_ticks(0) == [0]


def test_symlog_is_odd_near_linear_at_zero_and_log_far_out():
    v = np.array([-1e6, -9.0, -1e-3, 0.0, 1e-3, 9.0, 1e6, np.nan, np.inf])
    y = symlog(v)
    np.testing.assert_allclose(y[:7], [-math.log10(1e6 + 1), -1.0, -math.log10(1.001), 0.0, math.log10(1.001),
                                       1.0, math.log10(1e6 + 1)])
    assert np.isnan(y[7]) and y[8] == np.inf
    assert (np.diff(y[:7]) > 0).all()  # order kept
    np.testing.assert_allclose(symlog_inverse(y[:7]), v[:7], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("lo", "hi"), [(-1e16, 3.0), (-800.0, 2.0), (-99.0, 9999.0), (-4.0, 4.0), (0.58, 2.98),
                                        (-3.0, -2.0), (5.0, 5.0)])
def test_symlog_ticks_stand_at_the_values_they_name(lo, hi):
    a, b = float(symlog(lo)), float(symlog(hi))
    vals, text = symlog_ticks(a, b)
    assert 2 <= len(vals) <= 9 and vals == sorted(vals)
    assert all(a - 0.5 <= v <= b + 0.5 for v in vals)
    for v, t in zip(vals, text, strict=True):
        number = t.replace("−", "-")
        if "10<sup>" in number:
            m, _, k = number.lstrip("-").partition("10<sup>")
            value = (-1 if number.startswith("-") else 1) * float(m.rstrip("×") or 1) * 10.0 ** int(k[:-6])
        else:
            value = float(number)
        assert float(symlog(value)) == pytest.approx(v, abs=1e-9)
        mantissa = abs(value) / 10 ** math.floor(math.log10(abs(value)) + 1e-9) if value else 1
        assert round(mantissa, 9) == round(mantissa, 1)  # round values only: 1, 2, 5, 2.5 (x 10^k)
    if lo < 0 < hi:
        assert "0" in text


def test_symlog_ticks_over_a_saddle_escape():
    vals, text = symlog_ticks(float(symlog(-1073.7)), float(symlog(3.24)))
    assert text == ["−10<sup>3</sup>", "−100", "−10", "0"]
    np.testing.assert_allclose(vals, symlog([-1000.0, -100.0, -10.0, 0.0]))


def test_a_narrow_symlog_range_gets_round_linear_ticks():
    vals, text = symlog_ticks(float(symlog(-3.0)), float(symlog(-2.0)))
    assert text == ["−3", "−2.5", "−2"]
    np.testing.assert_allclose(vals, symlog([-3.0, -2.5, -2.0]))
