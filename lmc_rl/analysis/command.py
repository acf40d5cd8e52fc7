"""What `lmc-rl analyze` does with the directories it is given."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lmc_rl.analysis.aggregate import analyze_many
from lmc_rl.analysis.single_run import analyze_run
from lmc_rl.config.errors import UserError
from lmc_rl.records.layout import CONFIG_FILE


def analyze(
    paths: Sequence[str | Path], total_steps: int | None = None, out: str | Path | None = None
) -> Path:
    """One run directory: its figures and report (analyze_run). Several directories, or a
    folder of runs: the comparison across seeds and strategies (analyze_many)."""
    if not paths:
        raise UserError("--results_dir: give at least one run directory or folder of runs")
    if len(paths) == 1 and (Path(paths[0]) / CONFIG_FILE).is_file():
        return analyze_run(paths[0], total_steps, out)
    if total_steps is not None:
        raise UserError("--total_steps applies to the analysis of a single run only")
    return analyze_many(paths, out)
