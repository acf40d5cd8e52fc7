"""Agent-steps/s of a 21-member lockstep fork population against the same members one by one.

Why: the fork engine trains the parent and all children as one batched population. That only
pays if one lockstep step of 21 members (21 env steps, one batched update) is faster than 21
single-agent steps. Both are measured here in one process, on the same task and settings:

* population: a run with ten fork points is advanced until all ten forks have happened
  (21 live members), then ``--steps`` lockstep steps are timed;
* one by one: a run without forks (one member, the same settings), timed for ``--steps`` steps;
  training 21 members one after another takes 21 times as long per agent-step;
* Stable-Baselines3's SAC with the same hyperparameters (if installed), timed for ``--steps``
  env steps after its warm-up, as the peer to beat: once with torch's default fp32 matmul
  library (MKL; what SB3 users get) and once with the library our updates use (oneDNN where
  exact, see lmc_rl/learners/matmul.py), so the ratio also shows what is ours and what is the
library's.

Threads default to torch's default (all cores), as ``lmc-rl run`` uses; SB3 gets the same.

Usage::

    python benchmarks/population_throughput.py              # Hopper-v5, 256x256, 300 steps
    python benchmarks/population_throughput.py --steps 50 --hidden_dims 32,32   # quick check
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from sb3_models import sb3_steps_per_second
from tables import write_lines

from lmc_rl import build_config
from lmc_rl.learners.allocator import keep_freed_memory
from lmc_rl.learners.matmul import matmuls_on
from lmc_rl.training.lockstep import Lockstep
from lmc_rl.training.run_files import RunPaths
from lmc_rl.training.trainer import Trainer

FORKS = "0.01,0.02,0.03,0.04,0.05,0.06,0.07,0.08,0.09,0.1"


def trainer_for(env: str, hidden: str, fork_points: str, root: Path) -> Trainer:
    config = build_config(
        {
            "env": env,
            "algo": "SAC",
            "seed": 1,
            "total_steps": 20_000,  # forks at steps 200 ... 2000
            "learning_starts": 2000,  # updates start once all 21 members exist
            "train_freq": 1,
            "eval_freq": 10**9,
            "hidden_dims": hidden,
            "fork_points": fork_points,
            "output_dir": str(root),
            "device": "cpu",
        }
    )
    trainer = Trainer(config, RunPaths.create(config), progress=False)
    trainer.start()
    return trainer


def time_steps(trainer: Trainer, steps: int) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        Lockstep([trainer]).advance()
    return time.perf_counter() - started


def main() -> None:
    keep_freed_memory()  # as the lmc-rl command does (lmc_rl/learners/allocator.py)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--hidden_dims", default="256,256")
    parser.add_argument("--steps", type=int, default=300, help="Timed lockstep steps.")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help=f"torch threads, for every implementation (default {torch.get_num_threads()}).",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hidden_dims = tuple(int(h) for h in args.hidden_dims.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        population = trainer_for(args.env, args.hidden_dims, FORKS, Path(tmp))
        while len(population.members) < 21:
            Lockstep([population]).advance()
        for _ in range(20):  # warm-up at full size
            Lockstep([population]).advance()
        seconds = time_steps(population, args.steps)
        rows.append(("population (21 members, lockstep)", 21, args.steps * 21 / seconds))
        single = trainer_for(args.env, args.hidden_dims, "none", Path(tmp))
        while single.step < population.step:
            Lockstep([single]).advance()
        seconds = time_steps(single, args.steps)
        rows.append(("one member at a time", 1, args.steps / seconds))
        ours_library = population.update_matmuls
    for library in dict.fromkeys(("mkl", ours_library)):
        with matmuls_on(library):
            sb3 = sb3_steps_per_second(args.env, hidden_dims, args.steps)
        if sb3 is not None:
            rows.append((f"Stable-Baselines3 SAC, same hyperparameters ({library})", 1, sb3))
    base = rows[2][2] if len(rows) > 2 else float("nan")  # SB3 as its users run it (MKL)
    lines = [
        f"population throughput: {args.env}, SAC, hidden {args.hidden_dims}, train_freq 1, "
        f"batch 256, {args.steps} timed steps, torch threads {args.threads}; ours on "
        f"{ours_library} fp32 matmuls",
        "",
        "| mode | live members | agent-steps/s | vs SB3 (mkl) | vs last row |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {k} | {rate:.1f} | {rate / base:.2f}x | {rate / rows[-1][2]:.2f}x |"
            for name, k, rate in rows
        ],
    ]
    print("\n".join(lines))
    write_lines("population_throughput.md", lines)


if __name__ == "__main__":
    main()
