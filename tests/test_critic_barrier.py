"""The critic barrier (relative TD-error barrier, interval, verdict) and the ceiling warning,
on synthetic TD errors where the truth is known."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import build_config
from lmc_rl.config.tasks import solved_return
from lmc_rl.learners.agents import Batch, make_agent
from lmc_rl.measuring import barrier_stats as bs
from lmc_rl.measuring.critic_barrier import CriticPath, critic_barrier, relative_gaps
from lmc_rl.measuring.fork_result import measure_path, results_table
from lmc_rl.measuring.interpolation import critic_path
from lmc_rl.measuring.return_ceiling import saturation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
# the calibration's own model of squared TD errors, whose true relative barrier is known
from critic_calibration import ALPHAS, synthetic_td_errors  # noqa: E402


def test_identical_critics_give_a_barrier_of_exactly_zero_inside_its_interval():
    one = synthetic_td_errors(0.0, 256, 1, seed=1)[0, :1]
    barrier = critic_barrier(np.repeat(one, len(ALPHAS), axis=0), ALPHAS, threshold=0.1)
    assert barrier.plug_in == 0.0 and barrier.estimate == 0.0
    assert barrier.interval[0] <= 0.0 <= barrier.interval[1]
    assert barrier.verdict == "connected"


def test_without_a_barrier_the_interval_covers_zero_and_the_verdict_is_connected():
    td = synthetic_td_errors(0.0, 1024, 1, seed=2)[0]
    barrier = critic_barrier(td, ALPHAS, threshold=0.1)
    assert barrier.interval[0] <= 0.0 <= barrier.interval[1]
    assert barrier.verdict == "connected", barrier.reason
    assert barrier.children_td_error == pytest.approx(np.exp(0.5), rel=0.25)


def test_a_planted_rise_is_detected_and_its_size_is_read_relative_to_the_children():
    td = synthetic_td_errors(1.0, 1024, 1, seed=3)[0]
    barrier = critic_barrier(td, ALPHAS, threshold=0.1)
    assert barrier.verdict == "barrier", barrier.reason
    assert barrier.interval[0] <= 1.0 <= barrier.interval[1]
    assert barrier.alpha == pytest.approx(0.5, abs=0.15)
    doubled = critic_barrier(10.0 * td, ALPHAS, threshold=0.1)  # the scale does not matter
    assert doubled.estimate == pytest.approx(barrier.estimate)
    assert doubled.interval == pytest.approx(barrier.interval)
    assert doubled.verdict == barrier.verdict and doubled.reason == barrier.reason


def test_the_interval_covers_the_true_relative_barrier_at_the_nominal_rate():
    for rise, seed in ((0.0, 4), (1.0, 5)):
        td = synthetic_td_errors(rise, 512, 100, seed=seed)
        fits = bs.crossfit_max_batch(np.stack([relative_gaps(t, ALPHAS) for t in td]))
        covered = np.mean((fits[:, 1] <= rise) & (rise <= fits[:, 2]))
        assert covered >= 0.88, (rise, covered)


def test_the_critic_verdict_uses_the_same_words_and_rules_as_the_returns():
    td = synthetic_td_errors(0.3, 1024, 1, seed=6)[0]
    below = critic_barrier(td, ALPHAS, threshold=10.0)
    above = critic_barrier(td, ALPHAS, threshold=0.01)
    low, high = below.interval
    straddle = critic_barrier(td, ALPHAS, threshold=(low + high) / 2.0)
    assert (below.verdict, above.verdict, straddle.verdict) == (
        "connected",
        "barrier",
        "inconclusive",
    )
    untrained = critic_barrier(td, ALPHAS, threshold=0.01, gradient_updates=0)
    assert untrained.verdict == "untrained"
    halfway = critic_barrier(td, ALPHAS, threshold=0.01, progress=0.2)  # the return's rule
    assert halfway.verdict == "untrained"
    assert critic_barrier(td[:, :3], ALPHAS, threshold=0.01).verdict == "inconclusive"


def test_critic_path_keeps_every_transitions_squared_td_error(tiny_spec):
    agent = make_agent("SAC", 2, tiny_spec)
    agent.init_members([1, 2])
    g = torch.Generator().manual_seed(0)
    n, obs, act = 7, tiny_spec.obs_dim, tiny_spec.action_dim
    batch = Batch(
        obs=torch.randn(1, n, obs, generator=g),
        action=torch.rand(1, n, act, generator=g) * 2 - 1,
        reward=torch.randn(1, n, generator=g),
        next_obs=torch.randn(1, n, obs, generator=g),
        terminated=(torch.rand(1, n, generator=g) < 0.3).float(),
    )
    td_errors, mean_q = critic_path(agent, batch, gamma=0.99)
    assert td_errors.shape == (2, n) and mean_q.shape == (2,)
    with torch.no_grad():  # member 1 by hand: its own critic, its own deterministic actor
        one = agent.take([1])
        q = one.critic(batch.obs, batch.action)[0]  # [critics, n]
        next_q = one.critic(batch.next_obs, one.act(batch.next_obs))[0].min(dim=0).values
        target = batch.reward[0] + 0.99 * (1 - batch.terminated[0]) * next_q
        expected = (q - target).square().mean(dim=0).numpy()
    np.testing.assert_allclose(td_errors[1], expected, rtol=1e-5)


def test_the_ceiling_warning_needs_every_child_at_the_ceiling():
    assert solved_return("InvertedDoublePendulum-v5", 1000) == pytest.approx(9360.0)
    assert solved_return("InvertedPendulum-v5", 500) == 500.0
    assert solved_return("Hopper-v5", 1000) is None
    at_max = saturation([1000.0, 1000.0], [0.0, 0.0], 1000.0, None)
    assert at_max.saturated and at_max.ceiling == 1000.0 and "critic" in at_max.reason
    assert saturation([9356.0, 9359.5], [0.4, 0.2], 9360.0, 9359.9).saturated  # within 0.1 %
    assert not saturation([1000.0, 940.0], [0.0, 6.0], 1000.0, None).saturated
    best = saturation([3010.0, 2990.0], [15.0, 20.0], None, 3020.0)
    assert best.saturated and "run's best" in best.reason
    assert not saturation([2500.0, 2990.0], [15.0, 20.0], None, 3020.0).saturated


def test_a_flat_return_path_at_the_ceiling_points_to_the_critic_verdict():
    rng = np.random.default_rng(7)
    returns = 1000.0 - rng.exponential(0.01, (len(ALPHAS), 20))  # flat, at the maximum
    critic = CriticPath(synthetic_td_errors(2.0, 1024, 1, seed=8)[0], np.zeros(len(ALPHAS)))
    result = measure_path(
        returns, ALPHAS, threshold=0.05, critic=critic, critic_threshold=0.1, task_ceiling=1000.0
    )
    assert result.verdict == "connected" and result.saturated
    assert "saturated" in result.verdict_reason
    assert result.critic_verdict == "barrier"
    low, high = result.critic_barrier_ci
    assert low <= result.critic_barrier <= high
    table = results_table([result])
    assert "critic verdict" in table.splitlines()[0] and "connected (saturated)" in table
    assert "read the critic verdict" in table
    with pytest.raises(ValueError, match="critic_threshold"):
        measure_path(returns, ALPHAS, threshold=0.05, critic=critic)


def test_the_critic_threshold_is_a_flag_with_its_default_in_the_config():
    assert build_config({}).critic_threshold == 0.1
    assert build_config({"critic_threshold": "0.25"}).critic_threshold == 0.25
    with pytest.raises(UserError, match="critic_threshold"):
        build_config({"critic_threshold": "-1"})
