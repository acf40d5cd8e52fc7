import torch

from lmc_rl.optim import BatchedAdam


def test_batched_adam_equals_torch_adam_per_member():
    g = torch.Generator().manual_seed(0)
    start = torch.randn(2, 4, 3, generator=g)
    batched = torch.nn.Parameter(start.clone())
    opt = BatchedAdam([batched], n_members=2, lr=1e-2)
    singles = [torch.nn.Parameter(start[i].clone()) for i in range(2)]
    torch_opts = [torch.optim.Adam([p], lr=1e-2) for p in singles]
    for _ in range(5):
        grads = torch.randn(2, 4, 3, generator=g)
        opt.step([grads], torch.ones(2, dtype=torch.bool))
        for i, (p, o) in enumerate(zip(singles, torch_opts, strict=True)):
            p.grad = grads[i].clone()
            o.step()
    for i in range(2):
        torch.testing.assert_close(batched.data[i], singles[i].data, atol=1e-6, rtol=1e-5)


def test_inactive_member_is_untouched_and_keeps_its_step_count():
    p = torch.nn.Parameter(torch.zeros(2, 3))
    opt = BatchedAdam([p], n_members=2, lr=0.1)
    opt.step([torch.ones(2, 3)], torch.tensor([True, False]))
    assert torch.equal(p.data[1], torch.zeros(3))
    assert not torch.equal(p.data[0], torch.zeros(3))
    assert opt.step_count.tolist() == [1.0, 0.0]
