"""Soft Actor-Critic (Haarnoja et al. 2018) for a population of K members.

Twin critics with Polyak-averaged targets, a tanh-squashed Gaussian actor and a learned
temperature (target entropy -|A|) or a fixed one. The update follows Stable-Baselines3's order:
temperature, then critics, then actor (against the freshly updated critics), then targets.
"""

from __future__ import annotations

import math

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

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def _softplus(x: Tensor) -> Tensor:
    """``log(1 + e^x)`` from ops whose vector and scalar kernels agree bit for bit.

    torch's own softplus does not (measured on AVX-512: about 1 in 7 values differ in the last
    bit), so an element's result would depend on whether it falls in a vector loop's tail, that
    is, on how many members share the tensor.
    """
    return torch.log1p(torch.exp(-x.abs())) + torch.relu(x)


class SquashedGaussianActor(nn.Module):
    """``a = tanh(mean + std * eps)`` with the log-density of the squashed sample: exact, or
    with ``spec.squash_epsilon`` inside the log as Stable-Baselines3 computes it."""

    def __init__(self, n_members: int, spec: AgentSpec) -> None:
        super().__init__()
        self.action_dim = spec.action_dim
        self.squash_epsilon = spec.squash_epsilon
        self.net = BatchedMLP((n_members,), (spec.obs_dim, *spec.hidden_dims, 2 * spec.action_dim))

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_std = self.net(obs).split(self.action_dim, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised action and its log-probability ``[K, B]`` for standard-normal ``eps``."""
        mean, log_std = self(obs)
        pre_tanh = mean + log_std.exp() * eps
        gaussian_log_prob = -0.5 * eps.square() - log_std - _HALF_LOG_2PI
        action = torch.tanh(pre_tanh)
        log_det = log_det_tanh(pre_tanh, action, self.squash_epsilon)
        return action, (gaussian_log_prob - log_det).sum(dim=-1)


def log_det_tanh(pre_tanh: Tensor, action: Tensor, squash_epsilon: float = 0.0) -> Tensor:
    """``log(1 - tanh(u)^2)`` per element: exact when ``squash_epsilon`` is 0, else
    ``log(1 - a^2 + squash_epsilon)`` as Stable-Baselines3 and CleanRL compute it."""
    if squash_epsilon > 0:
        return torch.log(1.0 - action.square() + squash_epsilon)
    # = 2 (log 2 - u - softplus(-2u)), stable for large |u|
    return 2.0 * (_LOG_2 - pre_tanh - _softplus(-2.0 * pre_tanh))


class SAC(Agent):
    algo = "SAC"

    def __init__(self, n_members: int, spec: AgentSpec) -> None:
        super().__init__(n_members, spec)
        self.actor = SquashedGaussianActor(n_members, spec)
        self.critic = Critic(n_members, 2, spec)
        self.critic_target = Critic(n_members, 2, spec).requires_grad_(False)
        self.learn_ent_coef = spec.ent_coef.lower() == "auto"
        initial_ent_coef = 1.0 if self.learn_ent_coef else float(spec.ent_coef)
        self.log_ent_coef = nn.Parameter(
            torch.full((n_members,), math.log(initial_ent_coef)), requires_grad=self.learn_ent_coef
        )
        self.target_entropy = -float(spec.action_dim)
        lr = spec.learning_rate
        self.actor_optim = BatchedAdam(list(self.actor.parameters()), n_members, lr, self)
        self.critic_optim = BatchedAdam(list(self.critic.parameters()), n_members, lr, self)
        self.ent_coef_optim = BatchedAdam([self.log_ent_coef], n_members, lr, self)
        self._critic_target_flat = FlatTensors(
            parameter_slots(list(self.critic_target.parameters()), self)
        )

    def reset_member(self, member: int, generator: torch.Generator) -> None:
        self.actor.net.reset_member(member, generator)
        self.critic.reset_member(member, generator)
        with torch.no_grad():
            for t, s in zip(self.critic_target.parameters(), self.critic.parameters(), strict=True):
                t[member].copy_(s[member])

    def act(self, obs: Tensor, noise: Tensor | None = None) -> Tensor:
        if noise is None:
            mean, _ = self.actor(obs)
            return torch.tanh(mean)
        action, _ = self.actor.sample(obs, noise)
        return action

    def update_noise_shape(self, batch_size: int) -> tuple[int, ...]:
        return (2, batch_size, self.spec.action_dim)  # next-state action, current-state action

    def update(self, batch: Batch, noise: Tensor, active: Tensor) -> dict[str, Tensor]:
        spec = self.spec
        eps_next, eps_pi = noise[:, 0], noise[:, 1]
        action_pi, log_prob_pi = self.actor.sample(batch.obs, eps_pi)
        ent_coef = self.log_ent_coef.detach().exp()  # value before this step's temperature update

        if self.learn_ent_coef:
            ent_coef_loss = -per_member_mean(
                self.log_ent_coef[:, None] * (log_prob_pi.detach() + self.target_entropy)
            )
            grads = torch.autograd.grad(ent_coef_loss.sum(), [self.log_ent_coef])
            self.ent_coef_optim.step(grads, active)

        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(batch.next_obs, eps_next)
            next_q = self.critic_target(batch.next_obs, next_action).min(dim=1).values
            next_value = next_q - ent_coef[:, None] * next_log_prob
            target_q = batch.reward + (1.0 - batch.terminated) * spec.gamma * next_value

        q = self.critic(batch.obs, batch.action)
        critic_loss = 0.5 * per_member_mean((q - target_q[:, None]).square()) * q.shape[1]
        critic_params = list(self.critic.parameters())
        self.critic_optim.step(torch.autograd.grad(critic_loss.sum(), critic_params), active)

        q_pi = self.critic(batch.obs, action_pi).min(dim=1).values
        actor_loss = per_member_mean(ent_coef[:, None] * log_prob_pi - q_pi)
        actor_params = list(self.actor.parameters())
        self.actor_optim.step(torch.autograd.grad(actor_loss.sum(), actor_params), active)

        polyak_update(self._critic_target_flat, self.critic_optim.flat_params, spec.tau, active)
        return {
            "losses/critic_loss": critic_loss.detach(),
            "losses/actor_loss": actor_loss.detach(),
            "losses/ent_coef": ent_coef,
            "losses/q_mean": per_member_mean(q.detach()),
            "losses/entropy": -per_member_mean(log_prob_pi.detach()),
        }
