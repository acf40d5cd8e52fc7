"""Behaviour of the population learners: batching never changes a member's result."""

import math

import numpy as np
import pytest
import torch

from lmc_rl.learners.agents import ALGORITHMS, Batch, make_agent


def _rows(batch, i):
    return Batch(**{k: v[i : i + 1] for k, v in vars(batch).items()})


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_batched_update_of_three_members_equals_three_single_updates(algo, tiny_spec, random_batch):
    population = make_agent(algo, 3, tiny_spec)
    population.init_members([11, 22, 33])
    singles = [population.take([i]) for i in range(3)]
    active = torch.ones(3, dtype=torch.bool)
    for step in range(4):  # several steps so optimizer moments and delays matter
        batch = random_batch(3, tiny_spec, seed=step)
        noise = torch.randn(
            3,
            *population.update_noise_shape(16),
            generator=torch.Generator().manual_seed(100 + step),
        )
        population.update(batch, noise, active)
        for i, single in enumerate(singles):
            single.update(_rows(batch, i), noise[i : i + 1], active[:1])
    for i, single in enumerate(singles):
        for key, value in single.state_dict().items():
            torch.testing.assert_close(
                population.state_dict()[key][i : i + 1], value, atol=1e-5, rtol=1e-5, msg=key
            )


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_masked_member_keeps_its_complete_state(algo, tiny_spec, random_batch):
    population = make_agent(algo, 2, tiny_spec)
    population.init_members([1, 2])
    before = {k: v.clone() for k, v in population.state_dict().items()}
    noise = torch.randn(2, *population.update_noise_shape(16))
    for _ in range(2):
        population.update(random_batch(2, tiny_spec), noise, torch.tensor([True, False]))
    changed = [k for k, v in population.state_dict().items() if not torch.equal(v[0], before[k][0])]
    assert changed, "the active member should have learned"
    for key, value in population.state_dict().items():
        assert torch.equal(value[1], before[key][1]), key


def test_members_are_initialised_from_their_own_seed_regardless_of_k(tiny_spec):
    a = make_agent("SAC", 1, tiny_spec)
    a.init_members([7])
    b = make_agent("SAC", 3, tiny_spec)
    b.init_members([5, 7, 9])
    for key, value in a.state_dict().items():
        assert torch.equal(value[0], b.state_dict()[key][1]), key
    assert not torch.equal(b.actor.net.layers[0].weight[0], b.actor.net.layers[0].weight[2])


def test_take_copies_the_full_learner_state(tiny_spec, random_batch):
    agent = make_agent("SAC", 2, tiny_spec)
    agent.init_members([1, 2])
    agent.update(
        random_batch(2, tiny_spec), torch.randn(2, 2, 16, 2), torch.ones(2, dtype=torch.bool)
    )
    twins = agent.take([1, 1])
    for key, value in twins.state_dict().items():
        assert torch.equal(value[0], agent.state_dict()[key][1]), key
        assert torch.equal(value[1], agent.state_dict()[key][1]), key
    assert float(agent.critic_optim.step_count[1]) == 1.0


def test_sac_log_prob_matches_torch_tanh_transformed_gaussian(tiny_spec):
    agent = make_agent("SAC", 1, tiny_spec)
    agent.init_members([3])
    obs = torch.randn(1, 64, tiny_spec.obs_dim)
    eps = torch.randn(1, 64, tiny_spec.action_dim)
    action, log_prob = agent.actor.sample(obs, eps)
    mean, log_std = agent.actor(obs)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()),
        [torch.distributions.TanhTransform(cache_size=1)],
    )
    pre_tanh = mean + log_std.exp() * eps
    reference = dist.log_prob(torch.tanh(pre_tanh)).sum(-1)
    torch.testing.assert_close(log_prob, reference, atol=1e-4, rtol=1e-4)
    assert action.abs().max() <= 1.0


def test_sac_log_prob_is_finite_for_saturated_actions(tiny_spec):
    agent = make_agent("SAC", 1, tiny_spec)
    agent.init_members([3])
    with torch.no_grad():
        agent.actor.net.layers[-1].bias.fill_(30.0)  # pushes tanh far into saturation
    _, log_prob = agent.actor.sample(torch.randn(1, 8, tiny_spec.obs_dim), torch.randn(1, 8, 2))
    assert torch.isfinite(log_prob).all()


def test_fixed_temperature_stays_fixed(tiny_spec, random_batch):
    spec = tiny_spec.__class__(**{**tiny_spec.to_dict(), "ent_coef": "0.2"})
    agent = make_agent("SAC", 1, spec)
    agent.init_members([0])
    agent.update(random_batch(1, spec), torch.randn(1, 2, 16, 2), torch.ones(1, dtype=torch.bool))
    assert math.isclose(float(agent.log_ent_coef.exp()), 0.2, rel_tol=1e-6)


@pytest.mark.parametrize(("target_above_entropy", "temperature"), [(1.0, "up"), (-1.0, "down")])
def test_auto_temperature_moves_toward_target_entropy(
    tiny_spec, random_batch, target_above_entropy, temperature
):
    """A policy less random than the target entropy gets a higher temperature (its entropy
    bonus grows), one more random a lower one."""
    agent = make_agent("SAC", 1, tiny_spec)
    agent.init_members([0])
    batch, noise = random_batch(1, tiny_spec), torch.randn(1, 2, 16, 2)
    _, log_prob = agent.actor.sample(batch.obs, noise[:, 1])  # the update's own sample
    agent.target_entropy = float(-log_prob.mean()) + target_above_entropy
    before = float(agent.log_ent_coef.detach())
    agent.update(batch, noise, torch.ones(1, dtype=torch.bool))
    moved = float(agent.log_ent_coef.detach()) - before
    assert moved > 0 if temperature == "up" else moved < 0, moved


def test_td3_updates_actor_every_second_critic_update(tiny_spec, random_batch):
    agent = make_agent("TD3", 1, tiny_spec)
    agent.init_members([0])
    weight = agent.actor.net.layers[0].weight
    history = []
    for _ in range(4):
        before = weight.clone()
        agent.update(
            random_batch(1, tiny_spec), torch.randn(1, 16, 2), torch.ones(1, dtype=torch.bool)
        )
        history.append(not torch.equal(before, weight))
    assert history == [False, True, False, True]


def test_exploration_actions_stay_in_bounds(tiny_spec):
    for algo in ALGORITHMS:
        agent = make_agent(algo, 2, tiny_spec)
        agent.init_members([0, 1])
        actions = agent.act(torch.randn(2, 50, 5) * 10, torch.randn(2, 50, 2) * 10)
        assert actions.shape == (2, 50, 2)
        assert float(actions.detach().abs().max()) <= 1.0
        assert np.isfinite(actions.detach().numpy()).all()
