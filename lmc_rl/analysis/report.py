"""report.md of one run: its settings, a row per fork, and links to the figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lmc_rl.analysis.loading import RunResults
from lmc_rl.measuring import barrier_stats as bs
from lmc_rl.measuring.fork_result import ForkResult
from lmc_rl.records.number_text import counted, estimate_with_interval, yes_no

SETTINGS = (
    "env",
    "algo",
    "seed",
    "total_steps",
    "fork_points",
    "fork_buffer_strategy",
    "fork_noise",
    "alpha_points",
    "num_eval_episodes",
    "children",
    "stability_threshold",
    "critic_threshold",
    "learning_starts",
    "batch_size",
    "hidden_dims",
    "buffer_size",
)


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _settings_lines(run: RunResults) -> list[str]:
    config = run.config
    rows = []
    for key in SETTINGS:
        if key not in config:
            continue
        value = config[key]
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "none"
        rows.append((f"`{key}`", str(value)))
    if run.total_steps != config.get("total_steps"):
        rows.append(("total_steps used for fork steps", f"{run.total_steps} (overridden)"))
    record = run.record
    for key in ("status", "device", "update_matmul_library", "torch_threads", "learning_rate"):
        if key in record:
            rows.append((key, str(record[key])))
    if record.get("merged_from"):
        rows.append(("merged from pieces", str(len(record["merged_from"]))))
    if record.get("missing_forks"):
        missing = ", ".join(map(str, record["missing_forks"]))
        rows.append(("missing forks (a partial merge)", missing))
    versions = record.get("versions") or {}
    if versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return _table(("setting", "value"), rows)


def _fork_lines(run: RunResults) -> list[str]:
    evaluation = run.fork_results[0].evaluation or {}
    ci = bs.interval_label(evaluation.get("confidence") or bs.CONFIDENCE)
    with_critic = any(f.critic for f in run.fork_results)
    critic_verdicts = any(f.critic_verdict for f in run.fork_results)
    many = any((f.children or 2) > 2 for f in run.fork_results)
    # a pair's critic interval is over fixed transitions, at 95 % whatever the looks; the mean
    # over 3+ children's pairs is at the evaluation's confidence, as the return's
    critic_ci = ci if many else bs.interval_label()
    header = [
        "fork",
        "point",
        "step",
        "child 1 return",
        "child 2 return",
        "min on path",
        "at α",
        "instability",
        "normalized",
        "naive stable (prototype)",
        "linear barrier (plug-in)",
        f"linear barrier [{ci}]",
        "min at endpoint",
        "CVaR10 barrier",
    ]
    if many:
        header += ["children's returns (sd)", f"mean over pairs [{ci}]"]
    if with_critic:
        header += ["critic TD barrier", "critic TD linear barrier"]
    header.insert(3, "verdict")  # the verdict leads, after the fork's identity
    if critic_verdicts:
        header += ["children's TD error", f"critic barrier [{critic_ci}]", "critic verdict"]
    rows = []
    for fork in run.fork_results:
        row = [
            f"[{fork.fork_id}](interp_fork_{fork.fork_id}.png)",
            _number(fork.fork_point),
            str(run.fork_step(fork)),
            _number(fork.fork1_reward),
            _number(fork.fork2_reward),
            _number(fork.min_reward),
            _number(fork.min_alpha, 2),
            _number(fork.instability),
            _number(fork.normalized_instability, 3),
            _stable_text(fork),
            _number(fork.linear_barrier),
            estimate_with_interval(fork.linear_barrier_crossfit, fork.linear_barrier_ci),
            yes_no(fork.min_at_endpoint),
            _number(fork.cvar10_linear_barrier),
        ]
        if many:
            returns = ", ".join(_number(r) for r in fork.children_returns or [])
            row += [
                f"{returns} ({_number(fork.children_return_std)})",
                estimate_with_interval(
                    fork.pair_mean_linear_barrier, fork.pair_mean_linear_barrier_ci
                ),
            ]
        if with_critic:
            critic = fork.critic or {}
            row += [
                _number(critic.get("td_error_barrier")),
                _number(critic.get("td_error_linear_barrier")),
            ]
        row.insert(
            3,
            (f"**{fork.verdict}**" if fork.verdict else "–")
            + (" (saturated)" if fork.saturated else ""),
        )
        if critic_verdicts:
            row += [
                _number((fork.critic or {}).get("children_td_error")),
                estimate_with_interval(fork.critic_barrier_estimate, fork.critic_barrier_interval),
                f"**{fork.critic_verdict}**" if fork.critic_verdict else "–",
            ]
        rows.append(row)
    return _table(header, rows)


def _stable_text(fork: ForkResult) -> str:
    if fork.diverged:
        return "diverged: " + ", ".join(f"{k} at step {v}" for k, v in fork.diverged.items())
    if fork.is_stable is None:
        return "–"  # no barrier measured (non-finite returns)
    return "yes" if fork.is_stable else "no"


def _saturation_lines(run: RunResults) -> list[str]:
    """The ceiling warning: return verdicts of children at the task's maximum say little."""
    saturated = [f for f in run.fork_results if f.saturated]
    if not saturated:
        return []
    forks = ", ".join(str(f.fork_id) for f in saturated)
    critic = [f"fork {f.fork_id} **{f.critic_verdict}**" for f in saturated if f.critic_verdict]
    pointer = (
        "Read the critic verdict instead: " + ", ".join(critic) + "."
        if critic
        else "This evaluation has no critic barrier to read instead."
    )
    return [
        f"**Returns at the ceiling (fork {forks})**: every child's return is within episode "
        f"noise of {_number(saturated[0].return_ceiling, 6)} (the task's maximum or the run's "
        "best), where many different policies earn the same return: a flat return path, and "
        f"its verdict, owe as much to the ceiling as to the path. {pointer}",
        "",
    ]


def _evaluation_lines(run: RunResults) -> list[str]:
    """Which evaluation the report shows, and with which settings."""
    first = run.fork_results[0] if run.fork_results else None
    info = (first.evaluation if first else None) or {}
    folder = run.evaluation_dir
    shown = (
        folder.relative_to(run.results_dir)
        if folder and folder.is_relative_to(run.results_dir)
        else folder
    )
    episodes = first.num_eval_episodes if first else "–"
    if info.get("eval_stopping") == "verdict":
        episodes = f"up to {info.get('num_eval_episodes')}"
    lines = [
        f"This report shows the evaluation in `{shown}/`"
        + (" (the run's own)" if str(shown) == "forks" else " (a re-evaluation)")
        + f": {first.alpha_points if first else '–'} α × "
        f"{episodes} episodes per policy"
        + (
            f", {info.get('children')} children per fork "
            f"({counted(info.get('pairs') or 0, 'pair')})"
            if info
            else ""
        )
        + ".",
    ]
    if info.get("eval_stopping") == "verdict":
        used = ", ".join(f"fork {f.fork_id}: {f.episodes_used}" for f in run.fork_results)
        lines.append(
            f"Sequential evaluation (`--eval_stopping verdict`): looks at "
            f"{', '.join(map(str, info.get('looks') or []))} episodes, each interval at "
            f"confidence {info.get('confidence', float('nan')):.3g}; a fork stopped at its "
            f"first look with a `connected` or `barrier` verdict. Episodes used: {used}."
        )
    return lines


def _training_lines(run: RunResults) -> list[str]:
    """Warnings about training that make a barrier meaningless."""
    members = run.record.get("members") or {}
    lines = []
    parent = members.get("parent") or {}
    if parent.get("gradient_updates") == 0:
        lines.append(
            "**No gradient update was made in this run** (`learning_starts` ≥ `total_steps`): "
            "every agent is its random initialisation, and every fork is `untrained`."
        )
    random_policy = run.record.get("random_policy") or {}
    if random_policy.get("mean_return") is not None:
        best = run.evaluations["mean_return"].max() if len(run.evaluations) else float("nan")
        lines.append(
            f"Reference returns: a uniform-random policy {random_policy['mean_return']:.4g} "
            f"({random_policy.get('n_episodes')} warm-up episodes of the parent); the run's best "
            f"periodic evaluation {best:.4g}."
        )
    judged = [f for f in run.fork_results if f.progress_reference_kind]
    if judged:
        first = judged[0]
        references = {(f.progress_reference_kind, f"{f.progress_reference:.4g}") for f in judged}
        if len(references) == 1:
            against = f"{first.progress_reference_kind} ({first.progress_reference:.4g})"
        else:  # each fork's own (the parent's and its children's), so forks do not interact
            each = "; ".join(
                f"fork {f.fork_id}: {f.progress_reference_kind} {f.progress_reference:.4g}"
                for f in judged
            )
            against = (
                "each fork's own reference (a best evaluation: of the parent and that fork's "
                f"children) — {each}"
            )
        lines.append(
            f"`untrained` is judged against {against}; the barrier limit is a share of the "
            f"{first.barrier_scale_kind or '|endpoint mean|'}."
        )
    return lines


METRICS_TEXT = """\
Every metric, for the path θ(α) = (1−α)·θ₁ + α·θ₂ between child 1 (α = 0) and child 2
(α = 1) and returns y[α, j] of episode j (the same reset seed at every α: the episodes are
paired), with mean R(α) = mean_j y[α, j]:

- **child 1 / child 2 return**: R(0), R(1).
- **min on path, at α**: min_α R(α) and its α.
- **instability** (Frankle et al. 2020): B = ½·(R(0) + R(1)) − min_α R(α). An endpoint gap
  counts: a monotone path from 100 to 50 has B = 25.
- **normalized**: B / |½·(R(0) + R(1))|; **naive stable (prototype)**: normalized ≤
  `stability_threshold`, the prototype's rule (`is_stable` in the JSON): it judges B with no
  interval, so an endpoint gap or evaluation noise alone makes a fork "unstable". The verdict
  does not read it.
- **linear barrier** (Entezari et al. 2022): LB = max_α [(1−α)·R(0) + α·R(1) − R(α)], the
  largest drop below the straight line between the endpoints; 0 on a straight or bulging path.
  The plug-in value is a maximum of noisy means, so it is positive from noise alone.
- **linear barrier [95% CI]**: the cross-fitted estimate and its interval (95 %; under
  sequential evaluation at the per-look confidence named above the table: 99 %). Even episodes
  choose α₁ = argmax of their mean gap g(α) = (1−α)·y₀ + α·y₁ − y_α, odd episodes measure g(α₁),
  and the other way round; estimate = mean of the two held-out means (not inflated by the
  choice). Interval: lower end estimate − t·(SE₁ + SE₂)/2 of the two held-out means (valid
  however positively they are correlated: both halves often pick the same α); upper end max_α
  [mean g(α) + c·SE(α)], c from a multiplier bootstrap of the maximum over α (simultaneous, n−1
  convention, widened by t/z for small N). Calibrated on synthetic returns
  (`docs/calibration.md`, `tests/test_barrier_stats.py`).
- **min at endpoint**: no α is demonstrably worse than the worse child (the cross-fitted lower
  bound of max_α [y_worse end − y_α] is ≤ 0).
- **CVaR10 barrier**: the linear barrier of the curve CVaR₁₀(α) = mean of the worst 10 % of
  episodes at α.
- **children's returns (sd), mean over pairs**: with N children per fork, all N(N−1)/2 pairs are
  evaluated; the mean of their cross-fitted linear barriers, with a leave-one-child-out jackknife
  interval (t with N−1 degrees of freedom), which counts that pairs share children. With three
  children that interval is wide (2 degrees of freedom): the "every pair of children" lines under
  the table give each pair's own barrier and verdict (its limit a share of that pair's learned
  return), to see whether the pairs agree.
- **critic TD barrier**: max_α TD(α) − ½·(TD(0) + TD(1)) of the mean squared TD error of θ(α)'s
  own critic on 1024 fixed transitions; **critic TD linear barrier**: max_α [TD(α) −
  (1−α)·TD(0) − α·TD(1)] (both in squared return units, plug-in).
- **children's TD error**: S = ½·(TD(0) + TD(1)), the children's own mean squared TD error.
- **critic barrier [95% CI]**: the critic linear barrier relative to S, cross-fitted over the
  transitions (even ones choose α, odd ones measure it, and the other way round), with the
  interval of the return's linear barrier computed over transitions instead of episodes (the
  same transitions at every α) and counting the noise of S; 1 means the worst interpolated
  critic's error rises above the line between the children's by their own error.
  **critic verdict**: the return verdict's words and rules with the limit `critic_threshold`
  (docs/critic-barrier.md).
- **(saturated)**: every child's return is within episode noise (2 standard errors, or 0.1 %)
  of the task's maximum (InvertedPendulum 1000, InvertedDoublePendulum 9360, per 1000 steps) or
  of the run's best periodic evaluation: the return path cannot tell policies apart there.
- **verdict**, the first rule that applies: `diverged` (a child's weights or losses, or an
  episode's return, became non-finite); `untrained` (no gradient update, or (R_children −
  R_random)/(R_ref − R_random) < 0.5, with R_random the return of the parent's uniform-random
  warm-up episodes and R_ref the task's solved return where known (InvertedPendulum-v5 1000,
  InvertedDoublePendulum-v5 9360, per 1000 steps) or `--solved_return`, else the run's best
  periodic evaluation; or children no better than R_random); `connected` (the barrier interval
  lies below the limit `stability_threshold`·(R_endpoints − R_random), a share of the learned
  return, which a constant added to every return does not change; |endpoint mean| where
  R_random is unknown); `barrier` (it lies above: the gap is at an interior α, since it is 0 at
  both endpoints); `inconclusive` (it straddles). With 3 or more children the interval is that
  of the mean over pairs. The JSON records the limit, its scale and the reference used
  (`barrier_limit`, `barrier_scale_kind`, `progress_reference_kind`).
- **failure rate** (after each fork's verdict below the table): its own verdict on the
  failure-rate barrier, max_α [f(α) − (1−α)·f(0) − α·f(1)] with f the fraction of episodes
  ended by termination: `connected` if its interval lies below `stability_threshold` (a rise
  of that fraction of episodes), `barrier` if above. The interval is exact at any N
  (Clopper–Pearson per α, Bonferroni over α), so it is wide: with no failure at all it reaches
  about 8 % at 100 episodes and 101 α. It sees what the mean return can hide: a path whose mean
  holds while interior episodes fail.
- **fan chart** (bottom of each interp_fork figure, Rahn et al. 2023): per α the 5/25/50/75/95 %
  quantiles of episode returns, CVaR 10 % and the failure rate (episodes ended by termination
  before the time limit).
"""


def _every_pair_lines(run: RunResults) -> list[str]:
    """With 3+ children the verdict reads the mean over pairs, whose interval counts the
    children as a sample and is wide with few of them; each pair's own barrier and verdict (its
    limit a share of its own children's learned return) show whether the pairs agree."""
    lines = []
    for fork in run.fork_results:
        if len(fork.pairs or []) < 2:
            continue
        each = []
        for pair in fork.pairs or []:
            a, b = pair.get("children") or ("?", "?")
            text = f"{a}–{b} " + _judged(
                pair, "linear_barrier_crossfit", "linear_barrier_ci", "verdict"
            )
            if pair.get("critic_barrier") is not None:
                text += ", critic " + _judged(
                    pair, "critic_barrier", "critic_barrier_ci", "critic_verdict"
                )
            each.append(text)
        lines.append(f"- fork {fork.fork_id}, every pair of children: " + "; ".join(each))
    return lines


def _judged(pair: dict[str, Any], value: str, interval: str, verdict: str) -> str:
    """``281.61 [279.10, 283.98] barrier`` from one entry of a fork's ``pairs``."""
    text = estimate_with_interval(pair.get(value), pair.get(interval))
    return f"{text} {pair[verdict]}" if pair.get(verdict) else text


def report_markdown(run: RunResults, figures: Sequence[str]) -> str:
    """The report's text; `figures` are file names in the report's own folder."""
    lines = [
        f"# LMC-RL run: {run.title}",
        "",
        f"Run directory: `{run.results_dir}`",
        "",
        *_training_lines(run),
        "",
        "## Settings",
        "",
        *_settings_lines(run),
        "",
        "## Forks",
        "",
    ]
    if run.fork_results:
        lines += [
            *_evaluation_lines(run),
            "",
            *_saturation_lines(run),
            *_fork_lines(run),
            "",
            *[
                f"- fork {f.fork_id}: **{f.verdict}**: {f.verdict_reason}"
                + (
                    f"; failure rate: **{f.failure_verdict}**: {f.failure_verdict_reason}"
                    if f.failure_verdict
                    else ""
                )
                for f in run.fork_results
                if f.verdict
            ],
            *[
                f"- fork {f.fork_id}, critic: **{f.critic_verdict}**: {f.critic_verdict_reason}"
                for f in run.fork_results
                if f.critic_verdict
            ],
            *_every_pair_lines(run),
            "",
            "### What the columns mean",
            "",
            METRICS_TEXT,
        ]
    else:
        lines.append("This run has no fork points: only its learning curves are shown.")
    lines += ["", "## Figures", ""]
    per_fork = [name for name in figures if name.startswith("interp_fork_")]
    for name in figures:
        if name not in per_fork:
            heading = name.removesuffix(".png").replace("_", " ")
            lines += [f"### {heading}", "", f"![{name}]({name})", ""]
    if per_fork:
        links = ", ".join(f"[{name}]({name})" for name in per_fork)
        lines += ["### each fork's path", "", links, ""]
    return "\n".join(lines).rstrip() + "\n"
