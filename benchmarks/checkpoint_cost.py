"""Checkpoint size and write / read time of a 10-fork run with the default buffer size.

Why: a checkpoint holds the replay data of every member (shared rows once), every member's
learner state and each env's MuJoCo state; its cost decides how often a run can afford one.
This runs a 10-fork Hopper-v5 run (default forks, buffer 1e6, 256x256 nets) with random actions
for ``--total_steps`` (so the replay data is real but no update is computed), then writes and
reads its checkpoint, and projects the size to the seed's default 200k-step run (replay rows
grow linearly with steps; the rest is fixed).

Usage::

    python benchmarks/checkpoint_cost.py                      # 20k steps
    python benchmarks/checkpoint_cost.py --total_steps 2000   # quick check
"""

from __future__ import annotations

import argparse
import tempfile
import time

from tables import write_lines

from lmc_rl import build_config
from lmc_rl.learners.allocator import keep_freed_memory
from lmc_rl.training.checkpoint import load_checkpoint
from lmc_rl.training.lockstep import Lockstep
from lmc_rl.training.run_files import RunPaths
from lmc_rl.training.trainer import Trainer


def main() -> None:
    keep_freed_memory()  # as the lmc-rl command does (lmc_rl/learners/allocator.py)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--total_steps", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = build_config(
            {
                "env": args.env,
                "seed": 1,
                "total_steps": args.total_steps + 1,
                "learning_starts": args.total_steps + 1,
                "eval_freq": 10**9,
                "output_dir": tmp,
                "checkpoint_every": "none",
                "device": "cpu",
            }
        )
        trainer = Trainer(config, RunPaths.create(config), progress=False)
        trainer.start()
        while trainer.step < args.total_steps:
            Lockstep([trainer]).advance()
        started = time.perf_counter()
        size = trainer.checkpoint()
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        load_checkpoint(trainer.checkpoint_file)
        read_s = time.perf_counter() - started
        store_bytes = trainer.store.nbytes
        rows = trainer.store.rows_in_use
    scale = 200_000 / args.total_steps
    projected = (size - store_bytes) + store_bytes * scale
    lines = [
        f"checkpoint cost: {args.env}, 10 forks (default points), buffer 1e6, 256x256 SAC, "
        f"{len(trainer.members)} members, after {args.total_steps} steps ({rows} transitions)",
        "",
        "| what | value |",
        "|---|---|",
        f"| checkpoint size | {size / 2**20:.1f} MiB |",
        f"| of which replay store (allocated) | {store_bytes / 2**20:.1f} MiB |",
        f"| write (pickle + sha256 + fsync + rename) | {write_s:.2f} s |",
        f"| read and verify | {read_s:.2f} s |",
        f"| projected size at 200k steps (default run) | {projected / 2**30:.2f} GiB |",
    ]
    print("\n".join(lines))
    write_lines("checkpoint_cost.md", lines)


if __name__ == "__main__":
    main()
