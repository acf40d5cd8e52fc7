"""Training for the learning-quality comparison: ours as one lockstep population per experiment
(what ``lmc-rl run --seeds`` does), SB3 one seed per process, both through a spawn pool that
keeps each finished run (learning_quality_suite.save_result) so that a killed suite resumes.

Why apart: the report reads only finished runs and never needs torch, Gymnasium or SB3.
"""

from __future__ import annotations

import csv
import multiprocessing as mp
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from learning_quality_suite import Job, RunResult, cached_result, save_result
from sb3_models import sb3_model

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


def run_ours(
    jobs: Sequence[Job], runs_root: Path, keep_runs: bool
) -> list[tuple[list[int], list[float]]]:
    """Train the seeds of one experiment with lmc_rl as one lockstep population (what
    ``lmc-rl run --seeds`` does) and read back each seed's evaluation curve. The runs live in a
    folder named after the jobs, so a killed suite resumes them (``lmc-rl run --resume``)."""
    import lmc_rl
    from lmc_rl.experiment.phases import resume_experiments  # the public API resumes one run

    seeds = [job.seed for job in jobs]
    output_dir = ours_runs_dir(jobs, runs_root)
    started = sorted(output_dir.glob("results/*/*/*/seed_*"))
    if len(started) == len(jobs):
        print(f"resuming {len(jobs)} runs in {output_dir}", flush=True)
        paths = resume_experiments([str(d) for d in started], {}, progress=True)
    else:
        shutil.rmtree(output_dir, ignore_errors=True)  # killed before every run had its folder
        configs = [lmc_rl.build_config(ours_overrides(job, output_dir)) for job in jobs]
        paths = lmc_rl.run_experiments(configs, progress=True)  # lmc-rl run's bar: steps/s, ETA
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
