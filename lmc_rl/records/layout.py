"""Where a run keeps what: every file name of a run directory, and the run's status.

Dependency-free (standard library and ``lmc_rl.config.errors`` only): writers (training, evaluation,
analysis) and readers (loading, sweeps, tests) name a run's files through this module, so that a
name lives in one place.

Layout (the prototype's names)::

    {output_dir}/results/{experiment_name}/{env}/{algo}/seed_{seed}_{timestamp}/
        config.json  evaluations.csv  tensorboard/  checkpoint.pkl (while training)
        forks/  instability_{id}.json  returns_{id}.npz  critic_transitions_{id}.npz
        all_forks_results.json  fork_analysis/report.md, *.png
    {output_dir}/model_weights/{experiment_name}/{env}/{algo}/seed_{seed}_{timestamp}/
        final.pt  fork{id}_child{c}.pt  fork_{id}_start.pt

Agent files are named like their member everywhere else (``fork{id}_child{c}``); runs written
before that, with ``fork{c}_{id}.pt``, are still read (``RunPaths.child_weights`` falls back).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lmc_rl.config.errors import UserError

if TYPE_CHECKING:
    from lmc_rl.config.run_config import RunConfig

RESULTS_FOLDER = "results"
WEIGHTS_FOLDER = "model_weights"
CONFIG_FILE = "config.json"
EVALUATIONS_FILE = "evaluations.csv"
EVALUATION_COLUMNS = ("member", "step", "mean_return", "std_return", "n_episodes")
TENSORBOARD_FOLDER = "tensorboard"
CHECKPOINT_FILE = "checkpoint.pkl"
FORKS_FOLDER = "forks"
ALL_FORKS_FILE = "all_forks_results.json"
ANALYSIS_FOLDER = "fork_analysis"
REPORT_FILE = "report.md"
COMPARISON_FOLDER = "comparison"
CONNECT_FOLDER = "connect"  # lmc-rl connect's default output, inside the first run's results
AGGREGATE_FILE = "aggregate.csv"
SWEEP_LOGS_FOLDER = "sweep_logs"
FINAL_WEIGHTS_FILE = "final.pt"


class RunStatus(str, enum.Enum):
    """A run's phase, as config.json records it (``lmc-rl run --resume`` continues from it).

    running  -> training (checkpointed at forks and every --checkpoint_every)
    trained  -> weights and critic transitions saved; the instability evaluation is under way
    finished -> every result is final (figures and report.md are then drawn from them)
    """

    RUNNING = "running"
    TRAINED = "trained"
    FINISHED = "finished"

    def __str__(self) -> str:
        return self.value


def child_member_name(fork_id: int, child: int) -> str:
    """``fork{fork_id}_child{child}``: how a child is named in logs, records and file names."""
    return f"fork{fork_id}_child{child}"


def child_weights_name(child: int, fork_id: int) -> str:
    """``fork{fork_id}_child{child}.pt``: a child's weights at total_steps, named as its member."""
    return f"{child_member_name(fork_id, child)}.pt"


def legacy_child_weights_name(child: int, fork_id: int) -> str:
    """``fork{child}_{fork_id}.pt``: the name runs written before the member names used."""
    return f"fork{child}_{fork_id}.pt"


def parent_snapshot_name(step: int) -> str:
    """File name of the parent's agent saved by ``--save_every`` at env step ``step``."""
    return f"parent_step{step}.pt"


def fork_start_weights_name(fork_id: int) -> str:
    """``fork_{fork_id}_start.pt``: the parent's weights at the fork."""
    return f"fork_{fork_id}_start.pt"


def instability_name(fork_id: int) -> str:
    return f"instability_{fork_id}.json"


def returns_name(fork_id: int) -> str:
    return f"returns_{fork_id}.npz"


def critic_transitions_name(fork_id: int) -> str:
    return f"critic_transitions_{fork_id}.npz"


def run_label(experiment_name: str, env: str, algo: str, seed: int | None) -> str:
    """``{experiment_name}/{env}/{algo}/seed_{seed}``: which run, as its settings name it (the
    folder's path without the time stamp), the same for a run and its bit-identical rerun."""
    return f"{experiment_name}/{env}/{algo}/seed_{seed}"


def experiment_dir(output_dir: str | Path, experiment_name: str) -> Path:
    """``{output_dir}/results/{experiment_name}``: a sweep's runs, logs and comparison."""
    return Path(output_dir) / RESULTS_FOLDER / experiment_name


@dataclass(frozen=True)
class RunPaths:
    """A run's two directories (results, weights) and every file in them."""

    results: Path
    weights: Path

    @classmethod
    def create(cls, config: RunConfig) -> RunPaths:
        """Fresh, uniquely named directories for a new run."""
        tail = Path(config.experiment_name) / config.env / config.algo
        stamp = time.strftime("%Y%m%d_%H%M%S")
        root = Path(config.output_dir)
        for attempt in range(1000):
            name = f"seed_{config.seed}_{stamp}" + (f"_{attempt}" if attempt else "")
            results = root / RESULTS_FOLDER / tail / name
            try:
                results.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                continue
            except OSError as err:
                raise UserError(f"--output_dir: cannot create {results}: {err.strerror}") from None
            return cls(results, root / WEIGHTS_FOLDER / tail / name)
        raise UserError(f"--output_dir: too many runs named seed_{config.seed}_{stamp}")

    @property
    def config_file(self) -> Path:
        return self.results / CONFIG_FILE

    @property
    def evaluations_file(self) -> Path:
        return self.results / EVALUATIONS_FILE

    @property
    def tensorboard_dir(self) -> Path:
        return self.results / TENSORBOARD_FOLDER

    @property
    def checkpoint_file(self) -> Path:
        return self.results / CHECKPOINT_FILE

    @property
    def forks_dir(self) -> Path:
        return self.results / FORKS_FOLDER

    @property
    def all_forks_file(self) -> Path:
        return self.results / ALL_FORKS_FILE

    @property
    def analysis_dir(self) -> Path:
        return self.results / ANALYSIS_FOLDER

    @property
    def final_weights(self) -> Path:
        return self.weights / FINAL_WEIGHTS_FILE

    def child_weights(self, child: int, fork_id: int) -> Path:
        """Child ``child`` of fork ``fork_id``'s agent file: ``fork{id}_child{c}.pt``, or the
        old ``fork{c}_{id}.pt`` of a run written before, where only that one exists."""
        path = self.weights / child_weights_name(child, fork_id)
        legacy = self.weights / legacy_child_weights_name(child, fork_id)
        return legacy if not path.exists() and legacy.exists() else path

    def fork_start_weights(self, fork_id: int) -> Path:
        return self.weights / fork_start_weights_name(fork_id)

    def instability_file(self, fork_id: int) -> Path:
        return self.forks_dir / instability_name(fork_id)

    def returns_file(self, fork_id: int) -> Path:
        return self.forks_dir / returns_name(fork_id)

    def critic_transitions_file(self, fork_id: int) -> Path:
        return self.forks_dir / critic_transitions_name(fork_id)


def weights_dir_of(results: Path, recorded: str | None) -> Path:
    """A run's model_weights folder: beside results/ as the layout puts it (so a copied tree
    still works), else where config.json recorded it."""
    parts = Path(results).resolve().parts
    if RESULTS_FOLDER in parts:
        i = len(parts) - 1 - parts[::-1].index(RESULTS_FOLDER)
        sibling = Path(*parts[:i], WEIGHTS_FOLDER, *parts[i + 1 :])
        if sibling.is_dir():
            return sibling
    return Path(recorded) if recorded else Path(results) / WEIGHTS_FOLDER


def results_dir_of(weights: Path) -> Path | None:
    """The results folder of the run whose model_weights folder is ``weights``, if it exists."""
    parts = Path(weights).resolve().parts
    if WEIGHTS_FOLDER not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index(WEIGHTS_FOLDER)
    results = Path(*parts[:i], RESULTS_FOLDER, *parts[i + 1 :])
    return results if results.is_dir() else None


# -- a run computed in pieces (docs/pieces.md): the pieces' folders and the merged run's


def merged_run_name(seed: int, run_id: str) -> str:
    """``seed_{seed}_run{id}``: the run that ``lmc-rl run --pieces`` merges, found again by its
    settings (``run_identity``), so that the same command skips or resumes it."""
    return f"seed_{seed}_run{run_id}"


def pieces_folder_name(seed: int, run_id: str) -> str:
    """``seed_{seed}_run{id}_pieces``: the folder of that run's pieces, beside it."""
    return f"{merged_run_name(seed, run_id)}_pieces"


def piece_name(fork_ids: tuple[int, ...]) -> str:
    """``forks_{id}_{id}...``: one piece's folder, named by the forks it computes."""
    return "forks_" + "_".join(map(str, fork_ids))


def weights_dir_for(results: Path) -> Path:
    """The model_weights folder of a new run whose results go to ``results``: the mirror of its
    place under results/ (as ``RunPaths.create`` lays it out), else ``results/model_weights``."""
    parts = Path(results).resolve().parts
    if RESULTS_FOLDER in parts:
        i = len(parts) - 1 - parts[::-1].index(RESULTS_FOLDER)
        return Path(*parts[:i], WEIGHTS_FOLDER, *parts[i + 1 :])
    return Path(results) / WEIGHTS_FOLDER
