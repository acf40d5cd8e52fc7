"""Forks: when the parent splits, what each child inherits, and which data it learns from.

Children copy the parent's complete learner state (a row copy of the population, see
``Agent.take``). They differ from each other only through the random streams named by
``--fork_noise`` and, under ``split``, through the halves of the parent's data they receive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmc_rl.config import RunConfig, fork_noise_sources, fork_step
from lmc_rl.replay import ReplayView
from lmc_rl.seeding import STREAMS, MemberStreams, stream_seed

_CHILD_PATH, _SPLIT_PATH = 1, 2


@dataclass(frozen=True)
class Fork:
    """One fork point: id (1-based, in order of steps), fraction of training and env step."""

    fork_id: int
    point: float
    step: int

    def child_name(self, child: int) -> str:
        return f"fork{self.fork_id}_child{child}"


def fork_schedule(config: RunConfig) -> list[Fork]:
    return [
        Fork(i + 1, p, fork_step(p, config.total_steps))
        for i, p in enumerate(sorted(config.fork_points))
    ]


def child_streams(
    run_seed: int, fork_id: int, fork_noise: str
) -> tuple[MemberStreams, MemberStreams]:
    """Streams of children 1 and 2: derived from (run seed, fork id, child id); the sources
    not named in ``fork_noise`` are the same for both children (child 1's)."""
    differing = set(fork_noise_sources(fork_noise)) if fork_noise != "none" else set()
    first = {
        name: stream_seed(run_seed, _CHILD_PATH, fork_id, 1, i) for i, name in enumerate(STREAMS)
    }
    second = {
        name: stream_seed(run_seed, _CHILD_PATH, fork_id, 2, i)
        if name in differing
        else first[name]
        for i, name in enumerate(STREAMS)
    }
    return MemberStreams(first), MemberStreams(second)


def child_views(
    parent: ReplayView, strategy: str, run_seed: int, fork_id: int
) -> tuple[ReplayView, ReplayView]:
    """Replay buffers of the two children; none copies a stored transition.

    copy:   each child continues from the parent's buffer as of the fork (exact FIFO state);
    fresh:  each child starts empty;
    shared: the two children add to, and sample from, one buffer that starts as the parent's;
    split:  the parent's transitions are partitioned into two disjoint random halves of equal
            size (FIFO order kept), one per child.
    """
    if strategy == "copy":
        return parent.derive(), parent.derive()
    if strategy == "fresh":
        return parent.derive(np.zeros(0, dtype=np.int64)), parent.derive(
            np.zeros(0, dtype=np.int64)
        )
    if strategy == "shared":
        view = parent.derive()
        return view, view
    if strategy == "split":
        rows = parent.rows()
        rng = np.random.default_rng(stream_seed(run_seed, _SPLIT_PATH, fork_id))
        order = rng.permutation(len(rows))
        half = len(rows) // 2
        first, second = np.sort(order[:half]), np.sort(order[half : 2 * half])
        return parent.derive(rows[first]), parent.derive(rows[second])
    raise ValueError(f"unknown buffer strategy {strategy!r}")
