"""What a task is to a run: its dimensions and action bounds, checked when a config is built.

Gymnasium is imported on first use, so that building a config from flags stays cheap.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from lmc_rl.config.errors import UserError

# The prototype's eight tasks plus three more; any Gymnasium task with a Box action space works.
SUPPORTED_TASKS = (
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Hopper-v5",
    "Swimmer-v5",
    "Reacher-v5",
    "Walker2d-v5",
    "HalfCheetah-v5",
    "Pusher-v5",
    "Ant-v5",
    "HumanoidStandup-v5",
    "Humanoid-v5",
)

# The largest reward one step can give, where the task caps it: InvertedPendulum pays 1 per
# step alive; InvertedDoublePendulum pays 10 minus a distance penalty of at least
# (2 - 1.2)^2 = 0.64 (the pole's tip is at most 1.2 high). So a solved episode returns about
# steps x this, and a return there has nowhere left to rise: the return path of such children
# cannot tell policies apart (the ceiling warning) and is the "untrained" verdict's reference.
MAX_REWARD_PER_STEP = {"InvertedPendulum-v5": 1.0, "InvertedDoublePendulum-v5": 9.36}


def solved_return(env_id: str, max_episode_steps: int) -> float | None:
    """The return of a solved episode of ``env_id`` at ``max_episode_steps`` (its largest
    possible return); None where the task has no known cap."""
    per_step = MAX_REWARD_PER_STEP.get(env_id)
    return None if per_step is None else per_step * max_episode_steps


@dataclass(frozen=True)
class TaskSpec:
    env_id: str
    obs_dim: int
    action_dim: int
    action_low: np.ndarray
    action_high: np.ndarray


@functools.cache
def check_task(env_id: str) -> TaskSpec:
    """Dimensions and bounds of a task; a UserError if it is unknown or not continuous-control."""
    import gymnasium as gym  # imported here: gymnasium is slow to import

    if env_id not in gym.registry:
        hint = ", ".join(SUPPORTED_TASKS)
        raise UserError(f"--env: unknown environment {env_id!r} (for example: {hint})")
    try:
        env = gym.make(env_id)
    except Exception as err:  # a registered task whose dependencies are missing, say
        raise UserError(f"--env: cannot create {env_id!r}: {err}") from None
    try:
        obs_space, action_space = env.observation_space, env.action_space
    finally:
        env.close()
    if not isinstance(action_space, gym.spaces.Box) or len(action_space.shape) != 1:
        raise UserError(f"--env: {env_id!r} needs a 1-D Box action space, has {action_space}")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise UserError(f"--env: {env_id!r} needs a 1-D Box observation space, has {obs_space}")
    if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
        raise UserError(f"--env: {env_id!r} has unbounded actions, which cannot be scaled")
    return TaskSpec(
        env_id=env_id,
        obs_dim=int(obs_space.shape[0]),
        action_dim=int(action_space.shape[0]),
        action_low=action_space.low.astype(np.float64),
        action_high=action_space.high.astype(np.float64),
    )
