"""Algorithms, each a population of K learners: SAC, TD3 and DDPG."""

from __future__ import annotations

from lmc_rl.learners.agents.base import Agent, AgentSpec, Batch
from lmc_rl.learners.agents.ddpg import DDPG
from lmc_rl.learners.agents.sac import SAC
from lmc_rl.learners.agents.td3 import TD3

ALGORITHMS: dict[str, type[Agent]] = {cls.algo: cls for cls in (SAC, TD3, DDPG)}


def make_agent(algo: str, n_members: int, spec: AgentSpec) -> Agent:
    """A population of ``n_members`` learners of algorithm ``algo`` (weights not yet seeded)."""
    return ALGORITHMS[algo.upper()](n_members, spec)


__all__ = ["ALGORITHMS", "Agent", "AgentSpec", "Batch", "DDPG", "SAC", "TD3", "make_agent"]
