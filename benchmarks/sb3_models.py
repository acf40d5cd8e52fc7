"""One Stable-Baselines3 model builder for the benchmarks, with lmc_rl's hyperparameters.

Why: SB3's class defaults differ from ours (DDPG's learning rate, TD3's noise, SAC's target
update interval, ...). Every hyperparameter we share is set explicitly here, from lmc_rl's
``RunConfig`` defaults unless the caller overrides it, so that each comparison compares like with
like and a default changed in lmc_rl is changed here too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lmc_rl.config.run_config import DEFAULT_LEARNING_RATES, RunConfig

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
