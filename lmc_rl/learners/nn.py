"""Layers whose parameters carry a leading member dimension, so one matmul serves every member.

A member's result must not depend on who shares its batch, bit for bit. CPU matmul kernels pick
their code path by shape, alignment and thread count: measured with torch 2.13 on AVX-512, a
member's output row comes out with other last bits depending on its position in the batch when a
layer's width is not a multiple of 4 floats (e.g. SAC's Hopper head, 6 wide), when a lone matrix
is multiplied (one member) rather than a batch, and with 2 threads at 10 rows. So every matmul
here runs on an aligned layout: layer widths (inner and output dims) are padded with zeros to a
multiple of ``WIDTH_ALIGNMENT`` floats (64 bytes) and row counts above one to a multiple of
``ROW_ALIGNMENT``, inside the computation only (parameters keep their true shapes). The zero
padding adds exact zeros and is sliced off, so it changes no value beyond the matmul's own
rounding, and its gradients are zero. ``lmc_rl.learners.independence`` verifies this layout on
the running machine (library, thread count) instead of trusting it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WIDTH_ALIGNMENT = 16  # floats: one AVX-512 register, one 64-byte cache line
ROW_ALIGNMENT = 4


def aligned_width(n: int) -> int:
    """``n`` rounded up to a multiple of ``WIDTH_ALIGNMENT``."""
    return -(-n // WIDTH_ALIGNMENT) * WIDTH_ALIGNMENT


def aligned_rows(n: int) -> int:
    """Rows a matmul runs on for ``n`` real rows: one row stays one, more round up."""
    return n if n == 1 else -(-n // ROW_ALIGNMENT) * ROW_ALIGNMENT


def _pad_last(x: Tensor, to: int) -> Tensor:
    return x if x.shape[-1] == to else F.pad(x, (0, to - x.shape[-1]))


def align_input(x: Tensor, in_features: int) -> Tensor:
    """``[..., rows, in]`` zero-padded to aligned rows and an aligned width."""
    rows = x.shape[-2]
    x = _pad_last(x, aligned_width(in_features))
    return x if aligned_rows(rows) == rows else F.pad(x, (0, 0, 0, aligned_rows(rows) - rows))


class BatchedLinear(nn.Module):
    """``y[m] = x[m] @ W[m] + b[m]`` for every member m: weight ``[*lead, in, out]``.

    ``lead`` is the member shape, e.g. ``(K,)`` for actors or ``(K, 2)`` for twin critics;
    inputs are ``[*lead, batch, in]``.
    """

    def __init__(self, lead: Sequence[int], in_features: int, out_features: int) -> None:
        super().__init__()
        self.lead = tuple(lead)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.zeros(*self.lead, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(*self.lead, 1, out_features))

    def forward(self, x: Tensor) -> Tensor:
        y = self.forward_aligned(align_input(x, self.in_features))
        return y[..., : x.shape[-2], : self.out_features]

    def forward_aligned(self, x: Tensor) -> Tensor:
        """The layer on inputs already padded to ``[*lead, aligned rows, aligned in]``."""
        weight = self.aligned_weight()
        bias = _pad_last(self.bias.reshape(-1, 1, self.out_features), weight.shape[-1])
        y = torch.baddbmm(bias, x.reshape(-1, x.shape[-2], weight.shape[-2]), weight)
        return y.reshape(*self.lead, x.shape[-2], weight.shape[-1])

    def aligned_weight(self) -> Tensor:
        """The weight as every member's matmul uses it: ``[members, aligned in, aligned out]``,
        zero-padded."""
        n_in, n_out = aligned_width(self.in_features), aligned_width(self.out_features)
        weight = _pad_last(self.weight.reshape(-1, self.in_features, self.out_features), n_out)
        if n_in != self.in_features:
            weight = F.pad(weight, (0, 0, 0, n_in - self.in_features))
        return weight

    def reset_member(self, member: int, generator: torch.Generator) -> None:
        """Initialise one member as ``nn.Linear`` would (uniform in +-1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            for p in (self.weight, self.bias):
                row = torch.empty(p[member].shape).uniform_(-bound, bound, generator=generator)
                p[member].copy_(row)


class BatchedMLP(nn.Module):
    """A ReLU multilayer perceptron for every member, computed with one bmm per layer.

    Activations stay in the aligned layout from the first layer to the last (padded hidden units
    are exact zeros, padded rows are sliced off at the end).
    """

    def __init__(self, lead: Sequence[int], sizes: Sequence[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            BatchedLinear(lead, n_in, n_out)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        *hidden, last = self.layers
        rows = x.shape[-2]
        x = align_input(x, self.layers[0].in_features)
        for layer in hidden:
            x = torch.relu(layer.forward_aligned(x))
        return last.forward_aligned(x)[..., :rows, : last.out_features]

    def reset_member(self, member: int, generator: torch.Generator) -> None:
        for layer in self.layers:
            layer.reset_member(member, generator)


def linear_layer_sizes(module: nn.Module) -> list[tuple[int, int]]:
    """``(in, out)`` of every BatchedLinear inside ``module``."""
    return [
        (m.in_features, m.out_features) for m in module.modules() if isinstance(m, BatchedLinear)
    ]


def member_mask(mask: Tensor, like: Tensor) -> Tensor:
    """View a ``[K]`` mask so that it broadcasts against a tensor with leading member dim."""
    return mask.reshape(mask.shape[0], *([1] * (like.dim() - 1)))
