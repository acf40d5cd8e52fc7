"""The result record of one measured interpolation path: one dataclass for every reader.

``ForkResult`` is what ``forks/instability_{id}.json`` holds. Instability computation writes it,
analysis loads it, the report and figures read it, and ``measure_path`` makes it for any two
agents of one architecture (a fork's children, two seeds' finals, two checkpoints). The
prototype's fields keep their names and meaning; the fields after them are ours. Reading an
older file leaves the fields it lacks at None. No heavy imports: numpy and the statistics only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmc_rl.measuring import barrier_stats as bs
from lmc_rl.measuring.critic_barrier import (
    CriticBarrier,
    CriticPath,
    children_td_error,
    critic_barrier,
    relative_gaps,
)
from lmc_rl.measuring.return_ceiling import saturation
from lmc_rl.records.number_text import estimate_with_interval

FRANKLE_THRESHOLD = 0.02
INTERPOLATION_KEYS = (
    "alpha",
    "mean_reward",
    "std_reward",
    "sem_reward",
    "ci95_low",
    "ci95_high",
    "q05",
    "q25",
    "q50",
    "q75",
    "q95",
    "cvar10",
    "failure_rate",
)
# the keys every instability file must have (older files included)
REQUIRED_KEYS = (
    "fork_id",
    "fork_point",
    "fork_step",
    "interpolation",
    "instability",
    "normalized_instability",
    "endpoint_mean_reward",
    "min_reward",
    "min_alpha",
)
# one row per fork in all_forks_results.json and the stdout table
SUMMARY_KEYS = (
    "fork_id",
    "fork_point",
    "fork_step",
    "fork1_reward",
    "fork2_reward",
    "instability",
    "normalized_instability",
    "min_reward",
    "min_alpha",
    "is_stable",
    "is_stable_frankle",
    "linear_barrier",
    "linear_barrier_crossfit",
    "linear_barrier_ci",
    "min_at_endpoint",
    "pair_mean_linear_barrier",
    "pair_mean_linear_barrier_ci",
    "verdict",
    "saturated",
    "critic_barrier",
    "critic_barrier_ci",
    "pair_mean_critic_barrier",
    "pair_mean_critic_barrier_ci",
    "critic_verdict",
)


@dataclass
class ForkResult:
    """One path's measurement. Fork identity fields are None for a path that is not a fork."""

    # -- the prototype's fields
    fork_id: int | None = None
    fork_point: float | None = None
    fork_step: int | None = None
    fork1_reward: float | None = None  # R(0)
    fork2_reward: float | None = None  # R(1)
    interpolation: list[dict[str, float]] = field(default_factory=list)  # INTERPOLATION_KEYS
    instability: float | None = None  # (R(0) + R(1)) / 2 - min R(alpha)
    is_stable: bool | None = None  # normalized_instability <= stability_threshold
    endpoint_mean_reward: float | None = None
    min_reward: float | None = None
    min_alpha: float | None = None
    normalized_instability: float | None = None
    stability_threshold: float | None = None
    is_stable_frankle: bool | None = None
    num_eval_episodes: int | None = None
    alpha_points: int | None = None
    critic: dict[str, Any] | None = None
    returns_file: str | None = None
    diverged: dict[str, int] = field(default_factory=dict)
    algo: str | None = None
    env: str | None = None
    fork_buffer_strategy: str | None = None
    fork_noise: str | None = None
    seed: int | None = None
    # -- ours: barriers with intervals (barrier_stats) and the verdict
    min_at_endpoint: bool | None = None
    instability_crossfit: float | None = None
    instability_ci: list[float] | None = None
    linear_barrier: float | None = None
    linear_barrier_alpha: float | None = None
    linear_barrier_crossfit: float | None = None
    linear_barrier_ci: list[float] | None = None
    normalized_linear_barrier: float | None = None
    cvar10_linear_barrier: float | None = None
    verdict: str | None = None  # barrier_stats.VERDICTS
    verdict_reason: str | None = None
    training_progress: float | None = None  # (R_children - R_random) / (R_ref - R_random)
    # -- ours: what the verdict measured against (barrier_stats.barrier_limit, progress_reference)
    random_return: float | None = None  # a uniform-random policy's return, None if unknown
    barrier_limit: float | None = None  # threshold · barrier_scale: "connected" lies below it
    barrier_scale: float | None = None
    barrier_scale_kind: str | None = None  # "learned return" or "|endpoint mean|"
    progress_reference: float | None = None  # the return that counts as trained
    progress_reference_kind: str | None = None  # the task's solved return, flag, or run's best
    nonfinite_returns: int | None = None  # episodes whose return was NaN or +-inf
    # -- ours: sequential evaluation (--eval_stopping verdict)
    episodes_used: int | None = None  # episodes per policy this fork's verdict read
    evaluation_looks: list[dict[str, Any]] | None = None  # per look: episodes, verdict
    # -- ours: the failure-rate barrier (barrier_stats.failure_rate_barrier), its own verdict
    failure_rate_barrier: float | None = None  # rise of the termination rate above the line
    failure_rate_barrier_ci: list[float] | None = None
    failure_verdict: str | None = None  # against a rise of stability_threshold (a fraction)
    failure_verdict_reason: str | None = None
    # -- ours: N children per fork
    children: int | None = None
    children_returns: list[float] | None = None  # each child's mean return (alpha 0 or 1)
    children_return_std: float | None = None
    pairs: list[dict[str, Any]] | None = None  # per pair (c1, c2): its barrier numbers
    pair_mean_linear_barrier: float | None = None
    pair_mean_linear_barrier_ci: list[float] | None = None
    evaluation: dict[str, Any] | None = None  # which evaluation: folder, settings
    # -- ours: the ceiling warning (return_ceiling) and the critic barrier (critic_barrier)
    saturated: bool | None = None  # every child's return at the task's maximum or run's best
    return_ceiling: float | None = None  # the ceiling they sit at
    critic_threshold: float | None = None
    critic_barrier: float | None = None  # cross-fitted TD-error barrier / children's TD error
    critic_barrier_ci: list[float] | None = None
    pair_mean_critic_barrier: float | None = None  # 3+ children: mean over pairs
    pair_mean_critic_barrier_ci: list[float] | None = None
    critic_verdict: str | None = None  # barrier_stats.VERDICTS
    critic_verdict_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The instability_{id}.json object (prototype keys first, in their order); NaN and
        infinities are written as null, as standard JSON has neither."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ForkResult:
        """Read any version of the file; absent fields stay None, unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        if known.get("diverged") is None:
            known["diverged"] = {}
        return cls(**known)

    def summary(self) -> dict[str, Any]:
        """The row of all_forks_results.json."""
        row = {k: _plain(getattr(self, k)) for k in SUMMARY_KEYS}
        row["critic_td_error_barrier"] = (self.critic or {}).get("td_error_barrier")
        row["diverged"] = self.diverged
        return row

    @property
    def barrier_estimate(self) -> float | None:
        """The cross-fitted linear barrier the verdict judged: the mean over all pairs with 3+
        children, else the pair's."""
        if self.children and self.children > 2 and self.pair_mean_linear_barrier is not None:
            return self.pair_mean_linear_barrier
        return self.linear_barrier_crossfit

    @property
    def barrier_interval(self) -> list[float] | None:
        """The interval the verdict used: over all pairs with 3+ children, else the pair's."""
        if self.children and self.children > 2 and self.pair_mean_linear_barrier_ci:
            return self.pair_mean_linear_barrier_ci
        return self.linear_barrier_ci

    @property
    def critic_barrier_estimate(self) -> float | None:
        """The relative TD-error barrier the critic verdict judged (all pairs with 3+)."""
        if self.children and self.children > 2 and self.pair_mean_critic_barrier is not None:
            return self.pair_mean_critic_barrier
        return self.critic_barrier

    @property
    def critic_barrier_interval(self) -> list[float] | None:
        """The interval the critic verdict used (over all pairs with 3+ children)."""
        if self.children and self.children > 2 and self.pair_mean_critic_barrier_ci:
            return self.pair_mean_critic_barrier_ci
        return self.critic_barrier_ci


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # no value (no interval from fewer than 4 episodes, a diverged mean)
    return value


def critic_metrics(td_errors: np.ndarray, mean_q: np.ndarray, alphas: np.ndarray) -> dict:
    """The critic's path, from ``td_errors[alpha, transition]`` (squared TD error of theta(alpha)'s
    own critic): TD error and mean Q per alpha, and its plug-in barriers (larger TD is worse)."""
    errors = np.asarray(td_errors, dtype=float)
    td = errors.mean(axis=1)
    linear, linear_alpha = bs.linear_barrier_of_curve(-td, alphas)
    return {
        "n_transitions": int(errors.shape[1]),
        "td_error": td.tolist(),
        "mean_q": np.asarray(mean_q, dtype=float).tolist(),
        "td_error_barrier": float(td.max() - (td[0] + td[-1]) / 2.0),
        "td_error_max_alpha": float(alphas[int(np.argmax(td))]),
        "td_error_linear_barrier": linear,
        "td_error_linear_barrier_alpha": linear_alpha,
        "children_td_error": children_td_error(errors),
        # mean_j g[alpha, j] / S (critic_barrier): the curve whose maximum is the barrier
        "relative_td_error_gap": relative_gaps(errors, alphas).mean(axis=1).tolist(),
    }


def _critic_fields(barrier: CriticBarrier, threshold: float) -> dict[str, Any]:
    return {
        "critic_threshold": threshold,
        "critic_barrier": barrier.estimate,
        "critic_barrier_ci": list(barrier.interval),
        "critic_verdict": barrier.verdict,
        "critic_verdict_reason": barrier.reason,
    }


def measure_path(
    returns: np.ndarray,
    alphas: np.ndarray,
    *,
    threshold: float,
    terminated: np.ndarray | None = None,
    critic: CriticPath | None = None,
    critic_threshold: float | None = None,
    random_return: float | None = None,
    best_return: float | None = None,
    gradient_updates: int | None = None,
    solved_return: float | None = None,
    solved_source: str = bs.REFERENCE_SOLVED,
    confidence: float = bs.CONFIDENCE,
    task_ceiling: float | None = None,
) -> ForkResult:
    """Every metric, interval and the verdict of the path between two agents.

    returns:     ``[alpha, episode]`` undiscounted returns, episode j from the same reset seed
                 at every alpha (alpha 0 = agent A, alpha 1 = agent B);
    alphas:      the interpolation coefficients, from 0 to 1;
    threshold:   a barrier below ``threshold`` · the learned return (endpoint mean minus
                 ``random_return``; |endpoint mean| where that is None) is "connected";
    terminated:  ``[alpha, episode]``, True where the episode ended by termination (a failure)
                 rather than the time limit; None if unknown;
    critic:      the critic along the same path (per-transition squared TD errors), or None;
    critic_threshold: a relative TD-error barrier below it is "connected" (needed with critic);
    random_return: a uniform-random policy's return (the barrier's scale and "untrained");
    solved_return, best_return: what counts as trained for the "untrained" verdict: the
                 solved return where known (``solved_source`` says whence), else the run's
                 best periodic evaluation (both None: not checked);
    gradient_updates: updates the agents made (0: "untrained");
    confidence:  of the barrier intervals (lower under repeated looks: ``bs.look_confidence``);
    task_ceiling: the task's largest possible return, for the ceiling warning (None: unknown).
    Non-finite returns give the verdict "diverged" and no barrier numbers. With ``terminated``,
    the failure-rate barrier and its own verdict.
    """
    returns = np.asarray(returns, dtype=float)
    alphas = np.asarray(alphas, dtype=float)
    n = returns.shape[1]
    with np.errstate(invalid="ignore", over="ignore"):
        means = returns.mean(axis=1)
        dist = bs.return_distribution(returns, terminated)
    sem = dist.std / np.sqrt(n)  # the std (ddof 1) that std_reward reports
    t = bs.t_quantile(0.975, n - 1) if n > 1 else np.nan  # per-alpha 95 % t interval
    with np.errstate(invalid="ignore"):
        low, high = means - t * sem, means + t * sem
    interpolation = []
    for i, alpha in enumerate(alphas):
        quantiles = dict(zip(("q05", "q25", "q50", "q75", "q95"), dist.quantiles[i], strict=True))
        interpolation.append(
            {
                "alpha": float(alpha),
                "mean_reward": float(means[i]),
                "std_reward": float(dist.std[i]),
                "sem_reward": float(sem[i]),
                "ci95_low": float(low[i]),
                "ci95_high": float(high[i]),
                **{k: float(v) for k, v in quantiles.items()},
                "cvar10": float(dist.cvar10[i]),
                "failure_rate": None
                if np.isnan(dist.failure_rate[i])
                else float(dist.failure_rate[i]),
            }
        )
    endpoint_mean = float((means[0] + means[-1]) / 2.0)
    reference, reference_kind = bs.progress_reference(solved_return, solved_source, best_return)
    progress = bs.training_progress(endpoint_mean, random_return, reference)
    limit = bs.barrier_limit(threshold, endpoint_mean, random_return)
    common = {
        "fork1_reward": float(means[0]),
        "fork2_reward": float(means[-1]),
        "interpolation": interpolation,
        "endpoint_mean_reward": endpoint_mean,
        "stability_threshold": threshold,
        "num_eval_episodes": int(n),
        "episodes_used": int(n),
        "alpha_points": len(alphas),
        "training_progress": progress,
        "random_return": random_return,
        "barrier_limit": limit.limit,
        "barrier_scale": limit.scale,
        "barrier_scale_kind": limit.scale_kind,
        "progress_reference": reference,
        "progress_reference_kind": reference_kind,
        "children": 2,
        "children_returns": [float(means[0]), float(means[-1])],
        "nonfinite_returns": int((~np.isfinite(returns)).sum()),
    }
    if terminated is not None:
        failure = bs.failure_rate_barrier(terminated, alphas)
        failure_verdict, failure_reason = bs.failure_verdict(failure, threshold)
        common |= {
            "failure_rate_barrier": failure.estimate,
            "failure_rate_barrier_ci": [failure.low, failure.high],
            "failure_verdict": failure_verdict,
            "failure_verdict_reason": failure_reason,
        }
    broken = bs.nonfinite_returns(returns, alphas)
    if broken:  # no barrier number: a mean over a NaN or an infinity says nothing
        return ForkResult(**common, verdict="diverged", verdict_reason=broken)
    path = bs.path_statistics(returns, alphas, confidence)
    verdict, reason = bs.verdict(
        path.linear_barrier_ci, limit, progress, None, gradient_updates, reference_kind or ""
    )
    ceiling = saturation([means[0], means[-1]], [sem[0], sem[-1]], task_ceiling, best_return)
    critic_fields: dict[str, Any] = {}
    if critic is not None:
        if critic_threshold is None:
            raise ValueError("measure_path: a critic path needs critic_threshold")
        barrier = critic_barrier(
            critic.td_errors,
            alphas,
            critic_threshold,
            progress,
            gradient_updates,
            reference_kind or "",
        )
        critic_fields = {
            "critic": critic_metrics(critic.td_errors, critic.mean_q, alphas),
            **_critic_fields(barrier, critic_threshold),
        }
    return ForkResult(
        **common,
        instability=path.instability,
        is_stable=bool(path.normalized_instability <= threshold),
        min_reward=path.min_return,
        min_alpha=path.min_alpha,
        normalized_instability=path.normalized_instability,
        is_stable_frankle=bool(path.normalized_instability <= FRANKLE_THRESHOLD),
        min_at_endpoint=path.min_at_endpoint,
        instability_crossfit=path.instability_crossfit,
        instability_ci=list(path.instability_ci),
        linear_barrier=path.linear_barrier,
        linear_barrier_alpha=path.linear_barrier_alpha,
        linear_barrier_crossfit=path.linear_barrier_crossfit,
        linear_barrier_ci=list(path.linear_barrier_ci),
        normalized_linear_barrier=_on_scale(path.linear_barrier, limit),
        cvar10_linear_barrier=path.cvar10_linear_barrier,
        verdict=verdict,
        verdict_reason=_with_saturation(reason, ceiling.reason),
        children_return_std=float(np.std([means[0], means[-1]], ddof=1)),
        saturated=ceiling.saturated,
        return_ceiling=ceiling.ceiling,
        **critic_fields,
    )


def _on_scale(value: float, limit: bs.BarrierLimit) -> float | None:
    """``value`` on the verdict's scale (so that it compares with the threshold); None where
    the learned return is not positive."""
    if limit.scale_kind == bs.SCALE_ENDPOINT:
        return bs.normalized(value, limit.scale)
    return value / limit.scale if limit.scale > 0 else None


def _with_saturation(reason: str, saturated: str | None) -> str:
    """The return verdict's reason, with the ceiling warning after it where it applies."""
    return reason if saturated is None else f"{reason}; {saturated}"


def pair_summary(children: tuple[int, int], result: ForkResult) -> dict[str, Any]:
    """What ``pairs`` keeps of one pair's ForkResult."""
    return {
        "children": list(children),
        "fork1_reward": result.fork1_reward,
        "fork2_reward": result.fork2_reward,
        "instability": result.instability,
        "linear_barrier": result.linear_barrier,
        "linear_barrier_crossfit": result.linear_barrier_crossfit,
        "linear_barrier_ci": result.linear_barrier_ci,
        "min_at_endpoint": result.min_at_endpoint,
        "cvar10_linear_barrier": result.cvar10_linear_barrier,
        "td_error_linear_barrier": (result.critic or {}).get("td_error_linear_barrier"),
        "verdict": result.verdict,
        "critic_barrier": result.critic_barrier,
        "critic_barrier_ci": result.critic_barrier_ci,
        "critic_verdict": result.critic_verdict,
    }


def combine_pairs(
    first: ForkResult,
    pair_results: dict[tuple[int, int], ForkResult],
    *,
    threshold: float,
    random_return: float | None = None,
    best_return: float | None = None,
    gradient_updates: int | None = None,
    solved_return: float | None = None,
    solved_source: str = bs.REFERENCE_SOLVED,
    confidence: float = bs.CONFIDENCE,
    critic_threshold: float | None = None,
    task_ceiling: float | None = None,
) -> ForkResult:
    """The fork's record for N children: the pair (1, 2)'s fields (``first``), every pair's
    barrier, the mean over pairs with its jackknife interval, the children's spread, and,
    when there are 3 or more children, the verdicts (return and critic) from the all-pairs
    intervals and the ceiling warning over all children. A pair with non-finite returns makes
    the fork "diverged"."""
    pairs = sorted(pair_results)
    children = sorted({c for p in pairs for c in p})
    returns_of, sem_of = {}, {}
    for (a, b), result in pair_results.items():
        returns_of.setdefault(a, result.fork1_reward)
        returns_of.setdefault(b, result.fork2_reward)
        sem_of.setdefault(a, result.interpolation[0]["sem_reward"])
        sem_of.setdefault(b, result.interpolation[-1]["sem_reward"])
    child_returns = [float(returns_of[c]) for c in children]
    result = dataclasses.replace(
        first,
        children=len(children),
        children_returns=child_returns,
        children_return_std=float(np.std(child_returns, ddof=1)),
        pairs=[pair_summary(p, pair_results[p]) for p in pairs],
    )
    broken = [p for p in pairs if pair_results[p].nonfinite_returns]
    if broken:
        reasons = "; ".join(f"pair {p}: {pair_results[p].verdict_reason}" for p in broken)
        return dataclasses.replace(result, verdict="diverged", verdict_reason=reasons)
    values = np.array([pair_results[p].linear_barrier_crossfit for p in pairs])
    intervals = [tuple(pair_results[p].linear_barrier_ci) for p in pairs]
    mean = bs.pair_mean_interval(values, pairs, intervals, confidence)
    result = dataclasses.replace(
        result,
        pair_mean_linear_barrier=mean.mean,
        pair_mean_linear_barrier_ci=[mean.low, mean.high],
    )
    if len(children) > 2:
        endpoint_mean = float(np.mean(child_returns))
        reference, kind = bs.progress_reference(solved_return, solved_source, best_return)
        progress = bs.training_progress(endpoint_mean, random_return, reference)
        limit = bs.barrier_limit(threshold, endpoint_mean, random_return)
        verdict, reason = bs.verdict(
            (mean.low, mean.high), limit, progress, None, gradient_updates, kind or ""
        )
        ceiling = saturation(
            child_returns, [float(sem_of[c]) for c in children], task_ceiling, best_return
        )
        result = dataclasses.replace(
            result,
            verdict=verdict,
            verdict_reason=_with_saturation(reason, ceiling.reason),
            training_progress=progress,
            barrier_limit=limit.limit,
            barrier_scale=limit.scale,
            barrier_scale_kind=limit.scale_kind,
            saturated=ceiling.saturated,
            return_ceiling=ceiling.ceiling,
        )
        critics = [pair_results[p] for p in pairs]
        if critic_threshold is not None and all(r.critic_barrier_ci for r in critics):
            critic_mean = bs.pair_mean_interval(
                np.array([r.critic_barrier for r in critics], dtype=float),
                pairs,
                [tuple(r.critic_barrier_ci) for r in critics],
                confidence,
            )
            critic_verdict, critic_reason = bs.verdict(
                (critic_mean.low, critic_mean.high),
                bs.barrier_limit(critic_threshold, 1.0),  # relative to the children's TD error
                progress,
                None,
                gradient_updates,
                kind or "",
            )
            result = dataclasses.replace(
                result,
                pair_mean_critic_barrier=critic_mean.mean,
                pair_mean_critic_barrier_ci=[critic_mean.low, critic_mean.high],
                critic_verdict=critic_verdict,
                critic_verdict_reason=critic_reason,
            )
    return result


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def results_table(results: list[ForkResult]) -> str:
    """One line per fork: what `lmc-rl run` and `lmc-rl evaluate` print at the end. The
    verdict leads; the prototype's naive instability B (no interval) is labelled as such."""
    many = any((r.children or 2) > 2 for r in results)
    header = [
        "fork",
        "point",
        "step",
        "child 1",
        "child 2",
        "min (at α)",
        "naive B (prototype)",
        "linear barrier [95% CI]",
        "limit",
    ]
    if many:
        header.append("mean over pairs [95% CI]")
    header.insert(3, "verdict")  # the verdict leads, after the fork's identity
    critic = any(r.critic_verdict for r in results)
    if critic:
        header += ["critic barrier [95% CI]", "critic verdict"]
    rows = [header]
    for r in results:
        row = [
            str(r.fork_id),
            _fmt(r.fork_point, 3),
            str(r.fork_step),
            _fmt(r.fork1_reward),
            _fmt(r.fork2_reward),
            f"{_fmt(r.min_reward)} ({_fmt(r.min_alpha, 2)})",
            _fmt(r.instability),
            estimate_with_interval(r.linear_barrier_crossfit, r.linear_barrier_ci, "-"),
            _fmt(r.barrier_limit),
        ]
        if many:
            row.append(
                estimate_with_interval(
                    r.pair_mean_linear_barrier, r.pair_mean_linear_barrier_ci, "-"
                )
            )
        row.insert(3, (r.verdict or "-") + (" (saturated)" if r.saturated else ""))
        if critic:
            row += [
                estimate_with_interval(r.critic_barrier_estimate, r.critic_barrier_interval, "-"),
                r.critic_verdict or "-",
            ]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + _saturation_notes(results))


def _saturation_notes(results: list[ForkResult]) -> list[str]:
    """The ceiling warning under the table: which forks' return verdicts owe to the ceiling."""
    saturated = [r for r in results if r.saturated]
    if not saturated:
        return []
    forks = ", ".join(str(r.fork_id) for r in saturated)
    ceiling = saturated[0].return_ceiling
    pointer = (
        "read the critic verdict instead"
        if any(r.critic_verdict for r in saturated)
        else "the run has no critic barrier to read instead"
    )
    return [
        f"saturated (fork {forks}): the children's returns sit at the ceiling "
        f"({_fmt(ceiling, 6)}), where a flat return path cannot tell policies apart; {pointer} "
        "(critic barrier: the rise of the squared TD error above the line between the "
        "children's, relative to their own)."
    ]
