"""A sweep's cells computed in pieces (``lmc-rl sweep --pieces N``).

Each cell is split as ``lmc-rl run --pieces N`` splits that run (lmc_rl/experiment/pieces.py
holds the split, the folders and the merge), every unfinished piece is a task of the sweep's
backend, and a cell is merged, in the sweep's own process, as soon as its last piece is done:
into ``seed_{seed}_run{id}``, the run folder that ``run --pieces`` writes and that the sweep
finds again by the cell's settings.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lmc_rl.experiment.pieces import PiecePlan, merge_plan, piece_finished, plan_pieces
from lmc_rl.sweep.backends import OnDone
from lmc_rl.sweep.cells import CellOutcome, CellTask, one_line_error, output_to
from lmc_rl.sweep.grid import SweepCell


@dataclass(frozen=True)
class PiecedCell:
    """A cell to compute in pieces: its plan, the tasks of its pieces not finished yet, and
    the log its merge writes to."""

    cell: SweepCell
    plan: PiecePlan
    tasks: tuple[CellTask, ...]
    log_file: Path


def plan_pieced_cell(cell: SweepCell, pieces: int, logs: Path, isolated: bool) -> PiecedCell:
    """The cell's pieces (``plan_pieces``); each unfinished one a task whose log is
    ``{cell}_forks_{ids}.log``."""
    plan = plan_pieces(cell.config, pieces)
    tasks = []
    for config, results in plan.pieces:
        if piece_finished(results):
            continue
        name = f"{cell.name}_{results.name}"
        piece = SweepCell(name, config)
        tasks.append(CellTask((piece,), logs / f"{name}.log", (), isolated, piece_dir=results))
    return PiecedCell(cell, plan, tuple(tasks), logs / f"{cell.name}.log")


class MergeWhenDone:
    """The sweep's ``on_done`` where cells run in pieces: a whole cell's outcome passes through;
    a piece's is held until the last piece of its cell is in, then the cell is merged (or, if a
    piece failed, fails naming that piece) and its outcome passed on."""

    def __init__(self, pieced: Sequence[PiecedCell], on_done: OnDone) -> None:
        self._pieced = list(pieced)
        self._cell_of = {task.name: p for p in pieced for task in p.tasks}
        self._waiting = {p.cell.name: {task.name for task in p.tasks} for p in pieced}
        self._failed: dict[str, CellOutcome] = {}
        self._on_done = on_done

    def merge_ready(self) -> None:
        """Merge the cells whose pieces were all finished before the sweep started."""
        for pieced in self._pieced:
            if not pieced.tasks:
                self._finish(pieced)

    def __call__(self, outcome: CellOutcome) -> None:
        pieced = self._cell_of.get(outcome.name)
        if pieced is None:
            self._on_done(outcome)
            return
        waiting = self._waiting[pieced.cell.name]
        waiting.discard(outcome.name)
        if outcome.outcome == "failed":
            self._failed.setdefault(pieced.cell.name, outcome)
        if not waiting:
            self._finish(pieced)

    def _finish(self, pieced: PiecedCell) -> None:
        failed = self._failed.get(pieced.cell.name)
        if failed is None:
            self._on_done(merge_cell(pieced))
            return
        piece = failed.name.removeprefix(f"{pieced.cell.name}_")
        error = f"its piece {piece} failed ({failed.error}); the same sweep resumes it"
        self._on_done(CellOutcome(pieced.cell.name, "failed", None, failed.log_file, error))


def merge_cell(pieced: PiecedCell) -> CellOutcome:
    """Merge a cell's finished pieces into its run folder, the merge's output in the cell's
    log; a failure is returned, not raised, so that the other cells go on."""
    pieced.log_file.parent.mkdir(parents=True, exist_ok=True)
    with output_to(pieced.log_file, whole_process=False):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        pieces = ", ".join(str(results) for _, results in pieced.plan.pieces)
        print(f"=== {stamp} sweep cell {pieced.cell.name}: merging {pieces}")
        try:
            merged = merge_plan(pieced.plan)
        except Exception as err:
            traceback.print_exc()
            error = f"its merge failed ({one_line_error(err)})"
            return CellOutcome(pieced.cell.name, "failed", None, pieced.log_file, error)
        print(f"=== finished: {merged}")
    return CellOutcome(pieced.cell.name, "finished", merged, pieced.log_file)
