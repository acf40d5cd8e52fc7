"""The critic's barrier along a path: the TD-error barrier with an interval and a verdict.

Where every child solves the task, returns are flat along any path (they cannot rise above the
ceiling), and the return barrier cannot see what the critic sees. This module is the critic's
counterpart of the return's linear barrier, a pure function of ``td_errors[alpha, transition]``:
the squared TD error of theta(alpha)'s own critic, bootstrapped by its own actor, on transition
j, the same fixed transitions at every alpha (paired, as episodes are for returns):

    scale    S = mean_j (e[0, j] + e[1, j]) / 2              the children's own TD error
    gap      g[alpha, j] = e[alpha, j] - (1 - alpha) e[0, j] - alpha e[1, j]
    barrier  max_alpha mean_j g[alpha, j] / S                 (larger TD error is worse)

So 1.0 means: at the worst alpha, the interpolated critic's mean squared TD error exceeds the
straight line between the children's by as much as their own error. The estimate and its
interval are ``barrier_stats.crossfit_max`` with transitions in place of episodes: even
transitions choose alpha, odd ones measure it and the other way round; the upper end is a
multiplier bootstrap over transitions that keeps each transition's row across alpha. It runs on
the ratio's delta-method pseudo-values (``relative_gaps``), so the noise of S is counted too.
The interval covers resampling transitions from the same replay data, not a retraining. The
verdict is the return's (``barrier_stats.verdict``) with the limit ``critic_threshold`` on this
relative scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmc_rl.measuring import barrier_stats as bs

MIN_TRANSITIONS = 4  # the cross-fitted interval needs two halves of at least two


@dataclass(frozen=True)
class CriticPath:
    """theta(alpha)'s own critic on fixed transitions, along one path."""

    td_errors: np.ndarray  # [alpha, transition]: squared TD error (mean over twin critics)
    mean_q: np.ndarray  # [alpha]


@dataclass(frozen=True)
class CriticBarrier:
    """The relative TD-error barrier of one path, its interval and verdict."""

    children_td_error: float  # S: mean squared TD error of the two children's own critics
    plug_in: float  # max_alpha of the mean relative gap (biased upward by the max)
    alpha: float  # where the plug-in maximum lies
    estimate: float  # cross-fitted: not inflated by choosing alpha
    interval: tuple[float, float]
    verdict: str
    reason: str


def td_error_gaps(td_errors: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``[alpha, transition]`` rise of the squared TD error above the straight line between the
    children's, written (e_alpha - e_0) - alpha (e_1 - e_0) so that it is exactly 0 at both
    endpoints and wherever the critics agree."""
    e = np.asarray(td_errors, dtype=float)
    a = np.asarray(alphas, dtype=float)[:, None]
    return (e - e[:1]) - a * (e[-1:] - e[:1])


def children_td_error(td_errors: np.ndarray) -> float:
    """S, the scale of the relative barrier: the children's mean squared TD error."""
    return float((np.mean(td_errors[0]) + np.mean(td_errors[-1])) / 2.0)


def relative_gaps(td_errors: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``[alpha, transition]`` values whose mean over transitions is the relative gap
    R(alpha) = mean_j g[alpha, j] / S, and whose spread is that of the ratio: the delta
    method's pseudo-values R + (g_j - R d_j) / S, d_j = (e[0, j] + e[1, j]) / 2, so that an
    interval from them also counts the noise of S (without it, a planted rise of 1 was
    covered 75-85 % of the time instead of 95 %; docs/critic-barrier.md). They are exactly 0
    wherever the gaps are."""
    e = np.asarray(td_errors, dtype=float)
    gaps = td_error_gaps(e, alphas)
    scale = children_td_error(e)
    if not scale > 0:
        return gaps  # both children's critics are exact on every transition
    own = (e[0] + e[-1]) / 2.0
    ratio = gaps.mean(axis=1, keepdims=True) / scale
    return ratio + (gaps - ratio * own[None, :]) / scale


def critic_barrier(
    td_errors: np.ndarray,
    alphas: np.ndarray,
    threshold: float,
    progress: float | None = None,
    gradient_updates: int | None = None,
    reference: str = "",
) -> CriticBarrier:
    """The relative TD-error barrier of ``td_errors[alpha, transition]`` at ``alphas``, and the
    verdict against ``threshold`` (the same words and rules as the return's verdict; progress,
    gradient_updates and the reference progress was measured against are the return's, for
    its ``untrained`` rule)."""
    td_errors = np.asarray(td_errors, dtype=float)
    alphas = np.asarray(alphas, dtype=float)
    scale = children_td_error(td_errors)
    gaps = relative_gaps(td_errors, alphas)
    curve = gaps.mean(axis=1)
    worst = int(np.argmax(curve))
    if not np.isfinite(gaps).all():
        nan = float("nan")
        reason = "a non-finite TD error on the path"
        return CriticBarrier(scale, nan, nan, nan, (nan, nan), "inconclusive", reason)
    if td_errors.shape[1] < MIN_TRANSITIONS:
        fit = bs.CrossFitMax(float(curve[worst]), float("nan"), float("nan"))
    else:
        fit = bs.crossfit_max(gaps)
    verdict, reason = bs.verdict(
        barrier_interval=(fit.low, fit.high),
        limit=bs.barrier_limit(threshold, endpoint_mean=1.0),  # gaps already relative to S
        progress=progress,
        gradient_updates=gradient_updates,
        reference=reference,
    )
    if td_errors.shape[1] < MIN_TRANSITIONS and verdict == "inconclusive":
        reason = f"no interval (fewer than {MIN_TRANSITIONS} transitions)"
    return CriticBarrier(
        children_td_error=scale,
        plug_in=float(curve[worst]),
        alpha=float(alphas[worst]),
        estimate=fit.estimate,
        interval=(fit.low, fit.high),
        verdict=verdict,
        reason=reason,
    )
