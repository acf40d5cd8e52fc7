"""How often a trained SAC policy acts where SB3's 1e-6 inside log(1 - tanh(u)^2) matters.

Why: ``--squash_epsilon`` (0: the exact log-density; SB3 and CleanRL: 1e-6) changes SAC's
log-probability only for saturated pre-tanh actions, where 1 - tanh(u)^2 falls near 1e-6
(|u| > 6.45 parts the two densities by more than log 2). If trained policies never act there,
the constant cannot explain a difference in learning. For each saved agent file: episodes of the
stochastic policy (as in training), the distribution of |u| over action dimensions, and the
per-step gap between the two log-probabilities.

Usage::

    python benchmarks/action_saturation.py --env Hopper-v5 RUN/model_weights/.../final.pt ...
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

from lmc_rl.learners.agents.sac import log_det_tanh
from lmc_rl.training.run_files import load_agent_state

SATURATED = 6.45  # |u| where 1 - tanh(u)^2 is 1e-5: the densities part by more than log 2


def log_prob_gap(u: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Exact log-probability minus SB3's, summed over action dimensions (float64)."""
    action = torch.tanh(u)
    return (log_det_tanh(u, action, epsilon) - log_det_tanh(u, action)).sum(-1)


def measure(path: str, env_id: str, episodes: int, epsilon: float) -> str:
    agent, _ = load_agent_state(path)
    env = gym.make(env_id)
    noise = torch.Generator().manual_seed(0)
    pre_tanh, gaps, returns = [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=100 + episode)
        done, episode_return = False, 0.0
        while not done:
            with torch.no_grad():
                mean, log_std = agent.actor(torch.as_tensor(obs, dtype=torch.float32)[None, None])
                eps = torch.randn(mean.shape, generator=noise)
                u = (mean + log_std.exp() * eps)[0, 0].double()
            pre_tanh.append(u.abs().numpy())
            gaps.append(float(log_prob_gap(u, epsilon)))
            obs, reward, terminated, truncated, _ = env.step(torch.tanh(u).float().numpy())
            episode_return += float(reward)
            done = terminated or truncated
        returns.append(episode_return)
    env.close()
    u_abs, gap = np.concatenate(pre_tanh), np.asarray(gaps)
    return (
        f"{path}: return {np.mean(returns):.0f}; |u| median {np.median(u_abs):.2f}, 95% "
        f"{np.quantile(u_abs, 0.95):.2f}, max {u_abs.max():.1f}; |u| > {SATURATED}: "
        f"{100 * np.mean(u_abs > SATURATED):.2f}% of action dims; log-prob gap (exact minus "
        f"SB3) per step: mean {gap.mean():.4f}, max {gap.max():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("agents", nargs="+", help="SAC agent files (final.pt of a run).")
    parser.add_argument("--env", default="Hopper-v5", help="Task the agents were trained on.")
    parser.add_argument("--episodes", type=int, default=3, help="Episodes per agent.")
    parser.add_argument("--epsilon", type=float, default=1e-6, help="SB3's constant.")
    args = parser.parse_args()
    for path in args.agents:
        print(measure(path, args.env, args.episodes, args.epsilon), flush=True)


if __name__ == "__main__":
    main()
