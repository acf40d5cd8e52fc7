"""Action scaling and the per-member environments a population acts in (what a task is:
``lmc_rl.config.tasks``).

Policies act in [-1, 1]; ``ActionScaler`` maps to the task's bounds (Humanoid +-0.4,
InvertedPendulum +-3). Episodes are reset by hand so that the true final observation of every
transition is kept and the reset observation is never mistaken for a ``next_obs``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

from lmc_rl.config.tasks import TaskSpec


class ActionScaler:
    """Maps policy actions in [-1, 1] to the task's ``[low, high]``."""

    def __init__(self, low: np.ndarray, high: np.ndarray) -> None:
        self.low = np.asarray(low, dtype=np.float64)
        self.half_range = (np.asarray(high, dtype=np.float64) - self.low) / 2.0

    def to_env(self, action: np.ndarray) -> np.ndarray:
        return self.low + (np.clip(action, -1.0, 1.0) + 1.0) * self.half_range


def make_env(env_id: str, max_episode_steps: int) -> gym.Env:
    """One task instance with the run's time limit."""
    return gym.make(env_id, max_episode_steps=max_episode_steps)


@dataclass
class StepResult:
    """One lockstep step of K member environments (arrays ``[K, ...]``)."""

    next_obs: np.ndarray  # true observation after the action (final one if the episode ended)
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_returns: list[tuple[int, float, int]]  # (member, return, length) of finished episodes


class MemberEnvs:
    """One environment per member; each member's episodes are seeded from its own generator."""

    def __init__(
        self, task: TaskSpec, max_episode_steps: int, reset_rngs: list[np.random.Generator]
    ):
        self.task = task
        self.envs = [make_env(task.env_id, max_episode_steps) for _ in reset_rngs]
        self.reset_rngs = list(reset_rngs)
        self.scaler = ActionScaler(task.action_low, task.action_high)
        self.obs = np.zeros((len(self.envs), task.obs_dim), dtype=np.float32)
        self.episode_return = np.zeros(len(self.envs))
        self.episode_length = np.zeros(len(self.envs), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.envs)

    def reset_member(self, member: int) -> None:
        seed = int(self.reset_rngs[member].integers(2**31 - 1))
        obs, _ = self.envs[member].reset(seed=seed)
        self.obs[member] = obs
        self.episode_return[member] = 0.0
        self.episode_length[member] = 0

    def reset_all(self) -> np.ndarray:
        for member in range(len(self.envs)):
            self.reset_member(member)
        return self.obs

    def add_member(self, reset_rng: np.random.Generator) -> None:
        """A new member (a forked child) with its own env; it starts a new episode."""
        self.envs.append(make_env(self.task.env_id, self.envs[0].spec.max_episode_steps))
        self.reset_rngs.append(reset_rng)
        self.obs = np.concatenate([self.obs, np.zeros((1, self.task.obs_dim), np.float32)])
        self.episode_return = np.append(self.episode_return, 0.0)
        self.episode_length = np.append(self.episode_length, 0)
        self.reset_member(len(self.envs) - 1)

    def remove_member(self, member: int) -> None:
        """Close a member's env (a parent that a piece of the run no longer needs)."""
        self.envs.pop(member).close()
        self.reset_rngs.pop(member)
        self.obs = np.delete(self.obs, member, axis=0)
        self.episode_return = np.delete(self.episode_return, member)
        self.episode_length = np.delete(self.episode_length, member)

    def step(self, actions: np.ndarray, members: list[int] | None = None) -> StepResult:
        """Step the given members (all by default) with policy actions in [-1, 1]."""
        members = list(range(len(self.envs))) if members is None else members
        n = len(members)
        next_obs = np.empty((n, self.task.obs_dim), dtype=np.float32)
        reward = np.empty(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=np.float32)
        truncated = np.zeros(n, dtype=bool)
        finished = []
        env_actions = self.scaler.to_env(actions)
        for row, member in enumerate(members):
            obs, r, term, trunc, _ = self.envs[member].step(env_actions[row])
            next_obs[row], reward[row], terminated[row], truncated[row] = obs, r, term, trunc
            self.episode_return[member] += r
            self.episode_length[member] += 1
            if term or trunc:
                finished.append(
                    (member, float(self.episode_return[member]), int(self.episode_length[member]))
                )
                self.reset_member(member)
            else:
                self.obs[member] = obs
        return StepResult(next_obs, reward, terminated, truncated, finished)

    @property
    def can_save_state(self) -> bool:
        """Whether ``state()`` can capture these envs: only MuJoCo tasks expose their data."""
        return all(hasattr(env.unwrapped, "data") for env in self.envs)

    def state(self) -> dict:
        """Everything needed to continue every member's episode bit for bit."""
        return {
            "mjdata": [pickle.dumps(env.unwrapped.data) for env in self.envs],
            "elapsed_steps": [env._elapsed_steps for env in self.envs],
            "obs": self.obs,
            "episode_return": self.episode_return,
            "episode_length": self.episode_length,
        }

    def load_state(self, state: dict) -> None:
        """Restore a ``state()`` into envs of the same task and number of members."""
        for env, blob, elapsed in zip(
            self.envs, state["mjdata"], state["elapsed_steps"], strict=True
        ):
            env.reset(seed=0)  # the wrappers require a reset before stepping
            inner = env.unwrapped
            mujoco.mj_copyData(inner.data, inner.model, pickle.loads(blob))
            env._elapsed_steps = elapsed
        self.obs = state["obs"].copy()
        self.episode_return = state["episode_return"].copy()
        self.episode_length = state["episode_length"].copy()

    def close(self) -> None:
        for env in self.envs:
            env.close()
