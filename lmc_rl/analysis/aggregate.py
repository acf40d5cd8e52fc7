"""analyze_many: instability and linear barrier across seeds, per (env, algo, buffer strategy,
fork noise) and fork point, with bootstrap confidence intervals; one comparison figure per env and
algo."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from lmc_rl.analysis.comparison_report import comparison_markdown, mixed_settings_warnings
from lmc_rl.analysis.loading import RunResults, forks_frame, read_runs
from lmc_rl.analysis.plots import save_figure, strategy_comparison_figure
from lmc_rl.config.errors import UserError
from lmc_rl.records.atomic_files import atomic_write_bytes
from lmc_rl.records.layout import AGGREGATE_FILE, COMPARISON_FOLDER, CONFIG_FILE, REPORT_FILE

GROUP_COLUMNS = ("env", "algo", "fork_buffer_strategy", "fork_noise")
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 9999
CONFIDENCE = 0.95
AGGREGATE_COLUMNS = (
    *GROUP_COLUMNS,
    "fork_point",
    "n_seeds",
    "seeds",
    "instability_mean",
    "instability_ci_low",
    "instability_ci_high",
    "normalized_instability_mean",
    "normalized_ci_low",
    "normalized_ci_high",
    "linear_barrier_crossfit_mean",
    "linear_barrier_crossfit_ci_low",
    "linear_barrier_crossfit_ci_high",
    "critic_barrier_mean",
    "critic_barrier_ci_low",
    "critic_barrier_ci_high",
)


def mean_with_bootstrap_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap 95% CI of the mean over seeds (fixed resampling seed, so
    the same runs give the same CSV). One seed, or a non-finite value, gives a NaN interval."""
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2 or not np.isfinite(data).all():  # scipy refuses n = 1
        return mean, float("nan"), float("nan")
    # percentile, not BCa: BCa is undefined when all seeds agree, and erratic with 2-5 seeds.
    result = stats.bootstrap(
        (data,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        random_state=BOOTSTRAP_SEED,
    )
    return mean, float(result.confidence_interval.low), float(result.confidence_interval.high)


def aggregate_instability(forks: pd.DataFrame) -> pd.DataFrame:
    """One row per (env, algo, fork_buffer_strategy, fork_noise, fork_point): seeds, and the
    mean with its bootstrap CI of the instability (raw and normalized) and of the cross-fitted
    linear barrier (each fork's ``barrier_estimate``: over all pairs with 3+ children; NaN for
    runs evaluated before it was recorded), and the same of the relative critic barrier
    (``critic_barrier_estimate``); `forks` is a `load_runs(...).forks`."""
    rows = []
    keys = [*GROUP_COLUMNS, "fork_point"]
    for key, group in forks.groupby(keys, sort=True, dropna=False):
        rows.append(
            (
                *key,
                len(group),
                " ".join(str(s) for s in sorted(group["seed"])),
                *mean_with_bootstrap_ci(group["instability"]),
                *mean_with_bootstrap_ci(group["normalized_instability"]),
                *mean_with_bootstrap_ci(group["barrier_estimate"]),
                *mean_with_bootstrap_ci(group["critic_barrier_estimate"]),
            )
        )
    return pd.DataFrame(rows, columns=list(AGGREGATE_COLUMNS))


def default_comparison_dir(paths: Sequence[str | Path]) -> Path:
    """`comparison/` beside the runs: in the deepest folder holding every given path, or beside
    it when that folder is itself a run (a single run given)."""
    common = Path(os.path.commonpath([Path(p).resolve() for p in paths]))
    if (common / CONFIG_FILE).is_file():
        common = common.parent
    return common / COMPARISON_FOLDER


def _file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def analyze_many(paths: Sequence[str | Path], out: str | Path | None = None) -> Path:
    """Compare runs across seeds and buffer strategies; write aggregate.csv,
    instability_by_strategy_{env}_{algo}.png and report.md into `out` (default:
    `default_comparison_dir`). Runs compared side by side but evaluated with different settings
    are named in a warning, on stderr and in the report.

    Each path is a run directory or a folder searched recursively for runs.
    """
    if not paths:
        raise UserError("--results_dir: give at least one run directory or folder of runs")
    runs: list[RunResults] = read_runs(paths)
    forks = pd.concat([forks_frame(r) for r in runs if r.fork_results] or [pd.DataFrame()])
    if forks.empty:
        raise UserError(
            f"--results_dir {' '.join(str(p) for p in paths)}: none of the "
            f"{len(runs)} run(s) has forks to compare"
        )
    target = Path(out) if out is not None else default_comparison_dir(paths)
    aggregate = aggregate_instability(forks)
    warnings = mixed_settings_warnings(runs)
    for warning in warnings:
        print(f"lmc-rl: warning: {warning}", file=sys.stderr)
    atomic_write_bytes(target / AGGREGATE_FILE, aggregate.to_csv(index=False).encode())
    figures = []
    for (env, algo), _ in aggregate.groupby(["env", "algo"], sort=True):
        figure = strategy_comparison_figure(aggregate, forks, env, algo)
        name = f"instability_by_strategy_{_file_part(env)}_{_file_part(algo)}.png"
        save_figure(figure, target / name)
        figures.append(name)
    report = comparison_markdown(aggregate, runs, figures, warnings)
    atomic_write_bytes(target / REPORT_FILE, report.encode())
    return target
