"""Few-run statistics for comparing RL implementations, as defined by rliable (Agarwal et al.
2021, "Deep RL at the Edge of the Statistical Precipice"), written with numpy and scipy.

Why not rliable itself: it pins an old ``arch`` and pulls in its own plotting stack for three
estimators. These follow its definitions: the interquartile mean (scipy's ``trim_mean`` with 25 %
cut at each end), the probability of improvement (the Mann-Whitney U statistic over all pairs
of runs, ties counting one half) and percentile intervals from a bootstrap that resamples runs
with replacement within each task (stratified).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import trim_mean

BOOTSTRAP_REPS = 20_000
CONFIDENCE = 0.95
IQM_CUT = 0.25  # cut at each end: the interquartile mean keeps the middle half


def iqm(scores: np.ndarray) -> float | np.ndarray:
    """Interquartile mean (the mean of the middle 50 %) over the last axis: of a set of runs'
    scores, or of each row of a ``[draws, runs]`` array of bootstrap resamples at once."""
    return trim_mean(np.asarray(scores, dtype=float), proportiontocut=IQM_CUT, axis=-1)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float | np.ndarray:
    """P(X > Y) for a run of X and a run of Y drawn at random, ties counted as one half; over
    the last axis, so ``[draws, runs]`` arrays give one probability per draw."""
    x, y = np.asarray(x, dtype=float)[..., :, None], np.asarray(y, dtype=float)[..., None, :]
    return np.mean((x > y) + 0.5 * (x == y), axis=(-2, -1))


def bootstrap_interval(
    statistic: Callable[..., np.ndarray],
    *samples: np.ndarray,
    reps: int = BOOTSTRAP_REPS,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(*samples)``, each sample (runs of one task and one
    implementation) resampled with replacement on its own: the stratified bootstrap of one
    task. ``statistic`` works over the last axis, so it is called once on ``[reps, runs]``
    resamples of every sample. The draws are taken one resample at a time, in the order of a
    loop over resamples and samples, so that an interval does not change with this
    vectorisation (a single ``integers`` call of shape ``[reps, runs]`` draws other indices)."""
    rng = np.random.default_rng(seed)
    samples = [np.asarray(s, dtype=float) for s in samples]
    picks = [np.empty((reps, len(s)), dtype=np.int64) for s in samples]
    for r in range(reps):
        for pick, s in zip(picks, samples, strict=True):
            pick[r] = rng.integers(0, len(s), len(s))
    draws = statistic(*(s[pick] for s, pick in zip(samples, picks, strict=True)))
    low, high = percentile_interval(draws)
    return float(low), float(high)


def percentile_interval(draws: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The ``CONFIDENCE`` percentile interval ``[low, high]`` of bootstrap draws."""
    tail = (1 - CONFIDENCE) / 2 * 100
    return np.percentile(draws, [tail, 100 - tail], axis=axis)


def iqm_curve_with_band(
    curves: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IQM, low, high) at every evaluation of ``curves`` ``[runs, evaluations]``: a band for a
    learning curve. Each bootstrap draw resamples whole runs (a run's curve stays together, as
    rliable does for sample-efficiency curves), and all evaluations are computed at once
    (memory: ``reps x runs x evaluations`` floats)."""
    curves = np.asarray(curves, dtype=float)
    rng = np.random.default_rng(seed)
    runs = curves.shape[0]
    draws = trim_mean(curves[rng.integers(0, runs, (reps, runs))], IQM_CUT, axis=1)
    low, high = percentile_interval(draws, axis=0)
    return trim_mean(curves, IQM_CUT, axis=0), low, high


def iqm_with_interval(scores: Sequence[float]) -> tuple[float, float, float]:
    """(IQM, low, high) of one implementation's runs on one task."""
    scores = np.asarray(scores, dtype=float)
    return (float(iqm(scores)), *bootstrap_interval(iqm, scores))


def improvement_with_interval(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """(P(X > Y), low, high) on one task."""
    p = float(probability_of_improvement(x, y))
    return (p, *bootstrap_interval(probability_of_improvement, x, y))


def average_improvement_with_interval(
    tasks: Sequence[tuple[Sequence[float], Sequence[float]]],
) -> tuple[float, float, float]:
    """(mean over tasks of P(X > Y), low, high) for ``(x, y)`` runs of each task: rliable's
    aggregate probability of improvement. Being scale-free, it can pool tasks whose returns
    differ in scale; a small gap that each task's interval hides may show in the pooled one.
    The bootstrap resamples every task's runs of each side on their own (stratified)."""

    def average(*samples: np.ndarray) -> np.ndarray:
        pairs = zip(samples[::2], samples[1::2], strict=True)
        return np.mean([probability_of_improvement(x, y) for x, y in pairs], axis=0)

    samples = [np.asarray(s, dtype=float) for task in tasks for s in task]
    return (float(average(*samples)), *bootstrap_interval(average, *samples))
