"""Projected wall time of the seed's default experiment on this machine, from measured rates.

Why: the default experiment (InvertedDoublePendulum-v5, SAC, 200k steps, train_freq 2, ten forks
at 0.01 ... 0.8, periodic evaluation of every member, 101 alphas x 100 episodes per fork) takes
hours; a researcher should know how many before starting it. Running it whole is not a benchmark,
so this script counts its work exactly from the default config and the run's own schedule (fork
steps, evaluation steps, planned updates) and times each kind of work here:

* training: ``Trainer.advance`` (collect, sample, update) timed at every population size K the
  run passes through (1, 3, ..., 21), on a population that forks early, with the default threads
  and the update matmul library ``lmc-rl run`` picks; the run's steps at each K times that cost
  (steps before learning_starts are costed as if they updated: a slight overestimate);
* periodic evaluation: ``evaluate_members`` env-steps/s in one process, as training does it, on
  interpolated policies of two children trained 16k steps (long episodes, as in a real run);
  every episode counted at the full max_episode_steps (1000; an upper bound);
* instability evaluation: ``evaluate_returns`` env-steps/s over all cores on the same policies,
  the way ``lmc-rl run`` evaluates forks; 10 x 101 x 100 episodes at 1000 steps (an upper bound).

Usage::

    python benchmarks/default_experiment.py                 # ~5 minutes
    python benchmarks/default_experiment.py --steps_per_k 20  # quicker, noisier
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from eval_throughput import count_steps, make_run  # benchmarks/ is on sys.path as a script
from tables import write_lines

from lmc_rl import RunConfig, build_config, load_run
from lmc_rl.config.run_config import evaluation_due
from lmc_rl.config.tasks import check_task
from lmc_rl.learners.allocator import keep_freed_memory
from lmc_rl.measuring.instability import ENVS_PER_MEMBER, child_files, evaluate_returns, fork_pairs
from lmc_rl.measuring.interpolation import interpolated_population, interpolation_alphas
from lmc_rl.training.evaluation import EvaluationEnvs, evaluate_members
from lmc_rl.training.forking import child_update_after, fork_schedule
from lmc_rl.training.lockstep import Lockstep
from lmc_rl.training.run_files import RunPaths, load_agent_state
from lmc_rl.training.seeding import evaluation_seeds
from lmc_rl.training.trainer import Trainer, planned_updates


def count_work(config: RunConfig) -> dict[str, float]:
    """Env steps at each population size, updates, and evaluation env steps (upper bounds: every
    episode lasts max_episode_steps), from the run's own schedule of forks, evaluations and
    planned updates."""
    forks = fork_schedule(config)
    steps = np.arange(1, config.total_steps + 1)
    # members that step at env step t, and are evaluated after it: the parent and the children
    # of forks made after earlier steps (a fork follows its step's evaluation)
    born = np.searchsorted([f.step for f in forks], steps, side="left")
    members = 1 + config.children * born
    work = {f"steps_at_K{k}": float((members == k).sum()) for k in np.unique(members)}
    evaluated = np.array([evaluation_due(config, int(s)) for s in steps])
    work["periodic_eval_env_steps"] = float(
        members[evaluated].sum() * config.num_eval_episodes_periodic * config.max_episode_steps
    )
    paths = len(forks) * len(fork_pairs(config.children))
    work["instability_env_steps"] = float(
        paths * config.alpha_points * config.num_eval_episodes * config.max_episode_steps
    )
    work["agent_steps"] = float(members.sum())
    # the updates each member makes itself: a child's start after its fork
    children_updates = sum(
        config.children * planned_updates(config, max(f.step, child_update_after(config, f)))
        for f in forks
    )
    work["member_updates"] = float(
        planned_updates(config, config.learning_starts) + children_updates
    )
    return work


def time_training(
    root: Path, steps_per_k: int, default: RunConfig
) -> tuple[dict[int, float], Trainer]:
    """Seconds per ``advance`` (one env step of every member, an update every other step) by K,
    at every K the ``default`` run passes through (its forks, made here right after warm-up)."""
    forks = len(fork_schedule(default))
    config = build_config(
        {
            "env": default.env,
            "algo": default.algo,
            "seed": 1,
            "total_steps": 1_000_000,
            "learning_starts": 256,
            "fork_points": ",".join(f"{(256 + (i + 1) * steps_per_k) / 1e6}" for i in range(forks)),
            "children": default.children,
            "eval_freq": 10**9,
            "output_dir": str(root),
            "checkpoint_every": "none",
        }
    )
    trainer = Trainer(config, RunPaths.create(config), progress=False)
    trainer.start()
    while trainer.step < config.learning_starts:
        Lockstep([trainer]).advance()
    seconds: dict[int, list[float]] = {}
    largest = 1 + config.children * forks
    while len(trainer.members) < largest or len(seconds.get(largest, [])) < steps_per_k:
        k = len(trainer.members)
        started = time.perf_counter()
        Lockstep([trainer]).advance()
        seconds.setdefault(k, []).append(time.perf_counter() - started)
    return {k: float(np.mean(v)) for k, v in seconds.items()}, trainer  # half the steps update


def time_evaluation(
    results_dir: Path, alphas: int, episodes: int, workers: int
) -> tuple[float, float]:
    """Env-steps/s of evaluating interpolated policies of trained children, in one process (as
    periodic evaluation runs inside training) and over ``workers`` processes (as forks are).

    The episodes are the same in both (same children, alphas and reset seeds), so the steps
    counted in the one-process pass are the steps of the multi-process one.
    """
    run = load_run(results_dir)
    fork = fork_schedule(run.config)[0]
    seeds = evaluation_seeds(2, episodes)
    grid = interpolation_alphas(alphas)
    children = [load_agent_state(f)[0] for f in child_files(run, fork)]
    pool = EvaluationEnvs(check_task(run.config.env), run.config.max_episode_steps)
    counted = count_steps(pool, alphas * min(ENVS_PER_MEMBER, episodes))
    started = time.perf_counter()
    evaluate_members(interpolated_population(*children, grid), pool, seeds, ENVS_PER_MEMBER)
    one_process_s = time.perf_counter() - started
    pool.close()
    started = time.perf_counter()
    evaluate_returns(run, [fork], grid, seeds, workers=workers, progress=False)
    return counted[0] / one_process_s, counted[0] / (time.perf_counter() - started)


def main() -> None:
    keep_freed_memory()  # as the lmc-rl command does (lmc_rl/learners/allocator.py)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps_per_k", type=int, default=60, help="Timed steps per size K.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--train_steps", type=int, default=16_000, help="Training of the evaluated children."
    )
    parser.add_argument(
        "--results_dir",
        type=Path,
        help="A finished InvertedDoublePendulum-v5 run whose fork 1 children are evaluated "
        "(default: train one for --train_steps).",
    )
    args = parser.parse_args()
    config = build_config({"seed": 1})  # the default experiment
    work = count_work(config)
    with tempfile.TemporaryDirectory() as tmp:
        per_step, trainer = time_training(Path(tmp) / "train", args.steps_per_k, config)
        library = trainer.update_matmuls
        trainer.envs.close()
        trainer.eval_pool.close()
        trained = args.results_dir or make_run(config.env, Path(tmp) / "eval", args.train_steps)
        periodic_rate, fork_rate = time_evaluation(trained, 32, 20, args.workers)
    training_s = sum(work[f"steps_at_K{k}"] * s for k, s in per_step.items())
    periodic_s = work["periodic_eval_env_steps"] / periodic_rate
    instability_s = work["instability_env_steps"] / fork_rate
    rows = [
        (
            "training (collect + update)",
            f"{work['agent_steps']:.3g} agent-steps, {work['member_updates']:.3g} member-updates",
            training_s,
        ),
        (
            "periodic evaluation (upper bound)",
            f"{work['periodic_eval_env_steps']:.3g} env steps at {periodic_rate:,.0f}/s",
            periodic_s,
        ),
        (
            "instability evaluation (upper bound)",
            f"{work['instability_env_steps']:.3g} env steps "
            f"at {fork_rate:,.0f}/s on {args.workers} processes",
            instability_s,
        ),
    ]
    total = sum(r[2] for r in rows)
    lines = [
        f"default experiment projection: {config.env}, {config.algo}, {config.total_steps} steps,"
        f" train_freq {config.train_freq}, {len(fork_schedule(config))} forks of "
        f"{config.children} children, {config.alpha_points} alphas x {config.num_eval_episodes} "
        f"episodes; torch threads {torch.get_num_threads()}, update matmuls on {library}",
        "",
        "| K | time per lockstep step (mean) | steps of the run at this K |",
        "|---|---|---|",
        *[
            f"| {k} | {s * 1e3:.1f} ms | {work[f'steps_at_K{k}']:.0f} |"
            for k, s in sorted(per_step.items())
        ],
        "",
        "| phase | work | projected time |",
        "|---|---|---|",
        *[f"| {name} | {what} | {s / 3600:.2f} h |" for name, what, s in rows],
        f"| **total** | | **{total / 3600:.2f} h** |",
    ]
    print("\n".join(lines))
    write_lines("default_experiment.md", lines)


if __name__ == "__main__":
    main()
