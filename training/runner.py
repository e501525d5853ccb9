"""Run one training Job and report to a Sink: the explorer's optimizer, clipping and schedule code on a real model.

    summary = train(job, sink)

One step, nanoGPT style, with everything the pages plot made visible:
    lr      = run.sequential.values(...)[i]                # the schedule (every phase of a chain), once, up front
    batch   = task.batch(data, i, batch_size, generator)   # or task.full_batch(data): the whole training set
    loss    = task.loss(model, batch)                      # flooding: |loss - b| + b (Ishida et al. 2020)
    backward into fp.grad                                  # training/flat.py: the model is one row (P,)
    norm, coef = optimizers.clip_with_coef_(fp.grad, kind, threshold)   # whole-model norm, as clip_grad_norm_
    opt.step()                                             # opt = optimizers.build(job.run.optimizer, [fp.flat], ...)

Step numbers: StepRow.step = i is update i (0-based): its loss is measured at the parameters after
i updates and its lr is the one update i uses (= optimizers.schedule(...)[i], or a chain's). EvalRow.step = k is
the number of updates done: k = 0 (the initial model), every eval_every, and the last step.
Rows with smoothness: at every update i with i % smoothness_every == 0, the local smoothness
estimate of Zhang et al. 2020, ||g(x_i + d/2) - g(x_i)|| / (||d|| / 2), with d = x_{i+1} - x_i the
update just made from x_i and g the training gradient (before clipping) on that update's minibatch,
goes into the EvalRow of step i (with grad_norm = ||g(x_i)||): the midpoint of the step actually
taken, as in the paper and the 2D engine. Where i is not an evaluation step, the row's val_loss,
metric and throughput are NaN.

Snapshots (Job.snapshots = n): the weights after k updates, for n values of k evenly spaced from 0 to
the last update (training/snapshots.py: fewer where n would not fit this server's budget, said in
the notes), go to sink.snapshot(k, float32 array (P,)): the loss landscape's path.

Host syncs: per-step scalars (loss, norm, coef) accumulate in a device tensor and are read with
one .tolist() per flush (every flush_every seconds, when the buffer fills, and at each evaluation);
on a GPU the loop otherwise never waits for the device. Divergence (a non-finite training loss)
is therefore noticed at the next flush; the rows after the first non-finite loss are dropped.
Statuses passed to sink.finish: "done", "diverged", "cancelled" (sink.cancelled() polled at every
flush), "failed" (an exception: reported as {"error": ...}, then re-raised).
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import torch

import optimizers
from optimizers.clipping import check_clip, clip_with_coef_

from . import device as devices
from . import snapshots, tasks
from .flat import flatten_
from .job import FULL_BATCH, EvalRow, Job, Sink, StepRow
from .sharpness import model_sharpness

NAN = float("nan")
DIRECTIONS_SEED = 1 << 33  # added to the job's seed: zeroth-order directions, a stream apart from the batches'
SHARPNESS_SEED = 1 << 34  # likewise for the fixed batch the sharpness is measured on


def train(job: Job, sink: Sink, *, flush_every: float = 0.5, buffer_steps: int = 1024) -> dict:
    """Execute job, reporting to sink; return the summary (also passed to sink.finish).

    flush_every: seconds between flushes of the step rows to sink.steps (0: every step), so a killed
    run loses at most that much; buffer_steps: flush at least this often, in steps.
    """
    try:
        status, summary = _Run(job, sink, flush_every, buffer_steps).run()
    except Exception as e:
        with contextlib.suppress(Exception):  # the original error matters more than a broken sink
            sink.finish("failed", {"status": "failed", "error": f"{type(e).__name__}: {e}"})
        raise
    sink.finish(status, summary)
    return summary


def amp_dtype_for(dev: torch.device) -> torch.dtype:
    """The autocast dtype: bfloat16 (float32's range, no loss scaling) where the device has it, else float16."""
    if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


class _Run:
    def __init__(self, job: Job, sink: Sink, flush_every: float, buffer_steps: int):
        self.job, self.sink = job, sink
        self.flush_every, self.buffer_steps = float(flush_every), max(1, int(buffer_steps))

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        job = self.job
        task = self.task = tasks.get(job.task)
        self.steps = job.steps or task.steps
        self.full = job.batch_size == FULL_BATCH  # full-batch gradient descent: task.full_batch every step
        if self.full and task.full_batch is None:
            raise ValueError(f"batch size full: {task.no_full_batch}")
        self.batch_size = task.train_size if self.full else job.batch_size or task.batch_size
        self.eval_every = job.eval_every or task.eval_every
        if min(self.steps, self.batch_size, self.eval_every) < 1 or job.smoothness_every < 0:
            raise ValueError("steps, batch_size and eval_every must be >= 1 (0: the task's default), "
                             "smoothness_every >= 0")
        if job.flooding is not None and not (math.isfinite(job.flooding) and job.flooding >= 0):
            raise ValueError(f"flooding level must be a finite number >= 0, got {job.flooding!r}")
        dev = self.dev = devices.pick(job.device)
        self.notes: list[str] = []

        torch.manual_seed(job.seed)
        model, self.data = task.make(job.size, job.seed, dev)
        model.train()
        self.fp = flatten_(model)  # before torch.compile, after moving to the device
        self.model = model
        if job.compile:  # the same on every device (CPU: inductor's C++ backend, needs a C compiler)
            self.model = torch.compile(model)
            self.notes.append(f"torch.compile on {dev.type}")

        self.autocast, self.scaler = contextlib.nullcontext, None
        if job.amp:  # the same path on every device: CPU and MPS autocast to bfloat16, CUDA where it can too
            amp_dtype = amp_dtype_for(dev)
            self.autocast = lambda: torch.autocast(dev.type, dtype=amp_dtype)
            if amp_dtype == torch.float16:  # fp16 gradients need loss scaling; bfloat16 has float32's range
                self.scaler = torch.amp.GradScaler(dev.type)
            self.notes.append(f"AMP: autocast to {str(amp_dtype).removeprefix('torch.')} on {dev.type}")

        # the optimizer object comes from the explorer's registry: the same rule, one row (P,)
        compile_step = job.compile or step_compile_pays(self.fp.numel, self.steps, dev)
        name = job.run.optimizer
        self.opt = optimizers.build(name, [self.fp.flat], compiled=compile_step, **dict(job.run.hparams))
        if compile_step:
            self.notes.append(f"optimizer step: {name}'s rule through torch.compile on {dev.type}")
        self.opt.train()  # schedule-free optimizers start in training mode; a no-op for the others
        self.oracle = self.opt.spec.rule.oracle  # "": gradient steps; "value"/"grad": the rule evaluates the loss
        if self.oracle:
            # zeroth-order directions from a stream of their own: the batches stay those of every other run
            self.opt.generator = torch.Generator(device=dev).manual_seed(job.seed + DIRECTIONS_SEED)
            if job.smoothness_every:
                self.notes.append(f"no smoothness estimate: {name} uses loss values, no gradients"
                                  if self.oracle == "value" else
                                  f"no smoothness estimate: {name}'s update uses a gradient at another point")
        self.plain_model = model  # the uncompiled module: sharpness needs double backward through it
        self.sharpness_batch = None
        if job.sharpness:
            gen = torch.Generator(device=dev).manual_seed(job.seed + SHARPNESS_SEED)
            self.sharpness_batch = task.full_batch(self.data) if self.full else task.batch(self.data, 0,
                                                                                          self.batch_size, gen)
            self.sharpness_gen = torch.Generator(device=dev).manual_seed(job.seed)
        self.lrs = None
        sched = job.run.lr_schedule  # every phase of a chained schedule (None: the plain constant lr)
        if sched is not None:
            base = self.opt.param_groups[0].get("lr")
            if not isinstance(base, (int, float)) or isinstance(base, bool):
                raise ValueError(f"a schedule needs a float lr; {name} has lr={base!r}")
            self.lrs = sched.values(float(base), self.steps).tolist()
        self.clip_kind, self.clip_threshold = job.run.clip_pair or ("none", None)
        check_clip(self.clip_kind, self.clip_threshold)  # once; every step then runs validate=False
        self.generator = torch.Generator(device=dev).manual_seed(job.seed)
        self.plan_snapshots()

    def plan_snapshots(self) -> None:
        """The steps whose weights go to sink.snapshot (training/snapshots.py), within this server's budget."""
        import deploy

        self.snapshot_steps: set[int] = set()
        if not self.job.snapshots:
            return
        if getattr(self.sink, "snapshot", None) is None:
            self.notes.append("snapshots: this run's sink keeps none")
            return
        steps, note = snapshots.plan(self.job.snapshots, self.steps, self.fp.numel, deploy.settings().max_snapshot_mb)
        self.snapshot_steps = set(steps)
        if note:
            self.notes.append(note)

    def snapshot(self, step: int) -> None:
        """Send the weights after `step` updates to the sink: the point evaluate() scores (schedule-free
        optimizers' averaged x), as float32 on the host; non-finite weights (a diverged run) are not kept."""
        self.opt.eval()
        try:
            w = self.fp.flat.detach().float().cpu().numpy().copy()  # one host sync, at snapshot steps only
        finally:
            self.opt.train()
        if np.isfinite(w).all():
            self.sink.snapshot(step, w)

    def info(self) -> dict:
        t = self.task
        extra = getattr(self.data, "info", None)
        return {
            "device": devices.describe(self.dev), "task": t.name, "metric_name": t.metric_name,
            "higher_is_better": t.higher_is_better, "target": t.target, "unit": t.unit,
            "steps": self.steps, "batch_size": self.batch_size, "full_batch": self.full, "eval_every": self.eval_every,
            "n_params": self.fp.numel, "optimizer": self.job.run.optimizer, "notes": list(self.notes),
            **({"data": dict(extra)} if isinstance(extra, dict) else {}),
        }

    # ------------------------------------------------------------------ one step's pieces
    def objective(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(the task's loss, the loss to differentiate: flooded where a level is set)."""
        with self.autocast():
            loss = self.task.loss(self.model, batch)
        b = self.job.flooding
        return loss, loss if b is None else (loss - b).abs() + b

    def backward(self, obj: torch.Tensor) -> None:
        if self.scaler is not None:
            self.scaler.scale(obj).backward()
            self.scaler.unscale_(self.opt)
        else:
            obj.backward()

    def smoothness(self, batch, x0: torch.Tensor, g0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zhang et al.'s estimate ||g(x0 + d/2) - g(x0)|| / (||d||/2) for the step d just taken from x0
        (the parameters are x0 + d now), on the same minibatch, against g0 = g(x0) before clipping:
        the midpoint of the step actually taken, as the paper and the 2D engine
        (trajectories.engine.smoothness_estimate) define it. The parameters are restored exactly."""
        fp = self.fp
        x1 = fp.flat.detach().clone()
        d = x1 - x0
        with torch.no_grad():
            fp.flat.copy_(x0).add_(d, alpha=0.5)
        fp.zero_grad()
        _, obj = self.objective(batch)
        if self.scaler is not None:  # keep fp16 gradients out of underflow, as the real step does
            scale = self.scaler.get_scale()
            (obj * scale).backward()
            fp.grad.div_(scale)
        else:
            obj.backward()
        half = torch.linalg.vector_norm(d) / 2
        est = torch.linalg.vector_norm(fp.grad - g0) / half
        est = torch.where(half > 0, est, torch.full_like(est, NAN))
        with torch.no_grad():
            fp.flat.copy_(x1)
        return est, torch.linalg.vector_norm(g0)

    def estimate(self, batch) -> torch.Tensor:
        """For a rule that evaluates the loss itself: fp.grad becomes the gradient its update uses, from the
        loss on this step's batch wherever the rule asks (optimizers.RuleOptimizer.estimate_); returns the
        task's loss at the current parameters. With float16 loss scaling the closure scales and unscales
        by hand (the scaler unscales once per step; this takes two or more gradients)."""
        fp, grads, first = self.fp, self.oracle == "grad", []

        def closure():
            fp.zero_grad()
            loss, obj = self.objective(batch)
            if grads and self.scaler is not None:
                scale = self.scaler.get_scale()
                (obj * scale).backward()
                fp.grad.div_(scale)
            elif grads:
                obj.backward()
            first.append(loss.detach())
            return obj if grads else obj.detach()

        self.opt.estimate_(closure)
        return first[0]

    def sharpness(self) -> float | None:
        """The top Hessian eigenvalue of the training loss on the fixed sharpness batch (Job.sharpness), None
        where not asked; NaN (and a note) where the model has no double backward."""
        if self.sharpness_batch is None:
            return None
        try:
            return model_sharpness(lambda: self.task.loss(self.plain_model, self.sharpness_batch), self.fp.params,
                                   self.sharpness_gen)
        except RuntimeError as e:
            note = f"no sharpness: {str(e).splitlines()[0][:160]}"
            if note not in self.notes:
                self.notes.append(note)
            return NAN

    def evaluate(self) -> tuple[float, float, float]:
        """(val_loss, metric, seconds), with schedule-free optimizers at their averaged point."""
        _sync(self.dev)
        t0 = time.perf_counter()
        self.opt.eval()
        try:
            with self.autocast():
                val_loss, metric = self.task.evaluate(self.model, self.data)
        finally:
            self.opt.train()
        return float(val_loss), float(metric), time.perf_counter() - t0

    # ------------------------------------------------------------------ the loop
    def run(self) -> tuple[str, dict]:
        self.setup()
        self.sink.start(self.job, str(self.dev), self.info())
        self.start_log()
        stop = False
        for i in range(self.steps):
            if i in self.snapshot_steps:
                self.snapshot(i)
            row = self.eval_row(i) if i % self.eval_every == 0 else None
            row = self.update(i, row)
            is_eval = row is not None and not math.isnan(row["val_loss"])
            if row is not None:
                self.pending_evals.append(row)
            if (len(self.pending) == self.buffer_steps or is_eval
                    or time.perf_counter() - self.last_flush >= self.flush_every):
                stop = self.flush()
                if stop:
                    break
        if not stop:
            stop = self.flush()
        status = "diverged" if self.diverged_at is not None else "cancelled" if stop else "done"
        done = self.step_rows  # updates made and logged (up to the first non-finite loss)
        last = self.evals[-1] if self.evals else None
        if status != "diverged" and (last is None or last.step != done or math.isnan(last.val_loss)):
            self.pending_evals.append(self.eval_row(done))
            self.flush()
            if self.diverged_at is not None:
                status = "diverged"
        if self.snapshot_steps and status != "diverged":  # the end of the path, wherever the run stopped
            self.snapshot(done)
        _sync(self.dev)
        wall = time.perf_counter() - self.t_start
        return status, self.summary(status, done, self.items, wall)

    def start_log(self) -> None:
        """The loop's bookkeeping: the step buffer, rows not sent yet, throughput counters, clocks."""
        self.t_start = time.perf_counter()
        self.eval_s = 0.0
        self.buf = torch.zeros(self.buffer_steps, 3, device=self.dev)  # per step: loss, grad_norm, clip_coef
        self.pending: list[tuple[int, float, float]] = []  # per buffered step: (step, lr, wall)
        self.pending_evals: list[dict] = []
        self.evals: list[EvalRow] = []
        self.step_rows, self.diverged_at = 0, None
        self.evaluations = (0, 0)  # (loss values, gradients) the updates so far used
        self.switch: tuple[int, float] | None = None  # SWATS: (k, learned lr), its last Adam update and SGD lr
        self.items, self.items_since, self.train_since = 0, 0, 0.0  # for throughput
        self.last_eval_t = time.perf_counter()
        self.last_flush = time.perf_counter()

    def update(self, i: int, row: dict | None) -> dict | None:
        """Update i, its step row buffered; returns `row` (made here if there was none) with the
        smoothness estimate where update i measures it."""
        fp, opt, lrs, every_s = self.fp, self.opt, self.lrs, self.job.smoothness_every
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[i]
        batch = self.task.full_batch(self.data) if self.full else self.task.batch(self.data, i, self.batch_size,
                                                                                  self.generator)
        n_items = batch[1].numel()
        fp.zero_grad()
        if self.oracle:  # fp.grad: the gradient the update uses (a zeroth-order estimate, SAM's second one)
            loss = self.estimate(batch)
            measure = False
        else:
            loss, obj = self.objective(batch)
            self.backward(obj)
            measure = bool(every_s) and i % every_s == 0
        if measure:  # x_i and g(x_i) before clipping: the step's start and its gradient
            x0, g0 = fp.flat.detach().clone(), fp.grad.clone()
        norm, coef = clip_with_coef_(fp.grad, self.clip_kind, self.clip_threshold, validate=False)
        if self.scaler is not None and not self.oracle:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()
        used = opt.last_evaluations
        self.evaluations = (self.evaluations[0] + used[0], self.evaluations[1] + used[1])
        if measure:
            est, gnorm = self.smoothness(batch, x0, g0)
            if row is None:
                row = {"step": i, "val_loss": NAN, "metric": NAN, "throughput": NAN,
                       "wall": time.perf_counter() - self.t_start, "smoothness_t": None, "grad_norm_t": None}
            row["smoothness_t"], row["grad_norm_t"] = est, gnorm
        self.buf[len(self.pending)] = torch.stack([loss.detach().float(), norm.float(), coef.float()])
        self.pending.append((i, lrs[i] if lrs is not None else _lr(opt), time.perf_counter() - self.t_start))
        self.items += n_items
        self.items_since += n_items
        return row

    def flush(self) -> bool:
        """Send buffered rows; True when the run must stop (diverged or cancelled)."""
        self.flush_steps()
        self.flush_evals()
        self.last_flush = time.perf_counter()
        if self.diverged_at is not None:
            return True
        return bool(self.sink.cancelled())

    def check_switch(self) -> None:
        """Whether the rule has switched to its second phase (SWATS: Adam to SGD, optimizers.Rule.switch), read
        once per flush until it has: (k, learned lr), with k the last update of the first phase. The step rows
        from update k on (StepRow.step >= k) carry the learned lr, the lr the rule really uses there."""
        hook = self.opt.spec.rule.switch
        state = self.opt.state.get(self.fp.flat)
        if hook is None or self.switch is not None or not state:
            return
        at, lr = hook(state)
        k, learned = torch.stack([at[0].double(), lr[0].double()]).tolist()  # one host sync per flush
        if k > 0:
            self.switch = (int(k), learned)

    def flush_steps(self) -> None:
        """Send the buffered step rows, up to and including the first non-finite loss."""
        pending = self.pending
        rows = []
        if pending:
            values = self.buf[: len(pending)].tolist()  # the one host sync of the hot loop
            self.check_switch()
            for (i, lr, wall), (loss, norm, coef) in zip(pending, values, strict=True):
                if self.switch is not None and i >= self.switch[0]:
                    lr = self.switch[1]
                rows.append(StepRow(i, loss, lr, norm, coef, wall))
                if not math.isfinite(loss):
                    self.diverged_at = i
                    break
            pending.clear()
        if rows:
            self.sink.steps(rows)
            self.step_rows += len(rows)

    def flush_evals(self) -> None:
        """Send the evaluation rows made since the last flush (none after a divergence)."""
        pending_evals = self.pending_evals
        if not pending_evals:
            return
        measured = [e for e in pending_evals if e["smoothness_t"] is not None]
        if measured:  # one host sync for all estimates since the last flush
            vals = torch.stack([t for e in measured for t in (e["smoothness_t"], e["grad_norm_t"])])
            vals = vals.tolist()
            for j, e in enumerate(measured):
                e["smoothness"], e["grad_norm"] = vals[2 * j], vals[2 * j + 1]
        rows_e = [EvalRow(**{k: v for k, v in e.items() if not k.endswith("_t")}) for e in pending_evals
                  if self.diverged_at is None or e["step"] <= self.diverged_at]
        pending_evals.clear()
        if rows_e:
            self.sink.evals(rows_e)
            self.evals.extend(rows_e)

    def eval_row(self, k: int) -> dict:
        """Evaluate after k updates: the row, with the training throughput since the last evaluation."""
        _sync(self.dev)
        now = time.perf_counter()
        self.train_since += now - self.last_eval_t
        val_loss, metric, secs = self.evaluate()
        t0 = time.perf_counter()
        sharp = self.sharpness()
        _sync(self.dev)
        self.eval_s += secs + time.perf_counter() - t0
        thr = self.items_since / self.train_since if self.items_since and self.train_since > 0 else NAN
        self.items_since, self.train_since = 0, 0.0
        self.last_eval_t = time.perf_counter()
        # what the k updates so far cost (loss values, gradients), and the sharpness where measured
        extra = {"evaluations": list(self.evaluations), **({} if sharp is None else {"sharpness": sharp})}
        return {"step": k, "val_loss": val_loss, "metric": metric, "throughput": thr,
                "wall": self.last_eval_t - self.t_start, "smoothness_t": None, "grad_norm_t": None, "extra": extra}

    def summary(self, status: str, done: int, items: int, wall: float) -> dict:
        task = self.task
        scored = [e for e in self.evals if not math.isnan(e.metric)]
        best = None
        if scored:
            pick = max if task.higher_is_better else min
            best = pick(scored, key=lambda e: e.metric)
        to_target = None
        if task.target is not None:
            for e in scored:
                if (e.metric >= task.target) if task.higher_is_better else (e.metric <= task.target):
                    to_target = e
                    break
        train_s = max(wall - self.eval_s, 1e-9)
        last = scored[-1] if scored else None
        sharp = [e.extra["sharpness"] for e in self.evals if "sharpness" in (e.extra or {})]
        return {
            "status": status, "steps": done, "diverged_at": self.diverged_at,
            "metric_name": task.metric_name, "higher_is_better": task.higher_is_better,
            "final_metric": last.metric if last else None, "final_val_loss": last.val_loss if last else None,
            "best_metric": best.metric if best else None, "best_step": best.step if best else None,
            "target": task.target,
            "step_to_target": to_target.step if to_target else None,
            "time_to_target": to_target.wall if to_target else None,
            "steps_per_s": done / train_s, "items_per_s": items / train_s, "unit": task.unit,
            "wall_s": wall, "train_s": train_s, "eval_s": self.eval_s,
            "n_params": self.fp.numel, "device": str(self.dev), "notes": self.final_notes(),
            # SWATS' switch (Keskar & Socher 2017): the last Adam update k (SGD from k + 1) and the learned SGD lr
            "switched_at": self.switch[0] if self.switch else None,
            "switch_lr": self.switch[1] if self.switch else None,
            "loss_evaluations": self.evaluations[0], "gradient_evaluations": self.evaluations[1],
            "final_sharpness": sharp[-1] if sharp else None,
        }

    def final_notes(self) -> list[str]:
        """The start's notes, the compiled step's replaced by what ran where dynamo could not trace the rule;
        and SWATS' switch where it happened."""
        note = self.opt.compiled_note
        notes = list(self.notes) if note in ("eager", "compiled") else [
            f"optimizer step: {note}" if n.startswith("optimizer step:") else n for n in self.notes]
        if self.switch is not None:
            notes.append(f"switched from Adam to SGD after update {self.switch[0]}, learned lr {self.switch[1]:.4g}")
        return notes


# Compiling the step costs ~4-5 s on these CPUs and saves ~0.9-2 ns per parameter per step against
# the eager rule (benchmarks/step.py: 10 M parameters, 15.1 -> 6.6 ms at 2 threads; 1 M, 2.0 -> 1.1
# ms): it pays back after ~5e9 parameter-steps. Compile unasked only where it clearly pays, twice
# that; on a GPU only when asked (--compile) until its figures are measured there.
STEP_COMPILE_PAYS = 1e10  # parameters x steps


def step_compile_pays(n_params: int, steps: int, dev: torch.device) -> bool:
    return dev.type == "cpu" and n_params * steps >= STEP_COMPILE_PAYS


def _lr(opt) -> float:
    lr = opt.param_groups[0].get("lr", NAN)
    return float(lr) if not isinstance(lr, torch.Tensor) or lr.numel() == 1 else NAN
