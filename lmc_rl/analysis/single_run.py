"""analyze_run: the figures and report.md of one run, in {results_dir}/fork_analysis/."""

from __future__ import annotations

from pathlib import Path

from lmc_rl.analysis.loading import read_run
from lmc_rl.analysis.plots import (
    all_interpolations_figure,
    instability_figure,
    interpolation_figure,
    overview_figure,
    save_figure,
)
from lmc_rl.analysis.report import report_markdown
from lmc_rl.records.atomic_files import atomic_write_bytes
from lmc_rl.records.layout import ANALYSIS_FOLDER, REPORT_FILE


def analyze_run(
    results_dir: str | Path,
    total_steps: int | None = None,
    out: str | Path | None = None,
    evaluation: str | Path | None = None,
) -> Path:
    """Write a finished run's figures and report.md into `out` (default
    results_dir/fork_analysis/, or fork_analysis/ inside a re-evaluation's folder given as
    `evaluation`); return that folder.

    `total_steps` overrides the config's for fork steps (fork step = point × total_steps), as the
    prototype's flag did. A run without forks gets its learning curves and a report.
    """
    run = read_run(results_dir, total_steps, evaluation)
    default = run.results_dir if evaluation is None else Path(evaluation)
    out = Path(out) if out is not None else default / ANALYSIS_FOLDER
    figures = {"overview.png": overview_figure(run)}
    if run.fork_results:
        figures["all_interpolations.png"] = all_interpolations_figure(run)
        figures["instability_over_time.png"] = instability_figure(run)
        for fork in run.fork_results:
            figures[f"interp_fork_{fork.fork_id}.png"] = interpolation_figure(run, fork)
    for name, fig in figures.items():
        save_figure(fig, out / name)
    atomic_write_bytes(out / REPORT_FILE, report_markdown(run, list(figures)).encode())
    return out
