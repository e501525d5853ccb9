"""plots.style: the run palette is told apart by everyone (CIEDE2000 under normal vision and simulated
deuteranopia and protanopia) and reads on the map, its contour lines and the white panels.

The colour science is here, in plain numpy, so the test depends on nothing but the palette:
sRGB -> CIELAB (D65), CIEDE2000 (Sharma, Wu & Dalal 2005; checked against their published pairs),
and dichromacy as Machado, Oliveira & Fernandes (2009) simulate it (severity 1, linear RGB).
"""
import itertools

import numpy as np
import pytest

from plots.style import NAN_GREY, PALETTE, colour, colours
from plots.surface_image import LINE_DARKEN, N_FILL, viridis

DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968],
                         [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868],
                       [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])
VISIONS = {"normal": None, "deuteranopia": DEUTERANOPIA, "protanopia": PROTANOPIA}
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
OLD_OKABE_ITO = ("#D55E00", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442")


def rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)


def to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def from_linear(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def simulate(c: np.ndarray, matrix) -> np.ndarray:
    """sRGB (..., 3) in 0..255 as a dichromat sees it (matrix None: as it is)."""
    return c if matrix is None else from_linear(to_linear(c) @ matrix.T)


def lab(c: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) in 0..255 -> CIELAB (D65)."""
    xyz = to_linear(c) @ SRGB_TO_XYZ.T / SRGB_TO_XYZ.sum(axis=1)
    d = 6 / 29
    f = np.where(xyz > d ** 3, np.cbrt(xyz), xyz / (3 * d * d) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB colours (broadcasting over leading dimensions)."""
    (L1, a1, b1), (L2, a2, b2) = np.moveaxis(lab1, -1, 0), np.moveaxis(lab2, -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    chromatic = c1 * c2 != 0
    dh = h2 - h1
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chromatic, dh, 0.0)
    d_hue = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    l_mean, c_mean = (L1 + L2) / 2, (c1 + c2) / 2
    hs = h1 + h2
    h_mean = np.where(~chromatic, hs, np.where(np.abs(h1 - h2) <= 180, hs / 2,
                                               np.where(hs < 360, (hs + 360) / 2, (hs - 360) / 2)))
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    r_t = (-np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2))))
           * 2 * np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7)))
    dl, dc, dhue = (L2 - L1) / s_l, (c2 - c1) / s_c, d_hue / s_h
    return np.sqrt(dl ** 2 + dc ** 2 + dhue ** 2 + r_t * dc * dhue)


def min_pairwise(palette, matrix) -> tuple[float, tuple[str, str]]:
    """The smallest ΔE00 between two colours of the palette as `matrix` sees them, and that pair."""
    seen = lab(simulate(np.array([rgb(h) for h in palette]), matrix))
    return min((float(ciede2000(seen[i], seen[j])), (palette[i], palette[j]))
               for i, j in itertools.combinations(range(len(palette)), 2))


def min_delta_to(hex_colour: str, others_rgb: np.ndarray) -> float:
    return float(ciede2000(lab(rgb(hex_colour))[None], lab(others_rgb)).min())


@pytest.mark.parametrize(("lab1", "lab2", "expected"), [  # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17, 25
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
])
def test_the_colour_difference_is_ciede2000(lab1, lab2, expected):
    assert float(ciede2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)


def test_the_simulation_keeps_greys_and_merges_red_with_green():
    grey = np.array([128.0, 128.0, 128.0])
    for m in (DEUTERANOPIA, PROTANOPIA):
        assert simulate(grey, m) == pytest.approx(grey, abs=1.0)
    red, green = rgb("#FF0000"), rgb("#00C000")
    normal = float(ciede2000(lab(red), lab(green)))
    deut = float(ciede2000(lab(simulate(red, DEUTERANOPIA)), lab(simulate(green, DEUTERANOPIA))))
    assert normal > 60 and deut < normal / 2


def test_eight_distinct_colours():
    assert len(PALETTE) == 8 and len({c.upper() for c in PALETTE}) == 8
    assert colours(9) == [*PALETTE, PALETTE[0]] and colour(3) == PALETTE[3]


@pytest.mark.parametrize(("vision", "threshold"), [("normal", 22.0), ("deuteranopia", 13.0), ("protanopia", 13.0)])
def test_any_two_run_colours_differ_for_every_reader(vision, threshold):
    d, pair = min_pairwise(PALETTE, VISIONS[vision])
    assert d >= threshold, f"{pair} differ by ΔE00 {d:.1f} under {vision}"


@pytest.mark.parametrize("vision", list(VISIONS))
def test_the_first_four_runs_stand_further_apart(vision):
    """The explorer's default race has four runs: its colours must never be 'two oranges'."""
    d, pair = min_pairwise(PALETTE[:4], VISIONS[vision])
    assert d >= 14.0, f"{pair} differ by ΔE00 {d:.1f} under {vision}"


def test_the_old_okabe_ito_order_fails_these_checks():
    """The measure is sharp enough to see what was wrong: runs 1 and 3 (vermillion, orange) to a deuteranope."""
    d, pair = min_pairwise(OLD_OKABE_ITO[:4], DEUTERANOPIA)
    assert d < 14.0 and pair == ("#D55E00", "#E69F00")
    assert min_pairwise(OLD_OKABE_ITO, DEUTERANOPIA)[0] < 13.0
    assert min_delta_to("#F0E442", viridis(N_FILL)) < 11.0  # yellow vanishes into the map's top


@pytest.mark.parametrize("hex_colour", PALETTE)
def test_each_run_colour_reads_on_the_map_its_contours_and_white_panels(hex_colour):
    fills = viridis(N_FILL)  # the map's background colours
    assert min_delta_to(hex_colour, fills) >= 11.0
    assert min_delta_to(hex_colour, fills * LINE_DARKEN) >= 18.0  # its contour lines
    assert min_delta_to(hex_colour, np.array([[255.0, 255.0, 255.0]])) >= 24.0  # the diagnostics panels
    _, a, b = lab(rgb(hex_colour))
    assert np.hypot(a, b) >= 30.0  # a colour, never read as the neutral marks (black lines, white marks, grey)
    assert min_delta_to(hex_colour, np.array([NAN_GREY], dtype=np.float64)) >= 20.0
