"""The epilogue-bound benchmark times what it says: each variant removes its passes while it is
active, and our layers are back to themselves afterwards."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import epilogue_bound as eb  # noqa: E402

from lmc_rl.nn import BatchedLinear, BatchedMLP  # noqa: E402


def mlp_and_input() -> tuple[BatchedMLP, torch.Tensor]:
    mlp = BatchedMLP((2,), (5, 32, 32, 3))
    g = torch.Generator().manual_seed(0)
    for member in range(2):
        mlp.reset_member(member, g)
    return mlp, torch.randn(2, 8, 5, generator=g)


def test_each_variant_computes_what_its_name_says_and_ours_comes_back():
    mlp, x = mlp_and_input()
    ours = mlp(x)
    originals = BatchedMLP.forward, BatchedLinear.forward_aligned
    with eb.layers_as("as is"):
        assert torch.equal(mlp(x), ours)
    with eb.layers_as("no ReLU forward"):
        linear = mlp.layers[2](mlp.layers[1](mlp.layers[0](x)))  # the same layers, no ReLU
        assert torch.equal(mlp(x), linear)
    with eb.layers_as("no ReLU, no bias"):
        w = [layer.weight for layer in mlp.layers]
        out = mlp(x)
        assert torch.allclose(out, x @ w[0] @ w[1] @ w[2], atol=1e-5)
        grads = torch.autograd.grad(out.sum(), list(mlp.parameters()))
        assert all(torch.equal(gr, torch.zeros_like(gr)) for gr in grads[1::2])  # biases
    assert (BatchedMLP.forward, BatchedLinear.forward_aligned) == originals
    assert torch.equal(mlp(x), ours)
