"""Which library computes fp32 matmuls on the CPU: oneDNN's AVX-512 kernels or MKL.

Why: torch sends fp32 matmuls to MKL, which on AMD CPUs runs its AVX2 code (about 100 GFLOP/s
per core on this project's EPYC machines) while oneDNN runs AVX-512 kernels at about twice that.
torch routes fp32 matmuls to oneDNN only when oneDNN may use bf16 inside them
(``torch.backends.mkldnn.matmul.fp32_precision = "bf16"``). oneDNN takes that freedom only on CPUs
with bf16 matrix units (AMX); elsewhere it runs plain fp32 kernels. So the oneDNN route is taken
only after a probe on this machine shows that every matmul layout our layers and their gradients
use comes back exact in fp32; otherwise MKL stays. Either way, results are fp32: the two routes
differ only in the order of additions (the last bits).

A member must not depend on who shares its batch, bit for bit. torch hands a batched matmul to
oneDNN only when ``members * m * k * n`` exceeds 16^3, so a small matrix would switch library (and
its last bits) as members join. Hence oneDNN serves only gradient updates, and only when every
layer's own ``batch_size * in * out`` is above that size (then every member count takes oneDNN;
a layer's forward and both gradient products share that size). Acting and evaluation, whose
matmuls are tiny, stay on MKL.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence

import torch

from lmc_rl.config.run_config import CPU_MATMUL_CHOICES

# 1 + 2^-12 is exact in fp32 but rounds to 1 in bf16 (and in tf32): a product of such values
# with ones, summed over k <= 2048 terms, is exact in fp32 and wrong by k * 2^-12 otherwise.
_PROBE_VALUE = 1.0 + 2.0**-12
# torch's mkldnn_gemm_min_size (aten/src/ATen/native/mkldnn/Matmul.cpp, checksize): at or below
# it, a matmul stays on MKL
ONEDNN_MIN_SIZE = 16 * 16 * 16
# (members x networks, rows, inner, columns): hidden, input and output layer shapes
_PROBE_SHAPES = ((1, 256, 256, 256), (16, 256, 14, 256), (16, 256, 256, 1), (42, 256, 11, 6))


def _allow_onednn() -> None:
    """torch's switch that sends fp32 matmuls to oneDNN (with bf16 allowed, see above)."""
    torch.backends.mkldnn.matmul.fp32_precision = "bf16"


def _exact(g: int, m: int, k: int, n: int) -> bool:
    """x @ W, dY @ W^T and X^T @ dY (the forward and both gradients) at one shape, exact?"""
    expected = k * _PROBE_VALUE
    a = torch.full((g, m, k), _PROBE_VALUE)
    b = torch.ones(g, k, n)
    a_t = torch.full((g, k, m), _PROBE_VALUE).transpose(1, 2)  # same values, transposed layout
    b_t = torch.ones(g, n, k).transpose(1, 2)
    bias = torch.zeros(g, 1, n)
    products = (torch.bmm(a, b), torch.bmm(a, b_t), torch.bmm(a_t, b), torch.baddbmm(bias, a, b))
    return all(bool((p == expected).all()) for p in products)


@functools.cache
def onednn_is_exact_fp32() -> bool:
    """Does torch's oneDNN route compute fp32 matmuls without rounding on this machine?"""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        before = torch.backends.mkldnn.matmul.fp32_precision
    except AttributeError:  # torch before 2.9 has no such setting: MKL it is
        return False
    try:
        _allow_onednn()
        return all(_exact(*shape) for shape in _PROBE_SHAPES)
    except RuntimeError:
        return False
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = before


def update_library(choice: str, batch_size: int, layer_sizes: Sequence[tuple[int, int]]) -> str:
    """The library for gradient updates of layers ``(in, out)`` at ``batch_size``: oneDNN or MKL."""
    if choice not in CPU_MATMUL_CHOICES:
        raise ValueError(f"cpu_matmul must be one of {CPU_MATMUL_CHOICES}, got {choice!r}")
    large = all(batch_size * n_in * n_out > ONEDNN_MIN_SIZE for n_in, n_out in layer_sizes)
    return "onednn" if choice == "auto" and large and onednn_is_exact_fp32() else "mkl"


@contextlib.contextmanager
def matmuls_on(library: str) -> Iterator[None]:
    """fp32 CPU matmuls inside the block run on ``library`` (onednn or mkl)."""
    if library == "mkl" or not torch.backends.mkldnn.is_available():
        yield
        return
    before = torch.backends.mkldnn.matmul.fp32_precision
    _allow_onednn()
    try:
        yield
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = before
