"""The update matmul library: oneDNN only where it is exact fp32 and keeps members independent."""

from __future__ import annotations

import pytest
import torch

from lmc_rl.learners.agents import Batch, make_agent
from lmc_rl.learners.matmul import _PROBE_VALUE, matmuls_on, onednn_is_exact_fp32, update_library
from lmc_rl.learners.nn import linear_layer_sizes
from lmc_rl.training.trainer import default_agent_spec

needs_onednn = pytest.mark.skipif(
    not onednn_is_exact_fp32(), reason="oneDNN is not exact fp32 on this machine"
)
# batch 160 x hidden 32: every layer's batch * in * out is above torch's oneDNN cut-off
SPEC = default_agent_spec(5, 2, hidden_dims=(32, 32), learning_rate=1e-3)
BATCH = 160


def _trained_state(algo: str, library: str, batch: Batch, seeds: list[int]) -> dict:
    k = len(seeds)
    agent = make_agent(algo, k, SPEC)
    agent.init_members(seeds)
    noise = torch.randn(k, *agent.update_noise_shape(BATCH), generator=torch.Generator())
    with matmuls_on(library):
        for _ in range(4):
            agent.update(batch, noise, torch.ones(k, dtype=torch.bool))
    return agent.state_dict()


def test_probe_values_expose_bf16_rounding():
    """The probe's operands survive fp32 but not bf16, so a rounding route cannot pass it."""
    a = torch.full((1, 4, 256), _PROBE_VALUE)
    ones = torch.ones(1, 256, 4)
    assert bool((torch.bmm(a, ones) == 256 * _PROBE_VALUE).all())
    rounded = torch.bmm(a.bfloat16().float(), ones)
    assert not bool((rounded == 256 * _PROBE_VALUE).any())


def test_onednn_only_for_layers_large_enough_to_keep_members_independent():
    layers = linear_layer_sizes(make_agent("SAC", 1, SPEC))
    assert (5 + 2, 32) in layers and (32, 1) in layers  # critic input and output layers
    onednn = "onednn" if onednn_is_exact_fp32() else "mkl"
    assert update_library("auto", BATCH, layers) == onednn
    assert update_library("auto", 32, layers) == "mkl"  # 32 * 32 * 1: torch's size cut-off
    assert update_library("mkl", BATCH, layers) == "mkl"
    with pytest.raises(ValueError, match="cpu_matmul"):
        update_library("bf16", BATCH, layers)


@needs_onednn
@pytest.mark.parametrize("algo", ["SAC", "TD3", "DDPG"])
def test_updates_agree_across_libraries_to_fp32_tolerance(algo, random_batch):
    """Both libraries compute fp32; they differ only in the order of additions."""
    batch, seeds = random_batch(3, SPEC, BATCH), [11, 12, 13]
    mkl, onednn = (_trained_state(algo, lib, batch, seeds) for lib in ("mkl", "onednn"))
    for name, value in mkl.items():
        torch.testing.assert_close(onednn[name], value, rtol=1e-4, atol=1e-5, msg=name)


@needs_onednn
@pytest.mark.parametrize("threads", [1, 2])  # runs use every core (with MKL, 2 threads differ)
@pytest.mark.parametrize("algo", ["SAC", "TD3", "DDPG"])
def test_on_onednn_a_member_updates_bitwise_the_same_whoever_shares_its_batch(
    algo, threads, random_batch
):
    torch.set_num_threads(threads)  # the autouse fixture sets 1 again for the next test
    batch = random_batch(5, SPEC, BATCH)
    alone = Batch(**{name: rows[:1] for name, rows in vars(batch).items()})
    together = _trained_state(algo, "onednn", batch, [11, 12, 13, 14, 15])
    single = _trained_state(algo, "onednn", alone, [11])
    for name, value in single.items():
        assert torch.equal(together[name][:1], value), name
