"""Barrier estimators, their intervals and the verdict: pure functions of a returns array.

Everything here takes ``returns[alpha, episode]``: the undiscounted return of episode j of the
policy at interpolation coefficient alpha. Episode j starts from the same reset seed at every
alpha (common random numbers), so the columns are paired and every estimator works on
per-episode differences along the path. No torch here: these functions are tested on synthetic
returns where the truth is known (``tests/test_barrier_stats.py``).

The two barriers, for mean returns R(alpha) = mean_j returns[alpha, j]:

    instability     B  = (R(0) + R(1)) / 2 - min_alpha R(alpha)                (Frankle et al.)
    linear barrier  LB = max_alpha [(1 - alpha) R(0) + alpha R(1) - R(alpha)]  (Entezari et al.)

Both are a maximum over alpha of noisy means, so their plug-in values are biased upward: with
no barrier at all they are positive from evaluation noise alone. The cross-fitted estimate
removes that selection bias: choose alpha on one half of the episodes, measure the gap at that
alpha on the other half, swap the halves and average. Given the choice, each half's measurement
is a plain mean of independent episodes, so its normal interval covers what it estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
CVAR_FRACTION = 0.10
QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
UNTRAINED_PROGRESS = 0.5  # children below half-way from random to the run's best: untrained

VERDICTS = ("connected", "barrier", "inconclusive", "untrained", "diverged")


# -- gaps along the path, per episode ----------------------------------------------------------


def linear_gaps(returns: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``[alpha, episode]`` gap below the straight line between the endpoints, per episode:
    (1 - alpha) y_0j + alpha y_1j - y_alpha,j. Its mean over j is the linear-barrier curve;
    it is exactly 0 at both endpoints."""
    a = np.asarray(alphas, dtype=float)[:, None]
    return (1.0 - a) * returns[:1] + a * returns[-1:] - returns


def midpoint_gaps(returns: np.ndarray) -> np.ndarray:
    """``[alpha, episode]`` gap below the endpoints' mean: (y_0j + y_1j) / 2 - y_alpha,j.
    Its maximum over alpha of the mean over j is the instability B."""
    return (returns[:1] + returns[-1:]) / 2.0 - returns


# -- the cross-fitted maximum --------------------------------------------------------------------

MULTIPLIER_DRAWS = 500
_MULTIPLIER_SEED = 20230101  # fixed: an estimate is a function of the data alone


@dataclass(frozen=True)
class CrossFitMax:
    """max_alpha of a mean gap, estimated without selection bias, and its interval."""

    estimate: float  # mean of the two halves' held-out gaps
    low: float
    high: float


def episode_halves(n_episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Even and odd episodes: a fixed split, so the estimate is a function of the data alone."""
    index = np.arange(n_episodes)
    return index[0::2], index[1::2]


def crossfit_max_batch(gaps: np.ndarray, confidence: float = CONFIDENCE) -> np.ndarray:
    """Estimate theta = max_alpha E[gap(alpha)] from ``gaps[rep, alpha, episode]``, for many
    independent repetitions at once; returns ``[rep, 3]``: estimate, low, high.

    estimate: half 1 picks alpha_1 = argmax of its mean gaps, half 2 measures the gap there,
        and the other way round; estimate = (mean_2 gap(alpha_1) + mean_1 gap(alpha_2)) / 2.
        It estimates the gap at the chosen alphas, so it is never inflated by the choice.
    low: given the choices, the two held-out means are independent means of independent
        episodes, so estimate - t SE, SE^2 = (s_2^2 / n_2 + s_1^2 / n_1) / 4, t one-sided at
        (1 + confidence) / 2 with min(n_1, n_2) - 1 degrees of freedom, lies below
        gap(chosen) <= theta at that rate.
    high: a simultaneous upper bound over every alpha, max_alpha [mean gap + c SE(alpha)],
        with c the (1 + confidence) / 2 quantile of max_alpha of the standardised mean error
        (Gaussian multiplier bootstrap over episodes, which keeps the pairing across alpha).
        If every alpha's bound holds, the largest true gap lies below the largest bound.
    Each side fails with probability at most (1 - confidence) / 2. Fewer than 4 episodes:
    the plug-in maximum and no interval (NaN).
    """
    reps, n_alphas, n = gaps.shape
    mean = gaps.mean(axis=2)
    if n < 4:
        nan = np.full(reps, np.nan)
        return np.stack([mean.max(axis=1), nan, nan], axis=1)
    one_sided = 0.5 + confidence / 2.0
    first, second = episode_halves(n)
    rows = np.arange(reps)
    pick_1 = np.argmax(gaps[:, :, first].mean(axis=2), axis=1)
    pick_2 = np.argmax(gaps[:, :, second].mean(axis=2), axis=1)
    held_2 = gaps[rows, pick_1][:, second]
    held_1 = gaps[rows, pick_2][:, first]
    estimate = (held_2.mean(axis=1) + held_1.mean(axis=1)) / 2.0
    var = held_2.var(axis=1, ddof=1) / len(second) + held_1.var(axis=1, ddof=1) / len(first)
    t = _t_quantile(one_sided, min(len(first), len(second)) - 1)
    low = estimate - t * np.sqrt(var) / 2.0

    se = gaps.std(axis=2, ddof=1) / np.sqrt(n)  # [rep, alpha]; 0 at the endpoints
    multipliers = np.random.default_rng(_MULTIPLIER_SEED).standard_normal((MULTIPLIER_DRAWS, n))
    errors = np.einsum("bn,ran->rba", multipliers, gaps - mean[:, :, None]) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        standardized = np.where(se[:, None, :] > 0, errors / se[:, None, :], -np.inf)
    with np.errstate(invalid="ignore"):
        c = np.quantile(standardized.max(axis=2), one_sided, axis=1)
    c = np.where(np.isfinite(c), c, 0.0)  # every gap has zero spread: no noise to cover
    high = (mean + c[:, None] * se).max(axis=1)
    return np.stack([estimate, low, high], axis=1)


def crossfit_max(gaps: np.ndarray, confidence: float = CONFIDENCE) -> CrossFitMax:
    """``crossfit_max_batch`` of one ``gaps[alpha, episode]`` array."""
    estimate, low, high = crossfit_max_batch(gaps[None], confidence)[0]
    return CrossFitMax(float(estimate), float(low), float(high))


# -- everything one path says --------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnDistribution:
    """Per alpha: quantiles, standard deviation, CVaR at 10 % and the failure rate."""

    quantiles: np.ndarray  # [alpha, len(QUANTILES)]
    std: np.ndarray  # [alpha], sample std (ddof 1)
    cvar10: np.ndarray  # [alpha], mean of the worst ceil(10 %) of episodes
    failure_rate: np.ndarray  # [alpha], fraction ended by termination (NaN if unknown)


def cvar(returns: np.ndarray, fraction: float = CVAR_FRACTION) -> np.ndarray:
    """Mean of the worst ``ceil(fraction * n)`` episodes of every row (lower tail)."""
    k = max(1, int(np.ceil(fraction * returns.shape[1])))
    return np.sort(returns, axis=1)[:, :k].mean(axis=1)


def return_distribution(
    returns: np.ndarray, terminated: np.ndarray | None = None
) -> ReturnDistribution:
    """Rahn et al. (2023): the spread of returns along the path, not only their mean."""
    failure = (
        terminated.mean(axis=1).astype(float)
        if terminated is not None
        else np.full(len(returns), np.nan)
    )
    return ReturnDistribution(
        quantiles=np.quantile(returns, QUANTILES, axis=1).T,
        std=returns.std(axis=1, ddof=1) if returns.shape[1] > 1 else np.zeros(len(returns)),
        cvar10=cvar(returns),
        failure_rate=failure,
    )


@dataclass(frozen=True)
class PathStatistics:
    """The barrier of one interpolation path, with intervals (see the module docstring)."""

    endpoint_mean: float
    min_return: float
    min_alpha: float
    min_at_endpoint: bool  # no alpha is demonstrably worse than the worse child
    instability: float  # plug-in B
    normalized_instability: float
    instability_crossfit: float
    instability_ci: tuple[float, float]
    linear_barrier: float  # plug-in LB
    linear_barrier_alpha: float
    linear_barrier_crossfit: float
    linear_barrier_ci: tuple[float, float]
    normalized_linear_barrier: float
    cvar10_linear_barrier: float


def normalized(value: float, scale: float) -> float:
    """value / |scale|; 0 for 0 / 0 and infinity for x / 0."""
    scale = abs(scale)
    if scale > 0:
        return value / scale
    return 0.0 if value == 0 else float("inf")


def min_at_endpoint_batch(returns: np.ndarray) -> np.ndarray:
    """``[rep]``: True where no alpha is demonstrably worse than the worse child, i.e. the
    cross-fitted lower bound of max_alpha E[y_worse end - y_alpha] is not above 0 (or the
    minimum of the mean curve is an endpoint). ``returns`` is ``[rep, alpha, episode]``."""
    means = returns.mean(axis=2)
    worse_end = np.where(means[:, 0] <= means[:, -1], 0, returns.shape[1] - 1)
    rows = np.arange(len(returns))
    below = returns[rows, worse_end][:, None, :] - returns
    low = crossfit_max_batch(below)[:, 1]
    at_end = means.min(axis=1) >= np.minimum(means[:, 0], means[:, -1])
    return at_end | ~(low > 0)


def linear_barrier_of_curve(curve: np.ndarray, alphas: np.ndarray) -> tuple[float, float]:
    """max_alpha [(1 - alpha) c(0) + alpha c(1) - c(alpha)] of any curve along the path, and
    its alpha. For a curve where larger is worse (a TD error), pass its negative."""
    a = np.asarray(alphas, dtype=float)
    gap = (1.0 - a) * curve[0] + a * curve[-1] - curve
    worst = int(np.argmax(gap))
    return float(gap[worst]), float(a[worst])


def path_statistics(returns: np.ndarray, alphas: np.ndarray) -> PathStatistics:
    """Every barrier number of the path ``returns[alpha, episode]`` at ``alphas``."""
    alphas = np.asarray(alphas, dtype=float)
    means = returns.mean(axis=1)
    endpoint_mean = float((means[0] + means[-1]) / 2.0)
    worst = int(np.argmin(means))
    instability = endpoint_mean - float(means[worst])
    linear, linear_alpha = linear_barrier_of_curve(means, alphas)
    b_fit = crossfit_max(midpoint_gaps(returns))
    lb_fit = crossfit_max(linear_gaps(returns, alphas))
    cvar_barrier, _ = linear_barrier_of_curve(cvar(returns), alphas)
    return PathStatistics(
        endpoint_mean=endpoint_mean,
        min_return=float(means[worst]),
        min_alpha=float(alphas[worst]),
        min_at_endpoint=bool(min_at_endpoint_batch(returns[None])[0]),
        instability=instability,
        normalized_instability=normalized(instability, endpoint_mean),
        instability_crossfit=b_fit.estimate,
        instability_ci=(b_fit.low, b_fit.high),
        linear_barrier=linear,
        linear_barrier_alpha=linear_alpha,
        linear_barrier_crossfit=lb_fit.estimate,
        linear_barrier_ci=(lb_fit.low, lb_fit.high),
        normalized_linear_barrier=normalized(linear, endpoint_mean),
        cvar10_linear_barrier=cvar_barrier,
    )


# -- many children: pairs share children ---------------------------------------------------------


@dataclass(frozen=True)
class PairMean:
    """Mean of a per-pair value over all pairs of N children, with a jackknife interval."""

    mean: float
    low: float
    high: float
    n_children: int
    n_pairs: int


def pair_mean_interval(
    values: np.ndarray,
    pairs: list[tuple[int, int]],
    pair_intervals: list[tuple[float, float]],
    confidence: float = CONFIDENCE,
) -> PairMean:
    """Mean over pairs (a U-statistic of the children) and an interval that respects that
    pairs share children: leave-one-child-out jackknife, var = (N-1)/N sum_i (U_-i - U_.)^2,
    mean ± t(N-1) sqrt(var), which sees the spread between children and the episode noise.
    It is widened to the mean of the pairs' own intervals where that is wider (a jackknife of
    3 children can be 0 wide when every pair's estimate is exactly 0). With 2 children there
    is one pair and no jackknife: its own interval, which covers episode noise only.
    """
    values = np.asarray(values, dtype=float)
    children = sorted({c for pair in pairs for c in pair})
    mean = float(values.mean())
    own = np.asarray(pair_intervals, dtype=float)
    own_low, own_high = float(own[:, 0].mean()), float(own[:, 1].mean())
    if len(children) < 3:
        return PairMean(mean, own_low, own_high, len(children), len(pairs))
    leave_out = np.array(
        [values[[i for i, p in enumerate(pairs) if child not in p]].mean() for child in children]
    )
    n = len(children)
    se = float(np.sqrt((n - 1) / n * np.square(leave_out - leave_out.mean()).sum()))
    t = _t_quantile(0.5 + confidence / 2.0, n - 1)
    low, high = mean - t * se, mean + t * se
    if np.isfinite(own_low) and np.isfinite(own_high):
        low, high = min(low, own_low), max(high, own_high)
    return PairMean(mean, low, high, n, len(pairs))


# -- the verdict -------------------------------------------------------------------------------


def training_progress(
    children_return: float, random_return: float | None, best_return: float | None
) -> float | None:
    """(R_children - R_random) / (R_best - R_random): 0 at a uniform-random policy, 1 at the
    best periodic evaluation of the run. None when either reference is unknown."""
    if random_return is None or best_return is None:
        return None
    span = best_return - random_return
    if not np.isfinite(span) or span <= 0:
        return 0.0  # the run never beat a random policy
    return float((children_return - random_return) / span)


def verdict(
    barrier_interval: tuple[float, float],
    endpoint_mean: float,
    threshold: float,
    progress: float | None = None,
    diverged: bool = False,
    gradient_updates: int | None = None,
) -> tuple[str, str]:
    """(verdict, reason), the first rule that applies:

    diverged      a child's weights or losses became non-finite;
    untrained     the children made no gradient update, or their training progress
                  (``training_progress``) is below 0.5;
    connected     the barrier's interval lies below threshold · |endpoint mean|;
    barrier       its interval lies above it (so the gap is at an interior alpha: it is 0 at
                  both endpoints);
    inconclusive  the interval straddles the threshold (or there is no interval).
    """
    if diverged:
        return "diverged", "a child's weights or losses became non-finite"
    if gradient_updates == 0:
        return "untrained", "no gradient update was made"
    if progress is not None and progress < UNTRAINED_PROGRESS:
        return "untrained", (
            f"children are {progress:.0%} of the way from a random policy to the run's best "
            f"return (< {UNTRAINED_PROGRESS:.0%})"
        )
    limit = threshold * abs(endpoint_mean)
    low, high = barrier_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", "no interval (fewer than 4 episodes)"
    if high < limit:
        return "connected", f"barrier interval [{low:.4g}, {high:.4g}] < {limit:.4g}"
    if low > limit:
        return "barrier", f"barrier interval [{low:.4g}, {high:.4g}] > {limit:.4g}"
    return "inconclusive", f"barrier interval [{low:.4g}, {high:.4g}] straddles {limit:.4g}"


def _t_quantile(probability: float, df: int) -> float:
    """Student's t quantile. scipy.stats is imported here, not at the top: it takes about a
    second, and a run without forks (or a sweep's worker) never needs it."""
    from scipy import stats

    return float(stats.t.ppf(probability, df=df))
