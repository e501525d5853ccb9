"""The loss on a regular grid over a surface's bounds, for contour maps and 3D views."""
from __future__ import annotations

import numpy as np
import torch

from .simulate import as_surface


def grid(surface, n: int = 200, bounds=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs (n,), ys (n,), z (n, n)) with z[j, i] = f(xs[i], ys[j]); non-finite values become NaN."""
    s = as_surface(surface)
    (x0, x1), (y0, y1) = bounds or s.bounds
    xs = torch.linspace(x0, x1, n, dtype=torch.float64)
    ys = torch.linspace(y0, y1, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # (n, n): rows follow y, columns x
    with torch.no_grad():
        z = s(torch.stack([xx, yy], dim=-1)).numpy()
    z = np.where(np.isfinite(z), z, np.nan)
    return xs.numpy(), ys.numpy(), z
