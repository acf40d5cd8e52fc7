"""Analysis of finished runs, from their files alone: figures, report.md, comparisons across
seeds and buffer strategies, and tidy pandas frames for notebooks. May import: config, records,
measuring (the fork-result record).

    from lmc_rl.analysis import load_runs
    frames = load_runs(["results/base"])
    frames.forks.groupby(["fork_buffer_strategy", "fork_point"]).instability.mean()

Names load on first use: a run's own analysis at its end does not pay for scipy, which only the
comparisons across runs need.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "RunFrames": "loading",
    "aggregate_instability": "aggregate",
    "analyze": "command",
    "analyze_many": "aggregate",
    "analyze_run": "single_run",
    "load_run_frames": "loading",
    "load_runs": "loading",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
