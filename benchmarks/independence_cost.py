"""What member independence costs: the aligned matmul layout against the unaligned one it replaced.

Why: every matmul now runs on widths padded to 16 floats and row counts above one padded to a
multiple of 4 (lmc_rl/learners/nn.py), and SAC's softplus is computed from tail-safe ops, so that a
member never depends on who shares its batch. That is more arithmetic (SAC's 6-wide Hopper head
becomes 16 wide, the critics' 1-wide output 16 wide). This script measures the price in one
process, switching between the two layouts and alternating them repeat by repeat, so a busy
neighbour hurts both alike:

* one gradient update per member (Hopper-v5 sizes, batch 256, 256x256) at K = 1, 8, 21 for SAC,
  TD3 and DDPG, on the update library a run picks;
* end to end: agent-steps/s of the 21-member fork population of
  ``benchmarks/population_throughput.py`` (Hopper-v5, SAC, train_freq 1).

"unaligned" is the old layout (no padding, torch's softplus). The start-up check of a run
(``lmc_rl/learners/independence.py``, a few seconds once per run) is not included.

Usage::

    python benchmarks/independence_cost.py                 # about 5 minutes on 2 cores
    python benchmarks/independence_cost.py --repeats 3 --iters 10 --steps 40   # quick look
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from machine import load_average, machine_description
from paired_timing import in_alternation, medians
from population_throughput import FORKS, time_steps, trainer_for  # noqa: E402  (benchmarks/ sibling)
from update_speed import ACTION_DIM, HIDDEN, OBS_DIM, time_ours  # noqa: E402

from lmc_rl.learners import nn as batched_nn
from lmc_rl.learners.agents import sac
from lmc_rl.learners.matmul import matmuls_on, onednn_is_exact_fp32
from lmc_rl.training.lockstep import Lockstep

LAYOUTS = ("aligned", "unaligned")


@contextlib.contextmanager
def layout(name: str) -> Iterator[None]:
    """Inside the block, layers run on the named layout."""
    if name == "aligned":
        yield
        return
    saved = (batched_nn.aligned_width, batched_nn.aligned_rows, sac._softplus)
    batched_nn.aligned_width = batched_nn.aligned_rows = lambda n: n
    sac._softplus = F.softplus
    try:
        yield
    finally:
        batched_nn.aligned_width, batched_nn.aligned_rows, sac._softplus = saved


def update_ms(algo: str, k: int, iters: int) -> float:
    """ms per update of a K-member population, on the library a run picks at these sizes."""
    library = "onednn" if onednn_is_exact_fp32() else "mkl"
    with matmuls_on(library):
        return time_ours(algo, k, 256, dict(iters=iters, repeats=1, warmup=3))


def in_both_layouts(measure: Callable[[], float], repeats: int) -> dict[str, float]:
    """Median of each layout's measurement, the layouts alternating within every repeat."""

    def on(name: str) -> float:
        with layout(name):
            return measure()

    return medians(in_alternation({name: partial(on, name) for name in LAYOUTS}, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", default="SAC,TD3,DDPG")
    parser.add_argument("--members", default="1,8,21", help="Population sizes K to time.")
    parser.add_argument("--iters", type=int, default=30, help="Timed updates per repeat.")
    parser.add_argument("--repeats", type=int, default=5, help="Alternating repeats (median).")
    parser.add_argument("--steps", type=int, default=100, help="Timed lockstep steps, K = 21.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"independence_cost: Hopper-v5 sizes (obs {OBS_DIM}, action {ACTION_DIM}), hidden "
        f"{HIDDEN}, batch 256; {machine_description()}",
        flush=True,
    )
    print("| what | K | aligned | unaligned | cost |\n|---|---|---|---|---|")
    for algo in args.algos.split(","):
        for k in map(int, args.members.split(",")):
            ms = in_both_layouts(lambda a=algo, n=k: update_ms(a, n, args.iters) / n, args.repeats)
            cost = ms["aligned"] / ms["unaligned"] - 1
            print(
                f"| {algo} update, ms/member | {k} | {ms['aligned']:.3f} | "
                f"{ms['unaligned']:.3f} | {cost:+.1%} |",
                flush=True,
            )
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {}
        for name in LAYOUTS:
            with layout(name):
                trainer = trainer_for("Hopper-v5", "256,256", FORKS, Path(tmp) / name)
                while len(trainer.members) < 21 or trainer.step <= trainer.config.learning_starts:
                    Lockstep([trainer]).advance()
                trainers[name] = trainer

        def rate(name: str) -> float:
            with layout(name):
                return 21 * args.steps / time_steps(trainers[name], args.steps)

        rates = {name: partial(rate, name) for name in LAYOUTS}
        steps = medians(in_alternation(rates, args.repeats))
        cost = steps["unaligned"] / steps["aligned"] - 1
        print(
            f"| population, agent-steps/s | 21 | {steps['aligned']:.1f} | "
            f"{steps['unaligned']:.1f} | {cost:+.1%} |"
        )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
