"""Figures of one run and of a comparison of runs.

Conventions, so every figure reads the same at a glance: the title names env, algo, buffer
strategy and seed; a fork's colour is its fork point on viridis (0 = start of training, 1 = end),
explained by a colorbar; legends sit outside the data; layouts are constrained, so nothing is cut
off. Figures are built with `matplotlib.figure.Figure` on the Agg canvas (no pyplot state, no
display needed) and written atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from lmc_rl.analysis.loading import RunResults
from lmc_rl.config.fork_noise import ForkNoise
from lmc_rl.measuring import barrier_stats as bs
from lmc_rl.measuring.fork_result import ForkResult
from lmc_rl.records.atomic_files import atomic_write_bytes
from lmc_rl.records.number_text import estimate_with_interval

FORK_POINT_CMAP: Colormap = colormaps["viridis"]
FORK_POINT_NORM = Normalize(vmin=0.0, vmax=1.0)
ALPHA_LABEL = "α  (0 = child 1, 1 = child 2)"
FORK_POINT_LABEL = "fork point (fraction of training)"
DPI = 130
VERDICT_MARKERS = {
    "connected": ("o", "tab:green"),
    "barrier": ("X", "crimson"),
    "inconclusive": ("D", "tab:orange"),
    "untrained": ("s", "0.5"),
    "diverged": ("*", "black"),
}


def fork_color(fork_point: float) -> tuple[float, float, float, float]:
    """The colour of a fork point, the same in every figure."""
    return FORK_POINT_CMAP(FORK_POINT_NORM(fork_point))


def save_figure(fig: Figure, path: Path) -> Path:
    """Render to PNG in memory, then write atomically (a reader never sees half a file)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _fork_colorbar(owner: FigureBase, axes: Axes | Sequence[Axes]) -> None:
    mappable = ScalarMappable(norm=FORK_POINT_NORM, cmap=FORK_POINT_CMAP)
    owner.colorbar(mappable, ax=axes, label="fork point", location="right", shrink=0.9)


def _finite(values: Sequence[float]) -> np.ndarray:
    """Floats with inf (a normalized instability of a zero-return path) shown as gaps."""
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array), array, np.nan)


def _step_axis(ax: Axes, total_steps: int) -> None:
    """A top axis in env steps for an axis in fork points."""
    top = ax.secondary_xaxis(
        "top", functions=(lambda p: p * total_steps, lambda s: s / total_steps)
    )
    top.set_xlabel("env step", fontsize="small")
    top.tick_params(labelsize="small")
    # 200000 written in full at every fifth of the axis overlaps in a narrow panel: 40k, 80k, ...
    top.xaxis.set_major_formatter(FuncFormatter(_steps_text))
    top.xaxis.set_major_locator(MaxNLocator(nbins=5))


def _steps_text(steps: float, _position: int) -> str:
    """An env step count, short: 0, 500, 40k, 1.5M."""
    if abs(steps) >= 1e6:
        return f"{steps / 1e6:g}M"
    if abs(steps) >= 1e3:
        return f"{steps / 1e3:g}k"
    return f"{steps:g}"


# ---------------------------------------------------------------------------------------------
# axes-level drawings, shared by the single figures and the overview


def draw_learning_curves(ax: Axes, run: RunResults) -> None:
    """Periodic evaluation returns of the parent (black) and every child (fork colour; child 1
    solid, child 2 dashed), with a dotted line at each fork step."""
    evaluations = run.evaluations
    members = run.record.get("members") or {}
    if evaluations.empty:
        ax.text(0.5, 0.5, "no periodic evaluations recorded", ha="center", transform=ax.transAxes)
    for member, rows in evaluations.groupby("member", sort=False):
        rows = rows.sort_values("step")
        info = members.get(member) or {}
        if member == "parent" or "fork_point" not in info:
            ax.plot(rows["step"], rows["mean_return"], color="black", lw=2.2, marker=".", zorder=3)
            continue
        style = {1: "-", 2: "--"}.get(info.get("child"), "-.")
        color = fork_color(info["fork_point"])
        ax.plot(rows["step"], rows["mean_return"], ls=style, color=color, lw=1.4, marker=".")
    # recorded steps, not a --total_steps override: these curves are in the run's own steps
    for fork in run.fork_results:
        ax.axvline(fork.fork_step, color=fork_color(fork.fork_point), ls=":", lw=1)
    last_step = evaluations["step"].max() if len(evaluations) else 0
    ax.set_xlim(0, max(run.config.get("total_steps", 0), last_step) * 1.02)
    ax.set_xlabel("env step")
    ax.set_ylabel("mean evaluation return")
    ax.set_title("learning curves")
    ax.grid(alpha=0.3)


def learning_curve_handles(children: int) -> list[Line2D]:
    """Legend of ``draw_learning_curves``: "child 3+" only where a fork has three or more."""
    handles = [
        Line2D([], [], color="black", lw=2.2, label="parent"),
        Line2D([], [], color="grey", ls="-", label="child 1"),
        Line2D([], [], color="grey", ls="--", label="child 2"),
    ]
    if children > 2:
        handles.append(Line2D([], [], color="grey", ls="-.", label="child 3+"))
    return [*handles, Line2D([], [], color="grey", ls=":", label="fork step")]


def barrier_handles(forks: Sequence[ForkResult], critic: bool = False) -> list[Line2D]:
    """Legend of ``_barrier_with_interval``'s markers: one entry per verdict drawn (with
    ``critic``, also those ``draw_critic_barrier`` drew, which share the markers)."""
    drawn = {f.verdict or "" for f in forks if f.barrier_estimate is not None}
    if critic:
        drawn |= {f.critic_verdict or "" for f in forks if f.critic_barrier_estimate is not None}
    confidence = (forks[0].evaluation or {}).get("confidence") if forks else None
    ci = bs.interval_label(confidence or bs.CONFIDENCE)
    # the critic's intervals can be at another confidence (see the report): name the verdict only
    what = "verdict: {} (estimate, interval)" if critic else f"linear barrier, {ci}: {{}}"
    return [
        Line2D([], [], color=c, marker=m, ls="", label=what.format(v))
        for v, (m, c) in VERDICT_MARKERS.items()
        if v in drawn
    ] + (
        [Line2D([], [], color="0.5", marker="o", ls="", label=f"linear barrier, {ci}")]
        if drawn - set(VERDICT_MARKERS)
        else []
    )


def draw_interpolation(
    ax: Axes, fork: ForkResult, band: bool = True, band_label: str | None = None, **line: Any
) -> None:
    """Mean return along the path of one fork, with its 95% CI band."""
    if fork.diverged:  # no path was evaluated: say why instead of drawing nothing
        names = ", ".join(fork.diverged)
        ax.text(
            0.5,
            0.5,
            f"diverged:\n{names}",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="tab:red",
        )
        ax.set_xlim(-0.02, 1.02)
        return
    path = pd.DataFrame(fork.interpolation)
    color = line.pop("color", None) or fork_color(fork.fork_point)
    marker = "o" if len(path) <= 21 else None
    ax.plot(path["alpha"], path["mean_reward"], color=color, marker=marker, ms=3, **line)
    if band and {"ci95_low", "ci95_high"} <= set(path.columns):
        ax.fill_between(
            path["alpha"],
            path["ci95_low"],
            path["ci95_high"],
            color=color,
            alpha=0.25,
            lw=0,
            label=band_label,
        )
    ax.set_xlim(-0.02, 1.02)  # a margin, so a minimum at an endpoint is not clipped
    ax.grid(alpha=0.3)


def draw_threshold(ax: Axes, threshold: float) -> Line2D:
    """The threshold on the prototype's normalized instability: red dotted, named as the
    prototype's naive rule (no interval), so it is never read as the verdict."""
    return ax.axhline(
        threshold,
        color="crimson",
        ls=":",
        lw=1,
        label=f"prototype's naive rule: stable if ≤ {threshold:g}",
    )


def draw_limit(ax: Axes, threshold: float) -> Line2D:
    """The verdict's limit on a barrier divided by its scale (the learned return): red dashed;
    an interval wholly below it is "connected", wholly above it "barrier"."""
    return ax.axhline(
        threshold,
        color="crimson",
        ls="--",
        lw=1,
        label=f"verdict's limit {threshold:g}: connected below, barrier above",
    )


def draw_metric_by_fork_point(
    ax: Axes,
    fork_points: Sequence[float],
    values: Sequence[float],
    ylabel: str,
    threshold: float | None = None,
) -> None:
    """A per-fork metric against fork point: grey line, one dot per fork in its colour; the
    y axis starts at 0 (these metrics are barriers, never negative)."""
    points = np.asarray(fork_points, dtype=float)
    y = _finite(values)
    ax.plot(points, y, color="0.6", lw=1, zorder=1)
    ax.scatter(points, y, c=[fork_color(p) for p in points], s=40, edgecolor="black", zorder=2)
    if threshold is not None:  # named in the axis label: a legend could cover a point
        draw_threshold(ax, threshold)
        ylabel = f"{ylabel}\n(red dotted: prototype's naive rule ≤ {threshold:g})"
    shown = np.append(y[np.isfinite(y)], threshold or 0.0)
    if shown.min() >= 0:
        ax.set_ylim(0, shown.max() * 1.1 if shown.max() > 0 else 1.0)
    ax.set_xlim(0, 1)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _fork_label(run: RunResults, fork: ForkResult) -> str:
    return f"fork {fork.fork_id}: point {fork.fork_point:g}, step {run.fork_step(fork)}"


def draw_return_fan(ax: Axes, fork: ForkResult) -> None:
    """The distribution of episode returns along the path (Rahn et al. 2023): 5–95 % and
    25–75 % bands, median, CVaR 10 %, and the failure rate on a right axis."""
    path = pd.DataFrame(fork.interpolation)
    if "q05" not in path.columns or path["q05"].isna().all():
        ax.text(
            0.5,
            0.5,
            "no per-episode quantiles recorded (an older evaluation)",
            ha="center",
            transform=ax.transAxes,
        )
        return
    alpha = path["alpha"]
    ax.fill_between(
        alpha, path["q05"], path["q95"], color="tab:blue", alpha=0.15, lw=0, label="5–95 %"
    )
    ax.fill_between(
        alpha, path["q25"], path["q75"], color="tab:blue", alpha=0.3, lw=0, label="25–75 %"
    )
    ax.plot(alpha, path["q50"], color="tab:blue", lw=1.5, label="median")
    ax.plot(alpha, path["cvar10"], color="crimson", lw=1.5, ls="--", label="CVaR 10 %")
    if "failure_rate" in path.columns and path["failure_rate"].notna().any():
        right = ax.twinx()
        right.plot(
            alpha, path["failure_rate"], color="0.3", lw=1, ls=":", marker=".", label="failure rate"
        )
        right.set_ylim(-0.05, 1.12)  # a rate of 1.0 stays clear of the frame
        right.set_ylabel("failure rate (terminated)", fontsize="small")
        handles, labels = right.get_legend_handles_labels()
    else:
        handles, labels = [], []
    h, lab = ax.get_legend_handles_labels()
    ax.legend(h + handles, lab + labels, fontsize="x-small", loc="best")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)


# ---------------------------------------------------------------------------------------------
# figures of one run


def interpolation_figure(run: RunResults, fork: ForkResult) -> Figure:
    """One fork's path. Top: mean return against alpha with its 95 % band, the straight line
    between the endpoints (the linear baseline), the minimum, and the linear barrier's
    estimate with its interval drawn below the baseline at its alpha. Bottom: the fan chart of
    episode returns. The title states the barrier, its interval and the verdict."""
    fig = Figure(figsize=(7.5, 7.5), layout="constrained")
    ax, fan_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1.4, 1])
    draw_interpolation(ax, fork, label="mean return", band_label="95% CI of the mean")
    if fork.diverged or fork.instability is None:  # no barrier was measured: say why
        why = "not evaluated: a child diverged" if fork.diverged else fork.verdict_reason
        ax.set_title(f"{_fork_label(run, fork)} · verdict: {fork.verdict}\n{why}", fontsize="small")
        fan_ax.set_axis_off()
        fig.suptitle(run.title)
        return fig
    ax.axhline(fork.endpoint_mean_reward, color="0.3", ls="--", lw=1, label="mean of the endpoints")
    ax.plot(
        [0, 1], [fork.fork1_reward, fork.fork2_reward], color="black", lw=1, label="linear baseline"
    )
    ax.plot(fork.min_alpha, fork.min_reward, "v", color="crimson", ms=9, label="minimum on path")
    if fork.linear_barrier_alpha is not None and fork.linear_barrier_ci:
        a = fork.linear_barrier_alpha
        base = (1 - a) * fork.fork1_reward + a * fork.fork2_reward
        low, high = fork.linear_barrier_ci
        if low is not None and high is not None and np.isfinite([low, high]).all():
            estimate = fork.linear_barrier_crossfit
            ax.errorbar(
                a,
                base - estimate,
                yerr=[[high - estimate], [estimate - low]],
                fmt="_",
                color="darkorange",
                capsize=6,
                lw=2,
                ms=14,
                label="baseline − linear barrier, 95% CI",
            )
    ax.set_ylabel(f"mean return ({fork.num_eval_episodes or '?'} episodes)")
    verdict = fork.verdict or (
        "– (prototype's naive rule: " + ("stable)" if fork.is_stable else "unstable)")
    )
    many = (
        f", mean over {len(fork.pairs)} pairs "
        + estimate_with_interval(fork.pair_mean_linear_barrier, fork.pair_mean_linear_barrier_ci)
        if fork.pairs and len(fork.pairs) > 1
        else ""
    )
    barrier = (
        "linear barrier "
        + estimate_with_interval(fork.linear_barrier_crossfit, fork.linear_barrier_ci)
        if fork.linear_barrier_crossfit is not None
        else "linear barrier –"
    )
    limit = f" (limit {fork.barrier_limit:.3g})" if fork.barrier_limit is not None else ""
    ax.set_title(
        f"{_fork_label(run, fork)} · verdict: {verdict}\n{barrier}{limit}{many}\n"
        f"prototype's naive instability {fork.instability:.3g} "
        f"(normalized {fork.normalized_instability:.3g})",
        fontsize="small",
    )
    ax.legend(fontsize="x-small", loc="best")
    draw_return_fan(fan_ax, fork)
    fan_ax.set_xlabel(ALPHA_LABEL)
    fan_ax.set_title("episode returns along the path", fontsize="small")
    fig.suptitle(run.title)
    return fig


def all_interpolations_figure(run: RunResults) -> Figure:
    """Every fork's path on one axis, coloured by fork point."""
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    bands = len(run.fork_results) <= 4  # more bands than that hide each other
    for fork in run.fork_results:
        draw_interpolation(ax, fork, band=bands, lw=1.6)
    ax.set_xlabel(ALPHA_LABEL)
    ax.set_ylabel("mean return")
    what = "with 95% CI bands" if bands else "(CI bands: see interp_fork_*.png)"
    ax.set_title(f"{run.title}\ninterpolation paths of all forks {what}", fontsize="medium")
    _fork_colorbar(fig, ax)
    return fig


def _value(x: float | None) -> float:
    """None (a diverged fork) as NaN, which plots as a gap."""
    return float("nan") if x is None else float(x)


def _barrier_with_interval(
    ax: Axes, forks: Sequence[ForkResult], scale: bool, threshold: float | None = None
) -> None:
    """The linear barrier of every fork with its interval (the verdict's: all pairs with 3+
    children), marker and colour by verdict; divided by the verdict's scale (the learned
    return, else |endpoint mean|) when ``scale``."""
    for fork in forks:
        interval, estimate = fork.barrier_interval, fork.barrier_estimate
        marker, color = VERDICT_MARKERS.get(fork.verdict or "", ("o", "0.5"))
        if estimate is None or not interval or None in interval:
            continue
        div = _verdict_scale(fork) if scale else 1.0
        if not div > 0:
            continue
        low, high = interval[0] / div, interval[1] / div
        value = estimate / div
        ax.errorbar(
            fork.fork_point + 0.008,
            value,
            yerr=[[value - low], [high - value]],
            fmt=marker,
            color=color,
            ms=7,
            capsize=4,
            zorder=3,
        )


def draw_critic_barrier(ax: Axes, run: RunResults) -> None:
    """The relative critic barrier of every fork with its interval, marker and colour by
    the critic verdict, and the critic threshold (red dashed); a note where none was measured.
    Early forks' barriers can be a hundred times the threshold and late ones near it: then the
    axis is linear within the threshold and logarithmic beyond, so both can be read."""
    forks = [f for f in run.fork_results if f.critic_barrier_estimate is not None]
    if not forks:
        ax.text(0.5, 0.5, "no critic barrier recorded", ha="center", transform=ax.transAxes)
        ax.set_yticks([])
        ax.set_xlim(0, 1)
        return
    points = [f.fork_point for f in forks]
    estimates = [_value(f.critic_barrier_estimate) for f in forks]
    ax.plot(points, estimates, color="0.6", lw=1, zorder=1)
    for fork, estimate in zip(forks, estimates, strict=True):
        marker, color = VERDICT_MARKERS.get(fork.critic_verdict or "", ("o", "0.5"))
        low, high = (_value(v) for v in (fork.critic_barrier_interval or (None, None)))
        ax.errorbar(
            fork.fork_point,
            estimate,
            yerr=[[max(estimate - low, 0.0)], [max(high - estimate, 0.0)]]
            if np.isfinite([low, high]).all()
            else None,
            fmt=marker,
            color=color,
            ms=7,
            capsize=4,
            zorder=3,
        )
    threshold = forks[0].critic_threshold
    ylabel = "critic barrier\n(TD error rise / children's)"
    if threshold is not None:
        ax.axhline(threshold, color="crimson", ls="--", lw=1)
        ylabel += f"\n(red dashed: connected < {threshold:g})"
        ends = [_value(v) for f in forks for v in (f.critic_barrier_interval or ())]
        ends = [v for v in ends + estimates if np.isfinite(v)]
        reach = max((abs(v) for v in ends), default=0.0)
        if threshold > 0 and reach > 10 * threshold:
            ax.set_yscale("symlog", linthresh=threshold)
            # symlog's autoscale leaves the farthest caps outside: a margin by hand
            ax.set_ylim(min(*ends, 0.0) * 1.5 - threshold, max(*ends, 0.0) * 1.5 + threshold)
            ylabel += f"\n(linear within ±{threshold:g}, log beyond)"
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _verdict_scale(fork: ForkResult) -> float:
    """What the verdict divides a barrier by: the learned return, else |endpoint mean|."""
    if fork.barrier_scale is not None:
        return float(fork.barrier_scale)
    return abs(fork.endpoint_mean_reward or 0.0)


def _barrier_on_scale_panel(ax: Axes, forks: Sequence[ForkResult], threshold: float | None):
    """The verdict's panel: each fork's linear barrier / scale with its interval, marked by
    verdict, the limit, and the verdict written upright above each fork (forks 0.04 apart, as
    the default 0.01 and 0.05 are, would overlap written across)."""
    _barrier_with_interval(ax, forks, scale=True)
    if threshold is not None:
        draw_limit(ax, threshold)
    for fork in forks:
        estimate = fork.barrier_estimate
        if fork.verdict and estimate is not None and _verdict_scale(fork) > 0:
            ax.annotate(
                fork.verdict,
                (fork.fork_point, estimate / _verdict_scale(fork)),
                textcoords="offset points",
                xytext=(0, 8),
                fontsize="x-small",
                rotation=90,
                ha="center",
                va="bottom",
            )
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylabel("linear barrier / learned return\n(the verdict's scale)")
    ax.grid(alpha=0.3)


def instability_figure(run: RunResults) -> Figure:
    """Against fork point. Top, what the verdict reads: the linear barrier on the verdict's
    scale with its interval, marked by verdict, and the limit. Middle, in return units:
    the same barrier and, grey, the prototype's naive instability B (no interval). Bottom, the
    critic's relative TD-error barrier with its interval and verdict."""
    fig = Figure(figsize=(8, 9.5), layout="constrained")
    verdict_ax, raw_ax, critic_ax = fig.subplots(3, 1, sharex=True)
    forks = run.fork_results
    points = [f.fork_point for f in forks]
    threshold = run.config.get("stability_threshold")
    _barrier_on_scale_panel(verdict_ax, forks, threshold)
    _step_axis(verdict_ax, run.total_steps)
    draw_metric_by_fork_point(
        raw_ax, points, [_value(f.instability) for f in forks], "barrier (return)"
    )
    _barrier_with_interval(raw_ax, forks, scale=False)
    raw_ax.set_ylim(auto=True)
    raw_ax.relim()
    raw_ax.autoscale_view()
    draw_critic_barrier(critic_ax, run)
    handles = barrier_handles(forks, critic=True)
    if threshold is not None:
        handles.append(Line2D([], [], color="crimson", ls="--", label="the verdict's limit"))
    handles.append(Line2D([], [], color="0.6", marker="o", label="prototype's naive instability B"))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small")
    critic_ax.set_xlabel(FORK_POINT_LABEL)
    if any(f.saturated for f in forks):
        verdict_ax.set_title(
            "returns at the ceiling (saturated) at fork point "
            + ", ".join(f"{f.fork_point:g}" for f in forks if f.saturated)
            + ": read the critic barrier (bottom)",
            fontsize="small",
            color="crimson",
        )
    fig.suptitle(f"{run.title}\nverdict and barriers over training", fontsize="medium")
    _fork_colorbar(fig, [verdict_ax, raw_ax, critic_ax])
    return fig


def overview_figure(run: RunResults) -> Figure:
    """Everything about a run side by side: learning curves, each fork's path in a grid of
    small panels, instability (raw, normalized) and the critic's barrier against fork point."""
    forks = run.fork_results
    if not forks:
        fig = Figure(figsize=(8, 5), layout="constrained")
        ax = fig.subplots()
        draw_learning_curves(ax, run)
        ax.set_title("learning curve of the parent")
        fig.suptitle(f"{run.title}\n(no forks in this run)", fontsize="medium")
        return fig
    fig = Figure(figsize=(21, 7.5), layout="constrained")
    left, middle, right = fig.subfigures(1, 3, width_ratios=[1.25, 1.45, 1.0], wspace=0.02)

    draw_learning_curves(left.subplots(), run)
    children = int(run.config.get("children") or 2)
    left.legend(handles=learning_curve_handles(children), loc="outside lower center", ncols=4)

    ncols = math.ceil(math.sqrt(len(forks)))
    nrows = math.ceil(len(forks) / ncols)
    grid = np.atleast_1d(middle.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False))
    for ax, fork in zip(grid.flat, forks, strict=False):
        draw_interpolation(ax, fork, lw=1.4)
        if fork.diverged or fork.instability is None:
            ax.set_title(f"point {fork.fork_point:g} · {fork.verdict}", fontsize="small")
            continue
        ax.axhline(fork.endpoint_mean_reward, color="0.3", ls="--", lw=0.8)
        ax.plot([0, 1], [fork.fork1_reward, fork.fork2_reward], color="black", lw=0.8)
        ax.set_title(  # two short lines: a grid of up to four panels side by side
            f"point {fork.fork_point:g}"
            + (f" · {fork.verdict}" if fork.verdict else "")
            + (" (saturated)" if fork.saturated else "")
            + "\n"
            + (f"critic {fork.critic_verdict} · " if fork.critic_verdict else "")
            + f"naive B {fork.instability:.3g}",
            fontsize="small" if ncols < 4 else "x-small",
            color="black",
        )
        ax.tick_params(labelsize="small")
    for ax in grid.flat[len(forks) :]:
        ax.set_axis_off()
    for i, ax in enumerate(grid.flat):
        ax.label_outer()
        if len(forks) - ncols <= i < len(forks):  # nothing below it: show its alpha ticks
            ax.xaxis.set_tick_params(labelbottom=True)
    middle.suptitle(
        "interpolation paths (band: 95% CI, dashed: endpoints' mean, black: linear baseline)"
    )
    middle.supxlabel(ALPHA_LABEL)
    middle.supylabel("mean return")

    norm_ax, raw_ax, critic_ax = right.subplots(3, 1, sharex=True)  # the verdict's panel first
    points = [f.fork_point for f in forks]
    _barrier_on_scale_panel(norm_ax, forks, run.config.get("stability_threshold"))
    draw_metric_by_fork_point(
        raw_ax, points, [_value(f.instability) for f in forks], "barrier (return)\ngrey: naive B"
    )
    _barrier_with_interval(raw_ax, forks, scale=False)
    raw_ax.set_ylim(auto=True)
    raw_ax.relim()
    raw_ax.autoscale_view()
    plug_in = Line2D([], [], color="0.6", marker="o", label="prototype's naive instability B")
    raw_ax.legend(handles=[plug_in, *barrier_handles(forks)], fontsize="x-small", loc="best")
    _step_axis(norm_ax, run.total_steps)
    draw_critic_barrier(critic_ax, run)
    critic_ax.set_xlabel(FORK_POINT_LABEL)
    right.suptitle("verdict and barriers against fork point")
    _fork_colorbar(right, [raw_ax, norm_ax, critic_ax])

    fig.suptitle(f"{run.title} · {run.total_steps} steps", fontsize="x-large")
    return fig


# ---------------------------------------------------------------------------------------------
# comparison of runs


# panels of the comparison: aggregate.csv's mean column, its CI prefix, the forks frame's
# column of one seed, the y label, and whether the metric is never negative
COMPARISON_PANELS = (
    ("instability_mean", "instability", "instability", "instability (return)", True),
    (
        "normalized_instability_mean",
        "normalized",
        "normalized_instability",
        "normalized instability",
        True,
    ),
    (
        "linear_barrier_crossfit_mean",
        "linear_barrier_crossfit",
        "barrier_estimate",
        "linear barrier\n(cross-fitted)",
        False,  # an estimate of a barrier that is 0 can be below 0
    ),
    (
        "critic_barrier_mean",
        "critic_barrier",
        "critic_barrier_estimate",
        "critic barrier\n(relative, cross-fitted)",
        False,
    ),
)


def strategy_comparison_figure(
    aggregate: pd.DataFrame, forks: pd.DataFrame, env: str, algo: str
) -> Figure:
    """Mean instability and linear barrier over seeds with their bootstrap 95% CI bands against
    fork point, one colour per buffer strategy (and fork noise, where runs differ in it); small
    dots are the seeds themselves, so a handful of seeds is not hidden behind a band."""
    rows = aggregate[(aggregate["env"] == env) & (aggregate["algo"] == algo)]
    seeds = forks[(forks["env"] == env) & (forks["algo"] == algo)]
    several_noises = rows["fork_noise"].nunique() > 1
    fig = Figure(figsize=(9, 2.6 * len(COMPARISON_PANELS)), layout="constrained")
    axes = fig.subplots(len(COMPARISON_PANELS), 1, sharex=True)
    palette = colormaps["tab10"]
    groups = rows.groupby(["fork_buffer_strategy", "fork_noise"], sort=True)
    for i, ((strategy, noise), group) in enumerate(groups):
        dodge = (i - (groups.ngroups - 1) / 2) * 0.006  # seeds of strategies side by side
        group = group.sort_values("fork_point")
        mine = seeds[(seeds["fork_buffer_strategy"] == strategy) & (seeds["fork_noise"] == noise)]
        low, high = int(group["n_seeds"].min()), int(group["n_seeds"].max())
        n = f"{low}" if low == high else f"{low}–{high}"
        noise_text = f", noise {ForkNoise.parse(noise).label}" if several_noises else ""
        label = f"{strategy}{noise_text} (n={n})"
        color = palette(i % 10)
        for ax, (mean, ci, one_seed, _, _) in zip(axes, COMPARISON_PANELS, strict=True):
            x = group["fork_point"]
            ci_low, ci_high = _finite(group[f"{ci}_ci_low"]), _finite(group[f"{ci}_ci_high"])
            ax.plot(x, _finite(group[mean]), color=color, marker="o", label=label)
            ax.fill_between(x, ci_low, ci_high, color=color, alpha=0.2, lw=0)
            ax.vlines(x, ci_low, ci_high, color=color, lw=1, alpha=0.7)  # where no band joins
            ax.scatter(
                mine["fork_point"] + dodge, _finite(mine[one_seed]), color=color, s=10, alpha=0.6
            )
    threshold_lines = [
        draw_threshold(axes[1], float(t))
        for t in sorted(seeds["stability_threshold"].dropna().unique())  # one, unless mixed
    ]
    for ax, (mean, _, _, ylabel, non_negative) in zip(axes, COMPARISON_PANELS, strict=True):
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, 1)
        if non_negative:
            ax.set_ylim(bottom=0)
        else:
            ax.axhline(0.0, color="0.3", lw=0.8)
        if not np.isfinite(_finite(rows[mean])).any():
            ax.text(0.5, 0.5, "not recorded", ha="center", transform=ax.transAxes)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(FORK_POINT_LABEL)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", marker="o", ms=3, ls="", alpha=0.6))
    labels.append("one seed")
    handles += threshold_lines
    labels += [line.get_label() for line in threshold_lines]
    fig.legend(handles, labels, loc="outside right center", title="buffer strategy")
    fig.suptitle(
        f"{env} · {algo}: instability and linear barrier by buffer strategy\n"
        "line: mean over seeds, band and bars: bootstrap 95% CI, dots: seeds",
        fontsize="medium",
    )
    return fig
