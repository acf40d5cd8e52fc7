"""One run computed in pieces: its forks split by cost, each piece a process or a Ray task.

A fork is a pure function of (run settings, fork step), and the parent is bitwise the same in
every piece up to where a piece stops it, so pieces can run anywhere and ``merge`` joins them
into the whole run's files. ``lmc-rl run --pieces N`` lays its pieces out by the run's identity
(``run_identity``), so the same command again skips finished pieces and resumes killed ones;
``lmc-rl sweep --pieces N`` lays out each of its cells by the same plan (``plan_pieces``).
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from lmc_rl.config.errors import UserError
from lmc_rl.config.piece_settings import PIECE_BACKENDS, PieceSettings
from lmc_rl.config.run_config import RunConfig, run_identity
from lmc_rl.records.layout import (
    REPORT_FILE,
    RunPaths,
    experiment_dir,
    merged_run_name,
    piece_name,
    pieces_folder_name,
    weights_dir_for,
)
from lmc_rl.records.run_record import load_run
from lmc_rl.training.forking import Fork, fork_schedule, parent_until

# What an env step of the instability evaluation costs against a training agent-step (collect
# and update), from the rates measured in the README: ~18.2k evaluation env-steps/s in one
# process, ~760 training agent-steps/s (the default experiment's 3M agent-steps in 1.1 h).
EVALUATION_STEP_COST = 760 / 18_200


def fork_cost(config: RunConfig, fork: Fork) -> float:
    """A fork's work in training agent-steps: its children from the fork to the end, and its
    instability evaluation (every episode counted at full length: an upper bound)."""
    training = config.children * (config.total_steps - fork.step)
    pairs = config.children * (config.children - 1) // 2
    episodes = pairs * config.alpha_points * config.num_eval_episodes
    return training + episodes * config.max_episode_steps * EVALUATION_STEP_COST


def piece_cost(config: RunConfig, fork_ids: Sequence[int]) -> float:
    """A piece's work: its parent's steps (to its last fork, or to the end if it holds the
    schedule's last fork) and its forks'."""
    piece = config.replace(forks=tuple(sorted(fork_ids)))
    forks = [f for f in fork_schedule(config) if f.fork_id in fork_ids]
    return parent_until(piece) + sum(fork_cost(config, f) for f in forks)


def split_forks(config: RunConfig, n: int) -> list[tuple[int, ...]]:
    """The schedule's forks in at most ``n`` pieces of balanced cost: the costliest fork first,
    each into the piece it makes least costly (greedy), then single moves and swaps out of the
    costliest piece while they lower the largest cost."""
    forks = sorted(fork_schedule(config), key=lambda f: -fork_cost(config, f))
    pieces: list[list[int]] = [[] for _ in range(min(n, len(forks)))]
    for fork in forks:
        best = min(pieces, key=lambda ids: piece_cost(config, [*ids, fork.fork_id]))
        best.append(fork.fork_id)
    while _improve(config, pieces):
        pass
    return sorted(tuple(sorted(ids)) for ids in pieces)


def _improve(config: RunConfig, pieces: list[list[int]]) -> bool:
    """One move or swap of a fork between the costliest piece and another that lowers the
    larger of the two costs; False if there is none."""
    costs = [piece_cost(config, ids) for ids in pieces]
    top = max(range(len(pieces)), key=costs.__getitem__)
    for other in range(len(pieces)):
        if other == top:
            continue
        for a in pieces[top]:
            for b in [None, *pieces[other]]:
                if b is None and len(pieces[top]) == 1:
                    continue
                moved_top = [f for f in pieces[top] if f != a] + ([b] if b is not None else [])
                moved_other = [f for f in pieces[other] if f != b] + [a]
                new = max(piece_cost(config, moved_top), piece_cost(config, moved_other))
                if new < costs[top] - 1e-9:
                    pieces[top], pieces[other] = moved_top, moved_other
                    return True
    return False


def piece_finished(results: Path) -> bool:
    """Whether the piece in ``results`` is done (measured and reported): nothing left to run."""
    paths = RunPaths(Path(results), weights_dir_for(Path(results)))
    if not paths.config_file.is_file():
        return False
    return load_run(paths.results).finished and (paths.analysis_dir / REPORT_FILE).is_file()


def run_piece(config: RunConfig, results: str, progress: bool = False) -> str:
    """Compute one piece in ``results``: skip it if finished, resume it if killed, else start
    it; returns which of the three it did."""
    from lmc_rl.experiment.phases import resume_experiment, run_experiments

    paths = RunPaths(Path(results), weights_dir_for(Path(results)))
    if piece_finished(paths.results):
        return "finished before"
    if paths.config_file.is_file():
        resume_experiment(str(paths.results), {}, progress)
        return "resumed"
    for folder in (paths.results, paths.weights):  # killed before its config.json: start over
        shutil.rmtree(folder, ignore_errors=True)
    paths.results.mkdir(parents=True)
    run_experiments([config], progress, paths=[paths])
    return "computed"


def _piece_process(config: RunConfig, results: str) -> str:
    """A local piece's process: memory and threads as ``lmc-rl run`` sets them."""
    from lmc_rl.learners.allocator import keep_freed_memory

    keep_freed_memory()
    return run_piece(config, results)


def check_pieces(config: RunConfig, n: int, what: str = "the run") -> None:
    """Refuse, before anything is written, what cannot be split into pieces: ``n`` < 1, a
    config that is a piece already, one without forks. ``n`` above the fork count is not an
    error: the split makes one piece per fork."""
    if n < 1:
        raise UserError(f"--pieces: must be >= 1, got {n}")
    if config.forks:
        raise UserError("--pieces splits the whole fork schedule; give it without --forks")
    if not config.fork_points:
        raise UserError(f"--pieces: {what} has no fork points to share out")


@dataclass(frozen=True)
class PiecePlan:
    """One run laid out in pieces, by its identity: the merged run's results folder, and each
    piece's config and results folder (beside it, in ``seed_{seed}_run{id}_pieces/``)."""

    merged: Path
    pieces: tuple[tuple[RunConfig, Path], ...]


def merged_run_dir(config: RunConfig) -> Path:
    """``.../{env}/{algo}/seed_{seed}_run{id}``: where the run computed in pieces is merged."""
    base = experiment_dir(config.output_dir, config.experiment_name) / config.env / config.algo
    return base / merged_run_name(config.seed, run_identity(config))


def plan_pieces(config: RunConfig, n: int) -> PiecePlan:
    """The run's forks split into at most ``n`` pieces (``split_forks``), and their folders."""
    merged = merged_run_dir(config)
    home = merged.parent / pieces_folder_name(config.seed, run_identity(config))
    pieces = tuple(
        (config.replace(forks=ids), home / piece_name(ids)) for ids in split_forks(config, n)
    )
    return PiecePlan(merged, pieces)


def merge_plan(plan: PiecePlan) -> Path:
    """Merge the plan's finished pieces into its merged folder, after clearing what a killed
    merge left there; returns the merged run's results folder."""
    from lmc_rl.experiment.merge import merge_pieces

    for folder in (plan.merged, weights_dir_for(plan.merged)):
        shutil.rmtree(folder, ignore_errors=True)
    return merge_pieces([results for _, results in plan.pieces], plan.merged)


def run_in_pieces(config: RunConfig, settings: PieceSettings, progress: bool = True) -> Path:
    """Split the run's forks into ``settings.pieces`` pieces, compute them side by side (local
    processes or Ray tasks), merge them; returns the merged run's results folder."""
    if settings.backend not in PIECE_BACKENDS:
        raise UserError(
            f"--backend: unknown backend {settings.backend!r} (choose from "
            f"{', '.join(PIECE_BACKENDS)})"
        )
    check_pieces(config, settings.pieces)
    plan = plan_pieces(config, settings.pieces)
    merged = plan.merged
    if (merged / "config.json").is_file() and load_run(merged).finished:
        print(f"lmc-rl: {merged} is already finished", file=sys.stderr)
        return merged
    # pieces side by side share the cores: evaluation workers split them (results unchanged)
    workers = config.eval_workers or max(1, _cores() // len(plan.pieces))
    tasks = [(piece.replace(eval_workers=workers), str(results)) for piece, results in plan.pieces]
    print(
        f"lmc-rl: {len(tasks)} piece(s) of forks "
        + " | ".join(",".join(map(str, piece.forks)) for piece, _ in plan.pieces)
        + f" in {plan.pieces[0][1].parent}",
        file=sys.stderr,
    )
    if settings.backend == "ray":
        done = _run_on_ray(tasks, settings.address, config.device)
    else:
        done = _run_in_processes(tasks)
    for (_, results), how in zip(tasks, done, strict=True):
        print(f"lmc-rl: piece {Path(results).name}: {how}", file=sys.stderr)
    return merge_plan(plan)


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def _run_in_processes(tasks: list[tuple[RunConfig, str]]) -> list[str]:
    if len(tasks) == 1:
        return [run_piece(*tasks[0])]
    pool = ProcessPoolExecutor(max_workers=len(tasks), mp_context=get_context("spawn"))
    try:
        futures = [pool.submit(_piece_process, *task) for task in tasks]
        return [_outcome(future.result, task) for future, task in zip(futures, tasks, strict=True)]
    finally:
        pool.shutdown(cancel_futures=True)


def _outcome(result, task: tuple[RunConfig, str]) -> str:
    try:
        return result()
    except UserError:
        raise
    except Exception as err:  # the piece's process died or failed
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"--pieces: piece {Path(task[1]).name} failed ({first}); the same command resumes it"
        ) from None


def _run_on_ray(tasks: list[tuple[RunConfig, str]], address: str | None, device: str) -> list[str]:
    """Each piece a Ray task of one CPU (and one GPU with a cuda device)."""
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray: Ray is not installed; pip install 'lmc-rl[ray]'") from None
    connected = not ray.is_initialized()
    if connected:
        options = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if address == "local":
                ray.init(num_cpus=len(tasks), include_dashboard=False, **options)
            else:
                ray.init(address=address, **options)
        except Exception as err:
            raise UserError(f"--address {address}: cannot connect to Ray ({err})") from None
    try:
        remote = ray.remote(num_cpus=1, num_gpus=1 if device.startswith("cuda") else 0)(
            _piece_process
        )
        refs = [remote.remote(*task) for task in tasks]
        return [
            _outcome(lambda ref=ref: ray.get(ref), task)
            for ref, task in zip(refs, tasks, strict=True)
        ]
    finally:
        if connected:
            ray.shutdown()
