"""The learning-quality report: per-run numbers, summaries across seeds, IQM intervals and
P(ours > SB3), learning curves, as markdown, CSV and a plot, from finished runs only.

Why apart: a report is redrawn from the kept runs (``--report``) without training anything, and
its files must come out the same bit for bit; it reads runs, never starts one.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import rl_stats
from learning_quality_suite import (
    ENV_MAX_RETURN,
    IMPLEMENTATIONS,
    SOLVED_FRACTION,
    SUITES,
    RunResult,
    experiment_id,
)
from tables import markdown_table, write_csv

MIN_RUNS_FOR_INTERVAL = 2  # bootstrap intervals and P(ours > SB3) need two runs a side


def cut_at_step(results: Sequence[RunResult], step: int) -> list[RunResult]:
    """Every curve cut at ``step`` (its final return is the one at ``step``), leaving out the
    runs that have not reached it: a comparison at a common budget. Wall times are left out
    (NaN): a run cut short did not take them for the budget compared, and a table mixing the
    two would average unlike times."""
    cut = []
    for r in results:
        if step in r.steps:
            n = r.steps.index(step) + 1
            job = dataclasses.replace(r.job, total_steps=step)  # tables show the budget compared
            cut.append(RunResult(job, r.steps[:n], r.returns[:n], float("nan"), r.error))
    return cut


def solved_step(result: RunResult) -> int | None:
    """First evaluation step whose mean return reached 95% of the task's maximum."""
    threshold = SOLVED_FRACTION * ENV_MAX_RETURN.get(result.job.env, float("inf"))
    return next(
        (s for s, r in zip(result.steps, result.returns, strict=True) if r >= threshold), None
    )


def run_row(result: RunResult) -> dict:
    """Per-seed numbers of one run."""
    job = result.job
    ok = bool(result.returns) and result.error is None
    return {
        "env": job.env,
        "algo": job.algo,
        "impl": job.impl,
        "seed": job.seed,
        "total_steps": job.total_steps,
        "final": result.returns[-1] if ok else float("nan"),
        "best": max(result.returns) if ok else float("nan"),
        "auc": statistics.fmean(result.returns) if ok else float("nan"),
        "solved_step": solved_step(result) if ok else None,
        "n_evals": len(result.returns),
        "wall_s": result.wall_s,
        "threads": result.threads,
        "error": result.error.strip().splitlines()[-1] if result.error else "",
    }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) across seeds."""
    values = [v for v in values if v == v]  # drop NaN from failed runs
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summary_rows(runs: list[dict]) -> list[dict]:
    """One row per (env, algo, impl), in the suite's order, ours before SB3."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in runs:
        groups.setdefault((row["env"], row["algo"], row["impl"]), []).append(row)
    summary = []
    for (env, algo, impl), rows in groups.items():
        rows = sorted(rows, key=lambda r: r["seed"])
        out = {"env": env, "algo": algo, "impl": impl, "steps": rows[0]["total_steps"]}
        out["seeds"] = len(rows)
        out["failed"] = sum(bool(r["error"]) for r in rows)
        for key in ("final", "best", "auc", "wall_s"):
            out[f"{key}_mean"], out[f"{key}_std"] = mean_std([r[key] for r in rows])
        out["solved_steps"] = (
            " ".join("never" if r["solved_step"] is None else str(r["solved_step"]) for r in rows)
            if env in ENV_MAX_RETURN
            else "n/a (no known maximum)"
        )
        out["final_per_seed"] = " ".join(f"{r['final']:.1f}" for r in rows)
        summary.append(out)
    return summary


def summary_markdown(summary: list[dict]) -> str:
    """The summary as a markdown table (also what is printed)."""

    def pm(row: dict, key: str, digits: int = 1) -> str:
        if math.isnan(row[f"{key}_mean"]):
            return "n/a"
        return f"{row[f'{key}_mean']:.{digits}f} ± {row[f'{key}_std']:.{digits}f}"

    header = [
        "env",
        "algo",
        "impl",
        "steps",
        "seeds",
        "final return",
        "best return",
        "AUC (mean eval)",
        "step to 95% (per seed)",
        "final (per seed)",
        "wall s/run",
    ]
    body = []
    for row in summary:
        seeds = f"{row['seeds']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        cells = [
            row["env"],
            row["algo"],
            row["impl"],
            str(row["steps"]),
            seeds,
            pm(row, "final"),
            pm(row, "best"),
            pm(row, "auc"),
            row["solved_steps"],
            row["final_per_seed"],
            pm(row, "wall_s", 0),
        ]
        body.append(cells)
    return markdown_table(header, body)


def curve_rows(results: list[RunResult]) -> list[dict]:
    """Every evaluation of every run, long format, for plotting learning curves."""
    return [
        {
            **asdict(r.job),
            "hidden_dims": ",".join(map(str, r.job.hidden_dims)),
            "step": s,
            "mean_return": v,
        }
        for r in results
        for s, v in zip(r.steps, r.returns, strict=True)
    ]


def experiment_groups(runs: list[dict]) -> dict[tuple[str, str], dict[str, list[dict]]]:
    """The finished runs by (env, algo), then by implementation."""
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for row in runs:
        if not row["error"]:
            groups.setdefault((row["env"], row["algo"]), {}).setdefault(row["impl"], []).append(row)
    return groups


def interval_rows(runs: list[dict]) -> list[dict]:
    """Per (env, algo): each implementation's IQM of final and AUC returns with 95 %
    bootstrap intervals, and the probability that a run of ours beats a run of SB3."""
    rows = []
    for (env, algo), by_impl in experiment_groups(runs).items():
        out: dict = {"env": env, "algo": algo}
        for impl in IMPLEMENTATIONS:
            for key in ("final", "auc"):
                values = [r[key] for r in by_impl.get(impl, [])]
                out[f"{impl}_{key}_n"] = len(values)
                stats = rl_stats.iqm_with_interval(values) if values else (float("nan"),) * 3
                if len(values) < MIN_RUNS_FOR_INTERVAL:  # resampling one run says nothing
                    stats = (stats[0], float("nan"), float("nan"))
                out[f"{impl}_{key}_iqm"], out[f"{impl}_{key}_lo"], out[f"{impl}_{key}_hi"] = stats
        for key in ("final", "auc"):
            ours = [r[key] for r in by_impl.get("ours", [])]
            sb3 = [r[key] for r in by_impl.get("sb3", [])]
            stats = (
                rl_stats.improvement_with_interval(ours, sb3)
                if min(len(ours), len(sb3)) >= MIN_RUNS_FOR_INTERVAL
                else (float("nan"),) * 3
            )
            out[f"p_ours_beats_sb3_{key}"], out[f"p_{key}_lo"], out[f"p_{key}_hi"] = stats
        rows.append(out)
    return rows


def pooled_rows(runs: list[dict]) -> list[dict]:
    """P(ours > SB3) averaged over the experiments with two runs or more a side (named in the
    row), for final and AUC returns, with its stratified-bootstrap interval (rliable's
    aggregate): a gap too small for any one experiment's interval may show when they are
    pooled. Empty below two such experiments."""
    tasks = {
        f"{algo} {env}": by_impl
        for (env, algo), by_impl in experiment_groups(runs).items()
        if min(len(by_impl.get(impl, [])) for impl in IMPLEMENTATIONS) >= MIN_RUNS_FOR_INTERVAL
    }
    if len(tasks) < 2:
        return []
    rows = []
    for key in ("final", "auc"):
        pairs = [
            tuple([r[key] for r in t[impl]] for impl in IMPLEMENTATIONS) for t in tasks.values()
        ]
        p, lo, hi = rl_stats.average_improvement_with_interval(pairs)
        row = {"metric": key, "experiments": "; ".join(tasks), "p_ours_beats_sb3": p}
        rows.append({**row, "p_lo": lo, "p_hi": hi})
    return rows


def pooled_markdown(rows: list[dict]) -> str:
    """One sentence under the interval table; empty if nothing is pooled."""
    if not rows:
        return ""
    parts = [
        f"{'AUC' if r['metric'] == 'auc' else r['metric']} {r['p_ours_beats_sb3']:.2f} "
        f"[{r['p_lo']:.2f}, {r['p_hi']:.2f}]"
        for r in rows
    ]
    return (
        f"\nPooled over {rows[0]['experiments']} (P averaged over these experiments, runs "
        f"resampled within each experiment and implementation): P(ours > SB3) "
        f"{'; '.join(parts)}.\n"
    )


def intervals_markdown(rows: list[dict]) -> str:
    """The interval table: IQM [95 % CI] per implementation, P(ours > SB3) [95 % CI]."""

    def cell(row: dict, prefix: str, digits: int = 0) -> str:
        value, lo, hi = (row[f"{prefix}_{k}"] for k in ("iqm", "lo", "hi"))
        if math.isnan(lo):
            return f"{value:.{digits}f} [no interval: {row[prefix + '_n']} run]"
        return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    def p_cell(row: dict, key: str) -> str:
        if math.isnan(row[f"p_ours_beats_sb3_{key}"]):
            return f"n/a (needs {MIN_RUNS_FOR_INTERVAL} runs a side)"
        return (
            f"{row[f'p_ours_beats_sb3_{key}']:.2f} "
            f"[{row[f'p_{key}_lo']:.2f}, {row[f'p_{key}_hi']:.2f}]"
        )

    header = [
        "env",
        "algo",
        "runs (ours / SB3)",
        "final IQM, ours",
        "final IQM, SB3",
        "P(ours > SB3), final",
        "AUC IQM, ours",
        "AUC IQM, SB3",
        "P(ours > SB3), AUC",
    ]
    body = []
    for row in rows:
        cells = [
            row["env"],
            row["algo"],
            f"{row['ours_final_n']} / {row['sb3_final_n']}",
            cell(row, "ours_final"),
            cell(row, "sb3_final"),
            p_cell(row, "final"),
            cell(row, "ours_auc"),
            cell(row, "sb3_auc"),
            p_cell(row, "auc"),
        ]
        body.append(cells)
    return markdown_table(header, body)


def plot_curves(results: list[RunResult], path: Path) -> None:
    """Learning curves per (env, algo): the IQM across seeds at each evaluation step, with a
    95 % bootstrap band, ours and SB3 on the same axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    experiments = sorted({(r.job.env, r.job.algo) for r in results if r.returns})
    if not experiments:
        return
    fig, axes = plt.subplots(
        1, len(experiments), figsize=(5 * len(experiments), 3.8), squeeze=False
    )
    for ax, (env, algo) in zip(axes[0], experiments, strict=True):
        for impl, color in zip(IMPLEMENTATIONS, ("tab:blue", "tab:orange"), strict=True):
            runs = [
                r
                for r in results
                if r.returns and (r.job.env, r.job.algo, r.job.impl) == (env, algo, impl)
            ]
            if not runs:
                continue
            length = min(len(r.returns) for r in runs)
            steps = np.asarray(runs[0].steps[:length])
            curves = np.array([r.returns[:length] for r in runs])  # [seeds, evaluations]
            centre, low, high = rl_stats.iqm_curve_with_band(curves, reps=2000)
            seeds = f"{len(runs)} seed{'s' * (len(runs) != 1)}"
            label = f"{'lmc-rl' if impl == 'ours' else 'SB3'} ({seeds})"
            ax.plot(steps, centre, color=color, label=label)
            ax.fill_between(steps, low, high, color=color, alpha=0.2, lw=0)
        ax.set_title(f"{algo} {env}")
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")
        ax.set_ylabel("eval return (IQM, 95% CI)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def seed_label(seeds: Sequence[int]) -> str:
    """Seeds as runs of consecutive numbers for a file name: 1-7, 1-5+8, 6+9."""
    ordered = sorted(set(seeds))
    runs: list[list[int]] = []
    for seed in ordered:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return "+".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def output_stem(
    out: Path,
    suite: str,
    *,
    seeds: Sequence[int] | None = None,
    only: Sequence[str] | None = None,
    implementations: Sequence[str] | None = None,
    at_step: int | None = None,
    squash_epsilon: float = 0.0,
    total_steps: int | None = None,
) -> Path:
    """Where a report's files go. Only the suite's own selection (its seeds, experiments and
    both implementations, at its budget) writes the suite's tables; any other selection, a
    comparison at a common step or ours with another ``--squash_epsilon`` gets a name of its
    own, so a report never replaces another one's files."""
    own = SUITES[suite]
    stem = f"learning_quality_{suite}"
    if total_steps is not None:
        stem += f"_{total_steps}steps"
    if seeds is not None and sorted(set(seeds)) != sorted(own.seeds):
        stem += f"_seeds{seed_label(seeds)}"
    chosen = [
        f"{a}-{e}" for a, e, _ in own.experiments if only is None or experiment_id(a, e) in only
    ]
    if len(chosen) < len(own.experiments):
        stem += "_" + "+".join(chosen)
    if implementations is not None and set(implementations) != set(IMPLEMENTATIONS):
        stem += "_" + "+".join(i for i in IMPLEMENTATIONS if i in implementations)
    if at_step is not None:
        stem += f"_at{at_step}"
    if squash_epsilon:
        stem += f"_eps{squash_epsilon:g}"
    return out / stem


def write_outputs(stem: Path, suite: str, results: list[RunResult], header: str) -> str:
    """Write summary (CSV, markdown), per-run and per-evaluation CSVs as ``stem``_*; return
    the markdown."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    order = {(a, e): i for i, (a, e, _) in enumerate(SUITES[suite].experiments)}
    results = sorted(
        results,
        key=lambda r: (
            order.get((r.job.algo, r.job.env), 99),
            IMPLEMENTATIONS.index(r.job.impl),
            r.job.seed,
        ),
    )
    runs = [run_row(r) for r in results]
    summary = summary_rows(runs)
    intervals = interval_rows(runs)
    pooled = pooled_rows(runs)
    table = (
        summary_markdown(summary) + "\n" + intervals_markdown(intervals) + pooled_markdown(pooled)
    )
    write_csv(Path(f"{stem}_summary.csv"), summary)
    write_csv(Path(f"{stem}_intervals.csv"), intervals)
    if pooled:
        write_csv(Path(f"{stem}_pooled.csv"), pooled)
    write_csv(Path(f"{stem}_runs.csv"), runs)
    write_csv(Path(f"{stem}_curves.csv"), curve_rows(results))
    plot_curves(results, Path(f"{stem}_curves.png"))
    Path(f"{stem}_summary.md").write_text(f"{header}\n\n{table}")
    return table


def report_header(
    suite: str,
    seeds: Sequence[int],
    results: Sequence[RunResult],
    provenance: str,
    *,
    squash_epsilon: float = 0.0,
    at_step: int | None = None,
) -> str:
    """The summary's heading: what was compared, with what settings, and how to read it;
    ``provenance`` says where the runs came from (trained now, or read back with --report)."""
    shared = SUITES[suite].shared
    return (
        f"# learning_quality --suite {suite}\n\nShared settings: {asdict(shared)}, "
        "every other hyperparameter lmc_rl's default"
        + (f" (ours with --squash_epsilon {squash_epsilon:g})" if squash_epsilon else "")
        + "; "
        f"hidden {SUITES[suite].hidden_dims}; seeds {list(seeds)}; "
        + provenance
        + "; torch threads per run: "
        + ", ".join(
            f"{impl} {sorted({r.threads for r in results if r.job.impl == impl})}"
            for impl in IMPLEMENTATIONS
            if any(r.job.impl == impl for r in results)
        )
        + (f"; every curve cut at step {at_step}" if at_step is not None else "")
        + ". 95% thresholds: "
        + (
            ", ".join(
                f"{e} {SOLVED_FRACTION * m:.0f}"
                for e, m in ENV_MAX_RETURN.items()
                if any(r.job.env == e for r in results)
            )
            or "none (no task of these runs has a known maximum return)"
        )
        + ". ± is the sample std across seeds. IQM: interquartile mean across seeds; [a, b]: "
        "95 % bootstrap interval (runs resampled within each task and implementation); "
        "P(ours > SB3): probability that a run of ours ends higher than a run of SB3 "
        "(rliable's definitions, benchmarks/rl_stats.py). Ours trains the seeds of an "
        "experiment as one population in one process (wall s/run: its wall time / seeds)."
    )
