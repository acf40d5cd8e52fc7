"""Peak memory of a 10-fork ``copy`` run: shared replay views against deep-copied buffers.

Why: the prototype deep-copied the whole replay buffer into every child, so its default run held
about 21 buffers. Our children reference the parent's stored transitions instead. This script
runs the same 10-fork run twice in fresh subprocesses, once as is and once with a naive fork that
copies every parent transition into new rows for each child (what a deep copy costs), and
reports each one's peak RSS and replay-store size. It also computes the replay bytes of the
seed's default run on a large-observation task for both designs.

Runs use random actions only (``learning_starts`` = ``total_steps``), so no update is computed and
the memory is the replay data's.

Usage::

    python benchmarks/fork_memory.py                   # Humanoid-v5, 20k steps
    python benchmarks/fork_memory.py --total_steps 2000 --env Hopper-v5   # quick check
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile

import numpy as np
from tables import write_lines

from lmc_rl.learners.allocator import keep_freed_memory

DEFAULT_FORKS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def naive_child_views(parent, strategy, run_seed, fork_id, children=2):
    """The prototype's fork: each child gets its own copy of every stored transition."""
    from lmc_rl.training.replay import ReplayView

    views = []
    for _ in range(children):
        view = ReplayView(parent.store, parent.capacity)
        for row in parent.rows():
            t = parent.store.gather(np.array([row]))
            view.add(
                parent.store.write_transition(
                    t["obs"][0],
                    t["action"][0],
                    float(t["reward"][0]),
                    t["next_obs"][0],
                    float(t["terminated"][0]),
                )
            )
        views.append(view)
    return tuple(views)


def child(env: str, total_steps: int, naive: bool, out: str) -> None:
    """Run inside a fresh process; print a JSON line of what it measured."""
    import lmc_rl.training.trainer as training
    from lmc_rl import build_config
    from lmc_rl.records.layout import RunPaths
    from lmc_rl.training.lockstep import Lockstep

    if naive:
        training.child_views = naive_child_views
    config = build_config(
        {
            "env": env,
            "seed": 1,
            "total_steps": total_steps,
            "learning_starts": total_steps,
            "eval_freq": 10**9,
            "hidden_dims": "32,32",
            "output_dir": out,
            "device": "cpu",
        }
    )
    trainer = training.Trainer(config, RunPaths.create(config), progress=False)
    trainer.start()
    Lockstep([trainer], progress=trainer.progress).run()
    print(
        json.dumps(
            {
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "store_rows": trainer.store.rows_in_use,
                "store_mb": trainer.store.nbytes / 2**20,
                "members": len(trainer.members),
            }
        )
    )


def projected_bytes(obs_dim: int, action_dim: int, total_steps: int) -> dict[str, float]:
    """Replay bytes of a default 10-fork run: parent and children's own rows vs deep copies."""
    deep_row = (2 * obs_dim + action_dim + 2) * 4  # obs and next_obs kept with each transition
    shared_row = obs_dim * 4 + (action_dim + 2) * 4 + 2 * 8 + 2 * 4  # one obs, two row pointers,
    parent = total_steps  # and a reference count per table
    own = sum(2 * (1 - p) * total_steps for p in DEFAULT_FORKS)
    copies = sum(2 * p * total_steps for p in DEFAULT_FORKS)
    return {
        "shared_gb": (parent + own) * shared_row / 1e9,
        "deep_copy_gb": (parent + own + copies) * deep_row / 1e9,
    }


def main() -> None:
    keep_freed_memory()  # as the lmc-rl command does (lmc_rl/learners/allocator.py)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Humanoid-v5")
    parser.add_argument("--total_steps", type=int, default=20_000)
    parser.add_argument("--child", choices=["shared", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.env, args.total_steps, args.child == "naive", args.out)
        return
    from lmc_rl.config.tasks import check_task

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("shared", "naive"):
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    "--env",
                    args.env,
                    "--total_steps",
                    str(args.total_steps),
                    "--out",
                    tmp,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    task = check_task(args.env)
    projected = projected_bytes(task.obs_dim, task.action_dim, 200_000)
    lines = [
        f"fork memory: {args.env} (obs {task.obs_dim}), 10 forks at "
        f"{','.join(map(str, DEFAULT_FORKS))}, copy strategy, {args.total_steps} steps, "
        "random actions",
        "",
        "| fork design | members | replay rows | replay store MB | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for mode, label in (("shared", "views on one store (ours)"), ("naive", "deep copy per child")):
        r = results[mode]
        lines.append(
            f"| {label} | {r['members']} | {r['store_rows']} | {r['store_mb']:.0f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        f"Seed's default run on {args.env} (200k steps, 10 forks, buffer 1e6): replay data "
        f"{projected['shared_gb']:.2f} GB with shared views vs {projected['deep_copy_gb']:.2f} GB "
        "with a deep copy per child.",
    ]
    print("\n".join(lines))
    write_lines("fork_memory.md", lines)


if __name__ == "__main__":
    main()
