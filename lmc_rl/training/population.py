"""The members of a run's population: who each learner is, and their record in a checkpoint.

A member is named by its role (``parent``, ``fork3_child1``); its row in the agent's tensors is
its index in ``Population.members``. The learner state itself (weights, optimizer moments) lives
in the agent; this module holds everything else that is per member: random streams, replay view,
schedule and divergence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from lmc_rl.training.forking import Fork
from lmc_rl.training.replay import ReplayStore, ReplayView
from lmc_rl.training.seeding import MemberStreams

_GENERATORS = ("env", "action", "batch")


@dataclass
class Member:
    """One learner of the population, named by its role."""

    name: str
    streams: MemberStreams
    view: ReplayView
    random_until: int  # env steps up to this one use uniform random actions
    update_after: int  # gradient updates happen at env steps after this one
    last_return: float = math.nan
    fork: Fork | None = None  # the fork that created this member (None for the parent)
    child: int | None = None
    diverged_at: int | None = None  # env step at which losses or weights became non-finite

    @property
    def live(self) -> bool:
        return self.diverged_at is None

    def state_dict(self, view_index: int) -> dict[str, Any]:
        """The member as plain data; its replay view is named by ``view_index``."""
        return {
            "name": self.name,
            "seeds": self.streams.seeds,
            "generators": {
                name: getattr(self.streams, name).bit_generator.state for name in _GENERATORS
            },
            "view": view_index,
            "random_until": self.random_until,
            "update_after": self.update_after,
            "last_return": self.last_return,
            "fork_id": self.fork.fork_id if self.fork else None,
            "child": self.child,
            "diverged_at": self.diverged_at,
        }

    @classmethod
    def from_state_dict(
        cls, state: dict[str, Any], views: Sequence[ReplayView], forks: dict[int, Fork]
    ) -> Member:
        """Rebuild a member written by ``state_dict``, its streams at their saved positions."""
        streams = MemberStreams(state["seeds"])
        for name, generator_state in state["generators"].items():
            getattr(streams, name).bit_generator.state = generator_state
        fork_id = state["fork_id"]
        return cls(
            name=state["name"],
            streams=streams,
            view=views[state["view"]],
            random_until=state["random_until"],
            update_after=state["update_after"],
            last_return=state["last_return"],
            fork=forks[fork_id] if fork_id is not None else None,
            child=state["child"],
            diverged_at=state["diverged_at"],
        )


class Population:
    """The members in row order; row ``i`` of the agent's tensors is ``members[i]``."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __getitem__(self, row: int) -> Member:
        return self.members[row]

    def append(self, member: Member) -> None:
        self.members.append(member)

    def remove(self, row: int) -> Member:
        return self.members.pop(row)

    @property
    def parent(self) -> Member:
        """The parent (row 0) while it trains; a piece of a run retires it once its forks no
        longer need it (then row 0 is a child)."""
        return self.members[0]

    @property
    def has_parent(self) -> bool:
        return bool(self.members) and self.members[0].fork is None

    def live_rows(self) -> list[int]:
        return [row for row, member in enumerate(self.members) if member.live]

    def names(self) -> list[str]:
        return [member.name for member in self.members]

    def diverged_record(self) -> dict[str, int]:
        """``{member: env step}`` of every member that diverged."""
        return {m.name: m.diverged_at for m in self.members if m.diverged_at is not None}

    def _views(self) -> list[ReplayView]:
        """Distinct replay views (siblings under ``shared`` hold one), in member order."""
        views: list[ReplayView] = []
        for member in self.members:
            if not any(member.view is v for v in views):
                views.append(member.view)
        return views

    def state_dict(self) -> dict[str, Any]:
        """Members and their replay views (a shared view once) as plain data."""
        views = self._views()
        return {
            "members": [
                m.state_dict(next(i for i, v in enumerate(views) if v is m.view))
                for m in self.members
            ],
            "views": [v.state() for v in views],
        }

    @classmethod
    def from_state_dict(
        cls, state: dict[str, Any], store: ReplayStore, forks: Sequence[Fork]
    ) -> Population:
        """Rebuild the population written by ``state_dict`` over a restored ``store``."""
        views = [ReplayView.from_state(store, v) for v in state["views"]]
        by_id = {fork.fork_id: fork for fork in forks}
        return cls([Member.from_state_dict(m, views, by_id) for m in state["members"]])
