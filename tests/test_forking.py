"""Forks: children inherit everything, learn from the data their strategy gives them, and train
in one population without the population changing their results."""

import csv
import json

import numpy as np
import pytest
import torch

from lmc_rl.config.errors import UserError
from lmc_rl.config.fork_noise import ForkNoise
from lmc_rl.config.run_config import build_config
from lmc_rl.experiment.phases import run_experiment
from lmc_rl.training.forking import child_streams, child_update_after, child_views, fork_schedule
from lmc_rl.training.lockstep import Lockstep
from lmc_rl.training.replay import ReplayStore, ReplayView
from lmc_rl.training.run_files import RunPaths, load_agent_state
from lmc_rl.training.trainer import Trainer, planned_updates

STRATEGIES = ["copy", "fresh", "shared", "split"]


def _config(tmp_path, tiny_run, **overrides):
    values = {**tiny_run, "seed": "4", "output_dir": str(tmp_path), "fork_points": "0.4,0.7"}
    # these tests check training and files, not returns: a small instability evaluation
    values.update(alpha_points="5", num_eval_episodes="4", eval_workers="1")
    return build_config({**values, **overrides})


def _weights(paths, name):
    agent, _ = load_agent_state(paths.weights / name)
    return agent.state_dict()


def _equal_states(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- buffer contents per strategy --------------------------------------------------------


def _parent_with(n, capacity):
    store = ReplayStore(obs_dim=1, action_dim=1, initial_rows=8)
    parent = ReplayView(store, capacity)
    for i in range(n):
        parent.add(store.write_transition(np.array([i]), np.zeros(1), float(i), np.array([i]), 0.0))
    return store, parent


def _add(view, value):
    view.add(
        view.store.write_transition(
            np.array([value]), np.zeros(1), float(value), np.array([value]), 0.0
        )
    )


def _contents(view):
    return view.store.transitions["reward"][view.rows()].tolist()


def test_copy_children_see_the_parents_data_then_only_their_own():
    store, parent = _parent_with(6, capacity=8)
    rows_before = store.rows_in_use
    one, two = child_views(parent, "copy", run_seed=0, fork_step=1)
    assert _contents(one) == _contents(two) == list(range(6))
    assert store.rows_in_use == rows_before  # referenced, not copied
    _add(one, 100)
    _add(two, 200)
    _add(parent, 300)
    assert _contents(one) == [*range(6), 100]
    assert _contents(two) == [*range(6), 200]
    for value in (101, 102, 103):
        _add(one, value)  # one's FIFO is full at 8: it evicts its own oldest, as its own copy would
    assert _contents(one) == [2, 3, 4, 5, 100, 101, 102, 103]
    assert _contents(two) == [*range(6), 200]


def test_fresh_children_start_empty():
    _, parent = _parent_with(6, capacity=8)
    one, two = child_views(parent, "fresh", run_seed=0, fork_step=1)
    assert one.size == two.size == 0
    _add(one, 7)
    assert _contents(one) == [7] and two.size == 0


def test_shared_children_add_to_and_sample_from_one_buffer():
    _, parent = _parent_with(6, capacity=8)
    one, two = child_views(parent, "shared", run_seed=0, fork_step=1)
    _add(one, 100)
    _add(two, 200)
    assert _contents(one) == _contents(two) == [*range(6), 100, 200]
    _add(two, 300)
    assert _contents(one) == [*range(1, 6), 100, 200, 300]
    assert _contents(parent) == list(range(6))


def test_split_children_get_disjoint_equal_random_halves_in_fifo_order():
    _, parent = _parent_with(11, capacity=20)
    one, two = child_views(parent, "split", run_seed=0, fork_step=1)
    a, b = _contents(one), _contents(two)
    assert len(a) == len(b) == 5
    assert not set(a) & set(b) and set(a) | set(b) <= set(range(11))
    assert a == sorted(a) and b == sorted(b)
    again = child_views(parent, "split", run_seed=0, fork_step=1)
    assert _contents(again[0]) == a  # derived from the run seed and fork id
    _add(one, 100)
    assert _contents(one) == [*a, 100] and _contents(two) == b


def test_children_differ_only_in_the_sources_fork_noise_names():
    one, two = child_streams(run_seed=3, fork_step=2, fork_noise=ForkNoise.parse("env,batch"))
    assert one.seeds["env"] != two.seeds["env"] and one.seeds["batch"] != two.seeds["batch"]
    assert one.seeds["action"] == two.seeds["action"]
    none = ForkNoise.parse("none")
    same = child_streams(run_seed=3, fork_step=2, fork_noise=none)
    assert same[0].seeds == same[1].seeds
    every = ForkNoise.parse("env,action,batch")
    assert child_streams(3, 1, every)[0].seeds != child_streams(3, 2, none)[0].seeds


def test_more_children_keep_the_first_two_and_split_into_equal_disjoint_parts():
    two = child_streams(run_seed=3, fork_step=2, fork_noise=ForkNoise.parse("all"))
    three = child_streams(run_seed=3, fork_step=2, fork_noise=ForkNoise.parse("all"), children=3)
    assert [s.seeds for s in three[:2]] == [s.seeds for s in two]
    assert len({s.seeds["env"] for s in three}) == 3
    _, parent = _parent_with(11, capacity=20)
    halves = [_contents(v) for v in child_views(parent, "split", run_seed=0, fork_step=1)]
    assert halves == [
        _contents(v) for v in child_views(parent, "split", run_seed=0, fork_step=1, children=2)
    ]
    parts = [_contents(v) for v in child_views(parent, "split", 0, 1, children=3)]
    assert [len(p) for p in parts] == [3, 3, 3]
    assert len(set().union(*parts)) == 9 and all(p == sorted(p) for p in parts)
    shared = child_views(parent, "shared", 0, 1, children=4)
    assert len(shared) == 4 and all(v is shared[0] for v in shared)


# -- runs with forks -------------------------------------------------------------------------


def test_children_start_as_exact_copies_of_the_parents_learner_state(tmp_path, tiny_run):
    config = _config(tmp_path, tiny_run)
    trainer = Trainer(config, RunPaths.create(config), progress=False)
    trainer.start()
    while len(trainer.members) == 1:
        Lockstep([trainer]).advance()
    assert trainer.step == 240 and [m.name for m in trainer.members] == [
        "parent",
        "fork1_child1",
        "fork1_child2",
    ]
    state = trainer.agent.state_dict()
    assert float(trainer.agent.critic_optim.step_count[0]) > 0  # optimizer state is non-trivial
    for key, value in state.items():
        assert torch.equal(value[1], value[0]) and torch.equal(value[2], value[0]), key


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_tiny_run_with_each_strategy_writes_every_childs_weights(tmp_path, tiny_run, strategy):
    paths = run_experiment(
        _config(tmp_path, tiny_run, fork_buffer_strategy=strategy), progress=False
    )
    names = sorted(p.name for p in paths.weights.iterdir())
    assert names == [
        "final.pt",
        "fork1_child1.pt",
        "fork1_child2.pt",
        "fork2_child1.pt",
        "fork2_child2.pt",
        "fork_1_start.pt",
        "fork_2_start.pt",
    ]
    with paths.evaluations_file.open() as f:
        members = {row["member"] for row in csv.DictReader(f)}
    assert members == {"parent", "fork1_child1", "fork1_child2", "fork2_child1", "fork2_child2"}
    assert not _equal_states(_weights(paths, "fork1_child1.pt"), _weights(paths, "fork2_child1.pt"))
    config = _config(tmp_path, tiny_run, fork_buffer_strategy=strategy)
    planned = json.loads(paths.config_file.read_text())["members"]
    for fork in fork_schedule(config):  # the schedule projections read (benchmarks/)
        updates = planned_updates(config, child_update_after(config, fork))
        assert planned[fork.child_name(1)]["gradient_updates"] == updates


def test_with_fork_noise_none_the_two_children_end_bitwise_identical(tmp_path, tiny_run):
    paths = run_experiment(_config(tmp_path, tiny_run, fork_noise="none"), progress=False)
    for fork_id in (1, 2):
        one = _weights(paths, f"fork{fork_id}_child1.pt")
        two = _weights(paths, f"fork{fork_id}_child2.pt")
        assert _equal_states(one, two)


def test_a_member_does_not_depend_on_who_shares_its_population(tmp_path, tiny_run):
    """Fork 1's children (and the parent) come out the same with or without fork 2's children
    training beside them, and the parent equals a run without forks."""
    both = run_experiment(_config(tmp_path / "a", tiny_run), progress=False)
    first_only = run_experiment(
        _config(tmp_path / "b", tiny_run, fork_points="0.4"), progress=False
    )
    alone = run_experiment(_config(tmp_path / "c", tiny_run, fork_points="none"), progress=False)
    for name in ("fork1_child1.pt", "fork1_child2.pt"):
        a, b = _weights(both, name), _weights(first_only, name)
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert _equal_states(_weights(first_only, "final.pt"), _weights(alone, "final.pt"))


@pytest.mark.parametrize(
    "points, named",
    [
        ("0,0.5", "0"),
        ("0.5,1", "1"),
        ("0.5,0.5004", "distinct"),
        ("-0.1", "-0.1"),
        ("x", "x"),
    ],
)
def test_bad_fork_points_are_refused(tiny_run, points, named):
    with pytest.raises(UserError, match=named):
        build_config({**tiny_run, "fork_points": points})


def test_fork_points_are_sorted_and_none_means_no_forks(tiny_run):
    assert build_config({**tiny_run, "fork_points": "0.7,0.2"}).fork_points == (0.2, 0.7)
    assert build_config({**tiny_run, "fork_points": "none"}).fork_points == ()
