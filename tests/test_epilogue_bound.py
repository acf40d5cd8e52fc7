"""The epilogue-bound benchmark times what it says: each variant removes exactly its passes
while it is active, and our networks are back to themselves afterwards, even after an error."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import epilogue_bound as eb  # noqa: E402

from lmc_rl.learners.nn import BatchedMLP  # noqa: E402


def mlp_and_input() -> tuple[BatchedMLP, torch.Tensor]:
    mlp = BatchedMLP((2,), (5, 32, 32, 3))
    g = torch.Generator().manual_seed(0)
    for member in range(2):
        mlp.reset_member(member, g)
    return mlp, torch.randn(2, 8, 5, generator=g, requires_grad=True)


def output_and_grads(mlp: BatchedMLP, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    out = mlp(x)
    return (out, *torch.autograd.grad(out.sum(), [x, *mlp.parameters()]))


def test_the_wrapped_control_computes_our_maths_bit_for_bit():
    mlp, x = mlp_and_input()
    ours = output_and_grads(mlp, x)
    for variant in ("as is", "as is, wrapped"):
        with eb.layers_as(variant):
            assert all(map(torch.equal, output_and_grads(mlp, x), ours))


def test_without_the_relus_forward_pass_its_backward_mask_stays():
    mlp, x = mlp_and_input()
    w = [layer.weight for layer in mlp.layers]
    b = [layer.bias for layer in mlp.layers]
    with eb.layers_as("no ReLU forward pass"):
        out, grad_x, *_ = output_and_grads(mlp, x)
    h1 = x @ w[0] + b[0]  # no ReLU applied forward
    h2 = h1 @ w[1] + b[1]
    assert torch.allclose(out, h2 @ w[2] + b[2], atol=1e-5)
    g2 = torch.ones_like(out) @ w[2].transpose(1, 2) * (h2 > 0)  # the masks, backward
    g1 = g2 @ w[1].transpose(1, 2) * (h1 > 0)
    assert torch.allclose(grad_x, g1 @ w[0].transpose(1, 2), atol=1e-5)


def test_without_relu_and_bias_every_layer_is_a_plain_product():
    mlp, x = mlp_and_input()
    w = [layer.weight for layer in mlp.layers]
    with eb.layers_as("no ReLU, no bias"):
        out, grad_x, *grads = output_and_grads(mlp, x)
    assert torch.allclose(out, x @ w[0] @ w[1] @ w[2], atol=1e-5)
    unmasked = torch.ones_like(out) @ (w[0] @ w[1] @ w[2]).transpose(1, 2)
    assert torch.allclose(grad_x, unmasked, atol=1e-5)
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads[1::2])  # the biases


def test_our_networks_come_back_after_a_variant_even_when_it_fails():
    mlp, x = mlp_and_input()
    ours, original = mlp(x), BatchedMLP.forward
    with pytest.raises(RuntimeError), eb.layers_as("no ReLU, no bias"):
        raise RuntimeError("a failing timing block")
    assert BatchedMLP.forward is original
    assert torch.equal(mlp(x), ours)
