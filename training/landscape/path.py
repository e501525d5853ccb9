"""An optimizer's path on a plane: the plane from PCA of the snapshots, each snapshot's projection.

Li et al. 2018, Section 7 (their projection.py): with M the matrix of rows theta_i - theta_n (every
snapshot minus the final weights, of one run or of several runs that share the final point), the
plane's directions are M's first two principal components (sklearn's PCA: centred, unit vectors;
tests/test_landscape.py checks against it), and `explained` is the fraction of M's variance each
explains. Random directions in millions of dimensions are nearly orthogonal to any path, so a path
projected on a random plane barely moves (the paper's Fig. 8): PCA finds the plane it moves in.

As in their code, 1-D tensors can be left out of the PCA (mask); the projection uses the whole
difference, so what the plane does not hold shows up as the distance off the plane.

numpy, float64; snapshots come as float32 (k, P). Chunked over P so a large model's Gram matrix
costs (k, k) memory, not a float64 copy of the snapshots.
"""
from __future__ import annotations

import numpy as np

CHUNK = 1 << 18  # columns per block: (k, CHUNK) float64 at a time
TINY = 1e-12  # relative eigenvalue below which a component carries no variance


def _blocks(n: int):
    for lo in range(0, n, CHUNK):
        yield slice(lo, min(n, lo + CHUNK))


def pca_plane(deltas: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(components (2, P) float64, explained variance ratio (2,)) of the rows of deltas (k, P).

    mask (P,) bool: columns left out (zero in both components). Where the centred rows span fewer
    than two dimensions a component carries no variance and is returned as zeros (ratio 0):
    the caller picks another second direction."""
    x = np.asarray(deltas)
    k, p = x.shape
    if k < 2:
        raise ValueError("a path plane needs at least two snapshots")
    keep = np.ones(p, dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    mean = np.zeros(p)
    gram = np.zeros((k, k))
    for sl in _blocks(p):
        block = x[:, sl].astype(np.float64) * keep[sl]
        mean[sl] = block.mean(0)
        block -= mean[sl]
        gram += block @ block.T  # (k, k)
    lam, u = np.linalg.eigh(gram)  # ascending
    lam, u = lam[::-1], u[:, ::-1]
    total = float(lam.clip(min=0).sum())
    comps = np.zeros((2, p))
    ratio = np.zeros(2)
    for j in range(2):
        if total <= 0 or lam[j] <= TINY * total:
            continue
        for sl in _blocks(p):
            block = (x[:, sl].astype(np.float64) * keep[sl]) - mean[sl]
            comps[j, sl] = u[:, j] @ block / np.sqrt(lam[j])  # a unit vector: Xc^T u / sigma
        ratio[j] = lam[j] / total
    return comps, ratio


def project(deltas: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coords (k, 2), off (k,)): each row of deltas (k, P) as a·d1 + b·d2 + rest, with (a, b) the
    least-squares coordinates (the directions need not be orthogonal: random ones are not quite)
    and off = ||rest|| / ||delta|| (0 on the plane, 1 orthogonal to it; 0 for a zero delta)."""
    x = np.asarray(deltas)
    d = np.stack([np.asarray(d1, dtype=np.float64), np.asarray(d2, dtype=np.float64)])  # (2, P)
    gram = d @ d.T  # (2, 2)
    rhs = np.zeros((x.shape[0], 2))
    sq = np.zeros(x.shape[0])
    for sl in _blocks(x.shape[1]):
        block = x[:, sl].astype(np.float64)
        rhs += block @ d[:, sl].T
        sq += (block * block).sum(1)
    coords = np.linalg.lstsq(gram, rhs.T, rcond=None)[0].T  # (k, 2)
    # ||x - c d||^2 = ||x||^2 - 2 c.(d x) + c^T G c
    rest = sq - 2 * (coords * rhs).sum(1) + np.einsum("ki,ij,kj->k", coords, gram, coords)
    norm = np.sqrt(sq)
    off = np.where(norm > 0, np.sqrt(rest.clip(min=0)) / np.where(norm > 0, norm, 1), 0.0)
    return coords, off


def fitting_span(coords: np.ndarray, margin: float = 0.25) -> tuple[float, float, float, float]:
    """(a0, a1, b0, b1): the box around the path points and the centre (0, 0), widened by `margin`
    of its size on every side (an axis with no extent gets the other's, or +-1)."""
    c = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    c = np.vstack([c[np.isfinite(c).all(1)], np.zeros((1, 2))])
    lo, hi = c.min(0), c.max(0)
    size = hi - lo
    if size.max() <= 0:
        size[:] = 2.0
        lo, hi = -np.ones(2), np.ones(2)
    for j in range(2):
        if size[j] <= 0:
            size[j] = size.max()
            lo[j], hi[j] = -size[j] / 2, size[j] / 2
    lo, hi = lo - margin * size, hi + margin * size
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])
