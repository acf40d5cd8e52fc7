"""The settings of ``lmc-rl connect``, without heavy imports (the command line builds its flags
from them)."""

from __future__ import annotations

from dataclasses import dataclass

from lmc_rl.config.run_config import RunConfig

ALIGNMENTS = ("none", "weight_matching")


_RUN_DEFAULTS = RunConfig()


@dataclass(frozen=True)
class ConnectSettings:
    """How every path of one ``connect`` call is measured (defaults: a run's)."""

    alpha_points: int = _RUN_DEFAULTS.alpha_points
    num_eval_episodes: int = _RUN_DEFAULTS.num_eval_episodes
    seed: int = 0  # of the evaluation episodes (a run's forks use the run's seed)
    max_episode_steps: int = _RUN_DEFAULTS.max_episode_steps
    stability_threshold: float = _RUN_DEFAULTS.stability_threshold
    critic_threshold: float = _RUN_DEFAULTS.critic_threshold
    workers: int = _RUN_DEFAULTS.eval_workers
