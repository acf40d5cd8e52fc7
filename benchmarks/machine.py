"""The machine a timing was taken on: CPU, cores, torch threads, load and library versions.

Why: a timing means little without the machine under it, above all on a shared one whose
neighbours' load changes the figures; every benchmark that prints timings says it the same way.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

LIBRARIES = ("torch", "numpy", "gymnasium", "mujoco", "stable_baselines3")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. ``1.9, 2.0, 2.1``."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions(names: tuple[str, ...] = LIBRARIES) -> str:
    """``name version`` of each installed library among ``names``."""
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def machine_description() -> str:
    """One line: CPU, cores, torch threads, load average now, library versions."""
    import torch

    return (
        f"{cpu_model()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch thread(s), "
        f"load average {load_average()}; {library_versions()}"
    )
