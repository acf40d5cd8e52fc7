"""What running our learners side by side with Stable-Baselines3's needs: the same weights, the
same random draws, and a gap measured in units of how far training moved.

Why: comparing with SB3 update by update (tests/test_sb3_parity.py) or loop by loop
(benchmarks/loop_parity.py) needs both to start from the same weights, to take the same
standard-normal draws, and to be read side by side. SB3 keeps ``nn.Linear`` layers (weight
``[out, in]``, SAC's mean and log-std heads apart); ours keep ``[in, out]`` weights per member,
SAC's two heads in one layer. A network is given here as ``[(W [in, out], b [out]), ...]``, by
name: ``actor``, ``actor_target`` (TD3, DDPG), ``critic.i`` and ``critic_target.i``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

Network = list[tuple[torch.Tensor, torch.Tensor]]


def _linears(module: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def sb3_networks(model, algo: str) -> dict[str, Network]:
    """Every network of the SB3 model, copied, in our layout."""

    def layers(module):
        return [(m.weight.detach().T.clone(), m.bias.detach().clone()) for m in _linears(module)]

    nets = {}
    if algo == "SAC":
        hidden = layers(model.actor.latent_pi)
        mu, log_std = layers(model.actor.mu)[0], layers(model.actor.log_std)[0]
        head = (torch.cat([mu[0], log_std[0]], dim=1), torch.cat([mu[1], log_std[1]]))
        nets["actor"] = [*hidden, head]
    else:
        nets["actor"] = layers(model.actor)
        nets["actor_target"] = layers(model.actor_target)
    for name in ("critic", "critic_target"):
        for i, q in enumerate(getattr(model, name).q_networks):
            nets[f"{name}.{i}"] = layers(q)
    return nets


def our_networks(agent, algo: str, member: int = 0) -> dict[str, Network]:
    """The same networks of one member of our population (views of its parameters)."""

    def layers(mlp, *lead):
        index = (member, *lead)
        return [(m.weight[index].detach(), m.bias[index][0].detach()) for m in mlp.layers]

    nets = {"actor": layers(agent.actor.net)}
    if algo != "SAC":
        nets["actor_target"] = layers(agent.actor_target.net)
    for name in ("critic", "critic_target"):
        critic = getattr(agent, name)
        for i in range(critic.n_critics):
            nets[f"{name}.{i}"] = layers(critic.net, i)
    return nets


def copy_into_ours(networks: dict[str, Network], agent, algo: str, member: int = 0) -> None:
    """Set one member's networks to ``networks`` (e.g. ``sb3_networks(model, algo)``)."""
    with torch.no_grad():
        for name, ours in our_networks(agent, algo, member).items():
            for (weight, bias), (w, b) in zip(ours, networks[name], strict=True):
                weight.copy_(w)
                bias.copy_(b)


def distance(a: Network, b: Network) -> float:
    """Euclidean distance between two networks."""
    pairs = [
        pair
        for layer_a, layer_b in zip(a, b, strict=True)
        for pair in zip(layer_a, layer_b, strict=True)
    ]
    return float(torch.sqrt(sum(((x - y) ** 2).sum() for x, y in pairs)))


def relative_gap(ours: Network, theirs: Network, initial: Network) -> float:
    """``|ours - theirs| / |theirs - initial|``: a gap in units of the distance training moved."""
    return distance(ours, theirs) / distance(theirs, initial)


class DrawQueue:
    """The standard-normal draws SB3 takes next, in its order, in place of its own generator's:
    SAC's ``Normal.rsample`` and TD3's target-smoothing ``Tensor.normal_`` (while installed).
    Each draw must be used exactly once: one left over, or one missing, is an error."""

    def __init__(self) -> None:
        self.draws: list[torch.Tensor] = []

    def refill(self, draws: list[torch.Tensor]) -> None:
        """The draws of SB3's next gradient step; the previous step's must all be used."""
        if self.draws:
            raise RuntimeError(f"SB3 left {len(self.draws)} queued draw(s) unused")
        self.draws.extend(draws)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route ``Normal.rsample`` and ``Tensor.normal_`` to the queue inside the block."""
        draws = self.draws

        def rsample(normal, sample_shape=()):
            return normal.loc + draws.pop(0) * normal.scale

        def normal_(tensor, mean=0.0, std=1.0, *, generator=None):
            return tensor.copy_(draws.pop(0) * std + mean)

        patches = (
            (torch.distributions.Normal, "rsample", rsample),
            (torch.Tensor, "normal_", normal_),
        )
        saved = [(owner, name, owner.__dict__.get(name)) for owner, name, _ in patches]
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        try:
            yield
        finally:
            for owner, name, original in saved:
                if original is None:  # inherited: remove the override
                    delattr(owner, name)
                else:
                    setattr(owner, name, original)
        if self.draws:
            raise RuntimeError(f"SB3 left {len(self.draws)} queued draw(s) unused")
