"""A trained network's own loss landscape, with its optimizer's path (Li, Xu, Taylor, Studer, Goldstein
2018, "Visualizing the loss landscape of neural nets").

    directions.py  filter-normalised Gaussian directions in the flat parameter space (Section 4)
    path.py        the path plane: PCA of (snapshot - final), each snapshot's projection (Section 7)
    spec.py        a request: PlaneSpec (a grid around one run's final weights) or LineSpec (between two runs)
    probe.py       write weights into the runner's flat buffer (training/flat.py) and score the model
    compute.py     evaluate a stored request: plane, paths, then the grid row by row
    cache.py       requests and their rows in the run store (resumable)
    worker.py      evaluation in a worker process (the pages), cancel; public mode's bounds

A run keeps the weights the path needs with Job.snapshots (training/snapshots.py). The pages
(app_pages/landscape.py) and `python -m training landscape RUN_ID` (training/cli/landscape.py)
read and write the same cache. No streamlit or plotly here (figures: plots/landscape.py).
"""
from .spec import DATA, PLANES, LineSpec, PlaneSpec, from_key

__all__ = ["DATA", "PLANES", "LineSpec", "PlaneSpec", "from_key"]
