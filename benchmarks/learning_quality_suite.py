"""What the learning-quality comparison compares: its suites, jobs and seeds, and each run's
identity, under which a finished run is kept on disk.

Why apart: training (learning_quality_training.py) and the report (learning_quality_report.py)
both read these names; a suite or a job is defined once, here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sb3_models import LIBRARY_DEFAULTS

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


# ---------------------------------------------------------------------------------------------
# finished runs, one JSON file each, named by the job's key (a killed suite resumes from them)


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
