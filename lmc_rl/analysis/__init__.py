"""Analysis of finished runs, from their files alone: figures, report.md, comparisons across
seeds and buffer strategies, and tidy pandas frames for notebooks.

    from lmc_rl.analysis import load_runs
    frames = load_runs(["results/base"])
    frames.forks.groupby(["fork_buffer_strategy", "fork_point"]).instability.mean()
"""

from lmc_rl.analysis.aggregate import aggregate_instability, analyze_many
from lmc_rl.analysis.command import analyze
from lmc_rl.analysis.loading import RunFrames, load_run_frames, load_runs
from lmc_rl.analysis.single_run import analyze_run

__all__ = [
    "RunFrames",
    "aggregate_instability",
    "analyze",
    "analyze_many",
    "analyze_run",
    "load_run_frames",
    "load_runs",
]
