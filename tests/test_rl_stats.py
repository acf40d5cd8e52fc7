"""The few-run statistics of the learning-quality benchmark, on data whose truth is known."""

import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import rl_stats  # noqa: E402


def test_iqm_is_the_mean_of_the_middle_half():
    assert rl_stats.iqm([1, 2, 3, 4, 100, -100, 5, 6]) == 3.5  # 2, 3, 4, 5 kept
    assert rl_stats.iqm([0, 10, 20, 30, 1000]) == 20.0  # of 5 runs, the middle 3


def test_probability_of_improvement_matches_its_closed_form():
    assert rl_stats.probability_of_improvement([2, 3], [1, 1]) == 1.0
    assert rl_stats.probability_of_improvement([1, 1], [1, 1]) == 0.5  # ties count one half
    rng = np.random.default_rng(0)
    x, y = rng.normal(1.0, 1.0, 4000), rng.normal(0.0, 1.0, 4000)
    truth = norm.cdf(1.0 / np.sqrt(2.0))  # P(X > Y) for X - Y ~ N(1, 2)
    assert abs(rl_stats.probability_of_improvement(x, y) - truth) < 0.01


def test_the_bootstrap_interval_covers_the_true_iqm_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(50):
        sample = rng.normal(5.0, 1.0, 30)  # symmetric: the true IQM is the mean, 5
        low, high = rl_stats.bootstrap_interval(rl_stats.iqm, sample, reps=200, seed=2)
        covered += low <= 5.0 <= high
    assert 42 <= covered <= 50  # 95 % of 50, with room for binomial noise


def test_the_average_improvement_pools_tasks_and_reduces_to_one_task_alone():
    easy = ([5.0, 6.0, 7.0], [1.0, 2.0, 3.0])  # X beats Y in every pair
    even = ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])  # P = 1/2
    p, low, high = rl_stats.average_improvement_with_interval([easy, even])
    assert p == 0.75
    assert low < 0.75 < high <= 1.0
    assert rl_stats.average_improvement_with_interval([easy]) == (1.0, 1.0, 1.0)
    # one task: the same estimate and the same bootstrap draws as the one-task function
    x, y = [3.0, 1.0, 4.0, 1.5, 5.0], [2.0, 7.0, 1.8, 2.8, 1.9]
    assert rl_stats.average_improvement_with_interval([(x, y)]) == (
        rl_stats.improvement_with_interval(x, y)
    )


def test_the_average_improvement_resamples_each_task_on_its_own():
    # X wins every pair of task 1 and loses every pair of task 2: resampled within each task,
    # every draw averages 1 and 0; runs pooled or resampled across tasks would not
    tasks = [([10.0, 11.0], [0.0, 1.0]), ([0.0, 1.0], [10.0, 11.0])]
    assert rl_stats.average_improvement_with_interval(tasks) == (0.5, 0.5, 0.5)


def test_pooling_tasks_shows_a_gap_that_every_task_shares_but_not_every_task_shows():
    rng = np.random.default_rng(3)
    tasks = [(rng.normal(0.0, 1.0, 5), rng.normal(1.0, 1.0, 5)) for _ in range(4)]
    alone = [rl_stats.improvement_with_interval(x, y) for x, y in tasks]
    assert any(low <= 0.5 <= high for _, low, high in alone)  # some task alone cannot tell
    _, low, high = rl_stats.average_improvement_with_interval(tasks)
    assert high < 0.5  # pooled, X is behind


def test_the_curve_band_is_each_evaluations_iqm_with_an_interval_around_it():
    rng = np.random.default_rng(3)
    curves = np.cumsum(rng.normal(1.0, 1.0, size=(5, 12)), axis=1)  # 5 runs, 12 evaluations
    centre, low, high = rl_stats.iqm_curve_with_band(curves, reps=500)
    assert centre.shape == low.shape == high.shape == (12,)
    assert np.allclose(centre, [rl_stats.iqm(curves[:, j]) for j in range(12)])
    assert np.all(low <= centre) and np.all(centre <= high) and np.all(low < high)
    # the band lies within the runs' range and a constant curve has no width
    assert np.all(low >= curves.min(axis=0)) and np.all(high <= curves.max(axis=0))
    assert np.all(np.array(rl_stats.iqm_curve_with_band(np.ones((4, 3)), reps=50)) == 1.0)


def test_the_curve_band_resamples_whole_runs():
    # evaluation 1 is evaluation 0 shifted by 100 in every run: only if each draw takes the
    # same runs at every evaluation is the band at 1 exactly the band at 0 shifted by 100
    rng = np.random.default_rng(4)
    first = rng.normal(size=6)
    curves = np.stack([first, first + 100.0], axis=1)
    _, low, high = rl_stats.iqm_curve_with_band(curves, reps=300)
    assert np.allclose(low[1] - low[0], 100.0) and np.allclose(high[1] - high[0], 100.0)
