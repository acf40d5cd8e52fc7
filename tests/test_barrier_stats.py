"""Barrier statistics on synthetic returns where the truth is known: calibration of the
intervals (500 repetitions, fixed seeds), bias of the naive instability, and the verdict rules.

The synthetic returns: y[alpha, j] = mu(alpha) + u_j + e[alpha, j], u_j ~ N(0, 1) a per-episode
start effect shared by every alpha (the episodes are paired, as under common random numbers)
and e ~ N(0, 1) independent noise; 21 alphas, 100 episodes. An interval must cover the truth,
be as narrow as the truth allows (``oracle_width``) and detect a planted barrier.
"""

import numpy as np
import pytest
from scipy import stats

from lmc_rl.measuring import barrier_stats as bs

REPS, N_ALPHAS, N_EPISODES = 500, 21, 100
ALPHAS = np.linspace(0.0, 1.0, N_ALPHAS)


def synthetic_returns(mean_curve: np.ndarray, seed: int) -> np.ndarray:
    """``[rep, alpha, episode]`` returns around ``mean_curve[alpha]`` (see the module doc)."""
    rng = np.random.default_rng(seed)
    start = rng.normal(0.0, 1.0, (REPS, 1, N_EPISODES))
    noise = rng.normal(0.0, 1.0, (REPS, N_ALPHAS, N_EPISODES))
    return mean_curve[None, :, None] + start + noise


def linear_gap_batch(returns: np.ndarray) -> np.ndarray:
    return np.stack([bs.linear_gaps(r, ALPHAS) for r in returns])


def coverage(intervals: np.ndarray, truth: float) -> float:
    return float(np.mean((intervals[:, 1] <= truth) & (truth <= intervals[:, 2])))


def oracle_width(mean_curve: np.ndarray) -> float:
    """Expected width of the interval the module docstring describes, built from the truth
    instead of the data: the true gap curve, the true standard error of every alpha's mean gap
    and the true critical value of the simultaneous upper bound. The noise model gives the
    per-episode gaps' covariance: gap(a) = (1 - a) e_0 + a e_1 - e_a (u_j cancels), so
    cov(gap(a), gap(b)) = (1 - a)(1 - b) + a b + [a = b]. Interior alphas only (the endpoints'
    gaps are 0)."""
    a = ALPHAS[1:-1]
    cov = np.outer(1 - a, 1 - a) + np.outer(a, a) + np.eye(len(a))
    sd = np.sqrt(np.diag(cov))
    se = sd / np.sqrt(N_EPISODES)
    true_gap = ((1 - ALPHAS) * mean_curve[0] + ALPHAS * mean_curve[-1] - mean_curve)[1:-1]
    z = np.random.default_rng(99).multivariate_normal(np.zeros(len(a)), cov, 20000) / sd
    c = np.quantile(z.max(axis=1), 0.975)  # the largest standardised error over alpha
    high = (true_gap + (z + c) * se).max(axis=1).mean()
    low = true_gap.max() - stats.norm.ppf(0.975) * se[np.argmax(true_gap)]
    return float(high - low)


def assert_width_near_oracle(intervals: np.ndarray, mean_curve: np.ndarray) -> None:
    """Median width within 0.5x to 1.6x of the truth's (measured: 0.98x to 1.08x): a correct
    interval can differ by some per cent (small-sample multipliers, t vs z), not by 2x."""
    ratio = float(np.median(intervals[:, 2] - intervals[:, 1])) / oracle_width(mean_curve)
    assert 0.5 <= ratio <= 1.6, ratio


def test_a_no_barrier_the_interval_covers_zero_while_the_naive_instability_is_biased():
    returns = synthetic_returns(np.full(N_ALPHAS, 10.0), seed=1)
    fits = bs.crossfit_max_batch(linear_gap_batch(returns))
    assert coverage(fits, 0.0) >= 0.90
    assert_width_near_oracle(fits, np.full(N_ALPHAS, 10.0))
    assert abs(fits[:, 0].mean()) < 0.05  # the cross-fitted estimate is not inflated
    means = returns.mean(axis=2)
    naive = (means[:, 0] + means[:, -1]) / 2 - means.min(axis=1)
    plug_in = np.array([bs.linear_gaps(r, ALPHAS).mean(axis=1).max() for r in returns])
    assert naive.mean() > 0.1 and plug_in.mean() > 0.1  # positive from noise alone


def test_b_a_planted_dip_is_estimated_within_10_percent_and_covered():
    depth = 1.0
    dip = depth * np.exp(-0.5 * ((ALPHAS - 0.5) / 0.12) ** 2)
    returns = synthetic_returns(10.0 - dip, seed=2)
    truth = float(np.max(dip - (1 - ALPHAS) * dip[0] - ALPHAS * dip[-1]))
    fits = bs.crossfit_max_batch(linear_gap_batch(returns))
    assert abs(fits[:, 0].mean() - truth) <= 0.1 * truth
    assert coverage(fits, truth) >= 0.90
    assert_width_near_oracle(fits, 10.0 - dip)


def test_a_planted_barrier_is_detected_with_80_percent_power():
    """A dip of depth 1 below endpoints of 10, threshold 0.05 (so 0.5 to beat): the verdict
    says "barrier" in at least 80 % of repetitions (measured 91-92 %; an interval built from the
    truth, ``oracle_width``'s, would say it in 98 %)."""
    dip = np.exp(-0.5 * ((ALPHAS - 0.5) / 0.12) ** 2)
    returns = synthetic_returns(10.0 - dip, seed=6)
    fits = bs.crossfit_max_batch(linear_gap_batch(returns))
    endpoint_means = returns.mean(axis=2)[:, [0, -1]].mean(axis=1)
    verdicts = [
        bs.verdict((low, high), endpoint, threshold=0.05)[0]
        for (_, low, high), endpoint in zip(fits, endpoint_means, strict=True)
    ]
    assert np.mean(np.array(verdicts) == "barrier") >= 0.80


def test_c_a_straight_path_between_different_endpoints_has_no_linear_barrier():
    returns = synthetic_returns(10.0 + 2.0 * ALPHAS, seed=3)
    fits = bs.crossfit_max_batch(linear_gap_batch(returns))
    assert coverage(fits, 0.0) >= 0.90
    assert_width_near_oracle(fits, 10.0 + 2.0 * ALPHAS)
    assert np.mean(bs.min_at_endpoint_batch(returns)) >= 0.90
    one = bs.path_statistics(returns[0], ALPHAS)
    assert one.instability > 0.9  # half the endpoint gap: what the prototype called unstable


def test_single_path_and_batch_give_the_same_numbers():
    returns = synthetic_returns(np.full(N_ALPHAS, 5.0), seed=4)[:3]
    gaps = linear_gap_batch(returns)
    batch = bs.crossfit_max_batch(gaps)
    for i in range(3):
        one = bs.crossfit_max(gaps[i])
        assert np.allclose([one.estimate, one.low, one.high], batch[i])


def test_identical_policies_have_zero_barriers_and_a_zero_width_interval():
    returns = np.tile(np.arange(8.0), (5, 1))
    stats = bs.path_statistics(returns, np.linspace(0, 1, 5))
    assert stats.instability == 0 and stats.linear_barrier == 0
    assert stats.linear_barrier_ci == (0.0, 0.0) and stats.min_at_endpoint


def test_the_linear_barrier_of_a_curve_ignores_an_endpoint_gap():
    alphas = np.linspace(0, 1, 5)
    assert bs.linear_barrier_of_curve(np.array([0, 1, 2, 3, 4.0]), alphas) == (0.0, 0.0)
    value, alpha = bs.linear_barrier_of_curve(np.array([4, 3, 0, 3, 4.0]), alphas)
    assert value == 4.0 and alpha == 0.5


def test_return_distribution_quantiles_cvar_and_failures():
    returns = np.arange(20.0)[None, :].repeat(2, axis=0)
    terminated = np.zeros((2, 20), dtype=bool)
    terminated[1, :5] = True
    dist = bs.return_distribution(returns, terminated)
    assert dist.cvar10.tolist() == [0.5, 0.5]  # mean of the worst 2 of 20
    assert dist.failure_rate.tolist() == [0.0, 0.25]
    assert dist.quantiles[0, 2] == pytest.approx(9.5)
    assert np.isnan(bs.return_distribution(returns).failure_rate).all()


def test_pair_mean_interval_is_a_jackknife_over_children():
    pairs = [(1, 2), (1, 3), (2, 3)]
    narrow = [(0.0, 0.0)] * 3
    mean = bs.pair_mean_interval(np.array([1.0, 2.0, 3.0]), pairs, narrow)
    assert mean.mean == 2.0 and mean.low < 1.0 and mean.high > 3.0
    same = bs.pair_mean_interval(np.array([2.0, 2.0, 2.0]), pairs, [(1.0, 4.0)] * 3)
    assert (same.low, same.high) == (1.0, 4.0)  # widened to the pairs' own intervals
    two = bs.pair_mean_interval(np.array([2.0]), [(1, 2)], [(1.0, 3.0)])
    assert (two.low, two.high, two.n_children) == (1.0, 3.0, 2)


@pytest.mark.parametrize(
    ("interval", "kwargs", "expected"),
    [
        ((0.0, 1.0), {}, "connected"),
        ((6.0, 9.0), {}, "barrier"),
        ((1.0, 9.0), {}, "inconclusive"),
        ((float("nan"), float("nan")), {}, "inconclusive"),
        ((0.0, 1.0), {"progress": 0.2}, "untrained"),
        ((0.0, 1.0), {"gradient_updates": 0}, "untrained"),
        ((0.0, 1.0), {"diverged": True}, "diverged"),
    ],
)
def test_verdict_rules(interval, kwargs, expected):
    verdict, reason = bs.verdict(interval, endpoint_mean=100.0, threshold=0.05, **kwargs)
    assert verdict == expected and reason


def test_training_progress_is_zero_at_random_and_one_at_the_best():
    assert bs.training_progress(10.0, 10.0, 110.0) == 0.0
    assert bs.training_progress(110.0, 10.0, 110.0) == 1.0
    assert bs.training_progress(50.0, None, 110.0) is None
    assert bs.training_progress(50.0, 60.0, 40.0) == 0.0  # the run never beat random


def test_the_cross_fitted_instability_and_its_interval_cover_the_true_instability():
    """On the straight path 10 -> 12 the true instability is B = 11 - 10 = 1 (at alpha 0),
    while the linear barrier is 0: instability_crossfit and instability_ci measure B."""
    returns = synthetic_returns(10.0 + 2.0 * ALPHAS, seed=3)
    fits = bs.crossfit_max_batch(np.stack([bs.midpoint_gaps(r) for r in returns]))
    assert abs(fits[:, 0].mean() - 1.0) <= 0.1
    assert coverage(fits, 1.0) >= 0.90
    for one, fit in zip(returns[:3], fits[:3], strict=True):
        stats_ = bs.path_statistics(one, ALPHAS)
        assert stats_.instability_crossfit == pytest.approx(fit[0])
        assert stats_.instability_ci == pytest.approx(tuple(fit[1:]))
