"""Forks: when the parent splits, what each child inherits, and which data it learns from.

Children copy the parent's complete learner state (a row copy of the population, see
``Agent.take``). They differ from each other only through the random streams named by
``--fork_noise`` and, under ``split``, through the halves of the parent's data they receive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmc_rl.config.fork_noise import ForkNoise
from lmc_rl.config.run_config import RunConfig, fork_step, run_identity
from lmc_rl.records.layout import child_member_name
from lmc_rl.training.replay import ReplayView
from lmc_rl.training.seeding import STREAMS, MemberStreams, stream_seed

# stream paths below the run seed, keyed by the fork's env step (not its id: a fork's bits must
# not depend on which other forks the schedule holds). Runs before this change used the fork id
# under paths 1, 2 and 3; their files still load, only their streams are not re-derived.
_CHILD_PATH, _SPLIT_PATH, CRITIC_TRANSITIONS_PATH = 4, 5, 6


@dataclass(frozen=True)
class Fork:
    """One fork point: id (1-based, in order of steps), fraction of training and env step."""

    fork_id: int
    point: float
    step: int

    def child_name(self, child: int) -> str:
        return child_member_name(self.fork_id, child)


def fork_schedule(config: RunConfig) -> list[Fork]:
    return [
        Fork(i + 1, p, fork_step(p, config.total_steps))
        for i, p in enumerate(sorted(config.fork_points))
    ]


def piece_forks(config: RunConfig) -> list[Fork]:
    """The forks this run computes: those of ``--forks`` (a piece of the run), else all."""
    schedule = fork_schedule(config)
    if not config.forks:
        return schedule
    return [fork for fork in schedule if fork.fork_id in config.forks]


def parent_until(config: RunConfig) -> int:
    """The env step to which this run trains its parent. A whole run: total_steps. A piece:
    its last fork (but at least the warm-up, whose episodes give the random-policy reference),
    or total_steps if it holds the schedule's last fork (that piece carries the parent's curve
    and final.pt)."""
    schedule = fork_schedule(config)
    if not config.forks or schedule[-1].fork_id in config.forks:
        return config.total_steps
    last = max(fork.step for fork in piece_forks(config))
    return min(max(last, config.learning_starts), config.total_steps)


def piece_record(config: RunConfig) -> dict:
    """config.json's ``piece``: that this run is a piece, of which run, and what it holds."""
    return {
        "run_id": run_identity(config),
        "forks": list(config.forks),
        "schedule_forks": len(config.fork_points),
        "parent_until": parent_until(config),
    }


def child_update_after(config: RunConfig, fork: Fork) -> int:
    """The env step after which the children of ``fork`` update: a fresh buffer first collects
    learning_starts steps of its own; any other continues the parent's schedule."""
    if config.fork_buffer_strategy == "fresh":
        return fork.step + config.learning_starts
    return config.learning_starts


def child_streams(
    run_seed: int, fork_step: int, fork_noise: ForkNoise, children: int = 2
) -> tuple[MemberStreams, ...]:
    """Streams of children 1..n: derived from (run seed, fork step, child id); the sources
    not named in ``fork_noise`` are the same for every child (child 1's). Child c's streams do
    not depend on how many children there are, so children 1 and 2 are the prototype's pair."""
    first = {
        name: stream_seed(run_seed, _CHILD_PATH, fork_step, 1, i) for i, name in enumerate(STREAMS)
    }
    streams = [MemberStreams(first)]
    for child in range(2, children + 1):
        seeds = {
            name: stream_seed(run_seed, _CHILD_PATH, fork_step, child, i)
            if name in fork_noise
            else first[name]
            for i, name in enumerate(STREAMS)
        }
        streams.append(MemberStreams(seeds))
    return tuple(streams)


def child_views(
    parent: ReplayView, strategy: str, run_seed: int, fork_step: int, children: int = 2
) -> tuple[ReplayView, ...]:
    """Replay buffers of the children of the fork at env step ``fork_step``; none copies a
    stored transition.

    copy:   each child continues from the parent's buffer as of the fork (exact FIFO state);
    fresh:  each child starts empty;
    shared: all children add to, and sample from, one buffer that starts as the parent's;
    split:  the parent's transitions are partitioned into ``children`` disjoint random parts of
            equal size (FIFO order kept), one per child (with 2 children: two halves).
    """
    if strategy == "copy":
        return tuple(parent.derive() for _ in range(children))
    if strategy == "fresh":
        return tuple(parent.derive(np.zeros(0, dtype=np.int64)) for _ in range(children))
    if strategy == "shared":
        view = parent.derive()
        return tuple(view for _ in range(children))
    if strategy == "split":
        rows = parent.rows()
        rng = np.random.default_rng(stream_seed(run_seed, _SPLIT_PATH, fork_step))
        order = rng.permutation(len(rows))
        part = len(rows) // children
        return tuple(
            parent.derive(rows[np.sort(order[c * part : (c + 1) * part])]) for c in range(children)
        )
    raise ValueError(f"unknown buffer strategy {strategy!r}")
