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


def interval_label(confidence: float = CONFIDENCE) -> str:
    """``95% CI``: how reports and figures name an interval at that confidence."""
    return f"{100 * confidence:g}% CI"


CVAR_FRACTION = 0.10
QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
UNTRAINED_PROGRESS = 0.5  # children below half-way from random to the reference: untrained

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


def crossfit_low_batch(gaps: np.ndarray, confidence: float = CONFIDENCE) -> np.ndarray:
    """The cross-fitted estimate of theta = max_alpha E[gap(alpha)] and its lower end, from
    ``gaps[rep, alpha, episode]`` (many independent repetitions at once); returns ``[rep, 2]``.

    estimate: half 1 picks alpha_1 = argmax of its mean gaps, half 2 measures the gap there,
        and the other way round; estimate = (mean_2 gap(alpha_1) + mean_1 gap(alpha_2)) / 2.
        It estimates the gap at the chosen alphas, so it is never inflated by the choice.
    low: given half 1, half 2's held-out mean is a plain mean of independent episodes, so
        mean_2 - t se_2 lies below gap(alpha_1) <= theta at rate (1 - confidence) / 2, and
        the same for half 1. The two held-out means are positively correlated (both halves
        tend to pick the same alpha, and each pick is the other half's maximum), so their
        average is bounded with se = (se_1 + se_2) / 2, the standard error of an average of
        two means at any correlation up to 1: low = estimate - t (se_1 + se_2) / 2, t one-sided
        at (1 + confidence) / 2 with min(n_1, n_2) - 1 degrees of freedom.
    Fewer than 4 episodes: the plug-in maximum and no lower end (NaN).
    """
    reps, n_alphas, n = gaps.shape
    if n < 4:
        return np.stack([gaps.mean(axis=2).max(axis=1), np.full(reps, np.nan)], axis=1)
    first, second = episode_halves(n)
    rows = np.arange(reps)
    pick_1 = np.argmax(gaps[:, :, first].mean(axis=2), axis=1)
    pick_2 = np.argmax(gaps[:, :, second].mean(axis=2), axis=1)
    held_2 = gaps[rows, pick_1][:, second]
    held_1 = gaps[rows, pick_2][:, first]
    estimate = (held_2.mean(axis=1) + held_1.mean(axis=1)) / 2.0
    se_2 = held_2.std(axis=1, ddof=1) / np.sqrt(len(second))
    se_1 = held_1.std(axis=1, ddof=1) / np.sqrt(len(first))
    t = t_quantile(0.5 + confidence / 2.0, min(len(first), len(second)) - 1)
    return np.stack([estimate, estimate - t * (se_1 + se_2) / 2.0], axis=1)


def simultaneous_high_batch(gaps: np.ndarray, confidence: float = CONFIDENCE) -> np.ndarray:
    """``[rep]``: an upper bound of max_alpha E[gap(alpha)] that holds at every alpha at once,
    max_alpha [mean gap + c SE(alpha)], SE with ddof 1, and c the (1 + confidence) / 2
    quantile of max_alpha of the standardised mean error. c comes from a Gaussian multiplier
    bootstrap over episodes (which keeps the pairing across alpha), scaled so that a single
    alpha's multiplier error has the variance SE^2 (divided by sqrt(n (n - 1)), the n - 1 of
    SE), and widened by t(n - 1) / z for small N, where a Gaussian c under-covers. If every
    alpha's bound holds, the largest true gap lies below the largest bound. Fewer than 4
    episodes: NaN."""
    reps, n_alphas, n = gaps.shape
    if n < 4:
        return np.full(reps, np.nan)
    one_sided = 0.5 + confidence / 2.0
    mean = gaps.mean(axis=2)
    se = gaps.std(axis=2, ddof=1) / np.sqrt(n)  # [rep, alpha]; 0 at the endpoints
    multipliers = np.random.default_rng(_MULTIPLIER_SEED).standard_normal((MULTIPLIER_DRAWS, n))
    from scipy import stats

    small_n = t_quantile(one_sided, n - 1) / float(stats.norm.ppf(one_sided))
    c = np.empty(reps)
    block = max(1, 2_000_000 // (MULTIPLIER_DRAWS * n_alphas))  # bounds memory
    for start in range(0, reps, block):
        part = slice(start, start + block)
        centred = gaps[part] - mean[part, :, None]
        errors = np.einsum("bn,ran->rba", multipliers, centred) / np.sqrt(n * (n - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            standardized = np.where(se[part, None, :] > 0, errors / se[part, None, :], -np.inf)
        with np.errstate(invalid="ignore"):
            c[part] = np.quantile(standardized.max(axis=2), one_sided, axis=1)
    c = np.where(np.isfinite(c), c * small_n, 0.0)  # every gap has zero spread: no noise
    return (mean + c[:, None] * se).max(axis=1)


def crossfit_max_batch(gaps: np.ndarray, confidence: float = CONFIDENCE) -> np.ndarray:
    """Estimate theta = max_alpha E[gap(alpha)] from ``gaps[rep, alpha, episode]``, for many
    independent repetitions at once; returns ``[rep, 3]``: estimate, low, high
    (``crossfit_low_batch`` and ``simultaneous_high_batch``). Each end fails with
    probability at most (1 - confidence) / 2. Fewer than 4 episodes: the plug-in maximum and
    no interval (NaN)."""
    estimate_low = crossfit_low_batch(gaps, confidence)
    high = simultaneous_high_batch(gaps, confidence)
    return np.column_stack([estimate_low, high])


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
    low = crossfit_low_batch(below)[:, 1]
    at_end = means.min(axis=1) >= np.minimum(means[:, 0], means[:, -1])
    return at_end | ~(low > 0)


def linear_barrier_of_curve(curve: np.ndarray, alphas: np.ndarray) -> tuple[float, float]:
    """max_alpha [(1 - alpha) c(0) + alpha c(1) - c(alpha)] of any curve along the path, and
    its alpha. For a curve where larger is worse (a TD error), pass its negative."""
    a = np.asarray(alphas, dtype=float)
    gap = (1.0 - a) * curve[0] + a * curve[-1] - curve
    worst = int(np.argmax(gap))
    return float(gap[worst]), float(a[worst])


def path_statistics(
    returns: np.ndarray, alphas: np.ndarray, confidence: float = CONFIDENCE
) -> PathStatistics:
    """Every barrier number of the path ``returns[alpha, episode]`` at ``alphas``; the
    intervals at ``confidence``."""
    alphas = np.asarray(alphas, dtype=float)
    means = returns.mean(axis=1)
    endpoint_mean = float((means[0] + means[-1]) / 2.0)
    worst = int(np.argmin(means))
    instability = endpoint_mean - float(means[worst])
    linear, linear_alpha = linear_barrier_of_curve(means, alphas)
    b_fit = crossfit_max(midpoint_gaps(returns), confidence)
    lb_fit = crossfit_max(linear_gaps(returns, alphas), confidence)
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


# -- the failure-rate barrier -------------------------------------------------------------------


@dataclass(frozen=True)
class FailureBarrier:
    """The rise of the failure rate along the path above the straight line between the
    children: max_alpha [f(alpha) - (1 - alpha) f(0) - alpha f(1)], f the fraction of episodes
    ended by termination. ``estimate`` is cross-fitted; the interval is exact (below)."""

    estimate: float
    low: float
    high: float


def failure_rate_barrier(
    terminated: np.ndarray, alphas: np.ndarray, confidence: float = CONFIDENCE
) -> FailureBarrier:
    """The failure-rate barrier of ``terminated[alpha, episode]`` with an interval that holds
    at any N: a Clopper-Pearson interval for every alpha's failure rate, Bonferroni over all
    alphas, so that all hold at once with probability >= ``confidence``; then every alpha's rise
    lies between L(alpha) - line_U(alpha) and U(alpha) - line_L(alpha), and so does their
    maximum. Conservative (it ignores the pairing of episodes), but with no normal
    approximation, which binary outcomes at few episodes and rates near 0 do not support."""
    from scipy import stats

    flags = np.asarray(terminated, dtype=float)
    a = np.asarray(alphas, dtype=float)
    k, n = flags.shape
    failures = flags.sum(axis=1)
    tail = (1.0 - confidence) / (2.0 * k)
    lower = np.where(failures > 0, stats.beta.ppf(tail, failures, n - failures + 1), 0.0)
    upper = np.where(failures < n, stats.beta.ppf(1.0 - tail, failures + 1, n - failures), 1.0)
    line_low = (1.0 - a) * lower[0] + a * lower[-1]
    line_high = (1.0 - a) * upper[0] + a * upper[-1]
    rise = -linear_gaps(flags, a)  # per episode: t(alpha) - the straight line, 0 at the ends
    estimate = float(crossfit_low_batch(rise[None], confidence)[0, 0])
    return FailureBarrier(
        estimate, float(np.max(lower - line_high)), float(np.max(upper - line_low))
    )


def failure_verdict(barrier: FailureBarrier, limit: float) -> tuple[str, str]:
    """(verdict, reason) of the failure-rate barrier against ``limit`` (a rise in the
    fraction of failed episodes): connected below, barrier above, else inconclusive."""
    text = f"failure-rate barrier interval [{barrier.low:.3g}, {barrier.high:.3g}]"
    if barrier.high < limit:
        return "connected", f"{text} < {limit:.3g}"
    if barrier.low > limit:
        return "barrier", f"{text} > {limit:.3g}"
    return "inconclusive", f"{text} straddles {limit:.3g}"


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
    t = t_quantile(0.5 + confidence / 2.0, n - 1)
    low, high = mean - t * se, mean + t * se
    if np.isfinite(own_low) and np.isfinite(own_high):
        low, high = min(low, own_low), max(high, own_high)
    return PairMean(mean, low, high, n, len(pairs))


# -- the verdict -------------------------------------------------------------------------------

SCALE_LEARNED = "learned return"  # endpoint mean minus a uniform-random policy's return
SCALE_ENDPOINT = "|endpoint mean|"  # the prototype's scale, where no random return is known


@dataclass(frozen=True)
class BarrierLimit:
    """The barrier a path may have and still be "connected": threshold · scale."""

    limit: float
    scale: float
    scale_kind: str  # SCALE_LEARNED or SCALE_ENDPOINT


def barrier_limit(
    threshold: float, endpoint_mean: float, random_return: float | None = None
) -> BarrierLimit:
    """threshold · (endpoint mean - random return): the return the children learned, which a
    constant added to every return does not change (|endpoint mean| would: near a mean of 0
    nothing is connected, and on tasks with negative returns the limit shrinks as agents
    improve). Without a random return, the prototype's threshold · |endpoint mean|."""
    if random_return is not None and np.isfinite(random_return):
        scale = float(endpoint_mean - random_return)
        return BarrierLimit(threshold * scale, scale, SCALE_LEARNED)
    scale = abs(float(endpoint_mean))
    return BarrierLimit(threshold * scale, scale, SCALE_ENDPOINT)


def nonfinite_returns(returns: np.ndarray, alphas: np.ndarray) -> str | None:
    """What is non-finite in ``returns[alpha, episode]`` (counts of NaN, +inf, -inf and the
    alphas where they are), or None if every return is finite."""
    returns = np.asarray(returns, dtype=float)
    bad = ~np.isfinite(returns)
    if not bad.any():
        return None
    kinds = {
        "NaN": int(np.isnan(returns).sum()),
        "+inf": int(np.isposinf(returns).sum()),
        "-inf": int(np.isneginf(returns).sum()),
    }
    counts = ", ".join(f"{n} {kind}" for kind, n in kinds.items() if n)
    where = np.asarray(alphas, dtype=float)[bad.any(axis=1)]
    shown = ", ".join(f"{a:.3g}" for a in where[:5]) + (" ..." if len(where) > 5 else "")
    return f"non-finite episode returns ({counts}) at alpha {shown}"


def training_progress(
    children_return: float, random_return: float | None, reference_return: float | None
) -> float | None:
    """(R_children - R_random) / (R_reference - R_random): 0 at a uniform-random policy, 1 at
    the reference (the task's solved return, or the run's best periodic evaluation). None when
    either reference is unknown."""
    if random_return is None or reference_return is None:
        return None
    span = reference_return - random_return
    if not np.isfinite(span) or span <= 0:
        return 0.0  # the reference never beat a random policy
    return float((children_return - random_return) / span)


REFERENCE_SOLVED = "the task's solved return"
REFERENCE_FLAG = "--solved_return"
REFERENCE_BEST = "the run's best evaluation"


def progress_reference(
    solved_return: float | None, solved_source: str, best_return: float | None
) -> tuple[float | None, str | None]:
    """What "trained" is measured against: a solved return the run does not set itself where
    one is known (``solved_source`` says whence), else the run's own best evaluation."""
    if solved_return is not None:
        return float(solved_return), solved_source
    if best_return is not None:
        return float(best_return), REFERENCE_BEST
    return None, None


def verdict(
    barrier_interval: tuple[float, float],
    limit: BarrierLimit,
    progress: float | None = None,
    diverged: str | None = None,
    gradient_updates: int | None = None,
    reference: str = REFERENCE_BEST,
) -> tuple[str, str]:
    """(verdict, reason), the first rule that applies:

    diverged      a child's weights or losses, or an episode's return, became non-finite
                  (``diverged`` says which);
    untrained     the children made no gradient update, their training progress
                  (``training_progress`` against ``reference``) is below 0.5, or they return
                  no more than a random policy (a learned return <= 0);
    connected     the barrier's interval lies below the limit (``barrier_limit``);
    barrier       its interval lies above it (so the gap is at an interior alpha: it is 0 at
                  both endpoints);
    inconclusive  the interval straddles the limit (or there is no interval).
    """
    if diverged:
        return "diverged", diverged
    if gradient_updates == 0:
        return "untrained", "no gradient update was made"
    if progress is not None and progress < UNTRAINED_PROGRESS:
        return "untrained", (
            f"children are {progress:.0%} of the way from a random policy to {reference} "
            f"(< {UNTRAINED_PROGRESS:.0%})"
        )
    if limit.scale_kind == SCALE_LEARNED and not limit.scale > 0:
        return "untrained", (
            f"children return no more than a random policy (learned return {limit.scale:.4g})"
        )
    low, high = barrier_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", "no interval (fewer than 4 episodes)"
    bound = f"{limit.limit:.4g} ({limit.scale_kind} {limit.scale:.4g})"
    if high < limit.limit:
        return "connected", f"barrier interval [{low:.4g}, {high:.4g}] < {bound}"
    if low > limit.limit:
        return "barrier", f"barrier interval [{low:.4g}, {high:.4g}] > {bound}"
    return "inconclusive", f"barrier interval [{low:.4g}, {high:.4g}] straddles {bound}"


def t_quantile(probability: float, df: int) -> float:
    """Student's t quantile. scipy.stats is imported here, not at the top: it takes about a
    second, and a run without forks (or a sweep's worker) never needs it."""
    from scipy import stats

    return float(stats.t.ppf(probability, df=df))


# -- sequential evaluation: looks at growing numbers of episodes ---------------------------------

FIRST_LOOK = 10  # episodes at the first look; each later look doubles them, the last is all


def stopping_looks(num_eval_episodes: int) -> list[int]:
    """Episodes at each look of a sequential evaluation: 10, 20, 40, ... and finally all
    ``num_eval_episodes`` (one look if that is at most 10). Fixed in advance, so that the
    error can be spent over them (``look_confidence``)."""
    looks, n = [], FIRST_LOOK
    while n < num_eval_episodes:
        looks.append(n)
        n *= 2
    return [*looks, num_eval_episodes]


def look_confidence(looks: int, confidence: float = CONFIDENCE) -> float:
    """The confidence of each look's interval so that, over all looks together, the chance
    that any interval misses is at most 1 - ``confidence`` (Bonferroni): a verdict decided at
    whichever look errs no more often than one decided once at the end."""
    return 1.0 - (1.0 - confidence) / looks


def decided(verdict: str | None) -> bool:
    """Whether more episodes could not change the verdict: a barrier interval wholly on one
    side of the limit, or returns that diverged."""
    return verdict in ("connected", "barrier", "diverged")
