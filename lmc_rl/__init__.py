"""LMC-RL: linear mode connectivity and instability analysis for off-policy deep RL.

The public API (each name is also a command's work, see ``lmc-rl --help``):

    import lmc_rl
    config = lmc_rl.build_config({"env": "InvertedPendulum-v5", "total_steps": 6000})
    paths = lmc_rl.run_experiment(config)              # what `lmc-rl run` does
    run = lmc_rl.load_run_frames(paths.results)        # tidy frames of a finished run
    run.forks[["fork_point", "verdict", "linear_barrier"]]
    policy = lmc_rl.load_agent(paths.weights / "final.pt")
    result = lmc_rl.measure_path(returns, alphas, threshold=0.05)  # any path's statistics

The package is layered along its data path; each layer imports only the ones before it:
config -> records -> learners -> training -> measuring -> analysis -> experiment -> sweep ->
this API -> cli.

Importing the package is cheap and changes nothing in the process: torch, Gymnasium and MuJoCo
are imported by the modules that use them, and the names below load on first use. The allocator
tuning (``lmc_rl.learners.allocator``) is applied by the command's entry point and by worker
processes, not on import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_HOMES = {
    "RunConfig": "lmc_rl.config.run_config",
    "build_config": "lmc_rl.config.run_config",
    "run_experiment": "lmc_rl.experiment.phases",
    "run_experiments": "lmc_rl.experiment.phases",
    "resume_experiment": "lmc_rl.experiment.phases",
    "load_run": "lmc_rl.records.run_record",
    "load_run_frames": "lmc_rl.analysis.loading",
    "load_runs": "lmc_rl.analysis.loading",
    "Policy": "lmc_rl.training.run_files",
    "load_agent": "lmc_rl.training.run_files",
    "measure_path": "lmc_rl.measuring.fork_result",
    "ForkResult": "lmc_rl.measuring.fork_result",
    "connect_pair": "lmc_rl.experiment.connect",
}
__all__ = [
    "ForkResult",
    "Policy",
    "RunConfig",
    "__version__",
    "build_config",
    "connect_pair",
    "load_agent",
    "load_run",
    "load_run_frames",
    "load_runs",
    "measure_path",
    "resume_experiment",
    "run_experiment",
    "run_experiments",
]

if TYPE_CHECKING:
    from lmc_rl.analysis.loading import load_run_frames, load_runs
    from lmc_rl.config.run_config import RunConfig, build_config
    from lmc_rl.experiment.connect import connect_pair
    from lmc_rl.experiment.phases import resume_experiment, run_experiment, run_experiments
    from lmc_rl.measuring.fork_result import ForkResult, measure_path
    from lmc_rl.records.run_record import load_run
    from lmc_rl.training.run_files import Policy, load_agent


def __getattr__(name: str) -> Any:
    """The public names import their modules (torch, Gymnasium, ...) only when first used."""
    if name not in _HOMES:
        raise AttributeError(f"module 'lmc_rl' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
