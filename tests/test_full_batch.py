"""Full-batch training (Job batch_size "full", `--batch-size full`, the Train page's box): the whole training
set every step, without replacement, so gradient descent against minibatch SGD is a real comparison."""
import pytest
import torch
import torch.nn.functional as F

import optimizers
from training import cli, tasks
from training.cli.parse import UsageError
from training.flat import flatten_
from training.job import FULL_BATCH, Job
from training.workers import check_job

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def recording_build(monkeypatch, opts: list | None = None) -> list:
    """optimizers.build, recording the gradient each step sees (what the runner's backward produced) and,
    into `opts`, the optimizers it made."""
    grads, real = [], optimizers.build

    def spy(name, params, **hp):
        opt = real(name, params, **hp)
        step = opt.step

        def recording_step(*a, **k):
            grads.append(opt.param_groups[0]["params"][0].grad.detach().clone())
            return step(*a, **k)

        opt.step = recording_step
        if opts is not None:
            opts.append(opt)
        return opt

    monkeypatch.setattr(optimizers, "build", spy)
    return grads


@pytest.mark.parametrize("task", ["digits-mlp", "digits-cnn"])
def test_a_full_batch_step_is_the_gradient_of_the_whole_training_loss(monkeypatch, task):
    from test_runner import run

    grads = recording_build(monkeypatch)
    sink, summary = run(task=task, steps=2, batch_size=FULL_BATCH, optimizer="sgd", hparams=(("lr", 0.5),),
                        smoothness_every=0)
    assert summary["status"] == "done" and sink.started[2]["batch_size"] == 1437 and sink.started[2]["full_batch"]
    t = tasks.get(task)
    model, data = t.make(0.25, 0, torch.device("cpu"))  # the runner's model at step 0: same size and seed
    fp = flatten_(model)
    assert data.y_train.numel() == t.train_size == 1437  # every training example, once
    loss = F.cross_entropy(model(data.x_train), data.y_train)  # the loss over the entire training set
    assert t.full_batch(data)[0] is data.x_train
    fp.zero_grad()
    loss.backward()
    torch.testing.assert_close(grads[0], fp.grad, rtol=1e-5, atol=1e-7)
    assert sink.step_rows[0].loss == pytest.approx(loss.item(), rel=1e-6)
    with torch.no_grad():  # the second step: the gradient of the same whole set at the point after one step
        fp.flat.sub_(0.5 * fp.grad)
    fp.zero_grad()
    F.cross_entropy(model(data.x_train), data.y_train).backward()
    torch.testing.assert_close(grads[1], fp.grad, rtol=1e-4, atol=1e-6)


def test_minibatches_are_not_the_full_batch(monkeypatch):
    from test_runner import run

    grads = recording_build(monkeypatch)
    run(steps=1, batch_size=1437, optimizer="sgd", smoothness_every=0)  # the same size, drawn with replacement
    t = tasks.get("digits-mlp")
    model, data = t.make(0.25, 0, torch.device("cpu"))
    fp = flatten_(model)
    F.cross_entropy(model(data.x_train), data.y_train).backward()
    assert not torch.allclose(grads[0], fp.grad, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("task, words", [
    ("adding-rnn", "draws fresh random sequences every step"),
    ("char-lstm", "a full batch would be all ~7,031 windows"),
    ("tiny-transformer", "a full batch would be all ~14,062 windows"),
])
def test_tasks_without_a_training_set_to_take_whole_refuse_it_by_saying_why(task, words):
    with pytest.raises(ValueError, match=f"batch size full: {task}") as e:
        check_job(Job(task=task, batch_size=FULL_BATCH))
    assert words in str(e.value)


def test_a_full_batch_over_the_servers_batch_limit_is_refused(monkeypatch):
    monkeypatch.setenv("OPT_PLAYGROUND_PUBLIC", "1")
    with pytest.raises(ValueError, match="whole training set is 1,437 examples, more than this server's batch limit "
                                         "of 512"):
        check_job(Job(task="digits-mlp", batch_size=FULL_BATCH))
    monkeypatch.delenv("OPT_PLAYGROUND_PUBLIC")
    check_job(Job(task="digits-mlp", batch_size=FULL_BATCH))  # locally it is fine
    with pytest.raises(ValueError, match="batch-size must be an integer from 0 to .* or full"):
        check_job(Job(task="digits-mlp", batch_size="half"))


def test_the_command_line_reads_batch_size_full():
    args = cli.build_parser().parse_args(["run", "--task", "digits-mlp", "--batch-size", "full"])
    assert cli.job_from_args(args).batch_size == FULL_BATCH
    assert cli.build_parser().parse_args(["run", "--task", "digits-mlp", "--batch-size", "32"]).batch_size == 32
    with pytest.raises(UsageError, match="--batch-size: expected a whole number or full, got 'most'"):
        cli.build_parser().parse_args(["run", "--task", "digits-mlp", "--batch-size", "most"])
    assert Job.from_json(Job(task="digits-mlp", batch_size=FULL_BATCH).to_json()).batch_size == FULL_BATCH


@pytest.mark.slow  # ~0.5 s: Streamlit page runs
def test_the_train_page_offers_full_batch_where_it_has_a_meaning(tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("OPT_PLAYGROUND_DB", str(tmp_path / "runs.sqlite"))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app_pages" / "train.py"),
                           default_timeout=120).run()
    assert not at.exception
    box = at.checkbox(key="tr_full.digits-mlp")
    assert not box.disabled and "1,437 examples" in box.help
    box.check().run()
    assert at.number_input(key="tr_batch.digits-mlp").disabled
    assert not at.error and at.button(key="tr_start").label == "Start 1 run"  # checked by workers.check_job
    at.selectbox(key="tr_task").set_value("adding-rnn").run()
    box = at.checkbox(key="tr_full.adding-rnn")
    assert box.disabled and "draws fresh random sequences every step" in box.help
