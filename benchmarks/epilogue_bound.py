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
* ``as is, wrapped``: the same maths with every layer's ReLU and bias routed through small
  Python autograd Functions, as the two variants below must be: the control they compare to;
* ``no ReLU forward pass``: hidden layers skip the ReLU's forward pass; its backward mask
  stays (computed from the pre-activation, as a fused epilogue would keep it);
* ``no ReLU, no bias``: every layer is a plain ``bmm`` with no bias, no ReLU pass forward or
  backward. Its ratio to the floor is the best any fusion of bias and ReLU into the matmuls
  can reach; what remains above the floor is Adam, the target networks, the loss maths,
  autograd and Python;
* ``networks compiled`` (with ``--compile``): our exact network code compiled by Inductor
  (forward and backward graphs, matmuls still aten's): what fusing the small operators buys.

``--profile`` splits one update's time into the matmuls, the elementwise passes and the rest;
``--inductor`` compiles one hidden layer, ``relu(bmm(x, w) + b)`` at the update's shape, with
torch Inductor's own C++ GEMM template (the one route to a fused epilogue inside torch on a
CPU) and times it against the same layer eager on oneDNN and oneDNN's bare bmm; ``--compile``
tries ``torch.compile`` on the update as it stands and times the ``networks compiled`` variant.

Usage::

    python benchmarks/epilogue_bound.py --members 1,8 --repeats 8 --profile
    python benchmarks/epilogue_bound.py --members 8 --inductor --compile
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence

import torch
from machine import machine_description
from paired_timing import in_alternation, paired_ratio, time_ms
from torch import Tensor
from update_speed import HIDDEN, floor_block_ms, floor_calls, ours_update

import lmc_rl.learners.nn as lnn
from lmc_rl.learners.allocator import keep_freed_memory
from lmc_rl.learners.matmul import matmuls_on


class _Relu(torch.autograd.Function):
    """The ReLU's gradient mask backward; forward, torch's ReLU or (``forward_pass`` False) no
    pass at all, the mask then coming from the pre-activation, as a fused epilogue would keep
    it. A Python Function either way, so that the control pays the variants' overhead."""

    @staticmethod
    def forward(ctx, x: Tensor, forward_pass: bool) -> Tensor:  # noqa: ANN001
        y = torch.relu(x) if forward_pass else x.view_as(x)
        ctx.save_for_backward(y)  # y > 0 exactly where x > 0
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        (y,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, y, 0), None


class _NoPass(torch.autograd.Function):
    """Nothing at all in the ReLU's place, forward or backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ANN001
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ANN001
        return grad


class _BiasTap(torch.autograd.Function):
    """Passes ``y`` through and gives the bias a zero gradient, so that the optimizer, which
    asks for every parameter's gradient, still finds one when the bias goes unused."""

    @staticmethod
    def forward(ctx, y: Tensor, bias: Tensor) -> Tensor:  # noqa: ANN001
        ctx.bias_shape = bias.shape
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:  # noqa: ANN001
        return grad, grad.new_zeros(ctx.bias_shape)


def _with_bias(layer: lnn.BatchedLinear, x: Tensor) -> Tensor:
    return _BiasTap.apply(layer.forward_aligned(x), layer.bias)


def _without_bias(layer: lnn.BatchedLinear, x: Tensor) -> Tensor:
    weight = layer.aligned_weight()
    rows, n_in, n_out = x.shape[-2], weight.shape[-2], weight.shape[-1]
    y = torch.bmm(x.reshape(-1, rows, n_in), weight).reshape(*layer.lead, rows, n_out)
    return _BiasTap.apply(y, layer.bias)


Layer = Callable[[lnn.BatchedLinear, Tensor], Tensor]


def _mlp_forward(activation: Callable[[Tensor], Tensor], layer_forward: Layer) -> Callable:
    """``BatchedMLP.forward`` with another hidden activation and another layer computation."""

    def forward(self: lnn.BatchedMLP, x: Tensor) -> Tensor:
        *hidden, last = self.layers
        rows = x.shape[-2]
        x = lnn.align_input(x, self.layers[0].in_features)
        for layer in hidden:
            x = activation(layer_forward(layer, x))
        return layer_forward(last, x)[..., :rows, : last.out_features]

    return forward


def _compiled_forward(self: lnn.BatchedMLP, x: Tensor) -> Tensor:
    """Our exact network code, compiled by Inductor once per network (forward and backward
    graphs; its matmuls stay aten's, so oneDNN's): what compiling the update's small
    operators, not its matmuls, buys."""
    if "_inductor_forward" not in self.__dict__:
        # one code object, compiled anew for each network, grad mode and population size
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        ours = ORIGINAL_FORWARD.__get__(self)
        self.__dict__["_inductor_forward"] = torch.compile(ours, dynamic=False, fullgraph=True)
    return self.__dict__["_inductor_forward"](x)


ORIGINAL_FORWARD = lnn.BatchedMLP.forward
VARIANTS: dict[str, Callable | None] = {  # name: BatchedMLP.forward (None: ours)
    "as is": None,
    "as is, wrapped": _mlp_forward(lambda x: _Relu.apply(x, True), _with_bias),  # the control
    "no ReLU forward pass": _mlp_forward(lambda x: _Relu.apply(x, False), _with_bias),
    "no ReLU, no bias": _mlp_forward(_NoPass.apply, _without_bias),
    "networks compiled": _compiled_forward,  # timed with --compile only: compiling takes minutes
}
UNCOMPILED = tuple(name for name, forward in VARIANTS.items() if forward is not _compiled_forward)


@contextlib.contextmanager
def layers_as(variant: str) -> Iterator[None]:
    """Our networks computed as ``variant`` inside the block."""
    saved = lnn.BatchedMLP.forward
    lnn.BatchedMLP.forward = VARIANTS[variant] or saved
    try:
        yield
    finally:
        lnn.BatchedMLP.forward = saved


def time_variants(
    algo: str, k: int, timing: dict, variants: Sequence[str] = UNCOMPILED
) -> dict[str, list[float]]:
    """Per repeat: ms of each variant's update and of the matmul floor, in rotating order so
    that a drift on a shared machine biases none of them."""
    updates = {name: ours_update(algo, k, 256) for name in variants}
    floor = floor_calls(algo, k, 256)

    def update_ms(name: str) -> float:
        with layers_as(name):
            return time_ms(updates[name], timing["iters"], 1, timing["warmup"])

    blocks = {name: (lambda name=name: update_ms(name)) for name in variants}
    blocks["floor"] = lambda: floor_block_ms(floor, timing["iters"], timing["warmup"])
    return in_alternation(blocks, timing["repeats"])


MATMULS = ("aten::bmm", "aten::baddbmm")
PASSES = ("aten::clamp_min", "aten::threshold_backward", "aten::_fused_adam_", "aten::lerp_")


def time_split(algo: str, k: int, updates: int = 20) -> dict[str, float]:
    """torch profiler's self time of one update (ms): the matmuls, the elementwise passes
    (ReLU forward and backward, Adam, the target update), and the rest, with the operator
    calls an update dispatches from Python or autograd (those no other operator made)."""
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

    def top_level(event: object) -> bool:
        parent = event.cpu_parent
        return event.name.startswith("aten::") and not (
            parent is not None and parent.name.startswith("aten::")
        )

    total = ms(None)
    return {
        "total ms": total,
        "bmm and baddbmm ms": ms(MATMULS),
        "ReLU, Adam and target passes ms": ms(PASSES),
        "rest ms": total - ms(MATMULS) - ms(PASSES),
        "top-level operator calls": sum(map(top_level, prof.events())) / updates,
    }


def inductor_layer(k: int, timing: dict) -> dict[str, float]:
    """ms of one hidden layer of a K-member twin critic (``2K`` products of ``[256, 256] @
    [256, 256]``): eager on oneDNN, oneDNN's bare bmm, and compiled by Inductor with its C++
    GEMM template and the bias and ReLU fused into it."""
    import torch._inductor.config as inductor_config

    g, rows, width = 2 * k, 256, HIDDEN[0]
    x, w = torch.randn(g, rows, width), torch.randn(g, width, width)
    b = torch.randn(g, 1, width)

    def ours(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        return torch.relu(torch.baddbmm(b, x, w))

    def for_inductor(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        return torch.relu(torch.bmm(x, w) + b)  # its GEMM template takes no baddbmm

    # the template only, not aten's bmm, so that bias and ReLU are fused into its GEMM
    with inductor_config.patch(max_autotune=True, max_autotune_gemm_backends="CPP"):
        compiled = torch.compile(for_inductor, dynamic=False)
        started = time.perf_counter()
        compiled(x, w, b)
        compile_s = time.perf_counter() - started
    with matmuls_on("onednn"):
        return {
            "first call s (compiling, unless cached)": compile_s,
            "inductor C++ GEMM + bias + ReLU, ms": time_ms(lambda: compiled(x, w, b), **timing),
            "eager oneDNN baddbmm + ReLU, ms": time_ms(lambda: ours(x, w, b), **timing),
            "oneDNN bmm alone, ms": time_ms(lambda: torch.bmm(x, w), **timing),
        }


def try_compile(algo: str, k: int) -> str:
    """Whether ``torch.compile`` compiles and runs our update as it stands: ``ok``, or the
    first line of its error."""
    step = torch.compile(ours_update(algo, k, 256))
    try:
        with matmuls_on("onednn"):
            step()
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        cause = next((line for line in lines[1:] if "Error:" in line), lines[0] if lines else "")
        return f"{type(error).__name__}: {cause[:300]}"
    return "ok"


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
    parser.add_argument(
        "--repeats",
        type=int,
        default=8,
        help="Rounds of timed blocks (each variant, then the floor).",
    )
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
    parser.add_argument(
        "--compile",
        action="store_true",
        help="Also try torch.compile on the update as it stands, and print the outcome; and "
        "time the update with every network compiled by Inductor (compiling takes minutes).",
    )
    args = parser.parse_args(argv)
    if min(args.members) < 1 or args.threads < 1 or args.iters < 1 or args.repeats < 1:
        parser.error("--members, --threads, --iters and --repeats must be >= 1")
    return args


CONTROL = "as is, wrapped"


def main(argv: Sequence[str] | None = None) -> None:
    keep_freed_memory()  # as the lmc-rl command does (lmc_rl/learners/allocator.py)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    timing: dict = dict(iters=args.iters, repeats=args.repeats, warmup=args.warmup)
    print(
        f"epilogue_bound: {args.algo}, Hopper-v5 sizes, batch 256, hidden {HIDDEN}, oneDNN; "
        f"{machine_description()}",
        flush=True,
    )
    for k in args.members:
        with matmuls_on("onednn"):
            times = time_variants(
                args.algo, k, timing, list(VARIANTS if args.compile else UNCOMPILED)
            )
        floor = times.pop("floor")
        print(
            f"\nK = {k}: ms per member; ratios to the matmul floor and to the wrapped control, "
            "median [min, max] of paired repeats"
        )
        print(f"  matmul floor            {statistics.median(floor) / k:7.2f}")
        for name, ms in times.items():
            print(
                f"  {name:22s}  {statistics.median(ms) / k:7.2f}   "
                f"{paired_ratio(ms, floor)}   {paired_ratio(ms, times[CONTROL])}"
            )
        if args.profile:
            print("  one update, torch profiler (self time, 20 updates):")
            for name, value in time_split(args.algo, k).items():
                print(f"    {name:40s} {value:8.2f}")
        if args.compile:
            print(f"  torch.compile of the update: {try_compile(args.algo, k)}")
        if args.inductor:
            print(f"  one hidden layer of the twin critics (2K = {2 * k} products):")
            for name, value in inductor_layer(k, timing).items():
                print(f"    {name:40s} {value:8.2f}")


if __name__ == "__main__":
    main()
