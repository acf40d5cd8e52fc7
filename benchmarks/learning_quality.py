"""Learning quality of our SAC / TD3 / DDPG next to Stable-Baselines3, same settings and budget.

Why: a population trainer is only worth having if each member learns as well as a standard,
trusted single-agent implementation. This script trains our implementation and SB3's with the
same hyperparameters, step budget, evaluation schedule and seeds, and tabulates, per
(env, algo, implementation), the mean +- std across seeds of

* the final evaluation return (where training ended up),
* the best evaluation return (what it reached at all),
* the area under the evaluation curve (mean of all evaluations: how fast it got there),
* the first step at which each seed reached 95% of the task's maximum return,
* the wall time of one run.

Usage::

    python benchmarks/learning_quality.py --suite smoke        # a minute: does the script work?
    python benchmarks/learning_quality.py --suite issue        # the full comparison

Runs go through a pool of ``--workers`` processes, each limited to one torch thread, so the two
implementations compete for the CPU on equal terms. Results are printed and written to
``<out>/learning_quality_<suite>_{summary.csv,summary.md,runs.csv,curves.csv}``.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sb3_models import LIBRARY_DEFAULTS, sb3_model

DEFAULT_OUT = Path(__file__).resolve().parent / "out"

# Best achievable episode return within 1000 steps (InvertedDoublePendulum: alive bonus 10 minus
# a small distance penalty per step, so ~9.35 per step at best).
ENV_MAX_RETURN = {"InvertedPendulum-v5": 1000.0, "InvertedDoublePendulum-v5": 9350.0}
SOLVED_FRACTION = 0.95
IMPLEMENTATIONS = ("ours", "sb3")


@dataclass(frozen=True)
class Shared:
    """Hyperparameters given identically to both implementations: SB3's usual schedule (an
    update every step after 1000 random ones); every other value is lmc_rl's default (gamma,
    tau, learning rates, noise: see ``sb3_models.sb3_model``)."""

    learning_starts: int = 1000
    train_freq: int = 1
    gradient_steps: int = 1
    batch_size: int = LIBRARY_DEFAULTS["batch_size"]
    buffer_size: int = LIBRARY_DEFAULTS["buffer_size"]
    eval_freq: int = LIBRARY_DEFAULTS["eval_freq"]
    eval_episodes: int = LIBRARY_DEFAULTS["num_eval_episodes_periodic"]
    max_episode_steps: int = LIBRARY_DEFAULTS["max_episode_steps"]


SHARED = Shared()


@dataclass(frozen=True)
class Job:
    """One training run: an implementation, an algorithm, a task, a seed and a budget."""

    impl: str
    algo: str
    env: str
    seed: int
    total_steps: int
    hidden_dims: tuple[int, ...]


@dataclass
class RunResult:
    """The evaluation curve of one run (or the error that stopped it)."""

    job: Job
    steps: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Suite:
    """A set of (algo, env, total_steps) experiments, each run for every seed and implementation."""

    experiments: tuple[tuple[str, str, int], ...]
    seeds: tuple[int, ...]
    hidden_dims: tuple[int, ...] = (256, 256)


SUITES = {
    "issue": Suite(
        experiments=(
            ("SAC", "InvertedPendulum-v5", 20_000),
            ("SAC", "InvertedDoublePendulum-v5", 50_000),
            ("TD3", "InvertedPendulum-v5", 20_000),
            ("DDPG", "InvertedPendulum-v5", 20_000),
        ),
        seeds=(1, 2, 3),
    ),
    "smoke": Suite(
        experiments=(("SAC", "InvertedPendulum-v5", 2000),),
        seeds=(1,),
        hidden_dims=(32, 32),
    ),
}


# ---------------------------------------------------------------------------------------------
# the two implementations


def run_ours(job: Job, runs_root: Path, keep_runs: bool) -> tuple[list[int], list[float]]:
    """Train with lmc_rl (one parent, no forks) and read back its evaluation curve."""
    from lmc_rl.config import build_config
    from lmc_rl.experiment import run_experiment

    runs_root.mkdir(parents=True, exist_ok=True)
    output_dir = Path(tempfile.mkdtemp(prefix=f"{job.algo}_{job.env}_{job.seed}_", dir=runs_root))
    s = SHARED
    overrides = {
        "env": job.env,
        "algo": job.algo,
        "seed": job.seed,
        "total_steps": job.total_steps,
        "learning_starts": s.learning_starts,
        "train_freq": s.train_freq,
        "gradient_steps": s.gradient_steps,
        "batch_size": s.batch_size,
        "buffer_size": s.buffer_size,
        "hidden_dims": ",".join(map(str, job.hidden_dims)),
        "eval_freq": s.eval_freq,
        "num_eval_episodes_periodic": s.eval_episodes,
        "max_episode_steps": s.max_episode_steps,
        "fork_points": "none",
        "experiment_name": "learning_quality",
        "output_dir": str(output_dir),
        "device": "cpu",
    }
    try:
        paths = run_experiment(build_config(overrides), progress=False)
        return read_parent_curve(paths.evaluations_file)
    finally:
        if not keep_runs:
            shutil.rmtree(output_dir, ignore_errors=True)


def read_parent_curve(path: Path) -> tuple[list[int], list[float]]:
    """(step, mean_return) of the parent's periodic evaluations in an evaluations.csv."""
    steps, returns = [], []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["member"] == "parent":
                steps.append(int(row["step"]))
                returns.append(float(row["mean_return"]))
    return steps, returns


def sb3_job_model(job: Job):  # -> stable_baselines3 OffPolicyAlgorithm
    """SB3's algorithm for ``job`` with every shared hyperparameter set explicitly."""
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor

    s = SHARED
    return sb3_model(
        job.algo,
        Monitor(gym.make(job.env, max_episode_steps=s.max_episode_steps)),
        hidden_dims=job.hidden_dims,
        seed=job.seed,
        buffer_size=s.buffer_size,
        learning_starts=s.learning_starts,
        batch_size=s.batch_size,
        train_freq=s.train_freq,
        gradient_steps=s.gradient_steps,
    )


def sb3_eval_callback(env_id: str, seed: int):  # -> BaseCallback
    """Every ``eval_freq`` env steps, 10 deterministic episodes on separate env instances.

    Ten envs run side by side (SB3's per-env episode targets), reseeded identically before every
    evaluation so that successive evaluations differ only by the policy, like ours.
    """
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    s = SHARED

    def make_env():
        return Monitor(gym.make(env_id, max_episode_steps=s.max_episode_steps))

    class PeriodicEval(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.eval_env = DummyVecEnv([make_env] * s.eval_episodes)
            self.steps: list[int] = []
            self.returns: list[float] = []

        def _on_step(self) -> bool:
            if self.num_timesteps % s.eval_freq == 0:
                self.eval_env.seed(seed + 1_000_003)
                episode_returns, _ = evaluate_policy(
                    self.model,
                    self.eval_env,
                    n_eval_episodes=s.eval_episodes,
                    deterministic=True,
                    return_episode_rewards=True,
                )
                self.steps.append(self.num_timesteps)
                self.returns.append(float(np.mean(episode_returns)))
            return True

    return PeriodicEval()


def run_sb3(job: Job) -> tuple[list[int], list[float]]:
    """Train with Stable-Baselines3 and return its evaluation curve."""
    model = sb3_job_model(job)
    callback = sb3_eval_callback(job.env, job.seed)
    model.learn(total_timesteps=job.total_steps, callback=callback, progress_bar=False)
    callback.eval_env.close()
    return callback.steps, callback.returns


# ---------------------------------------------------------------------------------------------
# running jobs


def init_worker() -> None:
    """One torch thread per worker: workers run side by side on a small, shared machine; and
    the malloc tuning of lmc-rl (lmc_rl/allocator.py), for both implementations."""
    import torch

    from lmc_rl.allocator import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(1)


def run_job(args: tuple[Job, Path, bool]) -> RunResult:
    """Run one job; an exception is recorded in the result rather than killing the pool."""
    job, runs_root, keep_runs = args
    result = RunResult(job)
    started = time.perf_counter()
    try:
        if job.impl == "ours":
            result.steps, result.returns = run_ours(job, runs_root, keep_runs)
        else:
            result.steps, result.returns = run_sb3(job)
    except Exception:
        result.error = traceback.format_exc()
    result.wall_s = time.perf_counter() - started
    return result


def make_jobs(
    suite: Suite, seeds: Sequence[int], implementations: Sequence[str] = IMPLEMENTATIONS
) -> list[Job]:
    """Every (experiment, seed, implementation), longest first so the pool ends evenly."""
    jobs = [
        Job(impl, algo, env, seed, steps, suite.hidden_dims)
        for algo, env, steps in suite.experiments
        for seed in seeds
        for impl in implementations
    ]
    return sorted(jobs, key=lambda j: -j.total_steps)


def run_all(jobs: list[Job], workers: int, runs_root: Path, keep_runs: bool) -> list[RunResult]:
    """Run jobs in a spawn pool (a fresh interpreter per job) and report as each finishes."""
    tasks = [(job, runs_root, keep_runs) for job in jobs]
    results = []
    started = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=init_worker, maxtasksperchild=1) as pool:
        for i, result in enumerate(pool.imap_unordered(run_job, tasks), start=1):
            job = result.job
            final = f"{result.returns[-1]:.1f}" if result.returns else "-"
            status = "FAILED" if result.error else f"final {final}"
            print(
                f"[{i}/{len(jobs)} {time.perf_counter() - started:6.0f}s] {job.impl:4s} "
                f"{job.algo:4s} {job.env} seed {job.seed}: {status} ({result.wall_s:.0f}s)",
                flush=True,
            )
            if result.error:
                print(result.error, file=sys.stderr, flush=True)
            results.append(result)
    return results


# ---------------------------------------------------------------------------------------------
# summarising


def solved_step(result: RunResult) -> int | None:
    """First evaluation step whose mean return reached 95% of the task's maximum."""
    threshold = SOLVED_FRACTION * ENV_MAX_RETURN.get(result.job.env, float("inf"))
    return next(
        (s for s, r in zip(result.steps, result.returns, strict=True) if r >= threshold), None
    )


def run_row(result: RunResult) -> dict:
    """Per-seed numbers of one run."""
    job = result.job
    ok = bool(result.returns) and result.error is None
    return {
        "env": job.env,
        "algo": job.algo,
        "impl": job.impl,
        "seed": job.seed,
        "total_steps": job.total_steps,
        "final": result.returns[-1] if ok else float("nan"),
        "best": max(result.returns) if ok else float("nan"),
        "auc": statistics.fmean(result.returns) if ok else float("nan"),
        "solved_step": solved_step(result) if ok else None,
        "n_evals": len(result.returns),
        "wall_s": result.wall_s,
        "error": result.error.strip().splitlines()[-1] if result.error else "",
    }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) across seeds."""
    values = [v for v in values if v == v]  # drop NaN from failed runs
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summary_rows(runs: list[dict]) -> list[dict]:
    """One row per (env, algo, impl), in the suite's order, ours before SB3."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in runs:
        groups.setdefault((row["env"], row["algo"], row["impl"]), []).append(row)
    summary = []
    for (env, algo, impl), rows in groups.items():
        rows = sorted(rows, key=lambda r: r["seed"])
        out = {"env": env, "algo": algo, "impl": impl, "steps": rows[0]["total_steps"]}
        out["seeds"] = len(rows)
        out["failed"] = sum(bool(r["error"]) for r in rows)
        for key in ("final", "best", "auc", "wall_s"):
            out[f"{key}_mean"], out[f"{key}_std"] = mean_std([r[key] for r in rows])
        out["solved_steps"] = " ".join(
            "never" if r["solved_step"] is None else str(r["solved_step"]) for r in rows
        )
        out["final_per_seed"] = " ".join(f"{r['final']:.1f}" for r in rows)
        summary.append(out)
    return summary


def markdown_table(summary: list[dict]) -> str:
    """The summary as a markdown table (also what is printed)."""

    def pm(row: dict, key: str, digits: int = 1) -> str:
        return f"{row[f'{key}_mean']:.{digits}f} ± {row[f'{key}_std']:.{digits}f}"

    header = [
        "env",
        "algo",
        "impl",
        "steps",
        "seeds",
        "final return",
        "best return",
        "AUC (mean eval)",
        "step to 95% (per seed)",
        "final (per seed)",
        "wall s/run",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary:
        seeds = f"{row['seeds']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        cells = [
            row["env"],
            row["algo"],
            row["impl"],
            str(row["steps"]),
            seeds,
            pm(row, "final"),
            pm(row, "best"),
            pm(row, "auc"),
            row["solved_steps"],
            row["final_per_seed"],
            pm(row, "wall_s", 0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def curve_rows(results: list[RunResult]) -> list[dict]:
    """Every evaluation of every run, long format, for plotting learning curves."""
    return [
        {
            **asdict(r.job),
            "hidden_dims": ",".join(map(str, r.job.hidden_dims)),
            "step": s,
            "mean_return": v,
        }
        for r in results
        for s, v in zip(r.steps, r.returns, strict=True)
    ]


def write_outputs(out: Path, suite: str, results: list[RunResult], header: str) -> str:
    """Write summary (CSV, markdown), per-run and per-evaluation CSVs; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    order = {(a, e): i for i, (a, e, _) in enumerate(SUITES[suite].experiments)}
    results = sorted(
        results,
        key=lambda r: (
            order.get((r.job.algo, r.job.env), 99),
            IMPLEMENTATIONS.index(r.job.impl),
            r.job.seed,
        ),
    )
    runs = [run_row(r) for r in results]
    summary = summary_rows(runs)
    table = markdown_table(summary)
    stem = out / f"learning_quality_{suite}"
    write_csv(Path(f"{stem}_summary.csv"), summary)
    write_csv(Path(f"{stem}_runs.csv"), runs)
    write_csv(Path(f"{stem}_curves.csv"), curve_rows(results))
    Path(f"{stem}_summary.md").write_text(f"{header}\n\n{table}")
    return table


# ---------------------------------------------------------------------------------------------


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative seeds, got {text!r}")
    return seeds


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Train our SAC/TD3/DDPG and Stable-Baselines3's with the same hyperparameters, budget "
            "and evaluation schedule over several seeds, and tabulate final, best and mean "
            "(area under curve) evaluation returns, steps to 95% of the maximum return, and "
            "wall time."
        )
    )
    parser.add_argument(
        "--suite",
        choices=sorted(SUITES),
        default="issue",
        help=(
            "issue (default): SAC on InvertedPendulum-v5 (20k steps) and InvertedDoublePendulum-v5 "
            "(50k), TD3 and DDPG on InvertedPendulum-v5 (20k), seeds 1,2,3, ours vs SB3. "
            "smoke: SAC on InvertedPendulum-v5, 2000 steps, seed 1, hidden 32,32 (checks the "
            "script works)."
        ),
    )
    parser.add_argument(
        "--seeds",
        type=parse_seeds,
        default=None,
        help="Comma-separated seeds, replacing the suite's (issue: 1,2,3; smoke: 1).",
    )
    parser.add_argument(
        "--implementations",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=list(IMPLEMENTATIONS),
        help="Comma-separated implementations to train: ours, sb3 (default both).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="Runs in parallel, each in its own process with one torch thread (default 2).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"Folder for the CSV and markdown results (default {DEFAULT_OUT}).",
    )
    parser.add_argument(
        "--keep-runs",
        action="store_true",
        help="Keep our runs' result folders under <out>/runs instead of deleting them.",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    if not args.implementations or set(args.implementations) - set(IMPLEMENTATIONS):
        parser.error(f"--implementations: choose from {', '.join(IMPLEMENTATIONS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    suite = SUITES[args.suite]
    seeds = args.seeds or suite.seeds
    jobs = make_jobs(suite, seeds, args.implementations)
    print(
        f"learning_quality --suite {args.suite}: {len(jobs)} runs, seeds {list(seeds)}, "
        f"{args.workers} worker(s), hidden {suite.hidden_dims}",
        flush=True,
    )
    started = time.perf_counter()
    results = run_all(jobs, args.workers, args.out / "runs", args.keep_runs)
    elapsed = time.perf_counter() - started
    header = (
        f"# learning_quality --suite {args.suite}\n\nShared settings: {asdict(SHARED)}, "
        "every other hyperparameter lmc_rl's default; "
        f"hidden {suite.hidden_dims}; seeds {list(seeds)}; {args.workers} worker(s) x 1 torch "
        f"thread; total wall {elapsed:.0f}s. 95% thresholds: "
        + ", ".join(f"{e} {SOLVED_FRACTION * m:.0f}" for e, m in ENV_MAX_RETURN.items())
        + ". ± is the sample std across seeds."
    )
    table = write_outputs(args.out, args.suite, results, header)
    print()
    print(table)
    print(f"total wall time {elapsed:.0f}s; wrote {args.out}/learning_quality_{args.suite}_*")
    if any(r.error for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
