"""A tiny run end to end: files, schedule, reproducibility and saved policies."""

import csv
import json

import gymnasium as gym
import numpy as np
import pytest

from lmc_rl import load_agent
from lmc_rl.config.run_config import build_config, evaluation_due
from lmc_rl.experiment.phases import run_experiment


def _run(tmp_path, tiny_run, **overrides):
    config = build_config({**tiny_run, "seed": "5", "output_dir": str(tmp_path), **overrides})
    return config, run_experiment(config, progress=False)


def _evaluations(paths):
    with paths.evaluations_file.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("algo", ["SAC", "TD3", "DDPG"])
def test_tiny_run_writes_the_documented_layout(tmp_path, tiny_run, algo):
    config, paths = _run(tmp_path, tiny_run, algo=algo)
    assert paths.results.parent == tmp_path / "results" / "base" / "InvertedPendulum-v5" / algo
    assert paths.results.name.startswith("seed_5_")
    assert (paths.weights / "final.pt").is_file()
    assert any((paths.results / "tensorboard" / "parent").iterdir())
    record = json.loads(paths.config_file.read_text())
    assert record["status"] == "finished"
    report = (paths.results / "fork_analysis" / "report.md").read_text()
    assert "| status | finished |" in report  # report.md and config.json agree
    assert record["torch_threads"] >= 1
    assert record["config"]["seed"] == 5
    assert set(record["members"]["parent"]["seeds"]) == {"init", "env", "action", "batch"}
    assert "torch" in record["versions"]
    rows = _evaluations(paths)
    assert [(r["member"], int(r["step"]), int(r["n_episodes"])) for r in rows] == [
        ("parent", 300, 2),
        ("parent", 600, 2),
    ]


def test_same_seed_gives_identical_evaluations(tmp_path, tiny_run):
    _, first = _run(tmp_path / "a", tiny_run)
    _, second = _run(tmp_path / "b", tiny_run)
    assert first.evaluations_file.read_text() == second.evaluations_file.read_text()
    _, other = _run(tmp_path / "c", tiny_run, seed="6")
    assert other.evaluations_file.read_text() != first.evaluations_file.read_text()


@pytest.mark.parametrize(
    "eval_freq, steps", [("200", [200, 400, 600]), ("250", [250, 500, 600]), ("10000", [600])]
)
def test_eval_freq_is_honoured_and_the_final_step_is_always_evaluated(
    tmp_path, tiny_run, eval_freq, steps
):
    config, paths = _run(tmp_path, tiny_run, eval_freq=eval_freq)
    assert sorted({int(r["step"]) for r in _evaluations(paths)}) == steps
    scheduled = [s for s in range(1, config.total_steps + 1) if evaluation_due(config, s)]
    assert scheduled == steps  # the schedule projections read (benchmarks/default_experiment.py)


def test_saved_agent_loads_as_a_policy_acting_within_bounds(tmp_path, tiny_run):
    _, paths = _run(tmp_path, tiny_run)
    policy = load_agent(paths.weights / "final.pt")
    env = gym.make("InvertedPendulum-v5")
    obs, _ = env.reset(seed=0)
    action = policy.act(obs)
    assert action.shape == (1,) and action.dtype == np.float32
    assert env.action_space.contains(action)
    batch = policy.act(np.stack([obs, obs]))
    assert batch.shape == (2, 1)
    assert np.allclose(batch[0], action)
    explored = policy.act(obs, deterministic=False, rng=np.random.default_rng(0))
    assert np.all(np.abs(explored) <= 3.0)


def test_result_and_weight_files_get_the_umask_permissions(tmp_path, tiny_run):
    import os

    old = os.umask(0o022)
    try:
        _, paths = _run(tmp_path, tiny_run)
    finally:
        os.umask(old)
    for path in (paths.config_file, paths.evaluations_file, paths.weights / "final.pt"):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_threads_flag_sets_torch_threads_and_is_recorded(tmp_path, tiny_run):
    import torch

    before = torch.get_num_threads()
    try:
        _, paths = _run(tmp_path, tiny_run, threads="2")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    record = json.loads(paths.config_file.read_text())
    assert record["config"]["threads"] == 2 and record["torch_threads"] == 2
