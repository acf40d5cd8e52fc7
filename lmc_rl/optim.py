"""Adam over stacked member parameters, with per-member step counts and a member mask.

Equal to ``torch.optim.Adam`` applied to each member on its own (same formula and defaults),
but one call updates all members, and masked members keep parameters, moments and step count.
Its moments are module buffers, so a member's optimizer state travels with the agent's state_dict.

Speed: the parameters of one optimizer, and its moments, are kept as views of one contiguous
tensor each (``FlatTensors``). In the common case (every member active, equal step counts) a
step is a handful of whole-tensor operations instead of a dozen per parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class FlatTensors:
    """Makes tensors (parameters or buffers of modules) views of one flat tensor, and tells
    whether they still are (``Module.to`` may replace them; then they are flattened again)."""

    def __init__(self, slots: Sequence[tuple[nn.Module, str]]) -> None:
        self.slots = list(slots)
        self.flat = torch.empty(0)
        self._pointers: list[int] = []
        self.flatten()

    def tensors(self) -> list[Tensor]:
        return [getattr(module, name) for module, name in self.slots]

    def flatten(self) -> Tensor:
        tensors = self.tensors()
        flat = torch.cat([t.detach().reshape(-1) for t in tensors])
        offset = 0
        for (module, name), t in zip(self.slots, tensors, strict=True):
            view = flat[offset : offset + t.numel()].view_as(t)
            offset += t.numel()
            if isinstance(t, nn.Parameter):
                t.data = view
            else:
                module._buffers[name] = view
        self.flat = flat
        self._pointers = [t.data_ptr() for t in self.tensors()]
        return flat

    def current(self) -> Tensor:
        """The flat tensor, re-made if any tensor stopped being a view of it."""
        if [t.data_ptr() for t in self.tensors()] != self._pointers:
            return self.flatten()
        return self.flat


def parameter_slots(
    params: Sequence[nn.Parameter], owner: nn.Module
) -> list[tuple[nn.Module, str]]:
    """(module, attribute name) of each parameter, found in ``owner``."""
    where = {id(p): (m, n) for m in owner.modules() for n, p in m._parameters.items()}
    return [where[id(p)] for p in params]


class BatchedAdam(nn.Module):
    def __init__(
        self,
        params: Sequence[nn.Parameter],
        n_members: int,
        lr: float,
        owner: nn.Module,
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
        n = len(self.params)
        self._flat_params = FlatTensors(parameter_slots(self.params, owner))
        self._flat_avg = FlatTensors([(self, f"exp_avg_{i}") for i in range(n)])
        self._flat_avg_sq = FlatTensors([(self, f"exp_avg_sq_{i}") for i in range(n)])

    @property
    def flat_params(self) -> FlatTensors:
        """The optimised parameters as one flat tensor (for Polyak averaging of targets)."""
        return self._flat_params

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor], active: Tensor) -> None:
        """One Adam step for members where ``active`` (bool ``[K]``) is set; others untouched.

        Every active member gets the bits it would get alone: members are grouped by step count
        and each group runs ``adam_step`` with that count's Python scalars, the same expression
        and the same scalar precision as the all-members case.
        """
        self.step_count.add_(active.to(self.step_count.dtype))
        if bool(active.all()) and bool((self.step_count == self.step_count[0]).all()):
            p, m, v = (f.current() for f in (self._flat_params, self._flat_avg, self._flat_avg_sq))
            g = torch.cat([grad.reshape(-1) for grad in grads])
            self._adam_step(p, m, v, g, float(self.step_count[0]))
            return
        steps = self.step_count.cpu()
        for step in torch.unique(steps[active.cpu()]).tolist():
            rows = torch.nonzero(active.cpu() & (steps == step)).flatten().to(active.device)
            for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
                m = getattr(self, f"exp_avg_{i}")
                v = getattr(self, f"exp_avg_sq_{i}")
                p_rows, m_rows, v_rows = (t.index_select(0, rows) for t in (p, m, v))
                self._adam_step(p_rows, m_rows, v_rows, g.index_select(0, rows), step)
                for t, new in ((p, p_rows), (m, m_rows), (v, v_rows)):
                    t.index_copy_(0, rows, new)

    def _adam_step(self, p: Tensor, m: Tensor, v: Tensor, g: Tensor, step: float) -> None:
        """torch.optim.Adam's formula, in place, for tensors of members at one step count."""
        beta1, beta2 = self.betas
        step = max(step, 1.0)
        m.lerp_(g, 1.0 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        denom = (v.sqrt() / (1.0 - beta2**step) ** 0.5).add_(self.eps)
        p.addcdiv_(m, denom, value=-self.lr / (1.0 - beta1**step))
