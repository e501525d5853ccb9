"""Colours and marks shared by every figure: one palette, so a run keeps its colour on every page."""
from __future__ import annotations

# Eight colours told apart by everyone, on every figure. Picked from published colour-blind-safe
# palettes (Okabe & Ito 2008; Paul Tol's "bright", "vibrant", "muted" and "light"; Tableau's colour-blind
# ten) by measure, not by name (tests/test_style.py computes and checks each number below):
# - any two of the eight differ by CIEDE2000 ΔE >= 22 for normal vision and >= 13 under simulated
#   deuteranopia and protanopia (Machado et al. 2009); the first four (the explorer's default runs)
#   by >= 14 under all three. Okabe-Ito itself reaches only 11.6: its vermillion and orange (runs 1
#   and 3 before) are two oranges to a deuteranope, and its orange and yellow are close for everyone;
# - each reads on the map: ΔE >= 11 from every fill of the lightened Viridis background, >= 18 from
#   every (darkened) contour line, >= 24 from the panels' white; and each is a colour (chroma C* >= 30),
#   never confused with the neutral marks: the dark contour lines and outlines, the white start and
#   minimum, the grey where the surface is not finite. That rules out Okabe-Ito's black (one more
#   contour line) and its yellow (the colour of the map's top: ΔE 3 from it);
# - the first four (the explorer's default race) are four that stay far apart for every reader and
#   are mid to dark (clear on white panels too); the two lightest (sky blue, pink) come last.
PALETTE = (
    "#CC3311",  # red (Tol vibrant)
    "#0072B2",  # blue (Okabe-Ito)
    "#009988",  # teal (Tol vibrant)
    "#EE3377",  # magenta (Tol vibrant)
    "#FF800E",  # orange (Tableau colour-blind)
    "#66CCEE",  # sky blue (Tol bright)
    "#882255",  # wine (Tol muted)
    "#FFAABB",  # pink (Tol light)
)

NAN_GREY = (158, 158, 158)  # where the surface is not finite: neutral, unlike any Viridis colour
START_COLOUR = "#ffffff"
MINIMUM_COLOUR = "#ffffff"
OUTLINE = "#111111"
GRAD_ARROW = "#111111"  # -gradient arrows on the map
UPDATE_ARROW = "#ffffff"  # update (x[t+1] - x[t]) arrows on the map

FONT_SMALL = 11
# Smallest value drawn on a log axis: a loss gap or a distance of exactly 0 (converged to machine
# precision) sits on this floor instead of vanishing from the plot.
LOG_FLOOR = 1e-16


def colour(i: int) -> str:
    """The colour of run i (the palette repeats after eight runs)."""
    return PALETTE[i % len(PALETTE)]


def colours(n: int) -> list[str]:
    return [colour(i) for i in range(n)]
