"""Host facts and peak-memory probes shared by the benchmark scripts (Linux ``/proc``)."""

from __future__ import annotations

import os
import platform
import re

import torch

__all__ = ["cpu_name", "describe_host", "reset_peak_rss", "status_mb"]


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (``platform`` as the fallback)."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            name = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    except (OSError, StopIteration):
        pass
    return name


def describe_host(threads: str) -> str:
    """``"<cpu>, <n> logical CPUs, <gpu>, torch <version> (<threads>), Python <version>"``."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu_name()}, {os.cpu_count()} logical CPUs, {gpu}, torch {torch.__version__} "
        f"({threads}), Python {platform.python_version()}"
    )


def status_mb(field: str) -> float:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ...) in MiB."""
    with open("/proc/self/status") as handle:
        return int(re.search(rf"{field}:\s+(\d+)", handle.read()).group(1)) / 1024


def reset_peak_rss() -> None:
    """Reset ``VmHWM`` to the current resident size (``/proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
