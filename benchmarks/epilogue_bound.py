"""The most that fusing bias and ReLU into the matmuls could save in one update (issue #18).

Why: issue #18 asks for a SAC update within 1.3x of its matmul floor at K = 8. Besides the
matmuls, an update makes elementwise passes over every hidden activation: the bias broadcast
that ``baddbmm`` starts from, the ReLU, and the ReLU's gradient mask in the backward pass. A
fused GEMM epilogue (bias and ReLU applied as the matmul writes its output, the mask applied as
the next layer's input gradient is written) would remove them. Before building one, this
script measures what it could buy: it times our real update next to the same update with
those passes *removed* (wrong maths, the same matmuls, the same Adam, autograd and Python),
each in alternation with the matmul floor of ``update_speed.py``:

* ``as is``: the update ``lmc-rl run`` makes;
* ``no ReLU forward``: hidden layers skip the ReLU's forward pass (its backward mask stays);
* ``no ReLU, no bias``: hidden layers are plain ``bmm`` with no bias and an identity in place
  of the ReLU, forward and backward. Its ratio to the floor is the best any fusion of bias and
  ReLU into the matmuls can reach; what remains above the floor is Adam, the target networks,
  the loss maths, autograd and Python.

``--inductor`` also compiles one hidden layer, ``relu(bmm(x, w) + b)`` at the update's shape,
with torch Inductor's own C++ GEMM template (the one route to a fused epilogue inside torch on
a CPU), and times it against the same layer eager on oneDNN and against oneDNN's bare bmm.

Usage::

    python benchmarks/epilogue_bound.py --members 1,8 --threads 1 --repeats 7
    python benchmarks/epilogue_bound.py --members 1,8 --repeats 1 --profile   # where it goes
    python benchmarks/epilogue_bound.py --members 8 --inductor
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from update_speed import HIDDEN, floor_calls, ours_update, time_ms

import lmc_rl.nn as lnn
from lmc_rl.allocator import keep_freed_memory
from lmc_rl.matmul import matmuls_on


class _Identity(torch.autograd.Function):
    """The ReLU's place with no pass at all, forward or backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return grad


class _UnusedBias(torch.autograd.Function):
    """Keeps the bias in the graph (the optimizer asks for its gradient) without touching ``y``."""

    @staticmethod
    def forward(ctx, y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.bias_shape = bias.shape
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
        return grad, grad.new_zeros(ctx.bias_shape)


def _mlp_without_relu_forward(self: lnn.BatchedMLP, x: torch.Tensor) -> torch.Tensor:
    *hidden, last = self.layers
    rows = x.shape[-2]
    x = lnn.align_input(x, self.layers[0].in_features)
    for layer in hidden:
        x = layer.forward_aligned(x)
    return last.forward_aligned(x)[..., :rows, : last.out_features]


def _mlp_without_relu(self: lnn.BatchedMLP, x: torch.Tensor) -> torch.Tensor:
    *hidden, last = self.layers
    rows = x.shape[-2]
    x = lnn.align_input(x, self.layers[0].in_features)
    for layer in hidden:
        x = _Identity.apply(layer.forward_aligned(x))
    return last.forward_aligned(x)[..., :rows, : last.out_features]


def _linear_without_bias(self: lnn.BatchedLinear, x: torch.Tensor) -> torch.Tensor:
    n_in, n_out = lnn.aligned_width(self.in_features), lnn.aligned_width(self.out_features)
    weight = lnn._pad_last(self.weight.reshape(-1, self.in_features, self.out_features), n_out)
    if n_in != self.in_features:
        weight = F.pad(weight, (0, 0, 0, n_in - self.in_features))
    y = torch.bmm(x.reshape(-1, x.shape[-2], n_in), weight)
    return _UnusedBias.apply(y.reshape(*self.lead, x.shape[-2], n_out), self.bias)


VARIANTS = {  # name: (BatchedMLP.forward, BatchedLinear.forward_aligned); None keeps ours
    "as is": (None, None),
    "no ReLU forward": (_mlp_without_relu_forward, None),
    "no ReLU, no bias": (_mlp_without_relu, _linear_without_bias),
}


@contextlib.contextmanager
def layers_as(variant: str) -> Iterator[None]:
    """Our layers computed as ``variant`` inside the block."""
    mlp, linear = VARIANTS[variant]
    saved = lnn.BatchedMLP.forward, lnn.BatchedLinear.forward_aligned
    lnn.BatchedMLP.forward = mlp or saved[0]
    lnn.BatchedLinear.forward_aligned = linear or saved[1]
    try:
        yield
    finally:
        lnn.BatchedMLP.forward, lnn.BatchedLinear.forward_aligned = saved


def time_variants(algo: str, k: int, timing: dict) -> dict[str, list[float]]:
    """Per repeat: ms of each variant's update and of the matmul floor, in rotating order so
    that a drift on a shared machine biases none of them."""
    updates = {name: ours_update(algo, k, 256) for name in VARIANTS}
    floor = floor_calls(algo, k, 256)

    def block(name: str) -> float:
        if name == "floor":
            return sum(time_ms(call, timing["iters"], 1, timing["warmup"]) * n for call, n in floor)
        with layers_as(name):
            return time_ms(updates[name], timing["iters"], 1, timing["warmup"])

    names = [*VARIANTS, "floor"]
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(timing["repeats"]):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(block(name))
    return times


MATMULS = ("aten::bmm", "aten::baddbmm")
PASSES = ("aten::clamp_min", "aten::threshold_backward", "aten::_fused_adam_", "aten::lerp_")


def time_split(algo: str, k: int, updates: int = 20) -> dict[str, float]:
    """torch profiler's self time of one update (ms), split into the matmuls, the elementwise
    passes a fused kernel would absorb (ReLU forward and backward, Adam, the target update) and
    the rest, with the number of operator calls an update makes."""
    from torch.profiler import ProfilerActivity, profile

    step = ours_update(algo, k, 256)
    with matmuls_on("onednn"):
        for _ in range(updates):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(updates):
                step()
    events = prof.key_averages()

    def ms(keys: Sequence[str] | None) -> float:
        chosen = (e for e in events if keys is None or e.key in keys)
        return sum(e.self_cpu_time_total for e in chosen) / updates / 1e3

    total = ms(None)
    return {
        "total ms": total,
        "bmm and baddbmm ms": ms(MATMULS),
        "ReLU, Adam and target passes ms": ms(PASSES),
        "rest ms": total - ms(MATMULS) - ms(PASSES),
        "operator calls": sum(e.count for e in events if e.key.startswith("aten::")) / updates,
    }


def inductor_layer(k: int, timing: dict) -> dict[str, float]:
    """ms of one hidden layer of a K-member twin critic (``2K`` products of ``[256, 256] @
    [256, 256]``): eager on oneDNN, oneDNN's bare bmm, and compiled by Inductor with its C++
    GEMM template and the bias and ReLU fused into it."""
    import torch._inductor.config as inductor_config

    g, rows, width = 2 * k, 256, HIDDEN[0]
    x, w = torch.randn(g, rows, width), torch.randn(g, width, width)
    b = torch.randn(g, 1, width)

    def layer(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.baddbmm(b, x, w))  # as our layers compute it

    def unfused(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.bmm(x, w) + b)  # Inductor's GEMM template has no baddbmm

    inductor_config.max_autotune = True
    inductor_config.max_autotune_gemm_backends = "CPP"  # the template only, not aten's bmm
    compiled = torch.compile(unfused, dynamic=False)
    started = time.perf_counter()
    compiled(x, w, b)
    compile_s = time.perf_counter() - started
    with matmuls_on("onednn"):
        result = {
            "compile s": compile_s,
            "inductor C++ GEMM + bias + ReLU, ms": time_ms(lambda: compiled(x, w, b), **timing),
            "eager oneDNN baddbmm + ReLU, ms": time_ms(lambda: layer(x, w, b), **timing),
            "oneDNN bmm alone, ms": time_ms(lambda: torch.bmm(x, w), **timing),
        }
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--members",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 8],
        help="Comma-separated population sizes K (default 1,8).",
    )
    parser.add_argument("--algo", choices=("SAC", "TD3", "DDPG"), default="SAC")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1).")
    parser.add_argument("--iters", type=int, default=10, help="Updates per timed block.")
    parser.add_argument("--repeats", type=int, default=8, help="Rounds of the four blocks.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed calls before a block.")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Also split one profiled update's time into matmuls, elementwise passes and the "
        "rest (torch profiler, self time per operator).",
    )
    parser.add_argument(
        "--inductor",
        action="store_true",
        help="Also time one hidden layer compiled with Inductor's C++ GEMM template "
        "(needs a C++ compiler; compiling takes about a minute).",
    )
    args = parser.parse_args(argv)
    if min(args.members) < 1 or args.threads < 1 or args.iters < 1 or args.repeats < 1:
        parser.error("--members, --threads, --iters and --repeats must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    keep_freed_memory()  # as the lmc-rl command does (lmc_rl/allocator.py)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    timing: dict = dict(iters=args.iters, repeats=args.repeats, warmup=args.warmup)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"epilogue_bound: {args.algo}, Hopper-v5 sizes, batch 256, hidden {HIDDEN}, oneDNN, "
        f"{args.threads} thread(s), torch {torch.__version__}, load average {load}",
        flush=True,
    )
    for k in args.members:
        with matmuls_on("onednn"):
            times = time_variants(args.algo, k, timing)
        floor = times.pop("floor")
        print(f"\nK = {k}: ms per member, and ratio to the matmul floor (median [min, max])")
        print(f"  matmul floor          {statistics.median(floor) / k:7.2f}")
        for name, ms in times.items():
            ratios = [t / f for t, f in zip(ms, floor, strict=True)]
            print(
                f"  {name:20s}  {statistics.median(ms) / k:7.2f}   "
                f"{statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]"
            )
        if args.profile:
            print("  one update, torch profiler (self time, 20 updates):")
            for name, value in time_split(args.algo, k).items():
                print(f"    {name:40s} {value:8.2f}")
        if args.inductor:
            print(f"  one hidden layer of the twin critics (2K = {2 * k} products):")
            for name, value in inductor_layer(k, timing).items():
                print(f"    {name:40s} {value:8.2f}")


if __name__ == "__main__":
    main()
