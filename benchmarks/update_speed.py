"""Time of one gradient update: our K-member populations next to Stable-Baselines3, and a floor.

Why: training K members in lockstep is only worthwhile if one batched update of K members costs
less than K separate updates. This script measures, in one process and one run (so the numbers
are comparable), at Hopper-v5 sizes (obs 11, action 3), batch 256 and 256x256 networks:

* our SAC / TD3 / DDPG ``agent.update`` for K members (``--members``), whole population and per
  member, on a fixed batch (no sampling, no env: only the update is timed);
* SB3's ``model.train(gradient_steps=1, batch_size=256)`` on a replay buffer pre-filled with
  random transitions (this includes SB3's own minibatch sampling, also timed on its own);
* a floor: the matmul FLOPs of one update per member, each matmul timed with ``torch.bmm`` at
  its shape and batch count on this machine; ``floor ms = sum of those matmul times / K``.
  Elementwise work, Adam, autograd bookkeeping and Python overhead come on top of it.
  Ours and the floor are timed in alternation (a block of our updates, then a block of every
  floor matmul, repeated): on a shared machine the neighbours' load, memory traffic above all,
  drifts within minutes, and it slows our elementwise work far more than the compute-bound
  matmuls. Each repeat gives one ratio; the table shows their median, minimum and maximum.

All three are timed under each fp32 matmul library (``--libraries``): MKL, torch's default, and
oneDNN's AVX-512 kernels, which ``lmc-rl run`` takes for updates where they are exact fp32 and
keep members independent (lmc_rl/learners/matmul.py).
SB3 is timed under both too, so each ratio compares like with like. The malloc tuning of
``lmc-rl`` (lmc_rl/learners/allocator.py) is applied first, for every implementation timed here.

Usage::

    python benchmarks/update_speed.py                     # SAC, TD3, DDPG at K = 1, 3, 8, 21
    python benchmarks/update_speed.py --iters 5 --repeats 2 --warmup 2   # quick check

Results are printed and written to ``<out>/update_speed.{csv,md}``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from machine import load_average, machine_description
from paired_timing import in_alternation, paired_ratio, time_ms
from sb3_models import prefilled_sb3_model
from tables import OUT, markdown_table, write_csv

from lmc_rl.learners.allocator import keep_freed_memory
from lmc_rl.learners.matmul import matmuls_on, onednn_is_exact_fp32

OBS_DIM, ACTION_DIM = 11, 3  # Hopper-v5
HIDDEN = (256, 256)
ALGOS = ("SAC", "TD3", "DDPG")
POLICY_DELAY = 2  # TD3; DDPG updates its actor every step


# ---------------------------------------------------------------------------------------------
# ours


def ours_update(algo: str, k: int, batch_size: int) -> Callable[[], object]:
    """One ``agent.update`` of a K-member population on a fixed random batch, ready to call."""
    from lmc_rl.learners.agents import Batch, make_agent
    from lmc_rl.training.trainer import default_agent_spec

    spec = default_agent_spec(OBS_DIM, ACTION_DIM, algo, hidden_dims=HIDDEN)
    agent = make_agent(algo, k, spec)
    agent.init_members(list(range(k)))
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        obs=torch.randn(k, batch_size, OBS_DIM, generator=g),
        action=torch.rand(k, batch_size, ACTION_DIM, generator=g) * 2 - 1,
        reward=torch.randn(k, batch_size, generator=g),
        next_obs=torch.randn(k, batch_size, OBS_DIM, generator=g),
        terminated=(torch.rand(k, batch_size, generator=g) < 0.01).float(),
    )
    noise = torch.randn(k, *agent.update_noise_shape(batch_size), generator=g)
    active = torch.ones(k, dtype=torch.bool)
    return lambda: agent.update(batch, noise, active)


def time_ours(algo: str, k: int, batch_size: int, timing: dict) -> float:
    """ms per ``agent.update`` of a K-member population on a fixed random batch."""
    return time_ms(ours_update(algo, k, batch_size), **timing)


# ---------------------------------------------------------------------------------------------
# Stable-Baselines3


def time_sb3(algo: str, batch_size: int, timing: dict) -> tuple[float, float]:
    """(ms per ``model.train(1, batch)``, ms per replay-buffer sample alone)."""
    model = prefilled_sb3_model(
        algo,
        "Hopper-v5",
        hidden_dims=HIDDEN,
        batch_size=batch_size,
        buffer_transitions=10_000,
        policy_delay=POLICY_DELAY,
    )
    train_ms = time_ms(lambda: model.train(gradient_steps=1, batch_size=batch_size), **timing)
    sample_ms = time_ms(lambda: model.replay_buffer.sample(batch_size), **timing)
    return train_ms, sample_ms


# ---------------------------------------------------------------------------------------------
# matmul floor


@dataclass(frozen=True)
class Matmul:
    """``count`` batched products ``[groups, m, k] @ [groups, k, n]`` per member-update."""

    groups: int  # networks of one member in one bmm: 1 actor, 2 twin critics
    m: int
    k: int
    n: int
    count: float = 1.0  # fractional for updates done every policy_delay steps

    @property
    def flops(self) -> float:
        return 2.0 * self.groups * self.m * self.k * self.n * self.count


def layers(sizes: Sequence[int]) -> list[tuple[int, int]]:
    return list(zip(sizes[:-1], sizes[1:], strict=True))


def forward(net: list[tuple[int, int]], groups: int, b: int, count: float = 1.0) -> list[Matmul]:
    """``x @ W`` per layer."""
    return [Matmul(groups, b, i, o, count) for i, o in net]


def input_grads(
    net: list[tuple[int, int]], groups: int, b: int, first: bool, count: float = 1.0
) -> list[Matmul]:
    """``dY @ W^T`` per layer; the first layer's only when its input needs a gradient."""
    return [Matmul(groups, b, o, i, count) for j, (i, o) in enumerate(net) if first or j > 0]


def weight_grads(
    net: list[tuple[int, int]], groups: int, b: int, count: float = 1.0
) -> list[Matmul]:
    """``X^T @ dY`` per layer."""
    return [Matmul(groups, i, b, o, count) for i, o in net]


def update_matmuls(algo: str, b: int) -> list[Matmul]:
    """The matmuls of one update of one member, following our agents' update code.

    Autograd computes only the gradients asked for: the critic loss needs critic weight grads
    (not the first layer's input grad: the batch needs none); the actor loss needs critic
    input grads down to the action, then actor weight grads (not the critic's weight grads).
    """
    critic = layers((OBS_DIM + ACTION_DIM, *HIDDEN, 1))
    if algo == "SAC":
        actor = layers((OBS_DIM, *HIDDEN, 2 * ACTION_DIM))
        return [
            *forward(actor, 1, b),  # a ~ pi(s), kept for the actor loss
            *forward(actor, 1, b),  # a' ~ pi(s') for the target
            *forward(critic, 2, b),  # target critics Q'(s', a')
            *forward(critic, 2, b),  # Q(s, a)
            *weight_grads(critic, 2, b),
            *input_grads(critic, 2, b, first=False),
            *forward(critic, 2, b),  # Q(s, pi(s))
            *input_grads(critic, 2, b, first=True),  # down to the action
            *weight_grads(actor, 1, b),
            *input_grads(actor, 1, b, first=False),
        ]
    n_critics, delay = (2, POLICY_DELAY) if algo == "TD3" else (1, 1)
    actor = layers((OBS_DIM, *HIDDEN, ACTION_DIM))
    every = 1.0 / delay  # actor loss and targets: once per policy_delay updates
    return [
        *forward(actor, 1, b),  # target actor pi'(s')
        *forward(critic, n_critics, b),  # target critics
        *forward(critic, n_critics, b),  # Q(s, a)
        *weight_grads(critic, n_critics, b),
        *input_grads(critic, n_critics, b, first=False),
        *forward(actor, 1, b, every),  # pi(s)
        *forward(critic, n_critics, b, every),  # Q(s, pi(s)), all critics in one bmm
        *input_grads(critic, n_critics, b, first=True, count=every),
        *weight_grads(actor, 1, b, every),
        *input_grads(actor, 1, b, first=False, count=every),
    ]


def bmm_call(batch: int, m: int, k: int, n: int) -> Callable[[], object]:
    """One contiguous fp32 ``torch.bmm`` at this shape, ready to call."""
    a, b = torch.randn(batch, m, k), torch.randn(batch, k, n)
    out = torch.empty(batch, m, n)
    return lambda: torch.bmm(a, b, out=out)


def floor_calls(algo: str, k: int, b: int) -> list[tuple[Callable[[], object], float]]:
    """(bmm call, calls per update) for every distinct matmul shape of one K-member update:
    each matmul as our layers run it, one bmm over all K members (times groups)."""
    counts: dict[tuple[int, int, int, int], float] = {}
    for mm in update_matmuls(algo, b):
        key = (k * mm.groups, mm.m, mm.k, mm.n)
        counts[key] = counts.get(key, 0.0) + mm.count
    return [(bmm_call(*key), count) for key, count in counts.items()]


def floor_block_ms(
    floor: list[tuple[Callable[[], object], float]], iters: int, warmup: int
) -> float:
    """ms of one block of the floor: ``iters`` calls of every matmul, weighted by its calls
    per update."""
    return sum(time_ms(call, iters, 1, warmup) * count for call, count in floor)


def operator_profile(step: Callable[[], object], iters: int, rows: int = 12) -> str:
    """torch profiler's table of the operators that took most self CPU time over ``iters``
    calls of ``step``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iters):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def update_mflop(algo: str, b: int) -> float:
    """Matmul MFLOP of one member-update."""
    return sum(mm.flops for mm in update_matmuls(algo, b)) / 1e6


# ---------------------------------------------------------------------------------------------
# table


COLUMNS = (
    ("library", "fp32 matmul"),
    ("algo", "algo"),
    ("K", "K"),
    ("ours_ms_per_update", "ms / update (population)"),
    ("ours_ms_per_member", "ms / member-update"),
    ("sb3_ms_per_update", "SB3 ms / update"),
    ("ratio_ours_member_over_sb3", "ratio ours/SB3 (per member)"),
    ("floor_ms_per_member", "matmul floor ms / member"),
    ("ratio_ours_over_floor", "ratio ours/floor (median of paired repeats)"),
    ("ratio_floor_min", "ratio min"),
    ("ratio_floor_max", "ratio max"),
    ("mflop_per_member", "MFLOP / member-update"),
    ("floor_gflops", "bmm GFLOP/s at floor"),
    ("sb3_sample_ms", "SB3 sample ms (in SB3 time)"),
)


def cell(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def write_outputs(out: Path, rows: list[dict], header: str) -> str:
    """``out``/update_speed.csv and .md; the markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "update_speed.csv", rows, fieldnames=[key for key, _ in COLUMNS])
    body = [[cell(row[key]) for key, _ in COLUMNS] for row in rows]
    table = markdown_table([title for _, title in COLUMNS], body)
    (out / "update_speed.md").write_text(f"{header}\n\n{table}")
    return table


# ---------------------------------------------------------------------------------------------


def parse_list(kind: type, text: str) -> list:
    return [kind(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time one gradient update of our K-member SAC/TD3/DDPG populations at Hopper-v5 sizes "
            "(batch 256, 256x256 networks) next to SB3's time per training step, with a matmul "
            "FLOP floor measured on this machine."
        )
    )
    parser.add_argument(
        "--members",
        default="1,3,8,21",
        help="Comma-separated population sizes K to time (default 1,3,8,21).",
    )
    parser.add_argument(
        "--algos", default=",".join(ALGOS), help="Comma-separated algorithms (default all)."
    )
    parser.add_argument(
        "--libraries",
        default="mkl,onednn",
        help="fp32 matmul libraries to time under, comma separated (default mkl,onednn; "
        "onednn is skipped where it is not exact fp32).",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="Minibatch per member.")
    parser.add_argument(
        "--iters", type=int, default=50, help="Timed updates per repeat (even: TD3 delay)."
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="Repeats; the median is reported (default 5)."
    )
    parser.add_argument("--warmup", type=int, default=5, help="Untimed updates first.")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"torch threads for all timings (default torch's: {torch.get_num_threads()}).",
    )
    parser.add_argument("--no-sb3", action="store_true", help="Skip Stable-Baselines3.")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="After timing each K, profile --iters of our updates with torch's profiler and "
        "print the operators that took the most time (where the time above the floor goes).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help=f"Folder for update_speed.csv and .md (default {OUT}).",
    )
    args = parser.parse_args(argv)
    args.members = parse_list(int, args.members)
    args.algos = [a.upper() for a in parse_list(str, args.algos)]
    args.libraries = parse_list(str, args.libraries)
    if unknown := set(args.libraries) - {"mkl", "onednn"}:
        parser.error(f"--libraries: unknown {sorted(unknown)} (choose from mkl, onednn)")
    if not args.members or min(args.members) < 1:
        parser.error("--members: need positive integers")
    if unknown := set(args.algos) - set(ALGOS):
        parser.error(f"--algos: unknown {sorted(unknown)} (choose from {', '.join(ALGOS)})")
    if min(args.iters, args.repeats) < 1 or args.warmup < 0:
        parser.error("--iters and --repeats must be >= 1, --warmup >= 0")
    return args


def time_library(library: str, args: argparse.Namespace, timing: dict) -> list[dict]:
    """Rows of every algorithm and K with fp32 matmuls on ``library``."""
    rows, b = [], args.batch_size
    iters, warmup = timing["iters"], timing["warmup"]
    for algo in args.algos:
        sb3_ms, sample_ms = (
            (float("nan"), float("nan")) if args.no_sb3 else time_sb3(algo, b, timing)
        )
        print(f"  [{library}] SB3 {algo}: {sb3_ms:.3f} ms/update (sampling {sample_ms:.3f} ms)")
        mflop = update_mflop(algo, b)
        for k in args.members:
            ours, floor = ours_update(algo, k, b), floor_calls(algo, k, b)
            samples = in_alternation(
                {
                    "ours": lambda ours=ours: time_ms(ours, iters, 1, warmup),
                    "floor": lambda floor=floor: floor_block_ms(floor, iters, warmup),
                },
                timing["repeats"],
            )
            if args.profile:
                print(f"  [{library}] ours {algo} K={k}, {args.iters} updates:")
                print(operator_profile(ours, args.iters))
            ours_ms = statistics.median(samples["ours"])
            floor_ms = statistics.median(samples["floor"]) / k
            ratio = paired_ratio(samples["ours"], samples["floor"])
            rows.append(
                {
                    "library": library,
                    "algo": algo,
                    "K": k,
                    "ours_ms_per_update": ours_ms,
                    "ours_ms_per_member": ours_ms / k,
                    "sb3_ms_per_update": sb3_ms,
                    "ratio_ours_member_over_sb3": ours_ms / k / sb3_ms,
                    "floor_ms_per_member": floor_ms,
                    "ratio_ours_over_floor": ratio.median,
                    "ratio_floor_min": ratio.low,
                    "ratio_floor_max": ratio.high,
                    "mflop_per_member": mflop,
                    "floor_gflops": mflop / floor_ms,  # MFLOP per ms = GFLOP/s
                    "sb3_sample_ms": sample_ms,
                }
            )
            print(
                f"  [{library}] ours {algo} K={k}: {ours_ms:.3f} ms/update, "
                f"{ours_ms / k:.3f} ms/member, floor {floor_ms:.3f} ms/member "
                f"({mflop:.0f} MFLOP), ours/floor {ratio}",
                flush=True,
            )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    keep_freed_memory()  # as the lmc-rl command does (lmc_rl/learners/allocator.py)
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    timing = dict(iters=args.iters, repeats=args.repeats, warmup=args.warmup)
    b = args.batch_size
    print(
        f"update_speed: obs {OBS_DIM}, action {ACTION_DIM}, batch {b}, hidden {HIDDEN}, "
        f"timing {timing}; {machine_description()}",
        flush=True,
    )
    load_before = load_average()
    rows = []
    for library in args.libraries:
        if library == "onednn" and not onednn_is_exact_fp32():
            print("  onednn skipped: not exact fp32 on this machine", flush=True)
            continue
        with matmuls_on(library):
            rows += time_library(library, args, timing)
    header = (
        f"# update_speed\n\nAfter timing: {machine_description()}. Load average before: "
        f"{load_before} (timings on a busy machine are unreliable, more so with >1 thread). "
        f"Hopper-v5 sizes (obs {OBS_DIM}, action {ACTION_DIM}), batch {b}, "
        f"hidden {HIDDEN}, fp32 CPU; median of {args.repeats} repeats x {args.iters} updates after "
        f"{args.warmup} warm-up. SB3 time includes its minibatch sampling (last column); ours "
        "uses a prepared batch. Floor: matmul time only, each matmul timed with torch.bmm, "
        "alternating with our updates; ours/floor is the median of the per-repeat ratios, "
        "with their minimum and maximum (so it need not equal the ratio of the two median "
        "times shown). SB3 is timed once per algorithm, before the paired repeats."
    )
    table = write_outputs(args.out, rows, header)
    print()
    print(table)
    print(f"wrote {args.out}/update_speed.csv and .md")


if __name__ == "__main__":
    main()
