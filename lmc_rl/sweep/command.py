"""``lmc-rl sweep``: a grid of ordinary runs, in parallel here or on a Ray cluster, then one
comparison across them. Running the same sweep again skips finished runs and resumes the rest."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from lmc_rl.config.errors import UserError
from lmc_rl.config.flags import add_config_flags, config_overrides
from lmc_rl.config.run_config import RunConfig
from lmc_rl.records.layout import COMPARISON_FOLDER, SWEEP_LOGS_FOLDER
from lmc_rl.sweep import backends
from lmc_rl.sweep.cells import (
    CellOutcome,
    CellTask,
    experiment_dir,
    find_existing_run,
    group_name,
)
from lmc_rl.sweep.grid import (
    COMMA_LIST_AXES,
    GRID_SEPARATOR,
    SweepCell,
    axes_from_flags,
    axes_from_yaml,
    expand_grid,
)

if TYPE_CHECKING:  # pieces import the learners (torch): loaded only when a sweep runs
    from lmc_rl.sweep.cell_pieces import PiecedCell

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
    sweep.add_argument(
        "--separate_seeds",
        action="store_true",
        help="Run every seed in a process of its own. By default (local backend) the cells that "
        "differ only by seed train as one population, as `lmc-rl run --seeds` does (same "
        "results, bit for bit), split into as many populations as there are workers when the "
        "grid has fewer experiments than workers.",
    )
    sweep.add_argument(
        "--pieces",
        metavar="N",
        default=None,
        help="Compute each run in N pieces, split as `lmc-rl run --pieces N` splits it (its "
        "forks in N pieces of balanced cost; one piece per fork where a run has fewer than N), "
        "every piece a task of --backend (bounded by --workers as runs are), each run merged "
        "when its pieces are done into seed_{seed}_run{id}/, with the results of the run "
        "computed whole, bit for bit. Every run needs --fork_points. Running the same sweep "
        "again skips finished pieces and resumes killed ones. See docs/sweeps.md.",
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
    pieces = _parse_pieces(args.pieces)
    if args.backend == "ray":
        backends.import_ray()
    cells = expand_grid(axes, check_device=args.backend == "local")
    result = run_sweep(
        cells,
        args.backend,
        workers,
        args.address,
        not args.no_progress,
        group_seeds=not args.separate_seeds,
        pieces=pieces,
    )
    print(f"lmc-rl: sweep: {result.summary}", file=sys.stderr)
    status = 1 if result.count("failed") else 0
    try:
        comparison = compare_sweep(result, args.out)
    except Exception as err:  # the runs are done and kept; only the comparison is missing
        print(f"lmc-rl: sweep: the comparison failed: {err}", file=sys.stderr)
        comparison, status = None, 1
    print(Path(comparison or result.experiment_dir).resolve())
    return status


def _parse_pieces(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"--pieces: expected an integer, got {raw!r}") from None


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
    group_seeds: bool = True,
    pieces: int | None = None,
) -> SweepResult:
    """Run the cells whose runs are not finished yet on ``backend`` (local: ``workers``
    processes, or this one for 1; ray: a cluster at ``address``, by default the running one or
    a new local one, as ``ray.init()`` chooses). Locally, with ``group_seeds``, cells that
    differ only by seed train as populations (see ``_plan``). With ``pieces``, each cell to
    compute is computed in that many pieces, merged when they are done (``cell_pieces``);
    raises UserError, before anything is written, for a cell that cannot be split."""
    from lmc_rl.experiment.pieces import check_pieces
    from lmc_rl.sweep.cell_pieces import MergeWhenDone, plan_pieced_cell

    if pieces is not None:
        for cell in cells:
            check_pieces(cell.config, pieces, what=f"grid cell {cell.name}")
    cells = [
        SweepCell(c.name, c.config.replace(output_dir=os.path.abspath(c.config.output_dir)))
        for c in cells
    ]  # absolute: a Ray worker's working directory is not ours
    root = experiment_dir(cells[0].config)
    isolated = backend == "ray" or workers != 1
    pieced: list[PiecedCell] = []
    if pieces is not None:
        cells_whole = []
        for cell in cells:
            if _continues_whole(cell):
                cells_whole.append(cell)
            else:
                pieced.append(plan_pieced_cell(cell, pieces, root / SWEEP_LOGS_FOLDER, isolated))
    else:
        cells_whole = cells
    slots = _slots(workers) if backend == "local" and group_seeds else None
    outcomes, tasks = _plan(cells_whole, root / SWEEP_LOGS_FOLDER, isolated, slots=slots)
    tasks += [task for p in pieced for task in p.tasks]
    with contextlib.ExitStack() as stack:
        ray = None
        if backend == "ray" and tasks:
            ray = stack.enter_context(backends.ray_session(address, workers))
        resumed = sum(len(t.resume_dirs) for t in tasks)
        started = sum(len(t.cells) for t in tasks if t.piece_dir is None) - resumed
        print(
            f"lmc-rl: sweep: {len(cells)} run{'s' * (len(cells) != 1)}: {len(outcomes)} "
            f"finished already, {resumed} to resume, {started} to start"
            f"{_in_pieces(pieced)} ({_where(backend, workers, tasks)})",
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

        if pieced:
            on_done = MergeWhenDone(pieced, on_done)
            on_done.merge_ready()
        if ray is not None:
            backends.run_on_ray(ray, tasks, on_done)
        elif workers == 1:
            backends.run_in_process(tasks, on_done)
        elif tasks:
            backends.run_in_process_pool(tasks, min(_slots(workers), len(tasks)), on_done)
    order = {c.name: i for i, c in enumerate(cells)}
    return SweepResult(cells, sorted(outcomes, key=lambda o: order[o.name]), root)


def _continues_whole(cell: SweepCell) -> bool:
    """With ``--pieces``: whether the cell is left to ``_plan`` (skipped: its run is finished;
    resumed whole: an unfinished run of it that is not its merged run in pieces, from a sweep
    without ``--pieces``) rather than computed in pieces."""
    from lmc_rl.experiment.pieces import merged_run_dir

    run = find_existing_run(cell.config)
    if run is None:
        return False
    return run.finished or run.results_dir.resolve() != merged_run_dir(cell.config).resolve()


def _in_pieces(pieced: list[PiecedCell]) -> str:
    """What the plan line says of the runs computed in pieces, if any."""
    if not pieced:
        return ""
    left = sum(len(p.tasks) for p in pieced)
    total = sum(len(p.plan.pieces) for p in pieced)
    return f", {len(pieced)} to compute in pieces ({left} of their {total} pieces left)"


def _slots(workers: int | None) -> int:
    """Tasks that run at once on the local backend."""
    return workers or os.cpu_count() or 1


def _plan(
    cells: list[SweepCell], logs: Path, isolated: bool, slots: int | None
) -> tuple[list[CellOutcome], list[CellTask]]:
    """Skip the cells whose run is finished; resume those with an unfinished run; start the
    others. With ``slots`` (tasks that run at once), the cells to start (and those to resume)
    that differ only by seed become one task, a population, split into up to ``slots`` tasks
    when there are fewer such groups than slots: a population on one core is faster than its
    seeds one after another there, not than its seeds on cores of their own. ``None``: every
    cell a task of its own."""
    skipped, to_start, to_resume = [], [], []
    for cell in cells:
        run = find_existing_run(cell.config)
        if run is not None and run.finished:
            skipped.append(CellOutcome(cell.name, "skipped", run.results_dir, None))
        elif run is not None:
            to_resume.append(_Pending(cell, run.results_dir, run.config))
        else:
            to_start.append(_Pending(cell, None, cell.config))
    tasks = []
    for pending in (to_start, to_resume):
        for group in _seed_groups(pending, slots):
            group_cells = tuple(p.cell for p in group)
            name = group_cells[0].name if len(group) == 1 else group_name(group_cells)
            resume_dirs = tuple(p.run_dir for p in group if p.run_dir is not None)
            tasks.append(CellTask(group_cells, logs / f"{name}.log", resume_dirs, isolated))
    return skipped, tasks


@dataclass(frozen=True)
class _Pending:
    """A cell to start (``run_dir`` None) or resume, with the config it runs (stored, if any)."""

    cell: SweepCell
    run_dir: Path | None
    config: RunConfig


def _seed_groups(pending: list[_Pending], slots: int | None) -> list[list[_Pending]]:
    """Cells grouped by their config without the seed, in grid order; while there are fewer
    parts than ``slots``, the group with the most seeds per part is split one part more
    (contiguous, near-equal parts)."""
    if slots is None:
        return [[item] for item in pending]
    groups: dict[RunConfig, list[_Pending]] = {}
    for item in pending:
        groups.setdefault(item.config.replace(seed=0), []).append(item)
    parts = {key: 1 for key in groups}
    for _ in range(slots - len(groups)):  # a free slot splits the group with most seeds a part
        splittable = [key for key in groups if parts[key] < len(groups[key])]
        if not splittable:
            break
        widest = max(splittable, key=lambda key: len(groups[key]) / parts[key])
        parts[widest] += 1
    split = []
    for key, group in groups.items():
        size, extra = divmod(len(group), parts[key])
        start = 0
        for part in range(parts[key]):
            end = start + size + (part < extra)
            split.append(group[start:end])
            start = end
    return split


def _where(backend: str, workers: int | None, tasks: list[CellTask]) -> str:
    if not tasks:
        return "nothing to run"
    populations = sum(len(t.cells) > 1 for t in tasks)
    grouped = (
        f"; {populations} population{'s' * (populations != 1)} of seeds" if populations else ""
    )
    if backend == "ray":
        return "on Ray"
    if workers == 1:
        return f"one at a time{grouped}"
    return f"{min(_slots(workers), len(tasks))} at a time{grouped}"


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
