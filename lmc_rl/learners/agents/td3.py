"""Twin Delayed DDPG (Fujimoto et al. 2018) for a population of K members.

Clipped double Q-learning, target policy smoothing and delayed actor / target updates.
DDPG (ddpg.py) is the special case with one critic, no smoothing and no delay.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lmc_rl.learners.agents.base import (
    Agent,
    AgentSpec,
    Batch,
    Critic,
    per_member_mean,
    polyak_update,
)
from lmc_rl.learners.nn import BatchedMLP
from lmc_rl.learners.optim import BatchedAdam, FlatTensors, parameter_slots


class DeterministicActor(nn.Module):
    """``a = tanh(f(s))`` in [-1, 1]."""

    def __init__(self, n_members: int, spec: AgentSpec) -> None:
        super().__init__()
        self.net = BatchedMLP((n_members,), (spec.obs_dim, *spec.hidden_dims, spec.action_dim))

    def forward(self, obs: Tensor) -> Tensor:
        return torch.tanh(self.net(obs))


class TD3(Agent):
    algo = "TD3"
    n_critics = 2

    def __init__(self, n_members: int, spec: AgentSpec) -> None:
        super().__init__(n_members, spec)
        self.actor = DeterministicActor(n_members, spec)
        self.actor_target = DeterministicActor(n_members, spec).requires_grad_(False)
        self.critic = Critic(n_members, self.n_critics, spec)
        self.critic_target = Critic(n_members, self.n_critics, spec).requires_grad_(False)
        lr = spec.learning_rate
        self.actor_optim = BatchedAdam(list(self.actor.parameters()), n_members, lr, self)
        self.critic_optim = BatchedAdam(list(self.critic.parameters()), n_members, lr, self)
        self._targets = [
            FlatTensors(parameter_slots(list(target.parameters()), self))
            for target in (self.actor_target, self.critic_target)
        ]
        self.register_buffer("n_updates", torch.zeros(n_members))

    @property
    def policy_delay(self) -> int:
        return self.spec.policy_delay

    @property
    def target_policy_noise(self) -> float:
        return self.spec.target_policy_noise

    def reset_member(self, member: int, generator: torch.Generator) -> None:
        self.actor.net.reset_member(member, generator)
        self.critic.reset_member(member, generator)
        with torch.no_grad():
            for target, online in (
                (self.actor_target, self.actor),
                (self.critic_target, self.critic),
            ):
                for t, s in zip(target.parameters(), online.parameters(), strict=True):
                    t[member].copy_(s[member])

    def act(self, obs: Tensor, noise: Tensor | None = None) -> Tensor:
        action = self.actor(obs)
        if noise is None:
            return action
        return (action + self.spec.noise_std * noise).clamp(-1.0, 1.0)

    def update_noise_shape(self, batch_size: int) -> tuple[int, ...]:
        return (batch_size, self.spec.action_dim)  # target policy smoothing

    def update(self, batch: Batch, noise: Tensor, active: Tensor) -> dict[str, Tensor]:
        spec = self.spec
        self.n_updates.add_(active.to(self.n_updates.dtype))
        with torch.no_grad():
            smoothing = (noise * self.target_policy_noise).clamp(
                -spec.target_noise_clip, spec.target_noise_clip
            )
            next_action = (self.actor_target(batch.next_obs) + smoothing).clamp(-1.0, 1.0)
            next_q = self.critic_target(batch.next_obs, next_action).min(dim=1).values
            target_q = batch.reward + (1.0 - batch.terminated) * spec.gamma * next_q

        q = self.critic(batch.obs, batch.action)
        critic_loss = per_member_mean((q - target_q[:, None]).square()) * q.shape[1]
        critic_params = list(self.critic.parameters())
        self.critic_optim.step(torch.autograd.grad(critic_loss.sum(), critic_params), active)
        metrics = {
            "losses/critic_loss": critic_loss.detach(),
            "losses/q_mean": per_member_mean(q.detach()),
        }

        actor_active = active & (self.n_updates.remainder(self.policy_delay) == 0)
        if bool(actor_active.any()):
            q_pi = self.critic(batch.obs, self.actor(batch.obs))[:, 0]
            actor_loss = -per_member_mean(q_pi)
            actor_params = list(self.actor.parameters())
            self.actor_optim.step(torch.autograd.grad(actor_loss.sum(), actor_params), actor_active)
            actor_target, critic_target = self._targets
            polyak_update(critic_target, self.critic_optim.flat_params, spec.tau, actor_active)
            polyak_update(actor_target, self.actor_optim.flat_params, spec.tau, actor_active)
            metrics["losses/actor_loss"] = actor_loss.detach()
        return metrics
