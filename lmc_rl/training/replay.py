"""Replay data shared by members: one store of transitions, one FIFO view per replay buffer.

A ``ReplayView`` is what an agent would call its replay buffer: the indices of at most
``capacity`` transitions in first-in-first-out order. Views reference rows of one ``ReplayStore``
and never copy them, so a forked child that starts from its parent's data costs its own new
transitions plus an index array, not a second buffer. A row is recycled once no view holds it;
eviction in each view follows exactly the order its own full copy would have had.
"""

from __future__ import annotations

import numpy as np

from lmc_rl.learners.agents.base import Batch


class RowTable:
    """Named arrays sharing one row index, with a reference count and a free list per row."""

    def __init__(self, columns: dict[str, tuple[tuple[int, ...], type]], initial_rows: int) -> None:
        self.arrays = {
            name: np.zeros((initial_rows, *shape), dtype=dtype)
            for name, (shape, dtype) in columns.items()
        }
        self.refcount = np.zeros(initial_rows, dtype=np.int32)
        self._free: list[int] = list(range(initial_rows - 1, -1, -1))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def nbytes(self) -> int:
        return self.refcount.nbytes + sum(a.nbytes for a in self.arrays.values())

    def allocate(self) -> int:
        """A free row, with no reference yet."""
        if not self._free:
            old = len(self.refcount)
            for name, array in self.arrays.items():
                grown = np.zeros((2 * old, *array.shape[1:]), dtype=array.dtype)
                grown[:old] = array
                self.arrays[name] = grown
            self.refcount = np.concatenate([self.refcount, np.zeros(old, dtype=np.int32)])
            self._free.extend(range(2 * old - 1, old - 1, -1))
        return self._free.pop()

    def retain(self, rows: np.ndarray) -> None:
        np.add.at(self.refcount, rows, 1)

    def state(self) -> dict:
        return {"arrays": self.arrays, "refcount": self.refcount, "free": list(self._free)}

    def load_state(self, state: dict) -> None:
        self.arrays = dict(state["arrays"])
        self.refcount = state["refcount"]
        self._free = list(state["free"])

    def release(self, rows: np.ndarray) -> np.ndarray:
        """Drop one reference per entry; returns the rows that became free."""
        np.add.at(self.refcount, rows, -1)
        freed = np.unique(rows[self.refcount[rows] == 0])
        self._free.extend(freed.tolist())
        return freed


class ReplayStore:
    """Transitions (obs, action, reward, next_obs, terminated) with each observation stored once.

    An episode's observations are rows of an observation table; a transition points at its
    ``obs`` and ``next_obs`` rows, so consecutive transitions share the observation between them
    (about half the memory of storing both, with identical batches). Rows of both tables are
    reference counted: transitions by the views holding them, observations by the transitions
    pointing at them and by the member whose current observation they are.
    """

    def __init__(self, obs_dim: int, action_dim: int, initial_rows: int = 1024) -> None:
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.observations = RowTable({"obs": ((obs_dim,), np.float32)}, initial_rows)
        self.transitions = RowTable(
            {
                "obs_row": ((), np.int64),
                "next_obs_row": ((), np.int64),
                "action": ((action_dim,), np.float32),
                "reward": ((), np.float32),
                "terminated": ((), np.float32),
            },
            initial_rows,
        )

    @property
    def rows_in_use(self) -> int:
        """Transitions held by at least one view."""
        return int(np.count_nonzero(self.transitions.refcount))

    @property
    def nbytes(self) -> int:
        return self.observations.nbytes + self.transitions.nbytes

    def observe(self, obs: np.ndarray) -> int:
        """Store an observation; the caller holds one reference to the returned row."""
        row = self.observations.allocate()
        self.observations["obs"][row] = obs
        self.observations.retain(np.array([row]))
        return row

    def release_observation(self, row: int) -> None:
        self.observations.release(np.array([row]))

    def write(
        self, obs_row: int, action: np.ndarray, reward: float, next_obs_row: int, terminated: float
    ) -> int:
        """Store a transition between two observation rows; no view holds it yet."""
        row = self.transitions.allocate()
        t = self.transitions
        t["obs_row"][row], t["next_obs_row"][row] = obs_row, next_obs_row
        t["action"][row], t["reward"][row], t["terminated"][row] = action, reward, terminated
        self.observations.retain(np.array([obs_row, next_obs_row]))
        return row

    def write_transition(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: float,
    ) -> int:
        """Store a transition with observations of its own (no sharing with a neighbour)."""
        obs_row, next_row = self.observe(obs), self.observe(next_obs)
        row = self.write(obs_row, action, reward, next_row, terminated)
        self.observations.release(np.array([obs_row, next_row]))
        return row

    def retain(self, rows: np.ndarray) -> None:
        self.transitions.retain(rows)

    def release(self, rows: np.ndarray) -> None:
        freed = self.transitions.release(rows)
        if len(freed):
            t = self.transitions
            self.observations.release(
                np.concatenate([t["obs_row"][freed], t["next_obs_row"][freed]])
            )

    def gather(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The transitions at ``rows`` (any shape), as arrays with that leading shape."""
        t, obs = self.transitions, self.observations["obs"]
        return {
            "obs": obs[t["obs_row"][rows]],
            "action": t["action"][rows],
            "reward": t["reward"][rows],
            "next_obs": obs[t["next_obs_row"][rows]],
            "terminated": t["terminated"][rows],
        }


class ReplayView:
    """A FIFO replay buffer of at most ``capacity`` transitions, holding rows of a store."""

    def __init__(self, store: ReplayStore, capacity: int) -> None:
        self.store = store
        self.capacity = capacity
        self._rows = np.zeros(0, dtype=np.int64)  # ring, grown up to capacity
        self._start = 0  # position of the oldest transition in the ring
        self.size = 0

    def rows(self) -> np.ndarray:
        """Rows in FIFO order, oldest first."""
        if self.size < self.capacity:
            return self._rows[: self.size].copy()
        return np.roll(self._rows, -self._start)

    def add(self, row: int) -> None:
        """Append a stored row; evict the oldest if full."""
        self.store.retain(np.array([row]))
        if self.size < self.capacity:
            if self.size == len(self._rows):
                grown = np.zeros(min(self.capacity, max(16, 2 * len(self._rows))), dtype=np.int64)
                grown[: self.size] = self._rows[: self.size]
                self._rows = grown
            self._rows[self.size] = row
            self.size += 1
            return
        evicted = self._rows[self._start]
        self._rows[self._start] = row
        self._start = (self._start + 1) % self.capacity
        self.store.release(np.array([evicted]))

    def derive(self, rows: np.ndarray | None = None) -> ReplayView:
        """A new view sharing data: this view's exact state, or the given rows in FIFO order."""
        view = ReplayView(self.store, self.capacity)
        if rows is None:
            view._rows, view._start, view.size = (
                self._rows[: self.size].copy(),
                self._start,
                self.size,
            )
        else:
            rows = np.asarray(rows, dtype=np.int64)[-self.capacity :]
            view._rows, view.size = rows.copy(), len(rows)
        self.store.retain(view._rows[: view.size])
        return view

    def state(self) -> dict:
        return {
            "capacity": self.capacity,
            "rows": self._rows,
            "start": self._start,
            "size": self.size,
        }

    @classmethod
    def from_state(cls, store: ReplayStore, state: dict) -> ReplayView:
        """Rebuild a view whose rows the store already counts (a restored checkpoint)."""
        view = cls(store, state["capacity"])
        view._rows, view._start, view.size = state["rows"], state["start"], state["size"]
        return view

    def sample_rows(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """Uniform draws with replacement, as SB3's buffer does."""
        return self._rows[rng.integers(0, self.size, size=batch_size)]

    def release(self) -> None:
        """Give up every row (the view is no longer used)."""
        self.store.release(self.rows())
        self._rows = np.zeros(0, dtype=np.int64)
        self.size = self._start = 0


def to_batch(arrays: dict[str, np.ndarray], device) -> Batch:
    import torch

    return Batch(**{k: torch.from_numpy(v).to(device) for k, v in arrays.items()})
