"""One cell of a sweep: find its run if one exists, then start it, resume it or skip it.

A cell's run is found by its settings, as open_lth finds runs: under
``{output_dir}/results/{experiment_name}/{env}/{algo}/seed_{seed}_*/`` the run whose stored config
equals the cell's (ignoring the fields marked as not changing results: output_dir, device, ...).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lmc_rl import layout
from lmc_rl.config import RunConfig
from lmc_rl.errors import UserError
from lmc_rl.run_record import load_run
from lmc_rl.sweep.grid import SweepCell, run_identity

Outcome = Literal["finished", "skipped", "failed"]


@dataclass(frozen=True)
class ExistingRun:
    """A run of the cell found on disk: where it is and whether it is finished."""

    results_dir: Path
    finished: bool


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run a cell. ``isolated``: the cell has a process to itself (a pool
    or Ray worker), so its whole stdout/stderr goes to the log, with one thread and one
    evaluation process, as its neighbours run in parallel."""

    cell: SweepCell
    log_file: Path
    resume_dir: Path | None
    isolated: bool


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
    matches = []
    for config_file in folder.glob(f"seed_{config.seed}_*/{layout.CONFIG_FILE}"):
        try:
            run = load_run(config_file.parent)
        except UserError:
            continue  # a run killed before its config was written, or not a run at all
        if run_identity(run.config) == wanted:
            matches.append((run.finished, config_file.stat().st_mtime, config_file.parent))
    if not matches:
        return None
    finished, _, results_dir = max(matches)
    return ExistingRun(results_dir, finished)


def run_cell(task: CellTask) -> CellOutcome:
    """Start or resume the cell's run with its output in its log; a failure is returned, not
    raised, so that the other cells go on."""
    task.log_file.parent.mkdir(parents=True, exist_ok=True)
    with _output_to(task.log_file, whole_process=task.isolated):
        what = f"resuming {task.resume_dir}" if task.resume_dir else "starting a new run"
        print(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} sweep cell {task.cell.name}: {what}")
        try:
            results_dir = _start_or_resume(task)
        except Exception as err:
            traceback.print_exc()
            return CellOutcome(task.cell.name, "failed", None, task.log_file, one_line_error(err))
        print(f"=== finished: {results_dir}")
    return CellOutcome(task.cell.name, "finished", results_dir, task.log_file)


def _start_or_resume(task: CellTask) -> Path:
    from lmc_rl import experiment

    if task.isolated:  # a worker process of its own (a pool's or Ray's)
        import torch

        from lmc_rl.allocator import keep_freed_memory

        keep_freed_memory()
        torch.set_num_threads(1)
    if task.resume_dir is not None:
        return experiment.resume_experiment(str(task.resume_dir), {}, progress=False).results
    config = task.cell.config
    if task.isolated:
        config = config.replace(eval_workers=1)
    return experiment.run_experiment(config, progress=False).results


def one_line_error(err: BaseException) -> str:
    """``Type: first line of the message``, for the one line a failed cell gets on stderr."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


@contextlib.contextmanager
def _output_to(log_file: Path, whole_process: bool) -> Iterator[None]:
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
