"""Replay data shared by members: one store of transitions, one FIFO view per replay buffer.

A ``ReplayView`` is what an agent would call its replay buffer: the indices of at most
``capacity`` transitions in first-in-first-out order. Views reference rows of one ``ReplayStore``
and never copy them, so a forked child that starts from its parent's data costs its own new
transitions plus an index array, not a second buffer. A row is recycled once no view holds it;
eviction in each view follows exactly the order its own full copy would have had.
"""

from __future__ import annotations

import numpy as np

from lmc_rl.agents.base import Batch


class ReplayStore:
    """Rows of (obs, action, reward, next_obs, terminated), with reference counts per row."""

    def __init__(self, obs_dim: int, action_dim: int, initial_rows: int = 1024) -> None:
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.obs = np.zeros((initial_rows, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((initial_rows, obs_dim), dtype=np.float32)
        self.action = np.zeros((initial_rows, action_dim), dtype=np.float32)
        self.reward = np.zeros(initial_rows, dtype=np.float32)
        self.terminated = np.zeros(initial_rows, dtype=np.float32)
        self.refcount = np.zeros(initial_rows, dtype=np.int32)
        self._free: list[int] = list(range(initial_rows - 1, -1, -1))

    @property
    def rows_allocated(self) -> int:
        return len(self.refcount)

    @property
    def rows_in_use(self) -> int:
        return int(np.count_nonzero(self.refcount))

    @property
    def nbytes(self) -> int:
        arrays = (self.obs, self.next_obs, self.action, self.reward, self.terminated, self.refcount)
        return sum(a.nbytes for a in arrays)

    def _grow(self) -> None:
        old = self.rows_allocated
        new = old * 2
        for name in ("obs", "next_obs", "action", "reward", "terminated", "refcount"):
            array = getattr(self, name)
            grown = np.zeros((new, *array.shape[1:]), dtype=array.dtype)
            grown[:old] = array
            setattr(self, name, grown)
        self._free.extend(range(new - 1, old - 1, -1))

    def write(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: float,
    ) -> int:
        """Store one transition in a free row (referenced by nobody yet) and return the row."""
        if not self._free:
            self._grow()
        row = self._free.pop()
        self.obs[row], self.action[row], self.next_obs[row] = obs, action, next_obs
        self.reward[row], self.terminated[row] = reward, terminated
        return row

    def retain(self, rows: np.ndarray) -> None:
        np.add.at(self.refcount, rows, 1)

    def release(self, rows: np.ndarray) -> None:
        np.add.at(self.refcount, rows, -1)
        freed = rows[self.refcount[rows] == 0]
        self._free.extend(np.unique(freed).tolist())

    def gather(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The transitions at ``rows`` (any shape), as arrays with that leading shape."""
        return {
            "obs": self.obs[rows],
            "action": self.action[rows],
            "reward": self.reward[rows],
            "next_obs": self.next_obs[rows],
            "terminated": self.terminated[rows],
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
