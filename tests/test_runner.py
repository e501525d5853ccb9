"""The training runner and the flat parameter buffer, on the CPU, against torch references.

- flat.py: a flattened model computes the same forward/backward as the original, clipping its one
  gradient buffer equals clip_grad_norm_, and optimizers.build("adam", [flat]) equals torch.optim.Adam.
- runner.py: the optimizer comes from optimizers.build; the logged grad_norm / clip_coef / lr are
  clip_grad_norm_'s and optimizers.schedule's; cancel, divergence, failure, flooding and the
  smoothness estimate behave as documented; digits-mlp with Adam reaches 95 %.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import optimizers
from optimizers.adapter import RuleOptimizer
from optimizers.clipping import clip_with_coef_
from training import tasks
from training.flat import flatten_
from training.job import EvalRow, Job, StepRow
from training.runner import train


class ListSink:
    """The Sink protocol backed by lists; cancel_after: report cancelled from that poll on."""

    def __init__(self, cancel_after: int | None = None):
        self.started, self.step_rows, self.eval_rows, self.finished = None, [], [], None
        self.cancel_after, self.polls = cancel_after, 0

    def start(self, job, device, info):
        self.started = (job, device, info)

    def steps(self, rows):
        assert all(isinstance(r, StepRow) for r in rows)
        self.step_rows.extend(rows)

    def evals(self, rows):
        assert all(isinstance(r, EvalRow) for r in rows)
        self.eval_rows.extend(rows)

    def finish(self, status, summary):
        self.finished = (status, summary)

    def cancelled(self):
        self.polls += 1
        return self.cancel_after is not None and self.polls > self.cancel_after


def run(**kw) -> tuple[ListSink, dict]:
    kw.setdefault("task", "digits-mlp")
    kw.setdefault("size", 0.25)
    kw.setdefault("device", "cpu")
    sink = ListSink(kw.pop("cancel_after", None))
    flush = kw.pop("flush", 0.5)
    summary = train(Job.from_dict(kw), sink, flush_every=flush)
    return sink, summary



pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ---------------------------------------------------------------- flat.py


class Mixed(nn.Module):
    """Linear, conv, LSTM and a shared (tied) weight: the cases flatten_ must get right."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.lstm = nn.LSTM(4, 5, batch_first=True)
        self.head = nn.Linear(5, 5)
        self.tied = self.head  # the same parameters twice: flattened once

    def forward(self, x):  # (B, T, 3) -> (B, T, 5)
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.tied(self.head(self.lstm(h)[0]))


def test_flat_model_has_the_same_forward_and_backward():
    torch.manual_seed(0)
    ref = Mixed().double()
    model = copy.deepcopy(ref)
    fp = flatten_(model)
    assert fp.numel == sum(p.numel() for p in ref.parameters())
    assert fp.names[:4] == ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0"]
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    out_ref, out = ref(x), model(x)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=0)
    out_ref.square().sum().backward()
    out.square().sum().backward()
    fp.check()
    torch.testing.assert_close(fp.grad, torch.cat([p.grad.reshape(-1) for p in _in_order(ref, fp)]), rtol=0, atol=0)
    for p in model.parameters():  # the module's parameters are views into the buffers
        assert p.untyped_storage().data_ptr() == fp.flat.untyped_storage().data_ptr()


def _in_order(ref: nn.Module, fp) -> list[nn.Parameter]:
    named = dict(ref.named_parameters())
    return [named[n] for n in fp.names]


def test_flat_clip_equals_clip_grad_norm():
    torch.manual_seed(1)
    ref = Mixed().double()
    model = copy.deepcopy(ref)
    fp = flatten_(model)
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    ref(x).sum().backward()
    model(x).sum().backward()
    total = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.1)
    norm, coef = clip_with_coef_(fp.grad, "norm", 0.1)
    torch.testing.assert_close(norm, total)
    assert float(coef) < 1
    torch.testing.assert_close(fp.grad, torch.cat([p.grad.reshape(-1) for p in _in_order(ref, fp)]))


def test_build_adam_on_flat_equals_torch_adam_on_the_parameters():
    torch.manual_seed(2)
    ref = Mixed().double()
    model = copy.deepcopy(ref)
    fp = flatten_(model)
    ours = optimizers.build("adam", [fp.flat], lr=1e-2, weight_decay=0.01)
    theirs = torch.optim.Adam(ref.parameters(), lr=1e-2, weight_decay=0.01)
    for step in range(6):
        x = torch.randn(4, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(step))
        fp.zero_grad()
        model(x).square().mean().backward()
        ours.step()
        theirs.zero_grad()
        ref(x).square().mean().backward()
        theirs.step()
    for (name, p), q in zip(ref.named_parameters(), [dict(model.named_parameters())[n] for n, _ in
                                                        ref.named_parameters()], strict=True):
        torch.testing.assert_close(q, p, rtol=1e-12, atol=1e-14, msg=name)


def test_flat_check_catches_detached_grads():
    model = nn.Linear(3, 2)
    fp = flatten_(model)
    fp.check()
    model.zero_grad()  # set_to_none=True: the views are gone
    with pytest.raises(RuntimeError, match="FlatParams.zero_grad"):
        fp.check()


def test_flatten_refuses_mixed_dtypes():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2).double())
    with pytest.raises(ValueError, match="one dtype"):
        flatten_(model)


# ---------------------------------------------------------------- runner.py


def test_optimizer_comes_from_optimizers_build(monkeypatch):
    made = []
    real = optimizers.build

    def spy(name, params, **hp):
        opt = real(name, params, **hp)
        made.append((name, params, hp, opt))
        return opt

    monkeypatch.setattr(optimizers, "build", spy)
    sink, summary = run(optimizer="adamw", hparams=(("lr", 2e-3), ("weight_decay", 0.05)), steps=5)
    assert len(made) == 1
    name, params, hp, opt = made[0]
    every = dict(optimizers.RunConfig("adamw", {"lr": 2e-3, "weight_decay": 0.05}).hparams)  # defaults written out
    assert name == "adamw" and hp == every | {"compiled": False} and every["weight_decay"] == 0.05
    assert isinstance(opt, RuleOptimizer) and len(params) == 1 and params[0].dim() == 1
    assert params[0].numel() == summary["n_params"]
    assert summary["status"] == "done" and sink.finished[0] == "done"


def test_list_sink_receives_every_row():
    sink, summary = run(steps=25, eval_every=10, flush=0.0)
    job, device, info = sink.started
    assert device == "cpu" and info["device"]["text"].startswith("CPU") and info["metric_name"] == "accuracy"
    assert [r.step for r in sink.step_rows] == list(range(25))
    assert [e.step for e in sink.eval_rows] == [0, 10, 20, 25]
    assert all(0 <= e.metric <= 1 and e.val_loss > 0 for e in sink.eval_rows)
    assert all(e.throughput > 0 for e in sink.eval_rows[1:])
    walls = [r.wall for r in sink.step_rows]
    assert walls == sorted(walls)
    assert summary["steps"] == 25 and summary["final_metric"] == sink.eval_rows[-1].metric
    assert summary["steps_per_s"] > 0 and summary["wall_s"] > 0
    assert sink.finished == ("done", summary)


def test_logged_grad_norm_is_clip_grad_norms_total_norm():
    job = Job.from_dict(dict(task="digits-mlp", size=0.1, steps=1, clip=("norm", 0.01), seed=3, device="cpu"))
    sink = ListSink()
    train(job, sink)
    row = sink.step_rows[0]
    # the same first step by hand: same init (make is seeded), same batch (generator seeded alike)
    task = tasks.get("digits-mlp")
    model, data = task.make(0.1, 3, torch.device("cpu"))
    batch = task.batch(data, 0, task.batch_size, torch.Generator().manual_seed(3))
    task.loss(model, batch).backward()
    total = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.01))
    assert row.loss == pytest.approx(task.loss(model, batch).item(), rel=1e-6)
    assert row.grad_norm == pytest.approx(total, rel=1e-5)
    assert row.clip_coef == pytest.approx(0.01 / (total + 1e-6), rel=1e-5) and row.clip_coef < 1


def test_clip_coef_is_one_when_clipping_does_not_bite():
    sink, _ = run(steps=5, clip=("norm", 1e6))
    assert all(r.clip_coef == 1.0 for r in sink.step_rows)
    sink, _ = run(steps=5)  # no clipping at all
    assert all(r.clip_coef == 1.0 and r.grad_norm > 0 for r in sink.step_rows)


def test_lr_per_step_is_optimizers_schedule(monkeypatch):
    seen = []
    real = optimizers.build

    def spy(name, params, **hp):
        opt = real(name, params, **hp)
        step = opt.step

        def recording_step(*a, **k):
            seen.append(opt.param_groups[0]["lr"])
            return step(*a, **k)

        opt.step = recording_step
        return opt

    monkeypatch.setattr(optimizers, "build", spy)
    sink, _ = run(steps=30, hparams=(("lr", 0.01),), schedule=("one_cycle", (("pct_start", 0.4),)))
    expected = optimizers.schedule("one_cycle", 0.01, 30, pct_start=0.4).tolist()
    assert [r.lr for r in sink.step_rows] == expected
    assert seen == expected  # and the optimizer really used them


def test_cancel_stops_the_run():
    sink, summary = run(steps=500, flush=0.0, cancel_after=3)
    assert sink.finished[0] == "cancelled" and summary["status"] == "cancelled"
    assert 3 <= len(sink.step_rows) <= 5 and summary["steps"] == len(sink.step_rows)
    assert sink.eval_rows[-1].step == summary["steps"]  # evaluated where it stopped


def test_divergence_stops_the_run():
    sink, summary = run(optimizer="sgd", hparams=(("lr", 1e6),), steps=200, flush=0.0)
    assert summary["status"] == "diverged" and sink.finished[0] == "diverged"
    assert not math.isfinite(sink.step_rows[-1].loss)
    assert all(math.isfinite(r.loss) for r in sink.step_rows[:-1])
    assert summary["diverged_at"] == sink.step_rows[-1].step < 199


def test_failure_is_reported_then_raised():
    sink = ListSink()
    with pytest.raises(KeyError, match="no-such-task"):
        train(Job(task="no-such-task", device="cpu"), sink)
    assert sink.finished[0] == "failed" and "no-such-task" in sink.finished[1]["error"]


def test_flooding_changes_the_loss():
    plain, _ = run(steps=30, hparams=(("lr", 3e-3),))
    flooded, _ = run(steps=30, hparams=(("lr", 3e-3),), flooding=5.0)  # above the loss: gradient ascent
    a, b = [r.loss for r in plain.step_rows], [r.loss for r in flooded.step_rows]
    assert a[0] == b[0]  # the same start
    assert a[-1] < a[0] and b[-1] > b[0]
    mild, _ = run(steps=30, hparams=(("lr", 3e-3),), flooding=1e-4)  # far below the loss: no effect yet
    assert [r.loss for r in mild.step_rows] == a


def test_smoothness_is_measured_and_leaves_training_unchanged():
    base, _ = run(steps=21, eval_every=100)
    sink, _ = run(steps=21, eval_every=100, smoothness_every=5)
    assert [r.loss for r in sink.step_rows] == [r.loss for r in base.step_rows]  # params restored exactly
    rows = {e.step: e for e in sink.eval_rows}
    assert sorted(rows) == [0, 5, 10, 15, 20, 21]
    for k in (0, 5, 10, 15, 20):
        e = rows[k]
        assert e.smoothness > 0 and math.isfinite(e.smoothness) and math.isnan(e.val_loss) == (k != 0)
        assert e.grad_norm == pytest.approx(sink.step_rows[k].grad_norm, rel=1e-6)
    assert rows[21].smoothness is None and not math.isnan(rows[21].val_loss)


def test_smoothness_is_zhang_et_al_s_estimate_at_the_midpoint_of_the_step_taken():
    """Against a direct computation: the same model, minibatches and clipped SGD steps by hand; at
    x_i, with d = x_{i+1} - x_i the step taken, ||g(x_i + d/2) - g(x_i)|| / (||d||/2) on batch i,
    g before clipping (not the previous step's d extrapolated past x_i)."""
    job = Job.from_dict(dict(task="digits-mlp", size=0.25, device="cpu", optimizer="momentum", steps=13, eval_every=100,
                             smoothness_every=4, hparams=(("lr", 0.05), ("momentum", 0.9)), clip=("norm", 0.5), seed=3))
    sink = ListSink()
    train(job, sink, flush_every=0.5)
    got = {e.step: (e.smoothness, e.grad_norm) for e in sink.eval_rows if e.smoothness is not None}

    task = tasks.get("digits-mlp")
    torch.manual_seed(job.seed)
    model, data = task.make(job.size, job.seed, torch.device("cpu"))
    model.train()
    fp = flatten_(model)
    opt = optimizers.build("momentum", [fp.flat], lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(job.seed)

    def grad_at(x, batch):
        with torch.no_grad():
            fp.flat.copy_(x)
        fp.zero_grad()
        task.loss(model, batch).backward()
        return fp.grad.clone()

    want = {}
    for i in range(job.steps):
        batch = task.batch(data, i, task.batch_size, gen)
        x0 = fp.flat.detach().clone()
        g0 = grad_at(x0, batch)
        clip_with_coef_(fp.grad, "norm", 0.5)
        opt.step()
        x1 = fp.flat.detach().clone()
        if i % 4 == 0:
            d = x1 - x0
            est = torch.linalg.vector_norm(grad_at(x0 + d / 2, batch) - g0) / (torch.linalg.vector_norm(d) / 2)
            want[i] = (float(est), float(torch.linalg.vector_norm(g0)))
            with torch.no_grad():
                fp.flat.copy_(x1)
    assert sorted(got) == sorted(want) == [0, 4, 8, 12]
    for i in want:
        assert got[i][0] == pytest.approx(want[i][0], rel=1e-4), i
        assert got[i][1] == pytest.approx(want[i][1], rel=1e-5), i


def test_amp_autocasts_to_bfloat16_on_the_cpu_too():
    """The GPU's AMP path is the CPU's with another device: autocast, here to bfloat16."""
    base, _ = run(steps=10, seed=5)
    amp, summary = run(steps=10, seed=5, amp=True)
    again, _ = run(steps=10, seed=5, amp=True)
    losses = [r.loss for r in amp.step_rows]
    assert losses == [r.loss for r in again.step_rows]  # deterministic
    assert losses != [r.loss for r in base.step_rows]  # really computed in bfloat16
    assert losses == pytest.approx([r.loss for r in base.step_rows], rel=0.05)
    assert any("autocast to bfloat16 on cpu" in n for n in summary["notes"])


@pytest.mark.slow
def test_torch_compile_runs_on_the_cpu_and_matches_eager():
    """torch.compile is the same path on every device (on CPU: inductor's C++ code, gcc on these machines)."""
    base, _ = run(steps=6, seed=5)
    compiled, summary = run(steps=6, seed=5, compile=True)
    assert [r.loss for r in compiled.step_rows] == pytest.approx([r.loss for r in base.step_rows], rel=1e-4)
    assert compiled.finished[0] == "done" and any("torch.compile on cpu" in n for n in summary["notes"])
    assert "optimizer step: adam's rule through torch.compile on cpu" in summary["notes"]


@pytest.mark.slow  # ~3 s: torch.compile
def test_the_step_compiles_where_it_pays_and_says_when_the_rule_runs_eager(monkeypatch):
    import training.runner as runner

    assert runner.step_compile_pays(10**6, 10**4, torch.device("cpu"))
    assert not runner.step_compile_pays(26_122, 2000, torch.device("cpu"))  # digits-mlp's default
    assert not runner.step_compile_pays(10**9, 10**6, torch.device("meta"))  # GPUs: when asked only
    base, _ = run(steps=6, seed=5, optimizer="adam", hparams=(("lr", 1e-2),))
    monkeypatch.setattr(runner, "STEP_COMPILE_PAYS", 0)
    fast, summary = run(steps=6, seed=5, optimizer="adam", hparams=(("lr", 1e-2),))
    assert "optimizer step: adam's rule through torch.compile on cpu" in summary["notes"]
    assert [r.loss for r in fast.step_rows] == pytest.approx([r.loss for r in base.step_rows], rel=1e-5)
    assert fast.step_rows[-1].loss != base.step_rows[0].loss  # it trained: the comparison can fail
    _, summary = run(steps=3, optimizer="lookahead")
    assert any(n.startswith("optimizer step: eager (compiling lookahead's rule failed") for n in summary["notes"])


@pytest.mark.slow  # ~0.5 s: many runs
@pytest.mark.parametrize("name", ["char-lstm", "adding-rnn", "tiny-transformer", "digits-cnn"])
def test_runner_trains_each_task(name):
    sink, summary = run(task=name, size=0.25, steps=12, batch_size=4, eval_every=6, clip=("norm", 1.0),
                        schedule=("warmup", (("total_iters", 4),)))
    assert summary["status"] == "done" and len(sink.step_rows) == 12
    assert [e.step for e in sink.eval_rows] == [0, 6, 12]


@pytest.mark.slow
def test_digits_mlp_adam_reaches_95_percent():
    sink, summary = run(task="digits-mlp", size=1.0, steps=2000)
    assert summary["final_metric"] >= 0.95, summary
    assert summary["time_to_target"] is not None


@pytest.mark.parametrize("name", ["adam", "amsgrad", "adamw"])
def test_adam_on_a_big_flat_buffer_equals_torch_bit_for_bit(name):
    # a 1-D buffer above optimizers/rules/adam.py's CPU slicing size takes the sliced path
    torch.manual_seed(0)
    ours_p = torch.randn(600_001)
    theirs_p = ours_p.clone()
    ours = optimizers.build(name, [ours_p], lr=1e-2, weight_decay=0.01)
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    theirs = cls([theirs_p], lr=1e-2, weight_decay=0.01, amsgrad=name == "amsgrad")
    for i in range(4):
        g = torch.randn(600_001, generator=torch.Generator().manual_seed(i))
        ours_p.grad, theirs_p.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    assert torch.equal(ours_p, theirs_p)


# ---------------------------------------------------------------- rules that evaluate the loss; sharpness


def test_model_sharpness_is_the_top_eigenvalue_of_the_explicit_hessian():
    from training.sharpness import model_sharpness

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    params = list(model.parameters())
    shapes = [p.shape for p in params]

    def loss_of(flat):
        out, at = {}, 0
        for (name, _), shape in zip(model.named_parameters(), shapes, strict=True):
            n = math.prod(shape)
            out[name] = flat[at: at + n].view(shape)
            at += n
        return ((torch.func.functional_call(model, out, (x,)) - y) ** 2).mean()

    flat = torch.cat([p.detach().reshape(-1) for p in params])
    want = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat))[-1]
    loss = lambda: ((model(x) - y) ** 2).mean()  # noqa: E731
    got = model_sharpness(loss, params, torch.Generator().manual_seed(0), iters=2000, tol=1e-14)
    assert got == pytest.approx(float(want), rel=1e-8)
    quick = model_sharpness(loss, params, torch.Generator().manual_seed(0))  # the runner's bounded default
    assert quick == pytest.approx(float(want), rel=0.05)
    # a linear least-squares model: the Hessian is (2/n) [X 1]'[X 1] per output, in closed form
    lin = nn.Linear(3, 1).double()
    xa = torch.cat([x, torch.ones(16, 1, dtype=torch.float64)], dim=1)
    closed = torch.linalg.eigvalsh(2 / 16 * xa.T @ xa)[-1]
    got = model_sharpness(lambda: ((lin(x) - y[:, :1]) ** 2).mean(), list(lin.parameters()),
                          torch.Generator().manual_seed(1), iters=2000, tol=1e-14)
    assert got == pytest.approx(float(closed), rel=1e-8)


def test_a_zeroth_order_job_counts_loss_evaluations_and_uses_no_gradient():
    q = 4
    sink, s = run(optimizer="zo_sgd", hparams=(("lr", 0.05), ("directions", q)), steps=30, eval_every=10,
                  smoothness_every=5, clip=("norm", 1.0))
    assert s["status"] == "done"
    assert (s["loss_evaluations"], s["gradient_evaluations"]) == (30 * (q + 1), 0)
    assert [e.extra["evaluations"] for e in sink.eval_rows] == [[0, 0], [50, 0], [100, 0], [150, 0]]
    assert all(e.smoothness is None for e in sink.eval_rows)  # no gradients: no smoothness estimate, and a note
    assert any("no smoothness estimate" in n for n in s["notes"])
    # the rows log the estimate's norm before clipping, and clipping scaled it to the threshold
    assert all(r.grad_norm > 0 and math.isfinite(r.grad_norm) for r in sink.step_rows)
    big = [r for r in sink.step_rows if r.grad_norm > 1.0]
    assert big and all(r.clip_coef == pytest.approx(1 / (r.grad_norm + 1e-6), rel=1e-5) for r in big)
    adam, _ = run(optimizer="adam", steps=1, eval_every=10)
    assert sink.step_rows[0].loss == adam.step_rows[0].loss  # the same model and first batch: its own directions
    again, _ = run(optimizer="zo_sgd", hparams=(("lr", 0.05), ("directions", q)), steps=30, eval_every=10,
                   smoothness_every=5, clip=("norm", 1.0))
    assert [r.loss for r in again.step_rows] == [r.loss for r in sink.step_rows]  # seeded


def test_a_sam_job_takes_two_gradients_a_step_and_equals_the_rule_on_the_same_batches():
    steps, lr, rho = 5, 0.2, 0.1
    sink, s = run(optimizer="sam", hparams=(("lr", lr), ("rho", rho)), steps=steps, eval_every=steps,
                  smoothness_every=0, seed=3)
    assert (s["loss_evaluations"], s["gradient_evaluations"]) == (0, 2 * steps)
    # the same updates by hand: build("sam") on a flattened copy, a closure on the runner's batches
    task = tasks.get("digits-mlp")
    torch.manual_seed(3)
    model, data = task.make(0.25, 3, torch.device("cpu"))
    fp = flatten_(model)
    opt = optimizers.build("sam", [fp.flat], lr=lr, rho=rho)
    gen = torch.Generator().manual_seed(3)
    for i in range(steps):
        batch = task.batch(data, i, task.batch_size, gen)

        def closure(batch=batch):
            fp.zero_grad()
            loss = task.loss(model, batch)
            loss.backward()
            return loss

        loss = opt.step(closure)
        assert sink.step_rows[i].loss == pytest.approx(float(loss.detach()), rel=1e-6)


def test_sharpness_is_recorded_at_every_evaluation_when_asked():
    sink, s = run(optimizer="sgd", hparams=(("lr", 0.1),), steps=20, eval_every=10, sharpness=True)
    values = [e.extra["sharpness"] for e in sink.eval_rows]
    assert len(values) == 3 and all(v > 0 for v in values)
    assert s["final_sharpness"] == values[-1]
    plain, s2 = run(optimizer="sgd", hparams=(("lr", 0.1),), steps=20, eval_every=10)
    assert all("sharpness" not in e.extra for e in plain.eval_rows) and s2["final_sharpness"] is None
    assert [r.loss for r in plain.step_rows] == [r.loss for r in sink.step_rows]  # measuring changes nothing
