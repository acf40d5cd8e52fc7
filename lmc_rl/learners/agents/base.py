"""What every algorithm provides: a population of K learners whose whole state has a leading K.

An agent is an ``nn.Module`` whose ``state_dict`` is its complete learner state (weights, target
weights, optimizer moments and step counts, temperature, update counters), every entry with the
member dimension first. Forking, selecting and interpolating members are therefore row operations
on that dictionary, and saving an agent is saving it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from lmc_rl.learners.nn import BatchedMLP, member_mask
from lmc_rl.learners.optim import FlatTensors


@dataclass(frozen=True)
class AgentSpec:
    """The hyperparameters a learner needs (a subset of the run config, plus task dimensions)."""

    obs_dim: int
    action_dim: int
    hidden_dims: tuple[int, ...]
    learning_rate: float
    gamma: float
    tau: float
    ent_coef: str
    noise_std: float
    policy_delay: int
    target_policy_noise: float
    target_noise_clip: float
    squash_epsilon: float = 0.0  # a default, so agent files saved before it load

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Batch:
    """Transitions per member, every field ``[K, B, ...]``; actions in [-1, 1]."""

    obs: Tensor
    action: Tensor
    reward: Tensor
    next_obs: Tensor
    terminated: Tensor


class Critic(nn.Module):
    """``n`` Q-networks per member, computed together: ``Q(s, a) -> [K, n, B]``."""

    def __init__(self, n_members: int, n_critics: int, spec: AgentSpec) -> None:
        super().__init__()
        self.n_critics = n_critics
        sizes = (spec.obs_dim + spec.action_dim, *spec.hidden_dims, 1)
        self.net = BatchedMLP((n_members, n_critics), sizes)

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        x = torch.cat([obs, action], dim=-1).unsqueeze(1)
        x = x.expand(-1, self.n_critics, -1, -1)
        return self.net(x).squeeze(-1)

    def reset_member(self, member: int, generator: torch.Generator) -> None:
        self.net.reset_member(member, generator)


class Agent(nn.Module, abc.ABC):
    """Base of SAC, TD3 and DDPG populations."""

    algo: ClassVar[str]

    def __init__(self, n_members: int, spec: AgentSpec) -> None:
        super().__init__()
        self.spec = spec
        self.n_members = n_members

    # -- to be provided by each algorithm
    @abc.abstractmethod
    def act(self, obs: Tensor, noise: Tensor | None = None) -> Tensor:
        """Actions in [-1, 1] for obs ``[K, B, obs_dim]``; deterministic when ``noise`` is None."""

    @abc.abstractmethod
    def update_noise_shape(self, batch_size: int) -> tuple[int, ...]:
        """Shape of the standard-normal draws one member's update consumes."""

    @abc.abstractmethod
    def update(self, batch: Batch, noise: Tensor, active: Tensor) -> dict[str, Tensor]:
        """One gradient step for the members where ``active`` is set; returns ``[K]`` metrics."""

    @abc.abstractmethod
    def reset_member(self, member: int, generator: torch.Generator) -> None:
        """Initialise member ``member``'s weights (and targets) from ``generator``."""

    # -- shared
    def init_members(self, seeds: Sequence[int]) -> None:
        """Give every member fresh weights from its own seed, independent of K."""
        assert len(seeds) == self.n_members
        for member, seed in enumerate(seeds):
            self.reset_member(member, torch.Generator().manual_seed(int(seed)))

    def take(self, rows: Sequence[int]) -> Agent:
        """A new population made of the given members' complete state (rows may repeat)."""
        index = torch.as_tensor(list(rows), dtype=torch.long)
        agent = type(self)(len(index), self.spec)
        state = {
            k: v.index_select(0, index.to(v.device)).clone() for k, v in self.state_dict().items()
        }
        agent.load_state_dict(state)
        return agent.to(self._device())

    @classmethod
    def join(cls, agents: Sequence[Agent]) -> Agent:
        """One population holding the members of ``agents`` in order (the inverse of ``take``
        on consecutive blocks of rows)."""
        first = agents[0]
        states = [a.state_dict() for a in agents]
        joined = type(first)(sum(a.n_members for a in agents), first.spec)
        joined.load_state_dict({k: torch.cat([s[k] for s in states]) for k in states[0]})
        return joined.to(first._device())

    def _device(self) -> torch.device:
        return next(self.parameters()).device


def polyak_update(target: FlatTensors, source: FlatTensors, tau: float, active: Tensor) -> None:
    """``target <- (1 - tau) target + tau source`` for active members."""
    with torch.no_grad():
        if bool(active.all()):
            target.current().lerp_(source.current(), tau)
            return
        for t, s in zip(target.tensors(), source.tensors(), strict=True):
            t.copy_(torch.where(member_mask(active, t), t.lerp(s, tau), t))


def per_member_mean(x: Tensor) -> Tensor:
    """Mean over all but the member dim: per-member losses, so no gradient scales with K."""
    return x.reshape(x.shape[0], -1).mean(dim=1)
