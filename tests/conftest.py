"""Shared test setup: tests run from the repository root, in float64 where they compare numbers."""
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small training models on one intra-op thread: a second one gains little, and on a busy
    2-core machine (other suites at the same time) OpenMP's barriers turn each small op into a
    wait for a descheduled thread, making the LSTMs ~100x slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
