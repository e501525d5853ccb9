"""The loss surface as a PNG for layout.images: log-scaled Viridis with dark contour lines drawn in.

Why an image and not a go.Contour trace: once a Plotly animation plays (Plotly.animate with
redraw=False), contour and heatmap traces vanish from the plot - a known trap. An image in
layout.images is part of the layout, which frames never touch, so it stays under the moving heads.
It is also small (one PNG) and costs the browser nothing per frame.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from plotly.colors import hex_to_rgb, sequential

from .inputs import as_grid
from .style import NAN_GREY

N_FILL = 127  # fill colours; with their darkened twins and the NaN grey they fit one 8-bit palette
LINE_DARKEN = 0.45  # contour line pixel = fill colour x this
LIGHTEN = 0.3  # blend Viridis this far toward white so coloured trails stand out on it
CLIP_PERCENTILE = 2.0  # the lowest 2% of log values share the darkest colour (else one pixel at the
# minimum, where z - zmin = 0, would stretch the scale over a dozen empty decades)


def log_field(z: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(v, lo, hi): v = log10(z - zmin + offset) (NaN kept), and the colour limits lo < hi.

    Log-spaced levels show surfaces that span many decades (Rosenbrock: 1e-3 in the valley,
    1e3 on the walls) and surfaces unbounded below (zmin is the window's own minimum).
    """
    finite = np.isfinite(z)
    if not finite.any():
        return np.full(z.shape, np.nan), 0.0, 1.0
    zmin, zmax = float(z[finite].min()), float(z[finite].max())
    offset = max((zmax - zmin) * 1e-12, 1e-300)
    with np.errstate(invalid="ignore"):
        v = np.log10(np.where(finite, z - zmin + offset, np.nan))
    lo = float(np.nanpercentile(v, CLIP_PERCENTILE))
    hi = float(np.nanmax(v))
    if not hi > lo:  # a flat window: any non-empty range
        lo, hi = hi - 1.0, hi
    return v, lo, hi


def viridis(n: int, lighten: float = LIGHTEN) -> np.ndarray:
    """(n, 3) float RGB in 0..255, Plotly's Viridis interpolated, blended toward white by `lighten`."""
    stops = np.array([hex_to_rgb(c) for c in sequential.Viridis], dtype=np.float64)  # (k, 3)
    at = np.linspace(0.0, 1.0, len(stops))
    t = np.linspace(0.0, 1.0, n)
    rgb = np.stack([np.interp(t, at, stops[:, c]) for c in range(3)], axis=1)
    return rgb * (1 - lighten) + 255.0 * lighten


def _upsample(a: np.ndarray, f: int) -> np.ndarray:
    """Bilinear upsampling of a (ny, nx) array without NaN to (ny*f, nx*f), corners kept."""
    if f == 1:
        return a
    for axis in (0, 1):
        n = a.shape[axis]
        u = np.linspace(0, n - 1, n * f)
        i0 = np.minimum(np.floor(u).astype(int), max(n - 2, 0))
        i1 = np.minimum(i0 + 1, n - 1)
        w = u - i0
        a0, a1 = np.take(a, i0, axis=axis), np.take(a, i1, axis=axis)
        shape = [1, 1]
        shape[axis] = -1
        w = w.reshape(shape)
        a = a0 * (1 - w) + a1 * w
    return a


@dataclass(frozen=True)
class SurfaceImage:
    source: str  # data:image/png;base64,...
    x0: float  # left edge of the image in data units
    y1: float  # top edge
    width: float
    height: float
    lo: float  # colour limits, in log10(z - zmin + offset)
    hi: float
    levels: int

    def layout_image(self, xref: str = "x", yref: str = "y") -> dict:
        """The entry for fig.layout.images: stretched over the grid's extent, under the traces."""
        return dict(source=self.source, xref=xref, yref=yref, x=self.x0, y=self.y1, sizex=self.width,
                    sizey=self.height, sizing="stretch", layer="below", xanchor="left", yanchor="top")


def surface_image(grid, *, levels: int = 18, max_pixels: int = 480, lighten: float = LIGHTEN) -> SurfaceImage:
    """Render a grid (xs, ys, z) as a PNG: log-scaled colour, NaN grey, `levels` dark contour lines.

    The log field is upsampled bilinearly to about `max_pixels` a side before the contour lines
    are drawn, so the lines are thin and smooth rather than the grid's staircase.
    """
    g = as_grid(grid)
    v, lo, hi = log_field(g.z)
    nan = ~np.isfinite(v)
    f = max(1, int(round(max_pixels / max(g.z.shape))))
    vu = _upsample(np.where(nan, hi, v), f)  # (ny*f, nx*f)
    nanu = np.repeat(np.repeat(nan, f, axis=0), f, axis=1) if f > 1 else nan
    t = np.clip((vu - lo) / (hi - lo), 0.0, 1.0)

    # contour lines: where the quantised level changes between neighbouring pixels
    q = np.minimum((t * levels).astype(np.int32), levels - 1)
    line = np.zeros(q.shape, dtype=bool)
    line[:, :-1] |= (q[:, :-1] != q[:, 1:]) & ~nanu[:, 1:]
    line[:-1, :] |= (q[:-1, :] != q[1:, :]) & ~nanu[1:, :]

    # one 8-bit palette: 0..N_FILL-1 fill, N_FILL..2N_FILL-1 the same darkened (lines), then grey
    idx = np.rint(t * (N_FILL - 1)).astype(np.uint8)
    idx = np.where(line, idx + N_FILL, idx)
    idx = np.where(nanu, 2 * N_FILL, idx).astype(np.uint8)
    fill = viridis(N_FILL, lighten)
    pal = np.concatenate([fill, fill * LINE_DARKEN, np.array([NAN_GREY], dtype=np.float64)])
    img = Image.fromarray(idx[::-1], mode="P")  # row 0 of an image is the top: largest y
    img.putpalette(np.rint(pal).astype(np.uint8).ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

    # pixel centres sit on the grid points: the image reaches half a cell beyond them
    dx = (g.xs[-1] - g.xs[0]) / max(g.xs.size - 1, 1)
    dy = (g.ys[-1] - g.ys[0]) / max(g.ys.size - 1, 1)
    return SurfaceImage(uri, float(g.xs[0] - dx / 2), float(g.ys[-1] + dy / 2), float(dx * g.xs.size),
                        float(dy * g.ys.size), lo, hi, levels)


def surface_layout_image(grid) -> dict:
    """The grid's picture as a Plotly layout image (what race_figure puts under the map)."""
    return surface_image(as_grid(grid)).layout_image()
