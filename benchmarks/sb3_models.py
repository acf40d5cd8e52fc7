"""The Stable-Baselines3 models the benchmarks compare against, with lmc_rl's hyperparameters.

Why: SB3's class defaults differ from ours (DDPG's learning rate, TD3's noise, SAC's target
update interval, ...). Every hyperparameter we share is set explicitly here, from lmc_rl's
``RunConfig`` defaults unless the caller overrides it, so that each comparison compares like with
like and a default changed in lmc_rl is changed here too.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from lmc_rl import RunConfig
from lmc_rl.config.run_config import DEFAULT_LEARNING_RATES

LIBRARY_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}


def sb3_model(
    algo: str,
    env: Any,
    *,
    hidden_dims: tuple[int, ...],
    seed: int,
    buffer_size: int,
    learning_starts: int,
    batch_size: int,
    train_freq: int,
    gradient_steps: int,
    **overrides: Any,
):  # -> stable_baselines3 OffPolicyAlgorithm
    """SB3's SAC, TD3 or DDPG on ``env`` with lmc_rl's defaults for gamma, tau, learning rate,
    entropy target, exploration and target-smoothing noise (``overrides`` by RunConfig name)."""
    import numpy as np
    from stable_baselines3 import DDPG, SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    settings = {**LIBRARY_DEFAULTS, **overrides}
    common = dict(
        learning_rate=settings["learning_rate"] or DEFAULT_LEARNING_RATES[algo],
        buffer_size=buffer_size,
        learning_starts=learning_starts,
        batch_size=batch_size,
        tau=settings["tau"],
        gamma=settings["gamma"],
        train_freq=train_freq,
        gradient_steps=gradient_steps,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    net_arch = list(hidden_dims)
    if algo == "SAC":
        return SAC(
            "MlpPolicy",
            env,
            ent_coef="auto" if settings["ent_coef"] is None else settings["ent_coef"],
            target_entropy="auto",  # -|A|, as ours
            target_update_interval=1,
            policy_kwargs=dict(net_arch=net_arch, n_critics=2),
            **common,
        )
    action_dim = env.action_space.shape[0]
    # SB3 adds this noise to the action rescaled to [-1, 1], then clips: same as ours.
    noise = NormalActionNoise(np.zeros(action_dim), settings["noise_std"] * np.ones(action_dim))
    if algo == "TD3":
        return TD3(
            "MlpPolicy",
            env,
            action_noise=noise,
            policy_delay=settings["policy_delay"],
            target_policy_noise=settings["target_policy_noise"],
            target_noise_clip=settings["target_noise_clip"],
            policy_kwargs=dict(net_arch=net_arch, n_critics=2),
            **common,
        )
    if algo == "DDPG":  # DDPG fixes policy_delay=1 and no target smoothing itself
        return DDPG(
            "MlpPolicy",
            env,
            action_noise=noise,
            policy_kwargs=dict(net_arch=net_arch, n_critics=1),
            **common,
        )
    raise ValueError(f"unknown algo {algo}")


def prefilled_sb3_model(
    algo: str,
    env_id: str,
    *,
    hidden_dims: tuple[int, ...],
    batch_size: int,
    buffer_transitions: int,
    policy_delay: int,
):  # -> stable_baselines3 OffPolicyAlgorithm
    """SB3's model on ``env_id`` whose replay buffer already holds ``buffer_transitions`` random
    transitions: ``model.train`` can be timed alone, with no env in the loop."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.logger import Logger

    model = sb3_model(
        algo,
        gym.make(env_id),
        hidden_dims=hidden_dims,
        seed=0,
        buffer_size=buffer_transitions,
        learning_starts=0,
        batch_size=batch_size,
        train_freq=1,
        gradient_steps=1,
        policy_delay=policy_delay,
    )
    # Fill the buffer directly: random observations, actions in SB3's [-1, 1] storage space.
    rng = np.random.default_rng(0)
    buf = model.replay_buffer
    n = buffer_transitions
    buf.observations[:n] = rng.standard_normal(buf.observations[:n].shape)
    buf.next_observations[:n] = rng.standard_normal(buf.next_observations[:n].shape)
    buf.actions[:n] = rng.uniform(-1, 1, buf.actions[:n].shape)
    buf.rewards[:n] = rng.standard_normal(buf.rewards[:n].shape)
    buf.dones[:n] = rng.random(buf.dones[:n].shape) < 0.01
    buf.full = True
    model.set_logger(Logger(folder=None, output_formats=[]))  # train() records its losses
    return model


def sb3_steps_per_second(env_id: str, hidden_dims: tuple[int, ...], steps: int) -> float | None:
    """SB3 SAC's env-steps/s with one update per step, measured after learning_starts; None
    where SB3 is not installed."""
    try:
        import gymnasium as gym
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError:
        return None

    class Clock(BaseCallback):
        def __init__(self, start: int) -> None:
            super().__init__()
            self.start, self.started = start, None

        def _on_step(self) -> bool:
            if self.num_timesteps == self.start:
                self.started = time.perf_counter()
            return True

    warmup = 520
    model = sb3_model(
        "SAC",
        gym.make(env_id),
        hidden_dims=hidden_dims,
        seed=1,
        buffer_size=1_000_000,
        learning_starts=500,
        batch_size=256,
        train_freq=1,
        gradient_steps=1,
    )
    clock = Clock(warmup)
    model.learn(total_timesteps=warmup + steps, callback=clock)
    return steps / (time.perf_counter() - clock.started)
