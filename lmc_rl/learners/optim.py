"""Adam over stacked member parameters, with per-member step counts and a member mask.

Equal to ``torch.optim.Adam`` applied to each member on its own (same formula and defaults),
but one call updates all members, and masked members keep parameters, moments and step count.
Its moments are module buffers, so a member's optimizer state travels with the agent's state_dict.

Speed: the parameters of one optimizer, and its moments, are kept as views of one contiguous
tensor each (``FlatTensors``), and a step is one call of torch's fused Adam kernel on them
(``torch._fused_adam_``, the kernel of ``torch.optim.Adam(fused=True)``), which reads and writes
each element once instead of in six eager passes.

Member independence: the fused kernel's vector loop and its scalar tail round differently, so an
element's bits would depend on whether it lands in the tail, that is, on how many members share
the tensor. Every flat tensor the kernel sees is therefore zero-padded to whole 64-byte vectors:
the kernel splits work between threads in whole 64-byte units, so no element of any member ever
reaches a scalar tail, alone or among others, whatever the thread count.
``lmc_rl.learners.independence`` verifies this on the running machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lmc_rl.learners.nn import WIDTH_ALIGNMENT


def vector_padding(numel: int) -> int:
    """Zeros that bring ``numel`` to whole 64-byte vectors (``WIDTH_ALIGNMENT`` floats), the
    unit in which the fused kernel shares work between threads."""
    return -numel % WIDTH_ALIGNMENT


class FlatTensors:
    """Makes tensors (parameters or buffers of modules) views of one flat tensor, zero-padded to
    whole vectors (see the module docstring), and tells whether they still are views of it
    (``Module.to`` may replace them; then they are flattened again)."""

    def __init__(self, slots: Sequence[tuple[nn.Module, str]]) -> None:
        self.slots = list(slots)
        self.flat = torch.empty(0)
        self._pointers: list[int] = []
        self.flatten()

    def tensors(self) -> list[Tensor]:
        return [getattr(module, name) for module, name in self.slots]

    def flatten(self) -> Tensor:
        tensors = self.tensors()
        flat = _flat_with_padding([t.detach() for t in tensors])
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
    """Adam for K members at once; its moments and step counts are buffers with a leading K,
    so they travel with the agent's state_dict (forks inherit them, interpolation mixes them)."""

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

        Every active member gets the bits it would get alone: members are grouped by step count,
        and each group's rows are gathered into padded flat tensors laid out as the
        all-members ones are, so every element goes through the same vector kernel.
        """
        self.step_count.add_(active.to(self.step_count.dtype))
        if bool(active.all()) and bool((self.step_count == self.step_count[0]).all()):
            p, m, v = (f.current() for f in (self._flat_params, self._flat_avg, self._flat_avg_sq))
            g = _flat_with_padding([grad.reshape(-1) for grad in grads])
            self._fused_step(p, m, v, g, float(self.step_count[0]))
            return
        steps = self.step_count.cpu()
        moments = [
            [getattr(self, f"exp_avg_{i}") for i in range(len(self.params))],
            [getattr(self, f"exp_avg_sq_{i}") for i in range(len(self.params))],
        ]
        for step in torch.unique(steps[active.cpu()]).tolist():
            rows = torch.nonzero(active.cpu() & (steps == step)).flatten().to(active.device)
            owned = [self.params, *moments]
            p, m, v = (_flat_with_padding([t.index_select(0, rows) for t in ts]) for ts in owned)
            g = _flat_with_padding([grad.index_select(0, rows) for grad in grads])
            self._fused_step(p, m, v, g, step)
            for tensors, flat in zip(owned, (p, m, v), strict=True):
                offset = 0
                for t in tensors:
                    n = rows.numel() * t[0].numel()
                    t.index_copy_(0, rows, flat[offset : offset + n].view(-1, *t.shape[1:]))
                    offset += n

    def _fused_step(self, p: Tensor, m: Tensor, v: Tensor, g: Tensor, step: float) -> None:
        """torch.optim.Adam's step, in place, on flat tensors of members at one step count."""
        beta1, beta2 = self.betas
        step_t = torch.tensor(max(step, 1.0), dtype=torch.float32, device=p.device)
        torch._fused_adam_(
            [p],
            [g],
            [m],
            [v],
            [],
            [step_t],
            lr=self.lr,
            beta1=beta1,
            beta2=beta2,
            weight_decay=0.0,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )


def _flat_with_padding(tensors: Sequence[Tensor]) -> Tensor:
    """The tensors, flattened and concatenated, zero-padded to whole vectors."""
    numel = sum(t.numel() for t in tensors)
    return torch.cat(
        [*(t.reshape(-1) for t in tensors), tensors[0].new_zeros(vector_padding(numel))]
    )
