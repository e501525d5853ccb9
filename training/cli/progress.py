"""Training in the foreground: the progress bar on stderr, and what Ctrl-C (SIGINT) and SIGTERM do."""
from __future__ import annotations

import shutil
import signal
import sys
import time

from .format import fmt, fmt_duration


class Progress:
    """A Sink wrapper that draws `step/steps loss steps/s ETA` on stderr as rows are flushed.

    On a terminal it redraws one line with \\r (at most 10 times a second); elsewhere (a log
    file) it prints a line every few seconds instead.
    """

    def __init__(self, sink, total: int | None, *, prefix: str = "", stream=None, enabled: bool = True):
        self.sink = sink
        self.total = total or None
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = 0.1 if self.tty else 5.0
        self.last = None  # the latest StepRow
        self.metric = None  # the latest EvalRow
        self.metric_name = "metric"
        self._drawn = 0.0
        self._width = 0
        self._last_text = ""

    def stop(self) -> None:
        """Ask the run to stop at its next poll (first Ctrl-C)."""
        self.sink.cancel()

    # ---- Sink protocol, forwarded
    def start(self, job, device, info):
        from ..device import device_text  # training.device imports torch: not on import

        self.sink.start(job, device, info)
        if isinstance(info, dict):
            self.metric_name = str(info.get("metric_name") or self.metric_name)
            self.total = self.total or info.get("steps")
        self._say(f"{self.prefix}training on {device_text(info) or device}")

    def steps(self, rows):
        self.sink.steps(rows)
        if rows:
            self.last = rows[-1]
            self.draw()

    def evals(self, rows):
        self.sink.evals(rows)
        if rows:
            self.metric = rows[-1]
            self.draw(force=not self.tty)

    def snapshot(self, step, params):
        self.sink.snapshot(step, params)

    def finish(self, status, summary):
        self.sink.finish(status, summary)
        self.draw(force=True)
        self.end()

    def cancelled(self) -> bool:
        return self.sink.cancelled()

    # ---- drawing
    def line(self) -> str:
        r = self.last
        if r is None:
            return f"{self.prefix}starting..."
        step = r.step + 1  # steps done
        parts = [f"{self.prefix}step {step}" + (f"/{self.total}" if self.total else "")]
        if self.total:
            frac = min(1.0, step / self.total)
            bar = int(frac * 20)
            parts.append(f"{frac:4.0%} [{'#' * bar}{'.' * (20 - bar)}]")
        parts.append(f"loss {fmt(float(r.loss))}")
        if self.metric is not None:
            parts.append(f"val {self.metric_name} {fmt(float(self.metric.metric))}")
        rate = step / r.wall if r.wall and r.wall > 0 else None
        if rate:
            parts.append(f"{rate:.1f} steps/s")
            if self.total and step < self.total:
                parts.append(f"ETA {fmt_duration((self.total - step) / rate)}")
            else:
                parts.append(fmt_duration(r.wall))
        return "  ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < self.every:
            return
        self._drawn = now
        text = self.line()
        cols = shutil.get_terminal_size((120, 20)).columns - 1 if self.tty else 10_000
        text = text[:cols]
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        elif text != self._last_text:
            self.stream.write(text + "\n")
        self._last_text = text
        self.stream.flush()

    def end(self) -> None:
        if self.enabled and self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def _say(self, text: str) -> None:
        if self.enabled:
            self.end()
            self.stream.write(text + "\n")
            self.stream.flush()


class _Interrupts:
    """SIGINT/SIGTERM while training in the foreground: first Ctrl-C asks the run to stop at its
    next flush (cancelled), a second one raises KeyboardInterrupt (interrupted); SIGTERM raises
    workers.Terminated. Restores the previous handlers on exit."""

    def __init__(self, err):
        self.err = err
        self.progress: Progress | None = None
        self.stopping = False

    def _sigint(self, signum, frame):
        if self.stopping or self.progress is None:
            raise KeyboardInterrupt
        self.stopping = True
        self.progress.stop()
        self.progress.end()
        self.err.write("stopping after the current step (Ctrl-C again to abort)\n")
        self.err.flush()

    def __enter__(self):
        from ..workers import _raise_terminated

        self._old = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
        signal.signal(signal.SIGINT, self._sigint)
        signal.signal(signal.SIGTERM, _raise_terminated)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._old[0])
        signal.signal(signal.SIGTERM, self._old[1])
