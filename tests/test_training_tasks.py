"""The training tasks: each one is deterministic, its data are what the docstring says, and it learns.

Every task is trained for a few dozen Adam steps at a small size on the CPU and its training loss
must fall; the data (digits split, adding problem, standard-library corpus) are checked against
what they promise (stratified, the 1/6 baseline, a fixed held-out text).
"""
from __future__ import annotations

import math

import pytest
import torch

from training import tasks
from training.tasks import adding, corpus

CPU = torch.device("cpu")
EXPECTED = ["digits-mlp", "digits-cnn", "char-lstm", "adding-rnn", "tiny-transformer"]
# (size, lr, steps, batch): a few seconds on 2 cores, enough for the loss to fall clearly
SMALL = {
    "digits-mlp": (0.5, 3e-3, 40, 32),
    "digits-cnn": (0.5, 3e-3, 40, 32),
    "char-lstm": (0.5, 1e-2, 40, 8),
    "adding-rnn": (0.3, 3e-3, 40, 32),
    "tiny-transformer": (0.34, 3e-3, 40, 8),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_names_and_unknown_name():
    assert tasks.names() == EXPECTED
    with pytest.raises(KeyError, match="char-lstm"):
        tasks.get("no-such-task")


@pytest.mark.parametrize("name", EXPECTED)
def test_task_fields(name):
    t = tasks.get(name)
    assert t.name == name and t.title and t.about.endswith(".")
    assert t.metric_name in {"accuracy", "bits/char", "mse"}
    assert t.higher_is_better == (t.metric_name == "accuracy")
    assert t.steps > 0 and t.batch_size > 0 and 0 < t.eval_every <= t.steps
    assert t.unit in {"examples", "tokens"}


@pytest.mark.slow  # ~1.7 s: many runs
@pytest.mark.parametrize("name", EXPECTED)
def test_training_loss_falls(name):
    size, lr, steps, batch_size = SMALL[name]
    t = tasks.get(name)
    model, data = t.make(size, 0, CPU)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    losses = []
    for i in range(steps):
        loss = t.loss(model, t.batch(data, i, batch_size, g))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert all(math.isfinite(v) for v in losses)
    assert last < 0.8 * first, f"{name}: loss {first:.3f} -> {last:.3f}"
    val_loss, metric = t.evaluate(model, data)
    assert isinstance(val_loss, float) and isinstance(metric, float) and math.isfinite(metric)
    assert model.training  # evaluate() puts the model back in training mode


@pytest.mark.parametrize("name", EXPECTED)
def test_make_and_batch_are_deterministic(name):
    t = tasks.get(name)
    size = SMALL[name][0]
    (m1, d1), (m2, d2) = t.make(size, 7, CPU), t.make(size, 7, CPU)
    m3, _ = t.make(size, 8, CPU)
    for a, b in zip(m1.parameters(), m2.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert any(not torch.equal(a, c) for a, c in zip(m1.parameters(), m3.parameters(), strict=True))
    b1 = t.batch(d1, 0, 8, torch.Generator().manual_seed(3))
    b2 = t.batch(d2, 0, 8, torch.Generator().manual_seed(3))
    for x, y in zip(b1, b2, strict=True):
        assert torch.equal(x, y)
    assert t.evaluate(m1, d1) == t.evaluate(m2, d2)


def test_digits_split_is_fixed_stratified_and_scaled():
    t = tasks.get("digits-mlp")
    _, d0 = t.make(0.2, 0, CPU)
    _, d1 = t.make(0.2, 1, CPU)
    assert torch.equal(d0.y_val, d1.y_val) and torch.equal(d0.x_val, d1.x_val)  # the seed never moves it
    assert d0.x_train.shape == (1437, 64) and d0.x_val.shape == (360, 64)
    assert 0.0 <= float(d0.x_train.min()) and float(d0.x_train.max()) <= 1.0
    counts = torch.bincount(d0.y_val, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37  # 10 % of each class, give or take one
    _, dc = tasks.get("digits-cnn").make(0.2, 0, CPU)
    assert dc.x_train.shape == (1437, 1, 8, 8)


def test_adding_problem_data_and_baseline():
    g = torch.Generator().manual_seed(0)
    x, y = adding.sequences(2000, 50, g, "cpu")
    assert x.shape == (2000, 50, 2) and y.shape == (2000,)
    markers = x[..., 1]
    assert torch.equal(markers.sum(1), torch.full((2000,), 2.0))
    assert bool((markers[:, :25].sum(1) == 1).all())  # one marker in each half
    torch.testing.assert_close(y, (x[..., 0] * markers).sum(1))
    _, data = tasks.get("adding-rnn").make(1.0, 0, CPU)
    assert data.T == 100
    baseline = float(((data.y_val - 1.0) ** 2).mean())
    assert abs(baseline - 1 / 6) < 0.02  # always answering 1 scores about 0.167


def test_corpus_is_the_stdlib_held_out_and_fixed():
    info = corpus.info()
    assert info["chars"] >= 1_000_000 and info["vocab"] <= 128 and "stdlib" in info["corpus"]
    text = corpus.load(64, CPU)
    assert text.train.dtype == torch.int64 and int(text.train.max()) < text.vocab
    assert len(text.val) == int(info["chars"] * corpus.VAL_FRACTION)
    x, y = corpus.val_windows(text)
    assert x.shape == y.shape == (corpus.EVAL_WINDOWS, 64)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the next characters
    xb, yb = corpus.batch(text, 0, 4, torch.Generator().manual_seed(0))
    assert xb.shape == (4, 64) and torch.equal(xb[:, 1:], yb[:, :-1])


def test_lm_metric_is_bits_per_char():
    t = tasks.get("char-lstm")
    model, data = t.make(0.25, 0, CPU)
    nats, bits = t.evaluate(model, data)
    assert bits == pytest.approx(nats / math.log(2))
    assert nats == pytest.approx(math.log(data.vocab), rel=0.05)  # an untrained model: about uniform


def test_sizes_scale_the_models():
    for name in EXPECTED:
        t = tasks.get(name)
        small = sum(p.numel() for p in t.make(0.5, 0, CPU)[0].parameters())
        big = sum(p.numel() for p in t.make(2.0, 0, CPU)[0].parameters())
        if name == "adding-rnn":  # size scales the sequence length
            assert t.make(2.0, 0, CPU)[1].T == 200
        else:
            assert big > 2 * small, name
