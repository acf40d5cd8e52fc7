"""Whole short runs, end to end, against Stable-Baselines3's training loop on the same updates.

Why: the 21-member fork benchmark hides what small populations pay per step (Python work per
member and per step, small matmuls, host-side batching), and a user's first runs are small. This
script times complete ``lmc-rl run`` commands in a fresh process each (start-up, the member-
independence check, training, periodic and fork evaluation, analysis and plots: everything a
user waits for) and divides the agent-updates the run made (from its ``config.json``) by that
wall time. The peer is SB3's SAC ``learn()`` alone, with the same hyperparameters, on the same
task, in the same script run, training one agent for the same number of steps: its
updates / s is its training loop's rate, with nothing else counted. Both get one torch thread.

Runs (Hopper-v5, SAC, 256x256, batch 256, ``--train_freq 1``):

* ``K=1``: one seed, no fork;
* ``K=3``: three seeds as one population (``--seeds 1,2,3``), no fork;
* ``fork``: one seed, one fork at 0.5 (the parent, then three members), with the minimal
  evaluation of the fork (3 alphas x 2 episodes).

Usage::

    python benchmarks/short_run.py                        # 6000 steps, learning_starts 1000
    python benchmarks/short_run.py --total_steps 2000     # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import OUT, write_lines

RUNS = {
    "K=1": {"seed": "1", "fork_points": "none"},
    "K=3": {"seeds": "1,2,3", "fork_points": "none"},
    "fork": {"seed": "1", "fork_points": "0.5", "alpha_points": "3", "num_eval_episodes": "2"},
}


def our_run(name: str, args: argparse.Namespace, root: Path) -> tuple[float, int]:
    """Wall seconds of one ``lmc-rl run`` in its own process, and the agent-updates it made."""
    flags = {
        "env": args.env,
        "algo": "SAC",
        "total_steps": str(args.total_steps),
        "learning_starts": str(args.learning_starts),
        "train_freq": "1",
        "eval_freq": str(args.total_steps),  # one periodic evaluation, at the end
        "num_eval_episodes_periodic": "2",
        "checkpoint_every": "none",
        "threads": "1",
        "eval_workers": "1",
        "output_dir": str(root / name.replace("=", "")),
        **RUNS[name],
    }
    command = [sys.executable, "-m", "lmc_rl", "run", "--no_progress"]
    command += [item for key, value in flags.items() for item in (f"--{key}", value)]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    updates = 0
    for config_file in (root / name.replace("=", "")).glob("results/*/*/*/seed_*/config.json"):
        for member in json.loads(config_file.read_text())["members"].values():
            # a child's count includes the parent's updates before the fork, which it inherits;
            # made in this run are those after its fork step (train_freq 1: one per step)
            made_after = member.get("fork_step", 0)
            updates += min(member["gradient_updates"], args.total_steps - made_after)
    return wall, updates


def sb3_loop(args: argparse.Namespace) -> tuple[float, int]:
    """Wall seconds of SB3's ``learn()`` for ``total_steps`` steps, and the updates it made."""
    import gymnasium as gym
    import torch
    from sb3_models import sb3_model

    torch.set_num_threads(1)
    model = sb3_model(
        "SAC",
        gym.make(args.env),
        hidden_dims=(256, 256),
        seed=1,
        buffer_size=args.total_steps,
        learning_starts=args.learning_starts,
        batch_size=256,
        train_freq=1,
        gradient_steps=1,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=args.total_steps)
    return time.perf_counter() - started, model._n_updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--total_steps", type=int, default=6000)
    parser.add_argument("--learning_starts", type=int, default=1000)
    parser.add_argument("--runs", default=",".join(RUNS), help="Which of K=1, K=3, fork.")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    sb3_wall, sb3_updates = sb3_loop(args)
    sb3_rate = sb3_updates / sb3_wall
    rows.append(("SB3 SAC learn() (training loop only)", sb3_wall, sb3_updates, sb3_rate, 1.0))
    print(f"SB3: {sb3_updates} updates in {sb3_wall:.1f} s = {sb3_rate:.1f} updates/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.runs.split(","):
            wall, updates = our_run(name, args, Path(tmp))
            rate = updates / wall
            rows.append((f"lmc-rl run, {name} (whole run)", wall, updates, rate, rate / sb3_rate))
            print(
                f"{name}: {updates} agent-updates in {wall:.1f} s = {rate:.1f}/s, "
                f"{rate / sb3_rate:.2f}x SB3",
                flush=True,
            )
    lines = [
        f"# short_run: {args.env} SAC, {args.total_steps} steps, learning_starts "
        f"{args.learning_starts}, train_freq 1, 1 thread",
        "",
        "| what | wall s | agent-updates | agent-updates/s | vs SB3 |",
        "|---|---|---|---|---|",
        *(f"| {w} | {s:.1f} | {u} | {r:.1f} | {x:.2f}x |" for w, s, u, r, x in rows),
    ]
    write_lines("short_run.md", lines, args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
