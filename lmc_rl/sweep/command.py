"""``lmc-rl sweep``: a grid of ordinary runs, in parallel here or on a Ray cluster, then one
comparison across them. Running the same sweep again skips finished runs and resumes the rest."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from lmc_rl.config_flags import add_config_flags, config_overrides
from lmc_rl.errors import UserError
from lmc_rl.layout import COMPARISON_FOLDER, SWEEP_LOGS_FOLDER
from lmc_rl.sweep import backends
from lmc_rl.sweep.cells import CellOutcome, CellTask, experiment_dir, find_existing_run
from lmc_rl.sweep.grid import (
    COMMA_LIST_AXES,
    GRID_SEPARATOR,
    SweepCell,
    axes_from_flags,
    axes_from_yaml,
    expand_grid,
)

BACKENDS = ("local", "ray")


def add_sweep_parser(subparsers: Any) -> None:
    """Register ``sweep`` on the CLI's subcommands (their parser class turns errors into
    UserError)."""
    sweep = subparsers.add_parser(
        "sweep",
        help="Run a grid of experiments (locally or on Ray) and compare them.",
        description="Run every combination of the given values as an ordinary run under "
        "--output_dir, then compare them (aggregate.csv, figures and report.md). Any run flag "
        f"takes several values separated by '{GRID_SEPARATOR}' (quote it); --env, --algo, "
        "--seeds and "
        "--fork_buffer_strategy also take comma lists. Running the same sweep again skips "
        "finished runs and resumes unfinished ones. Exit status: 0 if every run finished, 1 if "
        "any failed, 2 for a bad flag or grid.",
    )
    sweep.add_argument(
        "--grid",
        "--config",
        metavar="YAML",
        help="YAML grid file: a list is an axis, a scalar a fixed value (fork_points and "
        "hidden_dims: a list of lists is an axis); flags override its keys.",
    )
    add_config_flags(
        sweep,
        aliases={"seed": ["--seeds"]},
        help_text={
            "seed": "Run seeds; required (a random seed would not be found again by a re-run)."
        },
        default_text={"seed": "required"},
        note=_grid_note,
    )
    sweep.add_argument(
        "--backend", choices=BACKENDS, default="local", help="Where runs execute (default: local)."
    )
    sweep.add_argument(
        "--workers",
        default=None,
        help="Local: runs at a time (default: one per core; 1 runs them one after the other in "
        "this process). Ray with --address local: CPUs of the local instance.",
    )
    sweep.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (default: as ray.init() does, the cluster running on this "
        "node, else a local instance started here): auto (a running cluster only), HOST:PORT, "
        "ray://HOST:10001, or local (always start a Ray instance here). On a cluster, "
        "--output_dir must be a path every node shares.",
    )
    sweep.add_argument(
        "--out",
        default=None,
        help="Comparison folder (default: {output_dir}/results/{experiment_name}/comparison).",
    )
    sweep.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")


def _grid_note(name: str) -> str:
    """How a flag takes several values in a sweep."""
    if name in COMMA_LIST_AXES:
        return " Grid: a comma list."
    if name == "fork_noise":
        return f" Grid: values separated by '{GRID_SEPARATOR}', e.g. 'all{GRID_SEPARATOR}none'."
    return ""


@dataclass(frozen=True)
class SweepResult:
    """What became of every cell (in grid order) of a sweep writing under ``experiment_dir``."""

    cells: list[SweepCell]
    outcomes: list[CellOutcome]
    experiment_dir: Path

    def count(self, outcome: str) -> int:
        return sum(o.outcome == outcome for o in self.outcomes)

    @property
    def summary(self) -> str:
        return (
            f"{self.count('finished')} finished, {self.count('skipped')} skipped, "
            f"{self.count('failed')} failed"
        )


def sweep_command(args: argparse.Namespace) -> int:
    """``lmc-rl sweep``: 0 if every run finished, 1 if any failed; a UserError (exit 2) for a
    bad flag or grid value, raised before anything is created."""
    axes = axes_from_yaml(args.grid) if args.grid else {}
    axes.update(axes_from_flags(config_overrides(args)))
    workers = _parse_workers(args.workers)
    if args.backend == "ray":
        backends.import_ray()
    cells = expand_grid(axes, check_device=args.backend == "local")
    result = run_sweep(cells, args.backend, workers, args.address, not args.no_progress)
    print(f"lmc-rl: sweep: {result.summary}", file=sys.stderr)
    status = 1 if result.count("failed") else 0
    try:
        comparison = compare_sweep(result, args.out)
    except Exception as err:  # the runs are done and kept; only the comparison is missing
        print(f"lmc-rl: sweep: the comparison failed: {err}", file=sys.stderr)
        comparison, status = None, 1
    print(Path(comparison or result.experiment_dir).resolve())
    return status


def _parse_workers(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        workers = int(raw)
    except ValueError:
        raise UserError(f"--workers: expected an integer, got {raw!r}") from None
    if workers < 1:
        raise UserError(f"--workers: must be >= 1, got {workers}")
    return workers


def run_sweep(
    cells: list[SweepCell],
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run the cells whose runs are not finished yet on ``backend`` (local: ``workers``
    processes, or this one for 1; ray: a cluster at ``address``, by default the running one or
    a new local one, as ``ray.init()`` chooses)."""
    cells = [
        SweepCell(c.name, c.config.replace(output_dir=os.path.abspath(c.config.output_dir)))
        for c in cells
    ]  # absolute: a Ray worker's working directory is not ours
    root = experiment_dir(cells[0].config)
    outcomes, tasks = _plan(
        cells, root / SWEEP_LOGS_FOLDER, isolated=backend == "ray" or workers != 1
    )
    with contextlib.ExitStack() as stack:
        ray = None
        if backend == "ray" and tasks:
            ray = stack.enter_context(backends.ray_session(address, workers))
        resumed = sum(t.resume_dir is not None for t in tasks)
        print(
            f"lmc-rl: sweep: {len(cells)} run{'s' * (len(cells) != 1)}: {len(outcomes)} "
            f"finished already, {resumed} to "
            f"resume, {len(tasks) - resumed} to start ({_where(backend, workers, len(tasks))})",
            file=sys.stderr,
        )
        bar = tqdm(
            total=len(cells),
            initial=len(outcomes),
            unit="run",
            desc="sweep",
            disable=not progress,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        stack.callback(bar.close)

        def on_done(outcome: CellOutcome) -> None:
            outcomes.append(outcome)
            if outcome.outcome == "failed":
                bar.write(
                    f"lmc-rl: sweep: {outcome.name} failed: {outcome.error}; "
                    f"log: {outcome.log_file}",
                    file=sys.stderr,
                )
            bar.update(1)

        if ray is not None:
            backends.run_on_ray(ray, tasks, on_done)
        elif workers == 1:
            backends.run_in_process(tasks, on_done)
        elif tasks:
            size = min(workers or os.cpu_count() or 1, len(tasks))
            backends.run_in_process_pool(tasks, size, on_done)
    order = {c.name: i for i, c in enumerate(cells)}
    return SweepResult(cells, sorted(outcomes, key=lambda o: order[o.name]), root)


def _plan(
    cells: list[SweepCell], logs: Path, isolated: bool
) -> tuple[list[CellOutcome], list[CellTask]]:
    """Skip the cells whose run is finished; resume those with an unfinished run; start the
    others."""
    skipped, tasks = [], []
    for cell in cells:
        run = find_existing_run(cell.config)
        if run is not None and run.finished:
            skipped.append(CellOutcome(cell.name, "skipped", run.results_dir, None))
        else:
            resume_dir = run.results_dir if run is not None else None
            tasks.append(CellTask(cell, logs / f"{cell.name}.log", resume_dir, isolated))
    return skipped, tasks


def _where(backend: str, workers: int | None, n_tasks: int) -> str:
    if n_tasks == 0:
        return "nothing to run"
    if backend == "ray":
        return "on Ray"
    if workers == 1:
        return "one at a time"
    return f"{min(workers or os.cpu_count() or 1, n_tasks)} at a time"


def compare_sweep(result: SweepResult, out: str | Path | None = None) -> Path | None:
    """analyze_many over the sweep's finished runs into ``out`` (default: comparison/ in the
    experiment folder); None if none of them has forks."""
    from lmc_rl.analysis import analyze_many

    with_forks = {c.name for c in result.cells if c.config.fork_points}
    runs = [
        o.results_dir for o in result.outcomes if o.outcome != "failed" and o.name in with_forks
    ]
    if not runs:
        return None
    return analyze_many(runs, out=out or result.experiment_dir / COMPARISON_FOLDER)
