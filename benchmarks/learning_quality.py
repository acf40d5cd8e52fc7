"""Learning quality of our SAC / TD3 / DDPG next to Stable-Baselines3, same settings and budget.

Why: a population trainer is only worth having if each member learns as well as a standard,
trusted single-agent implementation. This script trains our implementation and SB3's with the
same hyperparameters, step budget, evaluation schedule and seeds, and tabulates, per
(env, algo, implementation), the mean +- std across seeds of

* the final evaluation return (where training ended up),
* the best evaluation return (what it reached at all),
* the area under the evaluation curve (mean of all evaluations: how fast it got there),
* the first step at which each seed reached 95% of the task's maximum return (tasks whose
  maximum is known: the pendulums),
* the wall time of one run.

Usage::

    python benchmarks/learning_quality.py --suite smoke        # a minute: does the script work?
    python benchmarks/learning_quality.py --suite issue        # the full comparison

Runs go through a pool of ``--workers`` processes, each limited to ``--threads`` torch threads
(default one): SB3 trains one seed per process; ours trains all seeds of an experiment as one
lockstep population in one process (``lmc-rl run --seeds``). Finished runs are kept in
``<out>/finished_<suite>/`` and ours in ``<out>/runs/`` until done, so a killed suite continues
where it stopped. Results are printed and written to
``<out>/learning_quality_<suite>_{summary,intervals}.{csv,md}``, ``_runs.csv``, ``_curves.csv``
and ``_curves.png`` (IQM learning curves with 95 % bootstrap bands). Any other selection than
the suite's own (other seeds, experiments, implementations, budget, ``--at_step`` or
``--squash_epsilon``) says so in its file names, e.g.
``learning_quality_locomotion_seeds1-7_SAC-Hopper-v5_*``, so it never replaces the suite's.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import multiprocessing as mp
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import rl_stats
from sb3_models import LIBRARY_DEFAULTS, sb3_model

DEFAULT_OUT = Path(__file__).resolve().parent / "out"

# Best achievable episode return within 1000 steps (InvertedDoublePendulum: alive bonus 10 minus
# a small distance penalty per step, so ~9.35 per step at best).
ENV_MAX_RETURN = {"InvertedPendulum-v5": 1000.0, "InvertedDoublePendulum-v5": 9350.0}
SOLVED_FRACTION = 0.95
MIN_RUNS_FOR_INTERVAL = 2  # bootstrap intervals and P(ours > SB3) need two runs a side
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
    shared: Shared = SHARED
    squash_epsilon: float = 0.0  # ours' --squash_epsilon (SB3 always uses its own 1e-6)

    @property
    def impl_name(self) -> str:
        """The implementation with its variant: ``ours``, ``ours_eps1e-06`` or ``sb3``."""
        return f"{self.impl}_eps{self.squash_epsilon:g}" if self.squash_epsilon else self.impl

    @property
    def key(self) -> str:
        """A file-name-safe identity: a finished run is cached under it (resumable suites)."""
        return f"{self.impl_name}_{self.algo}_{self.env}_s{self.seed}_{self.total_steps}"


@dataclass
class RunResult:
    """The evaluation curve of one run (or the error that stopped it)."""

    job: Job
    steps: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    error: str | None = None
    reused: bool = False  # read from the cache, not trained by this invocation
    threads: int = 1  # torch threads it trained with (wall time depends on them)


@dataclass(frozen=True)
class Suite:
    """A set of (algo, env, total_steps) experiments, each run for every seed and implementation."""

    experiments: tuple[tuple[str, str, int], ...]
    seeds: tuple[int, ...]
    hidden_dims: tuple[int, ...] = (256, 256)
    shared: Shared = SHARED


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
    # RL Baselines3 Zoo's schedule for these tasks (10k random steps first); an evaluation every
    # 5000 steps keeps the 10-episode evaluations a small part of the budget.
    "locomotion": Suite(
        experiments=(
            ("SAC", "Hopper-v5", 200_000),
            ("SAC", "HalfCheetah-v5", 200_000),
            ("TD3", "Hopper-v5", 200_000),
        ),
        seeds=(1, 2, 3, 4, 5),
        shared=Shared(learning_starts=10_000, eval_freq=5000),
    ),
    "smoke": Suite(
        experiments=(("SAC", "InvertedPendulum-v5", 2000),),
        seeds=(1,),
        hidden_dims=(32, 32),
    ),
}


# ---------------------------------------------------------------------------------------------
# the two implementations


def ours_overrides(job: Job, output_dir: Path) -> dict:
    """lmc_rl's run flags for ``job``: one parent, no forks, the shared hyperparameters."""
    s = job.shared
    return {
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
        "squash_epsilon": job.squash_epsilon,
        "fork_points": "none",
        "experiment_name": "learning_quality",
        "output_dir": str(output_dir),
        "device": "cpu",
    }


def ours_runs_dir(jobs: Sequence[Job], runs_root: Path) -> Path:
    """Where ours trains the seeds of one experiment, named after its jobs."""
    first = jobs[0]
    seeds = "-".join(str(job.seed) for job in jobs)
    return runs_root / f"{first.impl_name}_{first.algo}_{first.env}_{first.total_steps}_s{seeds}"


def unfinished_ours(jobs: Sequence[Job], runs_root: Path) -> list[RunResult]:
    """The evaluation curves so far of our runs still training (or killed) under
    ``runs_root``, one result per job whose run folder has evaluations."""
    results = []
    for task in make_tasks([job for job in jobs if job.impl == "ours"]):
        folder = ours_runs_dir(task, runs_root)
        for job in task:
            found = sorted(folder.glob(f"results/*/{job.env}/{job.algo}/seed_{job.seed}_*"))
            if found and (found[-1] / "evaluations.csv").is_file():
                steps, returns = read_parent_curve(found[-1] / "evaluations.csv")
                results.append(RunResult(job, steps, returns))
    return results


def at_step(results: Sequence[RunResult], step: int) -> list[RunResult]:
    """Every curve cut at ``step`` (its final return is the one at ``step``), leaving out the
    runs that have not reached it: a comparison at a common budget. Wall times are left out
    (NaN): a run cut short did not take them for the budget compared, and a table mixing the
    two would average unlike times."""
    cut = []
    for r in results:
        if step in r.steps:
            n = r.steps.index(step) + 1
            job = dataclasses.replace(r.job, total_steps=step)  # tables show the budget compared
            cut.append(RunResult(job, r.steps[:n], r.returns[:n], float("nan"), r.error))
    return cut


def run_ours(
    jobs: Sequence[Job], runs_root: Path, keep_runs: bool
) -> list[tuple[list[int], list[float]]]:
    """Train the seeds of one experiment with lmc_rl as one lockstep population (what
    ``lmc-rl run --seeds`` does) and read back each seed's evaluation curve. The runs live in a
    folder named after the jobs, so a killed suite resumes them (``lmc-rl run --resume``)."""
    from lmc_rl.config.run_config import build_config
    from lmc_rl.experiment.phases import resume_experiments, run_experiments

    seeds = [job.seed for job in jobs]
    output_dir = ours_runs_dir(jobs, runs_root)
    started = sorted(output_dir.glob("results/*/*/*/seed_*"))
    if len(started) == len(jobs):
        print(f"resuming {len(jobs)} runs in {output_dir}", flush=True)
        paths = resume_experiments([str(d) for d in started], {}, progress=True)
    else:
        shutil.rmtree(output_dir, ignore_errors=True)  # killed before every run had its folder
        configs = [build_config(ours_overrides(job, output_dir)) for job in jobs]
        paths = run_experiments(configs, progress=True)  # lmc-rl run's bar: steps/s, ETA
    by_seed = {int(p.results.name.split("_")[1]): p for p in paths}
    curves = [read_parent_curve(by_seed[seed].evaluations_file) for seed in seeds]
    if not keep_runs:
        shutil.rmtree(output_dir, ignore_errors=True)
    return curves


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

    s = job.shared
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


def sb3_eval_callback(job: Job):  # -> BaseCallback
    """Every ``eval_freq`` env steps, 10 deterministic episodes on separate env instances, and
    a progress line (step, return, time left at the last interval's pace).

    Ten envs run side by side (SB3's per-env episode targets), reseeded identically before every
    evaluation so that successive evaluations differ only by the policy, like ours.
    """
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    env_id, seed, s = job.env, job.seed, job.shared

    def make_env():
        return Monitor(gym.make(env_id, max_episode_steps=s.max_episode_steps))

    class PeriodicEval(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.eval_env = DummyVecEnv([make_env] * s.eval_episodes)
            self.steps: list[int] = []
            self.returns: list[float] = []
            self.started = self.last_time = time.perf_counter()

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
                self._report()
            return True

        def _report(self) -> None:
            now = time.perf_counter()
            per_step = (now - self.last_time) / s.eval_freq
            self.last_time = now
            left = (job.total_steps - self.num_timesteps) * per_step
            print(
                f"sb3  {job.algo} {job.env} seed {job.seed}: step {self.num_timesteps}/"
                f"{job.total_steps}, eval return {self.returns[-1]:.1f} "
                f"({(now - self.started) / 60:.0f} min, about {left / 60:.0f} min left)",
                flush=True,
            )

    return PeriodicEval()


def run_sb3(job: Job) -> tuple[list[int], list[float]]:
    """Train with Stable-Baselines3 and return its evaluation curve."""
    model = sb3_job_model(job)
    callback = sb3_eval_callback(job)
    model.learn(total_timesteps=job.total_steps, callback=callback, progress_bar=False)
    callback.eval_env.close()
    return callback.steps, callback.returns


# ---------------------------------------------------------------------------------------------
# running jobs


def init_worker(threads: int) -> None:
    """``threads`` torch threads per worker (one by default: workers run side by side on a small,
    shared machine); and the malloc tuning of lmc-rl (lmc_rl/learners/allocator.py), for both
    implementations."""
    import torch

    from lmc_rl.learners.allocator import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(threads)


def torch_threads() -> int:
    """torch's thread count in this worker (torch is imported in workers only)."""
    import torch

    return torch.get_num_threads()


def run_task(args: tuple[tuple[Job, ...], Path, bool, Path]) -> list[RunResult]:
    """Run one task (an SB3 run, or every seed of one experiment of ours as one population);
    an exception is recorded in the results rather than killing the pool. A population's wall
    time is shared equally among its seeds. A task that another invocation finished while
    this one waited in the queue is read from ``done_dir``, not trained again."""
    jobs, runs_root, keep_runs, done_dir = args
    cached = [cached_result(done_dir, job) for job in jobs]
    if all(r is not None for r in cached):
        return cached
    results = [RunResult(job) for job in jobs]
    started = time.perf_counter()
    try:
        if jobs[0].impl == "ours":
            curves = run_ours(jobs, runs_root, keep_runs)
        else:
            curves = [run_sb3(job) for job in jobs]
        for result, (steps, returns) in zip(results, curves, strict=True):
            result.steps, result.returns = steps, returns
    except Exception:
        for result in results:
            result.error = traceback.format_exc()
    for result in results:
        result.wall_s = (time.perf_counter() - started) / len(jobs)
        result.threads = torch_threads()
    return results


def make_tasks(jobs: Sequence[Job]) -> list[tuple[Job, ...]]:
    """SB3 trains one seed per process; ours trains the seeds of an experiment together."""
    tasks: dict[tuple, list[Job]] = {}
    for job in jobs:
        key = (job.impl, job.algo, job.env, job.total_steps) if job.impl == "ours" else job
        tasks.setdefault(key, []).append(job)
    return [tuple(group) for group in tasks.values()]


def experiment_id(algo: str, env: str) -> str:
    """How ``--only`` names an experiment: ALGO:ENV."""
    return f"{algo}:{env}"


def make_jobs(
    suite: Suite,
    seeds: Sequence[int],
    implementations: Sequence[str] = IMPLEMENTATIONS,
    only: Sequence[str] | None = None,
    squash_epsilon: float = 0.0,
    total_steps: int | None = None,
) -> list[Job]:
    """Every (experiment, seed, implementation), longest first so the pool ends evenly; with
    ``total_steps``, every experiment trains for that budget instead of the suite's."""
    jobs = [
        Job(
            impl,
            algo,
            env,
            seed,
            steps if total_steps is None else total_steps,
            suite.hidden_dims,
            suite.shared,
            squash_epsilon if impl == "ours" else 0.0,
        )
        for algo, env, steps in suite.experiments
        if only is None or experiment_id(algo, env) in only
        for seed in seeds
        for impl in implementations
    ]
    return sorted(jobs, key=lambda j: -j.total_steps)


def cached_result(done_dir: Path, job: Job) -> RunResult | None:
    """The finished result of ``job`` from an earlier invocation, if one was saved."""
    path = done_dir / f"{job.key}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return RunResult(
        job,
        data["steps"],
        data["returns"],
        data["wall_s"],
        reused=True,
        threads=data.get("threads", 1),  # results saved before --threads had one
    )


def run_identity(job: Job) -> tuple[str, str, str, int]:
    """A run whatever its budget: implementation (with its variant), algorithm, task, seed."""
    return job.impl_name, job.algo, job.env, job.seed


def cached_result_reaching(done_dir: Path, job: Job, step: int) -> RunResult | None:
    """The finished run of ``job``'s implementation, task and seed that was evaluated at
    ``step``: its own budget's if so, else the shortest other budget's (``--total_steps``), so
    that runs of several budgets compare at a common step."""
    own = cached_result(done_dir, job)
    if own is not None and step in own.steps:
        return own
    same_run = job.key.rsplit("_", 1)[0]  # the key without its budget
    tails = (p.stem.rsplit("_", 1)[1] for p in done_dir.glob(f"{same_run}_*.json"))
    budgets = sorted(int(t) for t in tails if t.isdigit())  # skip stray files
    for budget in (b for b in budgets if b >= step and b != job.total_steps):
        result = cached_result(done_dir, dataclasses.replace(job, total_steps=budget))
        if result is not None and step in result.steps:
            return result
    return None


def save_result(done_dir: Path, result: RunResult) -> None:
    """Keep a finished run so that a killed suite restarts where it stopped."""
    done_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "job": asdict(result.job),
        **{k: getattr(result, k) for k in ("steps", "returns", "wall_s", "threads")},
    }
    tmp = done_dir / f".{result.job.key}.json.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(done_dir / f"{result.job.key}.json")


def run_all(
    jobs: list[Job],
    workers: int,
    runs_root: Path,
    keep_runs: bool,
    done_dir: Path,
    threads: int = 1,
) -> list[RunResult]:
    """Run jobs in a spawn pool (a fresh interpreter per job) and report as each finishes;
    jobs finished by an earlier invocation (saved in ``done_dir``) are read, not rerun."""
    results = [r for r in (cached_result(done_dir, job) for job in jobs) if r is not None]
    if results:
        print(f"{len(results)} run(s) already finished in {done_dir}: reused", flush=True)
    finished = {r.job for r in results}
    tasks = [
        (task, runs_root, keep_runs, done_dir)
        for task in make_tasks([j for j in jobs if j not in finished])
    ]
    started = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(
        workers, initializer=init_worker, initargs=(threads,), maxtasksperchild=1
    ) as pool:
        done = (r for task_results in pool.imap_unordered(run_task, tasks) for r in task_results)
        for i, result in enumerate(done, start=len(results) + 1):
            job = result.job
            final = f"{result.returns[-1]:.1f}" if result.returns else "-"
            status = "FAILED" if result.error else f"final {final}"
            if result.reused:
                status += ", finished by another invocation meanwhile"
            print(
                f"[{i}/{len(jobs)} {time.perf_counter() - started:6.0f}s] {job.impl:4s} "
                f"{job.algo:4s} {job.env} seed {job.seed}: {status} ({result.wall_s:.0f}s)",
                flush=True,
            )
            if result.error:
                print(result.error, file=sys.stderr, flush=True)
            elif not result.reused:
                save_result(done_dir, result)
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
        "threads": result.threads,
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
        out["solved_steps"] = (
            " ".join("never" if r["solved_step"] is None else str(r["solved_step"]) for r in rows)
            if env in ENV_MAX_RETURN
            else "n/a (no known maximum)"
        )
        out["final_per_seed"] = " ".join(f"{r['final']:.1f}" for r in rows)
        summary.append(out)
    return summary


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def markdown_table(summary: list[dict]) -> str:
    """The summary as a markdown table (also what is printed)."""

    def pm(row: dict, key: str, digits: int = 1) -> str:
        if math.isnan(row[f"{key}_mean"]):
            return "n/a"
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
    body = []
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
        body.append(cells)
    return markdown(header, body)


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


def experiment_groups(runs: list[dict]) -> dict[tuple[str, str], dict[str, list[dict]]]:
    """The finished runs by (env, algo), then by implementation."""
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for row in runs:
        if not row["error"]:
            groups.setdefault((row["env"], row["algo"]), {}).setdefault(row["impl"], []).append(row)
    return groups


def interval_rows(runs: list[dict]) -> list[dict]:
    """Per (env, algo): each implementation's IQM of final and AUC returns with 95 %
    bootstrap intervals, and the probability that a run of ours beats a run of SB3."""
    rows = []
    for (env, algo), by_impl in experiment_groups(runs).items():
        out: dict = {"env": env, "algo": algo}
        for impl in IMPLEMENTATIONS:
            for key in ("final", "auc"):
                values = [r[key] for r in by_impl.get(impl, [])]
                out[f"{impl}_{key}_n"] = len(values)
                stats = rl_stats.iqm_with_interval(values) if values else (float("nan"),) * 3
                if len(values) < MIN_RUNS_FOR_INTERVAL:  # resampling one run says nothing
                    stats = (stats[0], float("nan"), float("nan"))
                out[f"{impl}_{key}_iqm"], out[f"{impl}_{key}_lo"], out[f"{impl}_{key}_hi"] = stats
        for key in ("final", "auc"):
            ours = [r[key] for r in by_impl.get("ours", [])]
            sb3 = [r[key] for r in by_impl.get("sb3", [])]
            stats = (
                rl_stats.improvement_with_interval(ours, sb3)
                if min(len(ours), len(sb3)) >= MIN_RUNS_FOR_INTERVAL
                else (float("nan"),) * 3
            )
            out[f"p_ours_beats_sb3_{key}"], out[f"p_{key}_lo"], out[f"p_{key}_hi"] = stats
        rows.append(out)
    return rows


def pooled_rows(runs: list[dict]) -> list[dict]:
    """P(ours > SB3) averaged over the experiments with two runs or more a side (named in the
    row), for final and AUC returns, with its stratified-bootstrap interval (rliable's
    aggregate): a gap too small for any one experiment's interval may show when they are
    pooled. Empty below two such experiments."""
    tasks = {
        f"{algo} {env}": by_impl
        for (env, algo), by_impl in experiment_groups(runs).items()
        if min(len(by_impl.get(impl, [])) for impl in IMPLEMENTATIONS) >= MIN_RUNS_FOR_INTERVAL
    }
    if len(tasks) < 2:
        return []
    rows = []
    for key in ("final", "auc"):
        pairs = [
            tuple([r[key] for r in t[impl]] for impl in IMPLEMENTATIONS) for t in tasks.values()
        ]
        p, lo, hi = rl_stats.average_improvement_with_interval(pairs)
        row = {"metric": key, "experiments": "; ".join(tasks), "p_ours_beats_sb3": p}
        rows.append({**row, "p_lo": lo, "p_hi": hi})
    return rows


def pooled_markdown(rows: list[dict]) -> str:
    """One sentence under the interval table; empty if nothing is pooled."""
    if not rows:
        return ""
    parts = [
        f"{'AUC' if r['metric'] == 'auc' else r['metric']} {r['p_ours_beats_sb3']:.2f} "
        f"[{r['p_lo']:.2f}, {r['p_hi']:.2f}]"
        for r in rows
    ]
    return (
        f"\nPooled over {rows[0]['experiments']} (P averaged over these experiments, runs "
        f"resampled within each experiment and implementation): P(ours > SB3) "
        f"{'; '.join(parts)}.\n"
    )


def intervals_markdown(rows: list[dict]) -> str:
    """The interval table: IQM [95 % CI] per implementation, P(ours > SB3) [95 % CI]."""

    def cell(row: dict, prefix: str, digits: int = 0) -> str:
        value, lo, hi = (row[f"{prefix}_{k}"] for k in ("iqm", "lo", "hi"))
        if math.isnan(lo):
            return f"{value:.{digits}f} [no interval: {row[prefix + '_n']} run]"
        return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    def p_cell(row: dict, key: str) -> str:
        if math.isnan(row[f"p_ours_beats_sb3_{key}"]):
            return f"n/a (needs {MIN_RUNS_FOR_INTERVAL} runs a side)"
        return (
            f"{row[f'p_ours_beats_sb3_{key}']:.2f} "
            f"[{row[f'p_{key}_lo']:.2f}, {row[f'p_{key}_hi']:.2f}]"
        )

    header = [
        "env",
        "algo",
        "runs (ours / SB3)",
        "final IQM, ours",
        "final IQM, SB3",
        "P(ours > SB3), final",
        "AUC IQM, ours",
        "AUC IQM, SB3",
        "P(ours > SB3), AUC",
    ]
    body = []
    for row in rows:
        cells = [
            row["env"],
            row["algo"],
            f"{row['ours_final_n']} / {row['sb3_final_n']}",
            cell(row, "ours_final"),
            cell(row, "sb3_final"),
            p_cell(row, "final"),
            cell(row, "ours_auc"),
            cell(row, "sb3_auc"),
            p_cell(row, "auc"),
        ]
        body.append(cells)
    return markdown(header, body)


def plot_curves(results: list[RunResult], path: Path) -> None:
    """Learning curves per (env, algo): the IQM across seeds at each evaluation step, with a
    95 % bootstrap band, ours and SB3 on the same axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    experiments = sorted({(r.job.env, r.job.algo) for r in results if r.returns})
    if not experiments:
        return
    fig, axes = plt.subplots(
        1, len(experiments), figsize=(5 * len(experiments), 3.8), squeeze=False
    )
    for ax, (env, algo) in zip(axes[0], experiments, strict=True):
        for impl, color in zip(IMPLEMENTATIONS, ("tab:blue", "tab:orange"), strict=True):
            runs = [
                r
                for r in results
                if r.returns and (r.job.env, r.job.algo, r.job.impl) == (env, algo, impl)
            ]
            if not runs:
                continue
            length = min(len(r.returns) for r in runs)
            steps = np.asarray(runs[0].steps[:length])
            curves = np.array([r.returns[:length] for r in runs])  # [seeds, evaluations]
            centre, low, high = rl_stats.iqm_curve_with_band(curves, reps=2000)
            seeds = f"{len(runs)} seed{'s' * (len(runs) != 1)}"
            label = f"{'lmc-rl' if impl == 'ours' else 'SB3'} ({seeds})"
            ax.plot(steps, centre, color=color, label=label)
            ax.fill_between(steps, low, high, color=color, alpha=0.2, lw=0)
        ax.set_title(f"{algo} {env}")
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")
        ax.set_ylabel("eval return (IQM, 95% CI)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def seed_label(seeds: Sequence[int]) -> str:
    """Seeds as runs of consecutive numbers for a file name: 1-7, 1-5+8, 6+9."""
    ordered = sorted(set(seeds))
    runs: list[list[int]] = []
    for seed in ordered:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return "+".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def output_stem(
    out: Path,
    suite: str,
    *,
    seeds: Sequence[int] | None = None,
    only: Sequence[str] | None = None,
    implementations: Sequence[str] | None = None,
    at_step: int | None = None,
    squash_epsilon: float = 0.0,
    total_steps: int | None = None,
) -> Path:
    """Where a report's files go. Only the suite's own selection (its seeds, experiments and
    both implementations, at its budget) writes the suite's tables; any other selection, a
    comparison at a common step or ours with another ``--squash_epsilon`` gets a name of its
    own, so a report never replaces another one's files."""
    own = SUITES[suite]
    stem = f"learning_quality_{suite}"
    if total_steps is not None:
        stem += f"_{total_steps}steps"
    if seeds is not None and sorted(set(seeds)) != sorted(own.seeds):
        stem += f"_seeds{seed_label(seeds)}"
    chosen = [
        f"{a}-{e}" for a, e, _ in own.experiments if only is None or experiment_id(a, e) in only
    ]
    if len(chosen) < len(own.experiments):
        stem += "_" + "+".join(chosen)
    if implementations is not None and set(implementations) != set(IMPLEMENTATIONS):
        stem += "_" + "+".join(i for i in IMPLEMENTATIONS if i in implementations)
    if at_step is not None:
        stem += f"_at{at_step}"
    if squash_epsilon:
        stem += f"_eps{squash_epsilon:g}"
    return out / stem


def write_outputs(stem: Path, suite: str, results: list[RunResult], header: str) -> str:
    """Write summary (CSV, markdown), per-run and per-evaluation CSVs as ``stem``_*; return
    the markdown."""
    stem.parent.mkdir(parents=True, exist_ok=True)
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
    intervals = interval_rows(runs)
    pooled = pooled_rows(runs)
    table = markdown_table(summary) + "\n" + intervals_markdown(intervals) + pooled_markdown(pooled)
    write_csv(Path(f"{stem}_summary.csv"), summary)
    write_csv(Path(f"{stem}_intervals.csv"), intervals)
    if pooled:
        write_csv(Path(f"{stem}_pooled.csv"), pooled)
    write_csv(Path(f"{stem}_runs.csv"), runs)
    write_csv(Path(f"{stem}_curves.csv"), curve_rows(results))
    plot_curves(results, Path(f"{stem}_curves.png"))
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
            "(area under curve) evaluation returns, steps to 95% of the maximum return (where "
            "it is known), and "
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
            "script works). locomotion: SAC on Hopper-v5 and HalfCheetah-v5, TD3 on Hopper-v5, "
            "200k steps each, 10k random steps first, seeds 1-5. Finished runs are kept in "
            "<out>/finished_<suite>/, so a killed suite continues where it stopped."
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
        "--only",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=None,
        help="Comma-separated ALGO:ENV experiments of the suite to run (default all), "
        "e.g. SAC:Hopper-v5.",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="Runs in parallel, each in its own process (default 2).",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of each worker (default 1), recorded with each result: e.g. "
        "--workers 1 --threads 2 gives our seed population both cores. Changes wall time and "
        "may change the last bits of a run (matmul blocking), not the settings compared.",
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
    parser.add_argument(
        "--report",
        action="store_true",
        help="Train nothing: tabulate and plot the runs already finished in "
        "<out>/finished_<suite>/ (e.g. a suite part-way through).",
    )
    parser.add_argument(
        "--at_step",
        type=int,
        default=None,
        help="Compare at a common budget: cut every curve at this evaluation step (final = "
        "the return there; area under the curve up to it), leaving out runs that have not "
        "reached it. With --report, finished runs of any budget that reached it count (e.g. "
        "the suite's seeds with more seeds of a shorter --total_steps), and so do our runs "
        "still training under <out>/runs in the folder of this command's --seeds and budget "
        "(not those of other seed lists); the tables' names contain _at<step>.",
    )
    parser.add_argument(
        "--total_steps",
        type=int,
        default=None,
        help="Train every experiment for this many env steps instead of the suite's (e.g. "
        "more seeds of early learning for less time). Runs are cached under their budget, so "
        "they never mix with the suite's own.",
    )
    parser.add_argument(
        "--squash_epsilon",
        type=float,
        default=0.0,
        help="Our SAC's --squash_epsilon (default 0, the exact log-density). 1e-6 is SB3's "
        "constant, for an A/B of it: its runs are cached under their own names (ours_eps1e-06_"
        "...), so give it its own --out, with SB3's finished runs copied in to compare against.",
    )
    args = parser.parse_args(argv)
    if args.squash_epsilon < 0:
        parser.error("--squash_epsilon must be >= 0")
    if args.total_steps is not None and args.total_steps < 1:
        parser.error("--total_steps must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if not args.implementations or set(args.implementations) - set(IMPLEMENTATIONS):
        parser.error(f"--implementations: choose from {', '.join(IMPLEMENTATIONS)}")
    args.implementations = [i for i in IMPLEMENTATIONS if i in args.implementations]
    experiments = [experiment_id(algo, env) for algo, env, _ in SUITES[args.suite].experiments]
    if args.only is not None and (not args.only or set(args.only) - set(experiments)):
        parser.error(f"--only: choose from the suite's {', '.join(experiments)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    suite = SUITES[args.suite]
    seeds = args.seeds or suite.seeds
    jobs = make_jobs(
        suite, seeds, args.implementations, args.only, args.squash_epsilon, args.total_steps
    )
    print(
        f"learning_quality --suite {args.suite}: {len(jobs)} runs, seeds {list(seeds)}, "
        f"{args.workers} worker(s), hidden {suite.hidden_dims}",
        flush=True,
    )
    started = time.perf_counter()
    done_dir = args.out / f"finished_{args.suite}"
    if args.report:
        if args.at_step is None:
            found = (cached_result(done_dir, job) for job in jobs)
        else:  # a run of any budget that reached the step counts
            found = (cached_result_reaching(done_dir, job, args.at_step) for job in jobs)
        results = [r for r in found if r is not None]
        print(f"--report: {len(results)} of {len(jobs)} runs finished in {done_dir}", flush=True)
        if args.at_step is not None:
            finished = {run_identity(r.job) for r in results}
            partial = [
                r
                for r in unfinished_ours(jobs, args.out / "runs")
                if run_identity(r.job) not in finished
            ]
            print(f"--at_step: {len(partial)} unfinished runs of ours read too", flush=True)
            results += partial
    else:
        results = run_all(
            jobs, args.workers, args.out / "runs", args.keep_runs, done_dir, args.threads
        )
    if args.at_step is not None:
        results = at_step(results, args.at_step)
    if not results:
        sys.exit(f"learning_quality: no run to report in {args.out}")
    elapsed = time.perf_counter() - started
    header = (
        f"# learning_quality --suite {args.suite}\n\nShared settings: {asdict(suite.shared)}, "
        "every other hyperparameter lmc_rl's default"
        + (f" (ours with --squash_epsilon {args.squash_epsilon:g})" if args.squash_epsilon else "")
        + "; "
        f"hidden {suite.hidden_dims}; seeds {list(seeds)}; "
        + (
            f"tabulated from the {len(results)} of {len(jobs)} runs finished so far (--report)"
            if args.report
            else f"{args.workers} worker(s); total wall {elapsed:.0f}s"
        )
        + "; torch threads per run: "
        + ", ".join(
            f"{impl} {sorted({r.threads for r in results if r.job.impl == impl})}"
            for impl in IMPLEMENTATIONS
            if any(r.job.impl == impl for r in results)
        )
        + (f"; every curve cut at step {args.at_step}" if args.at_step is not None else "")
        + ". 95% thresholds: "
        + (
            ", ".join(
                f"{e} {SOLVED_FRACTION * m:.0f}"
                for e, m in ENV_MAX_RETURN.items()
                if any(r.job.env == e for r in results)
            )
            or "none (no task of these runs has a known maximum return)"
        )
        + ". ± is the sample std across seeds. IQM: interquartile mean across seeds; [a, b]: "
        "95 % bootstrap interval (runs resampled within each task and implementation); "
        "P(ours > SB3): probability that a run of ours ends higher than a run of SB3 "
        "(rliable's definitions, benchmarks/rl_stats.py). Ours trains the seeds of an "
        "experiment as one population in one process (wall s/run: its wall time / seeds)."
    )
    stem = output_stem(
        args.out,
        args.suite,
        seeds=seeds,
        only=args.only,
        implementations=args.implementations,
        at_step=args.at_step,
        squash_epsilon=args.squash_epsilon,
        total_steps=args.total_steps,
    )
    table = write_outputs(stem, args.suite, results, header)
    print()
    print(table)
    print(f"total wall time {elapsed:.0f}s; wrote {stem}_*")
    if any(r.error for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
