"""Layers whose parameters carry a leading member dimension, so one matmul serves every member."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


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
        batch = x.shape[-2]
        y = torch.baddbmm(
            self.bias.reshape(-1, 1, self.out_features),
            x.reshape(-1, batch, self.in_features),
            self.weight.reshape(-1, self.in_features, self.out_features),
        )
        return y.reshape(*self.lead, batch, self.out_features)

    def reset_member(self, member: int, generator: torch.Generator) -> None:
        """Initialise one member as ``nn.Linear`` would (uniform in +-1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            for p in (self.weight, self.bias):
                row = torch.empty(p[member].shape).uniform_(-bound, bound, generator=generator)
                p[member].copy_(row)


class BatchedMLP(nn.Module):
    """A ReLU multilayer perceptron for every member, computed with one bmm per layer."""

    def __init__(self, lead: Sequence[int], sizes: Sequence[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            BatchedLinear(lead, n_in, n_out)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        *hidden, last = self.layers
        for layer in hidden:
            x = torch.relu(layer(x))
        return last(x)

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
