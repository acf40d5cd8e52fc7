"""Permutation alignment of two agents by weight matching (Ainsworth et al. 2023, Algorithm 1).

Hidden units of an MLP can be reordered without changing the function it computes. Two
independently trained agents may compute similar functions with differently ordered units, and
then the straight line between their weights crosses a high-loss region that a reordering
removes. Weight matching finds, for every hidden layer, the permutation of the other agent's
units that maximises the summed inner product of its weights with the reference's,

    max_P  sum_l  <W_l^A, P_l W_l^B P_{l-1}^T>,

by coordinate descent over layers: with every other permutation fixed, one layer's problem is a
linear assignment (``scipy.optimize.linear_sum_assignment``). Layers are visited in a random
order (seeded) until a full pass changes none.

Each network of an agent is matched on its own: the actor's MLP and each twin critic (a critic
member dim of size 2 means two networks). A target network and the Adam moments of a parameter
are not matched; they follow the permutation of their online parameter, so the permuted agent is
the same learner, not only the same policy, and stays a valid agent file.

Layout (``lmc_rl.learners.nn.BatchedLinear``): weight ``[*lead, in, out]``, bias
``[*lead, 1, out]``; a
hidden layer's units are the last axis of its weight and bias and the ``in`` axis (``-2``) of
the next layer's weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from lmc_rl.learners.agents import Agent, make_agent
from lmc_rl.learners.nn import BatchedMLP
from lmc_rl.learners.optim import BatchedAdam

MAX_SWEEPS = 100


@dataclass(frozen=True)
class Layer:
    """One linear layer of a network: the state_dict keys that share its layout.

    ``weights[0]`` / ``biases[0]`` are the online parameters (the ones matched); the rest
    (target copies, Adam moments) are permuted along with them.
    """

    weights: tuple[str, ...]
    biases: tuple[str, ...]


@dataclass(frozen=True)
class Network:
    """One MLP inside the agent's tensors: ``index`` selects it after the member dim
    (``()`` for the actor, ``(c,)`` for twin critic ``c``)."""

    name: str
    index: tuple[int, ...]
    layers: tuple[Layer, ...]

    @property
    def n_hidden(self) -> int:
        return len(self.layers) - 1


Permutations = dict[str, list[np.ndarray]]  # network name -> one index array per hidden layer


def networks_of(agent: Agent) -> list[Network]:
    """Every MLP of the agent that weight matching permutes, with the tensors that follow it.

    Raises ``RuntimeError`` if the agent holds a tensor with unit axes that no network claims:
    permuting only part of a learner would silently break it.
    """
    state = agent.state_dict()
    followers: dict[str, list[str]] = {}
    key_of = {id(p): name for name, p in agent.named_parameters()}
    for optim_name, optim in agent.named_modules():
        if isinstance(optim, BatchedAdam):
            for i, p in enumerate(optim.params):
                moments = [f"{optim_name}.exp_avg_{i}", f"{optim_name}.exp_avg_sq_{i}"]
                followers.setdefault(key_of[id(p)], []).extend(m for m in moments if m in state)
    networks = []
    for module_name, module in agent.named_modules():
        if not isinstance(module, BatchedMLP) or module_name.split(".")[0].endswith("_target"):
            continue
        top, _, rest = module_name.partition(".")
        target_prefix = f"{top}_target.{rest}." if rest else f"{top}_target."
        layers = []
        for i in range(len(module.layers)):
            keys = {}
            for kind in ("weight", "bias"):
                online = f"{module_name}.layers.{i}.{kind}"
                target = f"{target_prefix}layers.{i}.{kind}"
                extra = [target] if target in state else []
                keys[kind] = (online, *followers.get(online, []), *extra)
                for t in extra:
                    keys[kind] += tuple(followers.get(t, []))
            layers.append(Layer(keys["weight"], keys["bias"]))
        lead = module.layers[0].lead[1:]  # after the member dim
        for index in np.ndindex(*lead):
            suffix = "".join(f"[{i}]" for i in index)
            networks.append(Network(f"{module_name}{suffix}", tuple(index), tuple(layers)))
    claimed = {k for n in networks for layer in n.layers for k in (*layer.weights, *layer.biases)}
    unclaimed = [k for k, v in state.items() if v.dim() > 1 and k not in claimed]
    if unclaimed:
        raise RuntimeError(f"weight matching does not know how to permute {unclaimed}")
    return networks


def permute_state(
    state: dict[str, Tensor], networks: Sequence[Network], perms: Permutations
) -> dict[str, Tensor]:
    """A copy of a state_dict (members first) with every network's hidden units reordered:
    new unit ``i`` of hidden layer ``l`` is old unit ``perms[name][l][i]``."""
    out = {k: v.clone() for k, v in state.items()}
    for net in networks:
        for layer, perm in enumerate(perms[net.name]):
            index = torch.as_tensor(perm, dtype=torch.long)
            places = [(k, -1) for k in (*net.layers[layer].weights, *net.layers[layer].biases)]
            places += [(k, -2) for k in net.layers[layer + 1].weights]
            for key, axis in places:
                t = out[key]
                view = t[(slice(None), *net.index)]  # this network's slice of every member
                view.copy_(view.index_select(axis + view.dim(), index))
    return out


def permute_agent(agent: Agent, perms: Permutations) -> Agent:
    """The same learner with its hidden units reordered (computes the same functions)."""
    out = make_agent(agent.algo, agent.n_members, agent.spec)
    out.load_state_dict(permute_state(agent.state_dict(), networks_of(agent), perms))
    return out


def identity_permutations(agent: Agent) -> Permutations:
    return {net.name: [np.arange(w) for w in agent.spec.hidden_dims] for net in networks_of(agent)}


def random_permutations(agent: Agent, rng: np.random.Generator) -> Permutations:
    return {
        net.name: [rng.permutation(w) for w in agent.spec.hidden_dims] for net in networks_of(agent)
    }


def _member_network(state: dict[str, Tensor], net: Network, key: str) -> Tensor:
    """Member 0's slice of one network's tensor, as float64 ``[in, out]`` (bias: ``[1, out]``)."""
    return state[key][(0, *net.index)].double()


def _match_network(
    reference: dict[str, Tensor],
    other: dict[str, Tensor],
    net: Network,
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], int]:
    """Algorithm 1 of Ainsworth et al. for one MLP; returns its permutations and sweeps."""
    w_ref = [_member_network(reference, net, layer.weights[0]) for layer in net.layers]
    b_ref = [_member_network(reference, net, layer.biases[0]) for layer in net.layers]
    w_oth = [_member_network(other, net, layer.weights[0]) for layer in net.layers]
    b_oth = [_member_network(other, net, layer.biases[0]) for layer in net.layers]
    perms = [torch.arange(w.shape[1]) for w in w_ref[:-1]]

    def permuted_in(w: Tensor, h: int) -> Tensor:  # weight h with its input units permuted
        return w if h == 0 else w.index_select(0, perms[h - 1])

    for sweep in range(1, MAX_SWEEPS + 1):
        changed = False
        for h in rng.permutation(net.n_hidden):
            # similarity[i, j] of reference unit i and other unit j of hidden layer h
            similarity = w_ref[h].T @ permuted_in(w_oth[h], h)
            similarity += b_ref[h].T @ b_oth[h]
            w_next = w_oth[h + 1]
            if h + 1 < net.n_hidden:
                w_next = w_next.index_select(1, perms[h + 1])
            similarity += w_ref[h + 1] @ w_next.T
            _, assignment = linear_sum_assignment(similarity.numpy(), maximize=True)
            new = torch.as_tensor(assignment, dtype=torch.long)
            old_score = similarity[torch.arange(len(new)), perms[h]].sum()
            new_score = similarity[torch.arange(len(new)), new].sum()
            if new_score > old_score + 1e-12 * abs(float(old_score)):
                perms[h] = new
                changed = True
        if not changed:
            return [p.numpy() for p in perms], sweep
    return [p.numpy() for p in perms], MAX_SWEEPS


def weight_matching(reference: Agent, other: Agent, seed: int = 0) -> tuple[Agent, dict]:
    """``other`` with its hidden units permuted to best match ``reference`` (both K=1).

    Returns the aligned agent and a record: per network, the sweeps taken and the fraction of
    units that moved.
    """
    if reference.n_members != 1 or other.n_members != 1:
        raise ValueError("weight matching aligns single agents (K = 1)")
    networks = networks_of(other)
    ref_state, other_state = reference.state_dict(), other.state_dict()
    rng = np.random.default_rng(seed)
    perms: Permutations = {}
    record = {}
    for net in networks:
        perms[net.name], sweeps = _match_network(ref_state, other_state, net, rng)
        moved = [float(np.mean(p != np.arange(len(p)))) for p in perms[net.name]]
        record[net.name] = {"sweeps": sweeps, "fraction_of_units_moved": moved}
    return permute_agent(other, perms), record
