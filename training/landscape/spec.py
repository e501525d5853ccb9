"""What a landscape request is: a plane (a grid of losses around one run's final weights, with the paths of
some runs on it) or a line (the loss between two runs' final weights). Frozen, hashable, JSON-able;
its canonical JSON is the run store's cache key. No torch.

    PlaneSpec(run=3, paths=(3, 4), plane="pca", n=51)       # PCA of runs 3 and 4's snapshots, centred on 3
    PlaneSpec(run=3, plane="random", seed=0, span=(-1, 1, -1, 1))   # Li et al.'s filter-normalised plane
    LineSpec(a=3, b=4, n=51, lo=-0.5, hi=1.5)               # w(t) = (1 - t) w_3 + t w_4

Evaluation data: "val", the task's validation set, scored by the task's own evaluate() (loss and
metric: what every run reports); "train", a fixed batch of TRAIN_BATCHES x the run's batch size
training examples (drawn once with seed TRAIN_SEED; loss only), the surface the optimizer descended,
or for a full-batch run (Job.batch_size "full") its whole training set: exactly that surface.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

PLANES = ("pca", "random")
DATA = ("val", "train")
TRAIN_BATCHES = 4  # "train" data: this many of the task's batches, as one fixed batch
TRAIN_SEED = 0
MAX_PATHS = 8  # runs drawn on one plane
MAX_SPAN = 1e4  # |coordinates| of a grid, in units of the directions
DEFAULT_N = 51  # Li et al.'s resolution
LINE_RANGE = (-0.5, 1.5)  # Goodfellow et al. 2015 / Keskar et al. 2017: a little beyond both ends
MAX_SEED = 2**63 - 1


def _int(v, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"{name} must be a whole number from {lo:,} to {hi:,}, got {v!r}")
    return v


def _float(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > MAX_SPAN:
        raise ValueError(f"{name} must be a finite number within ±{MAX_SPAN:g}, got {v!r}")
    return float(v)


def _check_data(data) -> None:
    if data not in DATA:
        raise ValueError(f"data must be one of {', '.join(DATA)}, got {data!r}")


def _key(spec, **fields) -> str:
    """A spec's canonical JSON (its fields, the given ones replaced, and its kind): the store's cache key."""
    return json.dumps({**asdict(spec), **fields, "kind": spec.kind}, sort_keys=True)


def _check_n(n, max_grid: int | None) -> None:
    import deploy

    top = deploy.settings().max_grid if max_grid is None else max_grid
    _int(n, "points per side", 3, top)


@dataclass(frozen=True)
class PlaneSpec:
    run: int  # the centre: this run's last snapshot is w0 (the plane's (0, 0))
    paths: tuple[int, ...] = ()  # runs whose snapshots are drawn (plane "pca": and span it); () = (run,)
    plane: str = "pca"  # "pca": the paths' principal components; "random": filter-normalised Gaussians
    seed: int = 0  # the random plane's (and a one-dimensional path's second direction's) seed
    keep_1d: bool = False  # 1-D tensors: zeroed (Li et al.'s default), else moved as the weights
    n: int = DEFAULT_N  # points per side
    span: tuple[float, float, float, float] | None = None  # (a0, a1, b0, b1); None: fitted (pca) or +-1
    data: str = "val"

    kind = "plane"

    @property
    def path_runs(self) -> tuple[int, ...]:
        return self.paths or (self.run,)

    def runs(self) -> tuple[int, ...]:
        """Every run it reads, the centre's first."""
        return tuple(dict.fromkeys((self.run, *self.path_runs)))

    @property
    def rows(self) -> int:
        return self.n

    @property
    def cols(self) -> int:
        return self.n

    def check(self, max_grid: int | None = None) -> PlaneSpec:
        """Raise ValueError (one line: what and how to fix it) unless it can be evaluated here
        (points per side within deploy.settings().max_grid, or max_grid where given)."""
        _int(self.run, "the run id", 1, MAX_SEED)
        if not isinstance(self.paths, tuple) or len(self.paths) > MAX_PATHS:
            raise ValueError(f"at most {MAX_PATHS} runs' paths on one plane")
        for r in self.paths:
            _int(r, "a path's run id", 1, MAX_SEED)
        if self.plane not in PLANES:
            raise ValueError(f"plane must be one of {', '.join(PLANES)}, got {self.plane!r}")
        _int(self.seed, "seed", 0, MAX_SEED)
        if not isinstance(self.keep_1d, bool):
            raise ValueError("keep_1d must be true or false")
        _check_n(self.n, max_grid)
        if self.span is not None:
            if not isinstance(self.span, tuple) or len(self.span) != 4:
                raise ValueError("the span is four numbers a0, a1, b0, b1")
            a0, a1, b0, b1 = (_float(v, "a span's end") for v in self.span)
            if not (a0 < a1 and b0 < b1):
                raise ValueError(f"the span needs a0 < a1 and b0 < b1, got {self.span}")
        _check_data(self.data)
        return self

    def key(self) -> str:
        """The canonical JSON that names it in the run store."""
        return _key(self, paths=list(self.path_runs))


@dataclass(frozen=True)
class LineSpec:
    a: int  # w(0): run a's last snapshot
    b: int  # w(1): run b's
    n: int = DEFAULT_N
    lo: float = LINE_RANGE[0]
    hi: float = LINE_RANGE[1]
    data: str = "val"

    kind = "line"

    def runs(self) -> tuple[int, ...]:
        return (self.a, self.b)

    @property
    def run(self) -> int:
        return self.a

    @property
    def rows(self) -> int:  # one point a row: progress and resumption point by point
        return len(self.ts())

    @property
    def cols(self) -> int:
        return 1

    def ts(self) -> list[float]:
        """n evenly spaced t from lo to hi, and t = 0 and 1 (the two runs) where they lie between."""
        even = [self.lo + (self.hi - self.lo) * i / (self.n - 1) for i in range(self.n)]
        ends = [t for t in (0.0, 1.0) if self.lo <= t <= self.hi and min(abs(t - e) for e in even) > 1e-9]
        return sorted(even + ends)

    def check(self, max_grid: int | None = None) -> LineSpec:
        _int(self.a, "run A's id", 1, MAX_SEED)
        _int(self.b, "run B's id", 1, MAX_SEED)
        if self.a == self.b:
            raise ValueError("a line needs two different runs")
        _check_n(self.n, max_grid)
        lo, hi = _float(self.lo, "the line's start"), _float(self.hi, "the line's end")
        if not lo < hi:
            raise ValueError(f"the line needs start < end, got {lo:g}, {hi:g}")
        _check_data(self.data)
        return self

    def key(self) -> str:
        return _key(self)


Spec = PlaneSpec | LineSpec


def from_key(text: str) -> Spec:
    """The spec a store key names (ValueError for one this version cannot read)."""
    try:
        d = json.loads(text)
        kind = d.pop("kind")
        if kind == "plane":
            d["paths"] = tuple(d["paths"])
            if d.get("span") is not None:
                d["span"] = tuple(d["span"])
            return PlaneSpec(**d)
        if kind == "line":
            return LineSpec(**d)
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"a landscape key this version cannot read: {e}") from None
    raise ValueError(f"a landscape of unknown kind {kind!r}")
