"""One task of a sweep: find each cell's run if one exists, then start, resume or skip it.

A cell's run is found by its settings, as open_lth finds runs: under
``{output_dir}/results/{experiment_name}/{env}/{algo}/seed_{seed}_*/`` the run whose stored config
equals the cell's (ignoring the fields marked as not changing results: output_dir, device, ...).
A task is one cell, or cells that differ only by seed, trained as one population
(``lmc-rl run --seeds``); each writes the folder it would write alone. Or a task is one piece of
a cell (``lmc-rl sweep --pieces``, see ``cell_pieces``), computed in its piece's folder.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import RunConfig
from lmc_rl.records import layout
from lmc_rl.records.run_record import load_run
from lmc_rl.sweep.grid import SweepCell, run_identity

Outcome = Literal["finished", "skipped", "failed"]
NAMED_SEEDS = 8  # a population's log name lists up to this many seeds


@dataclass(frozen=True)
class ExistingRun:
    """A run of the cell found on disk: where it is, whether it is finished, and its stored
    config (placement fields included)."""

    results_dir: Path
    finished: bool
    config: RunConfig


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run cells: one, or several that differ only by seed (trained as
    one population). ``resume_dirs``: empty to start the runs, else each cell's unfinished run.
    ``isolated``: the task has a process to itself (a pool or Ray worker), so its whole
    stdout/stderr goes to the log, with one thread and one evaluation process, as its
    neighbours run in parallel. ``piece_dir``: the task's one cell is a piece of a run, to
    compute in that folder (skipped if finished there, resumed if killed, else started)."""

    cells: tuple[SweepCell, ...]
    log_file: Path
    resume_dirs: tuple[Path, ...]
    isolated: bool
    piece_dir: Path | None = None

    @property
    def name(self) -> str:
        """What the task is called in its log and on stderr: its log file's name."""
        return self.log_file.stem


@dataclass(frozen=True)
class CellOutcome:
    """What became of a cell: its run's directory, or why it failed and where its log is."""

    name: str
    outcome: Outcome
    results_dir: Path | None
    log_file: Path | None
    error: str | None = None


def experiment_dir(config: RunConfig) -> Path:
    """``{output_dir}/results/{experiment_name}``: the runs, logs and comparison of a sweep."""
    return layout.experiment_dir(config.output_dir, config.experiment_name)


def find_existing_run(config: RunConfig) -> ExistingRun | None:
    """The cell's run on disk: a finished one if any, else the most recently written one."""
    folder = experiment_dir(config) / config.env / config.algo
    wanted = run_identity(config)
    matches, configs = [], {}
    for config_file in folder.glob(f"seed_{config.seed}_*/{layout.CONFIG_FILE}"):
        try:
            run = load_run(config_file.parent)
        except UserError:
            continue  # a run killed before its config was written, or not a run at all
        if run_identity(run.config) == wanted:
            matches.append((run.finished, config_file.stat().st_mtime, str(run.paths.results)))
            # as resume_experiments will run it (runs resumed together must agree on it)
            configs[str(run.paths.results)] = run.config.replace(device=run.recorded_device)
    if not matches:
        return None
    finished, _, results_dir = max(matches)
    return ExistingRun(Path(results_dir), finished, configs[results_dir])


def group_name(cells: Sequence[SweepCell]) -> str:
    """A group's log name: its first cell's, with ``seed{s}`` replaced by ``seeds{s1+s2+...}``
    (``seeds{first}..{last}x{n}`` for more than ``NAMED_SEEDS``, to keep file names short)."""
    seeds = [c.config.seed for c in cells]
    text = (
        "+".join(map(str, seeds))
        if len(seeds) <= NAMED_SEEDS
        else f"{seeds[0]}..{seeds[-1]}x{len(seeds)}"
    )
    return cells[0].name.replace(f"seed{seeds[0]}", f"seeds{text}", 1)


def run_cell(task: CellTask) -> list[CellOutcome]:
    """Start or resume the task's runs with their output in its log; a failure is returned, not
    raised, so that the other tasks go on (a population that fails fails every cell of it)."""
    task.log_file.parent.mkdir(parents=True, exist_ok=True)
    with output_to(task.log_file, whole_process=task.isolated):
        what = (
            f"computing the piece in {task.piece_dir}"
            if task.piece_dir is not None
            else f"resuming {', '.join(map(str, task.resume_dirs))}"
            if task.resume_dirs
            else "starting new runs"
            if len(task.cells) > 1
            else "starting a new run"
        )
        print(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} sweep cell {task.name}: {what}")
        try:
            results_dirs = _start_or_resume(task)
        except Exception as err:
            traceback.print_exc()
            error = one_line_error(err)
            return [_outcome_after_failure(c, task.log_file, error) for c in task.cells]
        print(f"=== finished: {', '.join(map(str, results_dirs))}")
    return [
        CellOutcome(c.name, "finished", d, task.log_file)
        for c, d in zip(task.cells, results_dirs, strict=True)
    ]


def _outcome_after_failure(cell: SweepCell, log_file: Path, error: str) -> CellOutcome:
    """A failed task's cell: finished all the same if its run got to the end (the seeds of a
    population are measured one after another, so some may finish before one fails)."""
    run = find_existing_run(cell.config)
    if run is not None and run.finished:
        return CellOutcome(cell.name, "finished", run.results_dir, log_file)
    return CellOutcome(cell.name, "failed", None, log_file, error)


def _start_or_resume(task: CellTask) -> list[Path]:
    from lmc_rl.experiment import phases as experiment

    if task.isolated:  # a worker process of its own (a pool's or Ray's)
        import torch

        from lmc_rl.learners.allocator import keep_freed_memory

        keep_freed_memory()
        torch.set_num_threads(1)
    if task.piece_dir is not None:
        from lmc_rl.experiment.pieces import run_piece

        how = run_piece(_placed(task, task.cells[0]), str(task.piece_dir))
        print(f"=== piece {task.piece_dir.name}: {how}")
        return [task.piece_dir]
    if len(task.cells) == 1:
        if task.resume_dirs:
            return [experiment.resume_experiment(str(task.resume_dirs[0]), {}, False).results]
        return [experiment.run_experiment(_placed(task, task.cells[0]), False).results]
    if task.resume_dirs:
        runs = experiment.resume_experiments([str(d) for d in task.resume_dirs], {}, False)
    else:
        runs = experiment.run_experiments([_placed(task, c) for c in task.cells], False)
    return [paths.results for paths in runs]


def _placed(task: CellTask, cell: SweepCell) -> RunConfig:
    """The cell's config, with one evaluation process where the task shares the machine."""
    return cell.config.replace(eval_workers=1) if task.isolated else cell.config


def one_line_error(err: BaseException) -> str:
    """``Type: first line of the message``, for the one line a failed cell gets on stderr."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


@contextlib.contextmanager
def output_to(log_file: Path, whole_process: bool) -> Iterator[None]:
    """Send the cell's output to its log: at the file-descriptor level in a worker process of
    its own (so C libraries' output goes there too), else only Python's sys.stdout/stderr."""
    with open(log_file, "a", buffering=1) as log:
        if not whole_process:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
            return
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
