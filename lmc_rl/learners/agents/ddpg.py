"""Deep Deterministic Policy Gradient (Lillicrap et al. 2016) for a population of K members.

As in Stable-Baselines3, DDPG is TD3 with a single critic, no target policy smoothing and an
actor / target update after every critic update.
"""

from __future__ import annotations

from lmc_rl.learners.agents.td3 import TD3


class DDPG(TD3):
    algo = "DDPG"
    n_critics = 1

    @property
    def policy_delay(self) -> int:
        return 1

    @property
    def target_policy_noise(self) -> float:
        return 0.0
