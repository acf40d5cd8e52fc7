"""Weight matching: permutations keep the learner, alignment undoes a permutation."""

import numpy as np
import pytest
import torch

from lmc_rl.learners.agents import make_agent
from lmc_rl.measuring.weight_matching import (
    identity_permutations,
    networks_of,
    permute_agent,
    random_permutations,
    weight_matching,
)

ALGOS = ("SAC", "TD3", "DDPG")


def _trained(algo, spec, random_batch, steps=3):
    """A K=1 agent after a few updates: weights, targets and Adam moments all non-trivial."""
    agent = make_agent(algo, 1, spec)
    agent.init_members([7])
    noise_shape = agent.update_noise_shape(16)
    g = torch.Generator().manual_seed(1)
    for step in range(steps):
        noise = torch.randn(1, *noise_shape, generator=g)
        agent.update(random_batch(1, spec, seed=step), noise, torch.ones(1, dtype=torch.bool))
    return agent


def _outputs(agent, obs, action):
    out = {"action": agent.act(obs), "q": agent.critic(obs, action)}
    out["q_target"] = agent.critic_target(obs, action)
    if hasattr(agent, "actor_target"):
        out["target_action"] = agent.actor_target(obs)
    return out


@pytest.mark.parametrize("algo", ALGOS)
def test_permuting_hidden_units_keeps_actions_and_q_values(algo, tiny_spec, random_batch):
    agent = _trained(algo, tiny_spec, random_batch)
    permuted = permute_agent(agent, random_permutations(agent, np.random.default_rng(0)))
    batch = random_batch(1, tiny_spec, seed=99)
    before, after = (
        _outputs(agent, batch.obs, batch.action),
        _outputs(permuted, batch.obs, batch.action),
    )
    for name in before:
        torch.testing.assert_close(after[name], before[name], atol=1e-5, rtol=0, msg=name)
    moved = permuted.state_dict()["actor.net.layers.0.weight"]
    assert not torch.equal(moved, agent.state_dict()["actor.net.layers.0.weight"])


@pytest.mark.parametrize("algo", ALGOS)
def test_adam_moments_are_permuted_with_their_parameters(algo, tiny_spec, random_batch):
    """Training a permuted learner = permuting the trained learner (moments followed)."""
    agent = _trained(algo, tiny_spec, random_batch)
    perms = random_permutations(agent, np.random.default_rng(1))
    permuted = permute_agent(agent, perms)
    batch = random_batch(1, tiny_spec, seed=5)
    noise = torch.randn(
        1, *agent.update_noise_shape(16), generator=torch.Generator().manual_seed(3)
    )
    active = torch.ones(1, dtype=torch.bool)
    agent.update(batch, noise, active)
    permuted.update(batch, noise, active)
    expected = permute_agent(agent, perms).state_dict()
    for key, value in permuted.state_dict().items():
        torch.testing.assert_close(value, expected[key], atol=1e-5, rtol=1e-4, msg=key)


@pytest.mark.parametrize("algo", ALGOS)
def test_matching_a_permuted_copy_recovers_the_original_exactly(algo, tiny_spec, random_batch):
    agent = _trained(algo, tiny_spec, random_batch)
    shuffled = permute_agent(agent, random_permutations(agent, np.random.default_rng(2)))
    aligned, record = weight_matching(agent, shuffled)
    for key, value in agent.state_dict().items():
        assert torch.equal(aligned.state_dict()[key], value), key
    assert set(record) == {n.name for n in networks_of(agent)}
    assert all(r["sweeps"] >= 1 for r in record.values())


def test_every_twin_critic_gets_its_own_permutation(tiny_spec):
    agent = make_agent("SAC", 1, tiny_spec)
    assert [n.name for n in networks_of(agent)] == ["actor.net", "critic.net[0]", "critic.net[1]"]
    identity = permute_agent(agent, identity_permutations(agent))
    for key, value in agent.state_dict().items():
        assert torch.equal(identity.state_dict()[key], value)
