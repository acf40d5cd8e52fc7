"""Sweeps: a grid of runs (envs x algos x seeds x buffer strategies x fork noise, or any other
flag), each run whole or in pieces, on a local process pool or a Ray cluster, compared when
done. May import: every layer before it (config ... experiment).

    lmc-rl sweep --env InvertedPendulum-v5 --seeds 1,2,3 --fork_buffer_strategy copy,fresh
"""

from lmc_rl.sweep.command import (
    SweepResult,
    add_sweep_parser,
    compare_sweep,
    run_sweep,
    sweep_command,
)
from lmc_rl.sweep.grid import SweepCell, axes_from_flags, axes_from_yaml, expand_grid

__all__ = [
    "SweepCell",
    "SweepResult",
    "add_sweep_parser",
    "axes_from_flags",
    "axes_from_yaml",
    "compare_sweep",
    "expand_grid",
    "run_sweep",
    "sweep_command",
]
