"""Wall time of N seeds trained as one lockstep population (``lmc-rl run --seeds``) against the
same N seeds trained as N separate runs one after another, in the same process and run.

Why: a multi-seed study is where the population design should pay. Both sides do the same
work (the same agent-updates, env steps and evaluations; the final agent files are compared
bit for bit and must be equal), so the ratio of wall times is the saving.

Usage::

    python benchmarks/seed_population.py                       # Hopper-v5 SAC, 5 seeds, 6000 steps
    python benchmarks/seed_population.py --seeds 1,2,3 --total_steps 3000 --threads 2
"""

from __future__ import annotations

import argparse
import filecmp
import tempfile
import time
from pathlib import Path


def run_flags(args: argparse.Namespace, seed: int, output_dir: Path) -> dict:
    return {
        "env": args.env,
        "algo": args.algo,
        "seed": seed,
        "total_steps": args.total_steps,
        "learning_starts": args.learning_starts,
        "train_freq": 1,
        "eval_freq": args.total_steps,  # one evaluation, at the end
        "num_eval_episodes_periodic": 2,
        "fork_points": "none",
        "threads": args.threads,
        "output_dir": str(output_dir),
        "checkpoint_every": "none",
    }


def final_weights(results: Path) -> Path:
    return Path(str(results).replace("/results/", "/model_weights/")) / "final.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--algo", default="SAC")
    parser.add_argument("--seeds", default="1,2,3,4,5", help="Comma-separated (default 1,...,5).")
    parser.add_argument("--total_steps", type=int, default=6000)
    parser.add_argument("--learning_starts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1).")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    from lmc_rl import build_config, run_experiment, run_experiments

    root = Path(tempfile.mkdtemp(prefix="seed_population_"))
    started = time.perf_counter()
    together = run_experiments(
        [build_config(run_flags(args, s, root / "together")) for s in seeds], progress=False
    )
    together_s = time.perf_counter() - started
    started = time.perf_counter()
    separate = [
        run_experiment(build_config(run_flags(args, s, root / "separate")), progress=False)
        for s in seeds
    ]
    separate_s = time.perf_counter() - started

    same = all(
        filecmp.cmp(final_weights(a.results), final_weights(b.results), shallow=False)
        for a, b in zip(together, separate, strict=True)
    )
    updates = len(seeds) * (args.total_steps - args.learning_starts)
    print(
        f"{args.algo} {args.env}, {len(seeds)} seeds x {args.total_steps} steps "
        f"(train_freq 1), {args.threads} thread(s); whole runs incl. start-up and evaluation\n"
        f"  one population (--seeds): {together_s:7.1f} s  {updates / together_s:6.0f} "
        "agent-updates/s\n"
        f"  {len(seeds)} separate runs:        {separate_s:7.1f} s  {updates / separate_s:6.0f} "
        "agent-updates/s\n"
        f"  speed-up: {separate_s / together_s:.2f}x; final agents bitwise equal: {same}\n"
        f"  runs in {root}"
    )


if __name__ == "__main__":
    main()
