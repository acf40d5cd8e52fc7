"""A run's layout, its status and the files written atomically, without any training."""

import json
import os

import numpy as np
import pytest

from lmc_rl.config.run_config import PLACEMENT_FIELDS, build_config
from lmc_rl.records.atomic_files import atomic_write_bytes, atomic_write_json
from lmc_rl.records.layout import RunPaths, RunStatus
from lmc_rl.training.forking import Fork
from lmc_rl.training.population import Member, Population
from lmc_rl.training.replay import ReplayStore, ReplayView
from lmc_rl.training.seeding import MemberStreams


def test_every_file_of_a_run_is_named_by_the_layout(tmp_path):
    paths = RunPaths(tmp_path / "r", tmp_path / "w")
    assert paths.child_weights(2, 3).name == "fork3_child2.pt"
    assert paths.fork_start_weights(3).name == "fork_3_start.pt"
    assert paths.critic_transitions_file(3) == tmp_path / "r" / "forks" / "critic_transitions_3.npz"
    assert paths.instability_file(3).name == "instability_3.json"
    assert paths.checkpoint_file.name == "checkpoint.pkl"
    assert str(RunStatus.FINISHED) == "finished" and RunStatus("trained") is RunStatus.TRAINED
    assert json.dumps({"status": RunStatus.RUNNING}) == '{"status": "running"}'


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_files_get_the_permissions_the_umask_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o666 & ~umask


def test_json_results_are_standard_json_with_null_for_non_finite_numbers(tmp_path):
    atomic_write_json(tmp_path / "r.json", {"x": float("inf"), "y": [float("nan"), 1.5]})
    text = (tmp_path / "r.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"x": None, "y": [None, 1.5]}


def test_fields_that_do_not_change_results_are_declared_once(tiny_run):
    assert set(PLACEMENT_FIELDS) == {"eval_workers", "output_dir", "device", "threads"}
    config = build_config({**tiny_run, "seed": "1"})
    moved = config.replace(output_dir="/elsewhere", eval_workers=3, threads=2)
    assert moved.results_identity() == config.results_identity()
    assert config.replace(gamma=0.5).results_identity() != config.results_identity()


def test_a_population_round_trips_through_its_state_dict():
    store = ReplayStore(obs_dim=2, action_dim=1)
    parent_view = ReplayView(store, 100)
    fork = Fork(fork_id=1, point=0.5, step=10)
    shared = parent_view.derive()
    members = [
        Member(
            name="parent",
            streams=MemberStreams.for_path(1, 0),
            view=parent_view,
            random_until=5,
            update_after=5,
        ),
        Member(
            name="fork1_child1",
            streams=MemberStreams.for_path(1, 1),
            view=shared,
            random_until=5,
            update_after=5,
            fork=fork,
            child=1,
            diverged_at=12,
        ),
        Member(
            name="fork1_child2",
            streams=MemberStreams.for_path(1, 2),
            view=shared,
            random_until=5,
            update_after=5,
            fork=fork,
            child=2,
        ),
    ]
    members[1].streams.action.standard_normal(3)  # a stream part-way through
    population = Population(members)
    state = population.state_dict()
    assert len(state["views"]) == 2  # the siblings' shared view is stored once
    restored = Population.from_state_dict(state, store, [fork])
    assert restored.names() == population.names()
    assert restored[1].view is restored[2].view and restored[1].fork is fork
    assert restored.diverged_record() == {"fork1_child1": 12}
    assert restored.live_rows() == [0, 2]
    assert np.array_equal(
        restored[1].streams.action.standard_normal(4), members[1].streams.action.standard_normal(4)
    )
