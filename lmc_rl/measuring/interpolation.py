"""Linear interpolation paths between two members, and the critic's error along them.

    theta(alpha) = (1 - alpha) * theta_child1 + alpha * theta_child2

written exactly so, so that alpha = 0 and alpha = 1 reproduce the two children bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from lmc_rl.learners.agents import Agent, Batch, make_agent


def interpolation_alphas(n: int) -> np.ndarray:
    """``n`` evenly spaced coefficients from 0 to 1 inclusive."""
    return np.linspace(0.0, 1.0, n)


def interpolate_states(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], alphas: np.ndarray
) -> dict[str, Tensor]:
    """State dicts of single members (leading dim 1) -> one state with a member per alpha."""
    weights = torch.as_tensor(alphas, dtype=torch.float64)
    out = {}
    for key, ta in a.items():
        tb = b[key]
        w = weights.to(ta.dtype).reshape(-1, *([1] * (ta.dim() - 1)))
        out[key] = (1.0 - w) * ta + w * tb
    return out


def interpolated_population(child1: Agent, child2: Agent, alphas: np.ndarray) -> Agent:
    """A population whose member i is theta(alphas[i]) of two K=1 agents."""
    agent = make_agent(child1.algo, len(alphas), child1.spec)
    agent.load_state_dict(interpolate_states(child1.state_dict(), child2.state_dict(), alphas))
    return agent


@torch.no_grad()
def critic_path(
    population: Agent, transitions: Batch, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Squared TD error per transition and mean Q of every member's critic on the same
    transitions: ``[K, B]`` (mean over the twin critics) and ``[K]``. Kept per transition so
    that the critic barrier's interval can resample transitions, paired across alpha.

    For interpolated members, the bootstrap uses the member's own critic and deterministic
    actor (target networks and entropy terms are training devices, not part of the function):
    delta = Q(s, a) - (r + gamma (1 - terminated) min_j Q_j(s', pi(s'))).
    """
    k = population.n_members
    expand = {name: t.expand(k, *t.shape[1:]) for name, t in vars(transitions).items()}
    q = population.critic(expand["obs"], expand["action"])  # [K, n, B]
    next_action = population.act(expand["next_obs"])
    next_q = population.critic(expand["next_obs"], next_action).min(dim=1).values
    target = expand["reward"] + gamma * (1.0 - expand["terminated"]) * next_q
    td_errors = (q - target[:, None]).square().mean(dim=1)
    return td_errors.cpu().numpy().astype(float), q.mean(dim=(1, 2)).cpu().numpy().astype(float)
