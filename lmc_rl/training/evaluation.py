"""Batched evaluation of every member's deterministic policy with common random numbers.

All members step together: one forward pass per env step serves every member's open episodes.
Episode ``i`` of every member starts from reset seed ``episode_seeds[i]``, so members differ only
by their weights. Each env slot runs a fixed list of episodes (SB3's per-env targets), so a
policy whose episodes end early does not get more episodes than the others.
"""

from __future__ import annotations

import numpy as np
import torch

from lmc_rl.config.tasks import TaskSpec
from lmc_rl.learners.agents.base import Agent
from lmc_rl.training.envs import ActionScaler, make_env

ENVS_PER_MEMBER = 10


def evaluation_rows(n_episodes: int, envs_per_member: int = ENVS_PER_MEMBER) -> int:
    """Rows per member in each forward pass of an evaluation of ``n_episodes`` episodes."""
    return min(envs_per_member, n_episodes)


class EvaluationEnvs:
    """A pool of task instances kept between evaluations (creating MuJoCo envs is not free)."""

    def __init__(self, task: TaskSpec, max_episode_steps: int) -> None:
        self.task = task
        self.max_episode_steps = max_episode_steps
        self.envs: list = []
        self.scaler = ActionScaler(task.action_low, task.action_high)

    def take(self, n: int) -> list:
        while len(self.envs) < n:
            self.envs.append(make_env(self.task.env_id, self.max_episode_steps))
        return self.envs[:n]

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []


@torch.no_grad()
def evaluate_members(
    agent: Agent,
    pool: EvaluationEnvs,
    episode_seeds: np.ndarray,
    envs_per_member: int = ENVS_PER_MEMBER,
    members: list[int] | None = None,
    terminated_out: np.ndarray | None = None,
) -> np.ndarray:
    """Returns ``[len(members), n_episodes]`` undiscounted episode returns. A boolean array of
    that shape given as ``terminated_out`` is set True where the episode ended by termination
    (a failure) rather than by the time limit."""
    members = list(range(agent.n_members)) if members is None else members
    n_members, n_episodes = len(members), len(episode_seeds)
    n_slots = evaluation_rows(n_episodes, envs_per_member)
    envs = pool.take(n_members * n_slots)
    device = next(agent.parameters()).device
    obs_dim = pool.task.obs_dim
    returns = np.zeros((n_members, n_episodes))

    # slot s of member m runs episodes s, s + n_slots, ...; queue holds the next episode index
    next_episode = np.tile(np.arange(n_slots), (n_members, 1))
    current = np.full((n_members, n_slots), -1)
    obs = np.zeros((agent.n_members, n_slots, obs_dim), dtype=np.float32)
    member_rows = np.array(members)

    def start(m: int, s: int) -> None:
        episode = next_episode[m, s]
        if episode >= n_episodes:
            current[m, s] = -1
            return
        current[m, s] = episode
        next_episode[m, s] += n_slots
        obs[member_rows[m], s], _ = envs[m * n_slots + s].reset(seed=int(episode_seeds[episode]))

    for m in range(n_members):
        for s in range(n_slots):
            start(m, s)
    while (current >= 0).any():
        action = agent.act(torch.from_numpy(obs).to(device)).cpu().numpy()
        env_action = pool.scaler.to_env(action)
        for m, s in zip(*np.nonzero(current >= 0), strict=True):
            next_obs, reward, terminated, truncated, _ = envs[m * n_slots + s].step(
                env_action[member_rows[m], s]
            )
            returns[m, current[m, s]] += reward
            if terminated and terminated_out is not None:
                terminated_out[m, current[m, s]] = True
            if terminated or truncated:
                start(m, s)
            else:
                obs[member_rows[m], s] = next_obs
    return returns
