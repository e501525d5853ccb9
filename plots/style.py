"""Colours and marks shared by every figure: one palette, so a run keeps its colour on every page."""
from __future__ import annotations

# Okabe & Ito (2008), "Color Universal Design": eight colours told apart with every common colour
# vision deficiency. Ordered so the first runs get the colours that stand out most on the
# (lightened) Viridis background of the map; yellow comes last because it fades into the map's top.
PALETTE = (
    "#D55E00",  # vermillion
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)

NAN_GREY = (158, 158, 158)  # where the surface is not finite: neutral, unlike any Viridis colour
START_COLOUR = "#ffffff"
MINIMUM_COLOUR = "#ffffff"
OUTLINE = "#111111"
GRAD_ARROW = "#111111"  # -gradient arrows on the map
UPDATE_ARROW = "#ffffff"  # update (x[t+1] - x[t]) arrows on the map
TOL_LINE = "#888888"

FONT_SMALL = 11
# Smallest value drawn on a log axis: a loss gap or a distance of exactly 0 (converged to machine
# precision) sits on this floor instead of vanishing from the plot.
LOG_FLOOR = 1e-16


def colour(i: int) -> str:
    """The colour of run i (the palette repeats after eight runs)."""
    return PALETTE[i % len(PALETTE)]


def colours(n: int) -> list[str]:
    return [colour(i) for i in range(n)]
