"""Does a member's computation depend on who shares its batch? Checked on this machine.

The method's sanity check (``--fork_noise none`` gives identical children and an instability of
exactly 0) and every comparison between members rest on one invariant: a member gets the same
bits alone as in any population. Kernels choose code paths by shape, alignment, library and
thread count, so the invariant is a property of the machine as much as of the code. This module
runs the real agent at the run's real sizes and checks each phase a member takes part in:

- acting: one row per member, exploration noise and deterministic;
- evaluation: each of ``eval_rows`` rows per member, deterministic;
- updates: gradient steps at ``batch_size``, with some members masked and so out of step.

Populations of identical members of every size in ``POPULATION_SIZES`` must give each member
exactly the result of a population of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from lmc_rl.learners.agents import ALGORITHMS, Agent, AgentSpec, Batch, make_agent
from lmc_rl.learners.matmul import matmuls_on
from lmc_rl.records.number_text import counted

POPULATION_SIZES = (2, 3, 5, 8, 21)
PHASES = ("acting", "evaluation", "updates")
_SEED = 1234


@dataclass(frozen=True)
class IndependenceReport:
    """Which phases were verified bitwise independent of the population, and under what."""

    acting: bool
    evaluation: bool
    updates: bool
    update_library: str
    threads: int
    device: str
    population_sizes: tuple[int, ...]

    @property
    def verified(self) -> bool:
        return self.acting and self.evaluation and self.updates

    def failed_phases(self) -> list[str]:
        return [phase for phase in PHASES if not getattr(self, phase)]

    def to_dict(self) -> dict:
        return {**asdict(self), "population_sizes": list(self.population_sizes)}


def _identical(agent_factory, k: int) -> Agent:
    agent = agent_factory(k)
    agent.init_members([_SEED] * k)
    return agent


def _repeat(t: torch.Tensor, k: int) -> torch.Tensor:
    return t.expand(k, *t.shape[1:]).contiguous()


def _same_rows(population: torch.Tensor, alone: torch.Tensor) -> bool:
    return all(torch.equal(row, alone[0]) for row in population)


def _acts_alike(algo: str, spec: AgentSpec, rows: int, noisy: bool, sizes, device) -> bool:
    g = torch.Generator().manual_seed(_SEED)
    obs = torch.randn(1, rows, spec.obs_dim, generator=g).to(device)
    noise = torch.randn(1, rows, spec.action_dim, generator=g).to(device) if noisy else None

    def act(k: int) -> torch.Tensor:
        agent = _identical(lambda n: make_agent(algo, n, spec).to(device), k)
        with torch.no_grad():
            return agent.act(_repeat(obs, k), None if noise is None else _repeat(noise, k))

    alone = act(1)
    return all(_same_rows(act(k), alone) for k in sizes)


def _random_batch(spec: AgentSpec, batch_size: int, device) -> Batch:
    g = torch.Generator().manual_seed(_SEED + 1)
    fields = dict(
        obs=torch.randn(1, batch_size, spec.obs_dim, generator=g),
        action=torch.rand(1, batch_size, spec.action_dim, generator=g) * 2 - 1,
        reward=torch.randn(1, batch_size, generator=g),
        next_obs=torch.randn(1, batch_size, spec.obs_dim, generator=g),
        terminated=(torch.rand(1, batch_size, generator=g) < 0.1).float(),
    )
    return Batch(**{name: t.to(device) for name, t in fields.items()})


# Three updates; a member in an odd row sits out the first, one in an even row the third, so
# every population mixes active, masked and out-of-step members (TD3's delayed actor included).
def _schedule(row: int) -> list[bool]:
    return [row % 2 == 0, True, row % 2 == 1]


def _updates_alike(
    algo: str, spec: AgentSpec, batch_size: int, library: str, sizes, device
) -> bool:
    batch = _random_batch(spec, batch_size, device)
    probe = make_agent(algo, 1, spec)
    noise = torch.randn(
        1, *probe.update_noise_shape(batch_size), generator=torch.Generator().manual_seed(_SEED)
    ).to(device)

    def train(k: int, schedule) -> dict[str, torch.Tensor]:
        agent = _identical(lambda n: make_agent(algo, n, spec).to(device), k)
        rows = Batch(**{name: _repeat(t, k) for name, t in vars(batch).items()})
        with matmuls_on(library):
            for step in range(3):
                active = torch.tensor([schedule(row)[step] for row in range(k)], device=device)
                agent.update(rows, _repeat(noise, k), active)
        return agent.state_dict()

    alone = {parity: train(1, lambda _row, p=parity: _schedule(p)) for parity in (0, 1)}
    for k in sizes:
        together = train(k, _schedule)
        for row in range(k):
            reference = alone[row % 2]
            if not all(torch.equal(v[row], reference[name][0]) for name, v in together.items()):
                return False
    return True


def check_member_independence(
    algo: str,
    spec: AgentSpec,
    batch_size: int,
    eval_rows: Sequence[int],
    update_library: str,
    device: str | torch.device = "cpu",
    sizes: tuple[int, ...] = POPULATION_SIZES,
) -> IndependenceReport:
    """Run every phase at these sizes alone and in populations of ``sizes``; compare the bits."""
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}")
    device = torch.device(device)
    acting = _acts_alike(algo, spec, 1, True, sizes, device) and _acts_alike(
        algo, spec, 1, False, sizes, device
    )
    return IndependenceReport(
        acting=acting,
        evaluation=all(_acts_alike(algo, spec, n, False, sizes, device) for n in eval_rows),
        updates=_updates_alike(algo, spec, batch_size, update_library, sizes, device),
        update_library=update_library,
        threads=torch.get_num_threads(),
        device=str(device),
        population_sizes=tuple(sizes),
    )


def verified_route(
    algo: str,
    spec: AgentSpec,
    batch_size: int,
    eval_rows: Sequence[int],
    preferred_library: str,
    device: str | torch.device = "cpu",
) -> IndependenceReport:
    """The preferred update library if it keeps members independent here, else MKL if that does.

    The report says which library was chosen and which phases are verified; a run records it.
    A process checks each setting once (the machine, library and thread count cannot change the
    verdict within it), so many runs in one process (a sweep, a test suite) pay for one check.
    """
    key = (
        algo,
        spec,
        batch_size,
        tuple(eval_rows),
        preferred_library,
        str(device),
        torch.get_num_threads(),
    )
    if key not in _ROUTES:
        report = check_member_independence(
            algo, spec, batch_size, eval_rows, preferred_library, device
        )
        if not report.updates and preferred_library != "mkl":
            fallback = check_member_independence(algo, spec, batch_size, eval_rows, "mkl", device)
            if fallback.updates:
                report = fallback
        _ROUTES[key] = report
    return _ROUTES[key]


_ROUTES: dict[tuple, IndependenceReport] = {}  # verified_route's verdicts in this process


def unverified_warning(report: IndependenceReport) -> str | None:
    """One line for stderr when some phase is not verified, else None."""
    if report.verified:
        return None
    phases = ", ".join(report.failed_phases())
    return (
        f"lmc-rl: warning: member independence NOT verified for {phases} on this machine "
        f"({report.device}, {counted(report.threads, 'thread')}): a member's last bits may "
        "depend on which members share its batch (run `lmc-rl doctor` for details)"
    )


def format_report(report: IndependenceReport, title: str) -> str:
    """A small table for people: each phase, its matmul library and whether it is verified."""
    sizes = ",".join(map(str, report.population_sizes))
    acting_library = "mkl" if report.device == "cpu" else report.device
    lines = [
        title,
        f"device {report.device}, {counted(report.threads, 'thread')}; torch {torch.__version__}",
        f"{'phase':<11} {'matmul library':<15} member-independent (1 vs {sizes} members)",
    ]
    for phase in PHASES:
        library = report.update_library if phase == "updates" else acting_library
        verdict = "verified" if getattr(report, phase) else "NOT verified"
        lines.append(f"{phase:<11} {library:<15} {verdict}")
    return "\n".join(lines)
