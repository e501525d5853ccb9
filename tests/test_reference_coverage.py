"""Every registered optimizer is held against a reference: a torch.optim class
(tests/test_optimizers_torch.py), the authors' package (tests/test_optimizers_reference.py; SAM and
ASAM: pytorch_optimizer.SAM in tests/test_sam.py) or, for SWATS and the zeroth-order rules, the
paper's algorithm transcribed (tests/test_optimizers_reference.py, tests/test_zeroth_order.py).
A new optimizer without one fails here."""
from __future__ import annotations

import pytest
import test_optimizers_reference as by_package
import test_optimizers_torch as by_torch
import test_sam
import test_zeroth_order

import optimizers
from optimizers.registry import set_order

TRANSCRIBED = {
    "swats": by_package.test_swats_model_matches_algorithm_1_per_row,
    "zo_sgd": test_zeroth_order.test_zo_sgd_equals_the_estimator_transcribed_in_floats,
    "zo_signsgd": test_zeroth_order.test_zo_signsgd_takes_signed_steps_of_the_sphere_estimate,
}


def test_every_registered_optimizer_has_a_reference_case():
    covered = {n for n, cases in by_torch.CASES.items() if cases}
    covered |= {n for n, _ in by_package.MODEL_CASES if n in by_package.REFERENCE}
    covered |= set(TRANSCRIBED)
    covered |= {n for n, _, _ in test_sam.CASES}  # pytorch_optimizer.SAM
    missing = [n for n in optimizers.names() if n not in covered]
    assert not missing, f"no reference test for {missing}: add a case against torch.optim or the authors' code"
    assert set(by_torch.CASES) <= set(by_torch.TORCH)  # a torch case names its class


def test_the_order_of_names_is_the_explicit_list():
    assert optimizers.names() == list(optimizers.ORDER)
    with pytest.raises(ValueError, match="missing.*'adam'"):
        set_order(tuple(n for n in optimizers.ORDER if n != "adam"))
    with pytest.raises(ValueError, match="not registered.*'adabelief'"):
        set_order((*optimizers.ORDER, "adabelief"))
    assert optimizers.names() == list(optimizers.ORDER)  # a refused order changes nothing
