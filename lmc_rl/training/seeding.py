"""Per-member random streams derived from the run seed; no global random state anywhere.

Each member has four independent streams, named after what they drive:
``init`` (network weights), ``env`` (episode reset seeds), ``action`` (random warm-up actions and
exploration noise) and ``batch`` (minibatch indices and the update's own noise, e.g. SAC's
reparameterisation draws). Evaluation episodes use reset seeds shared by all members (common
random numbers), so members are compared on the same starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STREAMS = ("init", "env", "action", "batch")
_EVAL_TAG = 7_000_001


def stream_seed(run_seed: int, *path: int) -> int:
    """A 63-bit seed for the stream at ``path`` below the run seed."""
    return int(
        np.random.SeedSequence(entropy=run_seed, spawn_key=tuple(path)).generate_state(
            2, np.uint64
        )[0]
        >> 1
    )


@dataclass
class MemberStreams:
    """The seeds of one member's streams and the generators made from them."""

    seeds: dict[str, int]

    def __post_init__(self) -> None:
        self.env = np.random.default_rng(self.seeds["env"])
        self.action = np.random.default_rng(self.seeds["action"])
        self.batch = np.random.default_rng(self.seeds["batch"])

    @classmethod
    def for_path(cls, run_seed: int, *path: int) -> MemberStreams:
        return cls({name: stream_seed(run_seed, *path, i) for i, name in enumerate(STREAMS)})


def parent_streams(run_seed: int) -> MemberStreams:
    return MemberStreams.for_path(run_seed, 0)


def evaluation_seeds(run_seed: int, n_episodes: int) -> np.ndarray:
    """Reset seeds of evaluation episodes 0..n-1, the same for every member and fork."""
    return np.random.default_rng(stream_seed(run_seed, _EVAL_TAG)).integers(
        0, 2**31 - 1, n_episodes
    )
