"""Replay views: FIFO buffers that share one store of transitions."""

import numpy as np

from lmc_rl.training.replay import ReplayStore, ReplayView


def _fill(view, store, values):
    for v in values:
        view.add(
            store.write_transition(np.full(2, v), np.zeros(1), float(v), np.full(2, v + 0.5), 0.0)
        )


def _rewards(view):
    return view.store.transitions["reward"][view.rows()].tolist()


def test_view_is_fifo_and_evicts_the_oldest():
    store = ReplayStore(obs_dim=2, action_dim=1, initial_rows=4)
    view = ReplayView(store, capacity=3)
    _fill(view, store, range(5))
    assert _rewards(view) == [2.0, 3.0, 4.0]
    assert view.size == 3


def test_evicted_rows_are_recycled_once_no_view_holds_them():
    store = ReplayStore(obs_dim=2, action_dim=1, initial_rows=4)
    view = ReplayView(store, capacity=3)
    _fill(view, store, range(50))
    assert store.rows_in_use == 3
    assert len(store.transitions.refcount) == 4  # the tables never grew
    assert np.count_nonzero(store.observations.refcount) == 6
    assert len(store.observations.refcount) <= 8


def test_derived_view_shares_rows_and_evicts_in_its_own_order():
    store = ReplayStore(obs_dim=2, action_dim=1, initial_rows=4)
    parent = ReplayView(store, capacity=4)
    _fill(parent, store, range(6))
    child = parent.derive()
    assert _rewards(child) == _rewards(parent) == [2.0, 3.0, 4.0, 5.0]
    used_before = store.rows_in_use
    _fill(child, store, [100, 101])
    assert _rewards(child) == [4.0, 5.0, 100.0, 101.0]
    assert _rewards(parent) == [2.0, 3.0, 4.0, 5.0]
    assert store.rows_in_use == used_before + 2  # the child's own transitions only


def test_sampling_draws_only_from_the_view_and_is_seeded():
    store = ReplayStore(obs_dim=2, action_dim=1)
    view = ReplayView(store, capacity=10)
    _fill(view, store, range(20))
    rows = view.sample_rows(np.random.default_rng(0), 500)
    assert set(store.transitions["reward"][rows].tolist()) == set(range(10, 20))
    again = view.sample_rows(np.random.default_rng(0), 500)
    assert np.array_equal(rows, again)


def test_gathered_batch_keeps_the_true_next_observation():
    store = ReplayStore(obs_dim=2, action_dim=1)
    row = store.write_transition(
        np.array([1.0, 2.0]), np.array([0.5]), 1.0, np.array([3.0, 4.0]), 1.0
    )
    batch = store.gather(np.array([[row]]))
    assert batch["next_obs"].tolist() == [[[3.0, 4.0]]]
    assert batch["terminated"].tolist() == [[1.0]]


def test_consecutive_transitions_share_the_observation_between_them():
    store = ReplayStore(obs_dim=2, action_dim=1)
    view = ReplayView(store, capacity=10)
    first, second, third = (store.observe(np.full(2, v)) for v in (1.0, 2.0, 3.0))
    view.add(store.write(first, np.zeros(1), 0.0, second, 0.0))
    view.add(store.write(second, np.zeros(1), 0.0, third, 0.0))
    for row in (first, second, third):
        store.release_observation(row)  # the acting member moved on
    batch = store.gather(view.rows())
    assert batch["obs"].tolist() == [[1.0, 1.0], [2.0, 2.0]]
    assert batch["next_obs"].tolist() == [[2.0, 2.0], [3.0, 3.0]]
    assert np.count_nonzero(store.observations.refcount) == 3  # not 4
    view.release()
    assert np.count_nonzero(store.observations.refcount) == 0
