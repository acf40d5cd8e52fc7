"""Our SAC, TD3 and DDPG updates are Stable-Baselines3's, update by update.

Why: learning quality against SB3 is measured over whole runs, where seed variance hides a small
mistake (a wrong sign in the temperature loss, a target computed with the updated temperature, a
wrong discount). Here both implementations start from the same weights and take the same 50
updates on the same minibatches of real Hopper-v5 transitions with the same noise, at the sizes
users run (256 x 256); then every network (actor, critics, their targets) and the temperature
must agree to float rounding. SB3's SAC adds 1e-6 inside ``log(1 - tanh(u)^2)``, where our
default is the exact log-density; SB3 is given our ``squash_epsilon`` (0 by default), and with
``squash_epsilon=1e-6`` ours is compared with SB3 as it ships.

The check can fail: the same comparison with the discount changed on our side is caught.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from lmc_rl.config.run_config import build_config
from lmc_rl.config.tasks import check_task
from lmc_rl.learners.agents import AgentSpec, Batch, make_agent
from lmc_rl.training.trainer import agent_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from sb3_side_by_side import (  # noqa: E402
    DrawQueue,
    copy_into_ours,
    our_networks,
    relative_gap,
    sb3_networks,
)

ENV = "Hopper-v5"
BATCH = 256
UPDATES = 50
# Parameters may differ by float rounding only: relative to how far the updates moved them
# (measured: at most 1.5e-5).
RELATIVE_TOLERANCE = 1e-4


def transitions(n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` real Hopper transitions under uniform random actions, with true terminations."""
    env = gym.make(ENV)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    rows: dict[str, list] = {k: [] for k in ("obs", "action", "reward", "next_obs", "terminated")}
    for _ in range(n):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(rows, (obs, action, reward, next_obs, terminated), strict=True):
            rows[key].append(value)
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    return {k: np.asarray(v, dtype=np.float32) for k, v in rows.items()}


def sb3_agent(algo: str, spec: AgentSpec):
    """SB3's model with our hyperparameters (no training loop: only its ``train`` is used)."""
    from stable_baselines3 import DDPG, SAC, TD3

    common = dict(
        learning_rate=spec.learning_rate,
        batch_size=BATCH,
        tau=spec.tau,
        gamma=spec.gamma,
        buffer_size=1000,
        learning_starts=0,
        device="cpu",
        seed=0,
    )
    env = gym.make(ENV)
    arch = dict(net_arch=list(spec.hidden_dims))
    if algo == "SAC":
        model = SAC(
            "MlpPolicy",
            env,
            ent_coef="auto",
            target_update_interval=1,
            policy_kwargs=dict(arch, n_critics=2),
            **common,
        )
    elif algo == "TD3":
        model = TD3(
            "MlpPolicy",
            env,
            policy_delay=spec.policy_delay,
            target_policy_noise=spec.target_policy_noise,
            target_noise_clip=spec.target_noise_clip,
            policy_kwargs=dict(arch, n_critics=2),
            **common,
        )
    else:
        model = DDPG("MlpPolicy", env, policy_kwargs=dict(arch, n_critics=1), **common)
    if algo == "SAC":
        model.actor.action_dist.epsilon = spec.squash_epsilon  # SB3's default: 1e-6
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def train_side_by_side(algo: str, spec: AgentSpec, ours_spec: AgentSpec) -> dict[str, float]:
    """Both implementations from SB3's initial weights through ``UPDATES`` identical updates;
    per network, ``|ours - SB3| / |SB3 - initial|`` at the end, and the temperature's gap."""
    torch.manual_seed(0)
    model = sb3_agent(algo, spec)
    agent = make_agent(algo, 1, ours_spec)
    copy_into_ours(sb3_networks(model, algo), agent, algo)
    if algo == "SAC":
        agent.log_ent_coef.data.copy_(model.log_ent_coef.detach())
    initial = sb3_networks(model, algo)
    data = transitions(4 * BATCH, seed=1)
    rng = np.random.default_rng(2)
    queue = DrawQueue()
    for update in range(UPDATES):
        rows = rng.integers(0, len(data["obs"]), BATCH)
        t = {k: torch.as_tensor(v[rows]) for k, v in data.items()}
        samples = ReplayBufferSamples(
            observations=t["obs"],
            actions=t["action"],
            next_observations=t["next_obs"],
            dones=t["terminated"][:, None],
            rewards=t["reward"][:, None],
        )
        model.replay_buffer.sample = lambda *_, s=samples, **__: s
        # the standard-normal draws SB3 will make, in its order, and the same for ours
        draws = torch.Generator().manual_seed(100 + update)
        if algo == "SAC":
            eps_pi, eps_next = torch.randn(2, BATCH, spec.action_dim, generator=draws)
            queue.refill([eps_pi, eps_next])
            noise = torch.stack([eps_next, eps_pi])[None]
        else:  # target policy smoothing (DDPG: scaled by 0)
            smoothing = torch.randn(BATCH, spec.action_dim, generator=draws)
            queue.refill([smoothing])
            noise = smoothing[None]
        with queue.installed():
            model.train(gradient_steps=1, batch_size=BATCH)
        batch = Batch(
            obs=t["obs"][None],
            action=t["action"][None],
            reward=t["reward"][None],
            next_obs=t["next_obs"][None],
            terminated=t["terminated"][None],
        )
        agent.update(batch, noise, torch.ones(1, dtype=torch.bool))
    theirs, ours = sb3_networks(model, algo), our_networks(agent, algo)
    gaps = {name: relative_gap(ours[name], theirs[name], initial[name]) for name in theirs}
    if algo == "SAC":
        gaps["log_ent_coef"] = float(
            (agent.log_ent_coef - model.log_ent_coef).abs().max().detach()
            / model.log_ent_coef.abs().max().detach()
        )
    return gaps


def spec_of(algo: str, **overrides) -> AgentSpec:
    spec = agent_spec(build_config({"algo": algo, "env": ENV}), check_task(ENV))
    return dataclasses.replace(spec, **overrides)


@pytest.mark.parametrize("algo", ["SAC", "TD3", "DDPG"])
def test_our_updates_equal_sb3s_on_the_same_minibatches(algo):
    spec = spec_of(algo)
    assert spec.hidden_dims == (256, 256)
    gaps = train_side_by_side(algo, spec, spec)
    assert max(gaps.values()) < RELATIVE_TOLERANCE, gaps


def test_with_sb3s_squash_epsilon_our_sac_is_sb3s_as_it_ships():
    spec = spec_of("SAC", squash_epsilon=1e-6)
    gaps = train_side_by_side("SAC", spec, spec)
    assert max(gaps.values()) < RELATIVE_TOLERANCE, gaps


def test_the_squash_epsilon_changes_the_actor():
    """Ours with the exact density against SB3 with its 1e-6: the actors part by more than the
    tolerance, so the test above compares something the constant changes."""
    spec = spec_of("SAC", squash_epsilon=1e-6)
    gaps = train_side_by_side("SAC", spec, dataclasses.replace(spec, squash_epsilon=0.0))
    assert gaps["actor"] > 3 * RELATIVE_TOLERANCE, gaps


@pytest.mark.parametrize("algo", ["SAC", "TD3", "DDPG"])
def test_the_comparison_catches_a_changed_hyperparameter(algo):
    """A discount of 0.98 instead of 0.99 on our side, a change that barely shows while Q-values
    are still near zero, is caught (gaps about 2e-2 after 50 updates, 200x the tolerance)."""
    spec = spec_of(algo)
    gaps = train_side_by_side(algo, spec, dataclasses.replace(spec, gamma=0.98))
    assert max(gaps.values()) > 10 * RELATIVE_TOLERANCE, gaps
