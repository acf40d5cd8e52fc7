"""Adam over stacked member parameters, with per-member step counts and a member mask.

Equal to ``torch.optim.Adam`` applied to each member on its own (same formula and defaults),
but one call updates all members, and masked members keep parameters, moments and step count.
Its moments are module buffers, so a member's optimizer state travels with the agent's state_dict.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lmc_rl.nn import member_mask


class BatchedAdam(nn.Module):
    def __init__(
        self,
        params: Sequence[nn.Parameter],
        n_members: int,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.register_buffer("step_count", torch.zeros(n_members))
        for i, p in enumerate(self.params):
            self.register_buffer(f"exp_avg_{i}", torch.zeros_like(p))
            self.register_buffer(f"exp_avg_sq_{i}", torch.zeros_like(p))

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor], active: Tensor) -> None:
        """One Adam step for members where ``active`` (bool ``[K]``) is set; others untouched."""
        beta1, beta2 = self.betas
        self.step_count.add_(active.to(self.step_count.dtype))
        step = self.step_count.clamp(min=1.0)
        step_size = self.lr / (1.0 - beta1**step)
        bias2_sqrt = (1.0 - beta2**step).sqrt()
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            m = getattr(self, f"exp_avg_{i}")
            v = getattr(self, f"exp_avg_sq_{i}")
            keep = member_mask(active, p)
            m_new = m.lerp(g, 1.0 - beta1)
            v_new = (v * beta2).addcmul_(g, g, value=1.0 - beta2)
            denom = (v_new.sqrt() / member_mask(bias2_sqrt, p)).add_(self.eps)
            p_new = p - member_mask(step_size, p) * (m_new / denom)
            m.copy_(torch.where(keep, m_new, m))
            v.copy_(torch.where(keep, v_new, v))
            p.copy_(torch.where(keep, p_new, p))
