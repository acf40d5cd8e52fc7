import torch
from torch import nn

from lmc_rl.learners.optim import BatchedAdam


def _holder(value):
    holder = nn.Module()
    holder.weight = nn.Parameter(value.clone())
    holder.bias = nn.Parameter(torch.zeros(value.shape[0], 3))
    return holder


def test_batched_adam_equals_torch_adam_per_member():
    g = torch.Generator().manual_seed(0)
    start = torch.randn(2, 4, 3, generator=g)
    holder = _holder(start)
    opt = BatchedAdam([holder.weight, holder.bias], n_members=2, lr=1e-2, owner=holder)
    singles = [torch.nn.Parameter(start[i].clone()) for i in range(2)]
    torch_opts = [torch.optim.Adam([p], lr=1e-2) for p in singles]
    for step in range(6):
        grads = torch.randn(2, 4, 3, generator=g)
        # alternate the fast path (all active) and the masked path (one member idle, then back)
        active = torch.tensor([True, step != 2])
        opt.step([grads, torch.zeros(2, 3)], active)
        for i, (p, o) in enumerate(zip(singles, torch_opts, strict=True)):
            if active[i]:
                p.grad = grads[i].clone()
                o.step()
    for i in range(2):
        torch.testing.assert_close(holder.weight.data[i], singles[i].data, atol=1e-6, rtol=1e-5)
    assert opt.step_count.tolist() == [6.0, 5.0]


def test_inactive_member_is_untouched_and_keeps_its_step_count():
    holder = _holder(torch.zeros(2, 4, 3))
    opt = BatchedAdam([holder.weight], n_members=2, lr=0.1, owner=holder)
    opt.step([torch.ones(2, 4, 3)], torch.tensor([True, False]))
    assert torch.equal(holder.weight.data[1], torch.zeros(4, 3))
    assert not torch.equal(holder.weight.data[0], torch.zeros(4, 3))
    assert opt.step_count.tolist() == [1.0, 0.0]
    assert torch.equal(opt.exp_avg_0[1], torch.zeros(4, 3))


def test_state_survives_loading_into_a_new_optimizer():
    holder = _holder(torch.randn(2, 4, 3))
    opt = BatchedAdam([holder.weight], n_members=2, lr=0.1, owner=holder)
    opt.step([torch.ones(2, 4, 3)], torch.ones(2, dtype=torch.bool))
    other = _holder(torch.zeros(2, 4, 3))
    other_opt = BatchedAdam([other.weight], n_members=2, lr=0.1, owner=other)
    other.load_state_dict(holder.state_dict())
    other_opt.load_state_dict(opt.state_dict())
    grads = torch.randn(2, 4, 3)
    opt.step([grads], torch.ones(2, dtype=torch.bool))
    other_opt.step([grads], torch.ones(2, dtype=torch.bool))
    assert torch.equal(holder.weight, other.weight)
