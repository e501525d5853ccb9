"""Which device a job runs on, and what it is in words (for the pages and the run store)."""
from __future__ import annotations

import os
import platform
from typing import Any

import torch


def pick(device: str = "auto") -> torch.device:
    """"auto": CUDA, then Apple MPS, then CPU; anything else is checked and returned as given.

    Raises ValueError for a device this machine does not have ("cuda" without a GPU, "cuda:3" on
    a two-GPU box, "mps" off Apple silicon).
    """
    if device in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        d = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from e
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but there are {torch.cuda.device_count()} GPUs")
    elif d.type == "mps" and not _mps_available():
        raise ValueError("device 'mps' asked for, but Apple MPS is not available here")
    elif d.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {device!r}: use auto, cpu, cuda, cuda:N or mps")
    return d


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def describe(device: torch.device | str) -> dict:
    """What the device is: {"type", "name", "memory_gb" (GPUs), "threads" (CPU), ...}; JSON-able."""
    d = torch.device(device)
    if d.type == "cuda":
        index = d.index if d.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        mem = props.total_memory / 2**30
        return {"type": "cuda", "index": index, "name": props.name, "memory_gb": round(mem, 1),
                "capability": f"{props.major}.{props.minor}", "bf16": torch.cuda.is_bf16_supported(),
                "text": f"{props.name}, {mem:.0f} GiB"}
    if d.type == "mps":
        return {"type": "mps", "name": "Apple MPS", "text": f"Apple MPS ({platform.machine()})"}
    threads = torch.get_num_threads()
    cpu = platform.processor() or platform.machine()
    return {"type": "cpu", "name": cpu, "threads": threads, "cores": os.cpu_count(),
            "text": f"CPU, {threads} threads"}


def device_text(info: Any) -> str | None:
    """'NVIDIA H100, 79 GiB' from a run's device info (the runner nests describe's dict under "device")."""
    if not isinstance(info, dict):
        return None
    d = info.get("device")
    return (d.get("text") if isinstance(d, dict) else None) or info.get("text")
