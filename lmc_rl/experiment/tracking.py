"""``--track``: a run's scalars, config, verdict table and figures to Weights & Biases too.

TensorBoard stays the run's own log; W&B gets the same scalars as they are flushed to it (one W&B
run per lmc-rl run, every member's tags under ``{member}/``, against ``env_step``), the resolved
config, and at the end the verdict table (one row per fork) and the figures of
``fork_analysis/``. W&B reads its usual settings from the environment (``WANDB_MODE=offline``,
``WANDB_DIR``, ``WANDB_ENTITY``); without ``WANDB_DIR`` its files go into the run's results
folder. Needs the optional extra: ``pip install 'lmc-rl[wandb]'``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmc_rl.config.errors import UserError
from lmc_rl.records.layout import ANALYSIS_FOLDER, RunPaths

if TYPE_CHECKING:
    from lmc_rl.training.trainer import Trainer

STEP_METRIC = "env_step"
VERDICT_COLUMNS = (
    "fork_id",
    "fork_point",
    "fork_step",
    "fork1_reward",
    "fork2_reward",
    "min_reward",
    "min_alpha",
    "instability",
    "normalized_instability",
    "linear_barrier_crossfit",
    "linear_barrier_ci",
    "min_at_endpoint",
    "verdict",
)


def require_wandb() -> None:
    """Refuse --track before any work when wandb is not installed (one line, exit 2)."""
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise UserError(
            "--track needs Weights & Biases: pip install 'lmc-rl[wandb]' (or pip install wandb)"
        ) from None


class WandbTracker:
    """One lmc-rl run's W&B run."""

    def __init__(self, paths: RunPaths, config: dict[str, Any], project: str) -> None:
        import wandb

        self.paths = paths
        self.run = wandb.init(
            project=project,
            name=paths.results.name,
            group=str(config.get("experiment_name")),
            config=config,
            dir=os.environ.get("WANDB_DIR") or str(paths.results),
            reinit="create_new",  # runs of one --seeds call are tracked side by side
            # one W&B run per lmc-rl run: a --resume continues the W&B run it started
            id=hashlib.sha256(str(paths.results.resolve()).encode()).hexdigest()[:16],
            resume="allow",
        )
        self.run.define_metric(STEP_METRIC)
        self.run.define_metric("*", step_metric=STEP_METRIC)

    def log_scalars(self, member: str, items: list[tuple[str, float, int]]) -> None:
        """The scalars TensorBoard got for ``member``: (tag, value, env step)."""
        for tag, value, step in items:
            self.run.log({f"{member}/{tag}": value, STEP_METRIC: step})

    def finish(self) -> None:
        """The verdict table and the figures of a finished run, then close the W&B run."""
        import wandb

        forks_file = self.paths.all_forks_file
        if forks_file.is_file():
            forks = json.loads(forks_file.read_text())
            forks = forks.get("forks", forks) if isinstance(forks, dict) else forks
            rows = [[_cell(fork.get(c)) for c in VERDICT_COLUMNS] for fork in forks]
            self.run.log({"verdicts": wandb.Table(columns=list(VERDICT_COLUMNS), data=rows)})
        figures = sorted((self.paths.results / ANALYSIS_FOLDER).glob("*.png"))
        if figures:
            self.run.log({f"figures/{f.stem}": wandb.Image(str(f)) for f in figures})
        self.run.finish()

    def abandon(self) -> None:
        """Close the W&B run of a run that stopped early (it can be resumed)."""
        self.run.finish(exit_code=1)


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


class Trackers:
    """The W&B runs of one command (``--track``), by results folder."""

    def __init__(self, project: str) -> None:
        require_wandb()
        self.project = project
        self.runs: dict[Path, WandbTracker] = {}

    def attach(self, trainer: Trainer) -> None:
        """Start the run's W&B run and have its scalar log feed it."""
        tracker = WandbTracker(trainer.paths, trainer.config.to_dict(), self.project)
        trainer.scalars.also = tracker.log_scalars
        self.runs[trainer.paths.results] = tracker

    def finish(self, paths: RunPaths) -> None:
        """The run is measured: its verdicts and figures, then close its W&B run."""
        if paths.results in self.runs:
            self.runs.pop(paths.results).finish()

    def abandon_all(self) -> None:
        """The command stopped early: close every W&B run still open, marked as failed."""
        while self.runs:
            self.runs.popitem()[1].abandon()
