"""A fresh `streamlit run app.py` for the browser benchmarks (load.py, browser.py): its own process group,
a temporary run store, loopback only; and Debian's chromium with the flags this project drives it with."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import ROOT

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else (shutil.which("chromium") or "")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(mode: str, db: Path) -> dict[str, str]:
    """This process's environment without any OPT_PLAYGROUND_* setting, plus the mode's and a fresh store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPT_PLAYGROUND_")}
    env["OPT_PLAYGROUND_DB"] = str(db)
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    if mode == "public":
        env["OPT_PLAYGROUND_PUBLIC"] = "1"
    return env


class Server:
    """`python -m streamlit run app.py` in its own process group; stop() ends the whole group."""

    started: list[Server] = []  # every server this run started: main() stops any still alive, whatever happened

    def __init__(self, mode: str, port: int, workdir: Path, app: Path = ROOT, script: str = "app.py",
                 env: dict[str, str] | None = None):
        self.mode, self.port, self.app, self.script = mode, port, app, script
        self.env = server_env(mode, workdir / "runs.sqlite") | (env or {})
        self.log_path = workdir / f"server-{mode}.log"
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.peak_tree_rss = 0  # bytes: the largest sum of VmRSS over the process tree seen by sample()

    def start(self, timeout: float = 90.0) -> None:
        self._log = open(self.log_path, "wb")  # closed in stop()
        if self.mode == "public":  # the README's deploy recipe itself, on loopback
            cmd = ["bash", str(self.app / "public-demo.sh")]
            self.env.update(PORT=str(self.port), ADDRESS="127.0.0.1")
        else:
            cmd = [sys.executable, "-m", "streamlit", "run", self.script, "--server.headless", "true",
                   "--server.address", "127.0.0.1", "--server.port", str(self.port),
                   "--browser.gatherUsageStats", "false", "--global.developmentMode", "false"]
        self.proc = subprocess.Popen(cmd, cwd=self.app, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        Server.started.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """The server and its descendants."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            import psutil  # optional

            root = psutil.Process(self.proc.pid)
            return [root.pid] + [c.pid for c in root.children(recursive=True)]
        except ImportError:
            pass
        except Exception:  # gone meanwhile
            return []
        return process_tree(self.proc.pid)

    @staticmethod
    def _status_kb(pid: int, field: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def sample(self) -> None:
        total = 0
        try:
            import psutil

            for p in self.pids():
                with contextlib.suppress(Exception):
                    total += psutil.Process(p).memory_info().rss
        except ImportError:
            total = sum(self._status_kb(p, "VmRSS") for p in self.pids()) * 1024
        self.peak_tree_rss = max(self.peak_tree_rss, total)

    def peak_rss(self) -> tuple[int, int]:
        """(bytes, processes): the sum of each process's own peak (VmHWM) over the tree, at least the sampled
        peak of the tree's total."""
        pids = self.pids()
        hwm = sum(self._status_kb(p, "VmHWM") for p in pids) * 1024
        return max(hwm, self.peak_tree_rss), len(pids)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None


def process_tree(root: int) -> list[int]:
    """root and its descendants, from /proc."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out
