"""Instability analysis: interpolation endpoints, common random numbers, metrics and files."""

import json

import numpy as np
import pytest
import torch

from lmc_rl.cli import main
from lmc_rl.config import build_config
from lmc_rl.envs import check_task
from lmc_rl.evaluation import EvaluationEnvs, evaluate_members
from lmc_rl.experiment import run_experiment
from lmc_rl.lmc import interpolated_population, summarize_path
from lmc_rl.runs import load_agent_state, load_run
from lmc_rl.seeding import evaluation_seeds


@pytest.fixture(scope="module")
def forked_run(tmp_path_factory):
    """One tiny run with two forks and a short instability evaluation (shared by tests)."""
    out = tmp_path_factory.mktemp("forked")
    config = build_config(
        {
            "env": "InvertedPendulum-v5",
            "total_steps": "800",
            "learning_starts": "200",
            "eval_freq": "400",
            "num_eval_episodes_periodic": "2",
            "max_episode_steps": "60",
            "hidden_dims": "32,32",
            "batch_size": "32",
            "fork_points": "0.3,0.6",
            "seed": "9",
            "alpha_points": "5",
            "num_eval_episodes": "4",
            "eval_workers": "1",
            "output_dir": str(out),
        }
    )
    return run_experiment(config, progress=False)


def _fork_json(paths, fork_id):
    return json.loads((paths.results / "forks" / f"instability_{fork_id}.json").read_text())


def test_path_summary_matches_the_formula():
    alphas = np.linspace(0, 1, 5)
    summary = summarize_path(alphas, np.array([100.0, 80.0, 40.0, 90.0, 60.0]))
    assert summary.endpoint_mean == 80.0
    assert summary.instability == 40.0 and summary.min_alpha == 0.5
    assert summary.normalized_instability == 0.5


def test_interpolation_endpoints_are_the_children_bit_for_bit(tiny_spec):
    from lmc_rl.agents import make_agent

    parents = make_agent("SAC", 2, tiny_spec)
    parents.init_members([1, 2])
    a, b = parents.take([0]), parents.take([1])
    path = interpolated_population(a, b, np.array([0.0, 0.3, 1.0]))
    for key, value in path.state_dict().items():
        assert torch.equal(value[0], a.state_dict()[key][0]), key
        assert torch.equal(value[2], b.state_dict()[key][0]), key


def test_run_writes_the_prototypes_fields_and_ours(forked_run):
    result = _fork_json(forked_run, 1)
    for key in (
        "fork_id",
        "fork_point",
        "fork1_reward",
        "fork2_reward",
        "interpolation",
        "instability",
        "is_stable",
        "fork_step",
        "normalized_instability",
        "min_alpha",
        "is_stable_frankle",
        "critic",
    ):
        assert key in result, key
    assert result["fork_step"] == 240 and len(result["interpolation"]) == 5
    point = result["interpolation"][2]
    assert point["ci95_low"] <= point["mean_reward"] <= point["ci95_high"]
    assert len(result["critic"]["td_error"]) == 5
    summary = json.loads((forked_run.results / "all_forks_results.json").read_text())
    assert [f["fork_id"] for f in summary["forks"]] == [1, 2]
    with np.load(forked_run.results / "forks" / "returns_1.npz") as data:
        assert data["returns"].shape == (5, 4)
        assert np.allclose(
            data["returns"].mean(axis=1), [p["mean_reward"] for p in result["interpolation"]]
        )


def test_alpha_0_and_1_are_the_children_evaluated_on_the_same_episodes(forked_run):
    run = load_run(forked_run.results)
    pool = EvaluationEnvs(check_task(run.config.env), run.config.max_episode_steps)
    seeds = evaluation_seeds(run.config.seed, 4)
    for fork_id in (1, 2):
        result = _fork_json(forked_run, fork_id)
        for child, row in ((1, 0), (2, -1)):
            agent, _ = load_agent_state(forked_run.weights / f"fork{child}_{fork_id}.pt")
            alone = evaluate_members(agent, pool, seeds)[0].mean()
            assert alone == result["interpolation"][row]["mean_reward"]
            assert alone == result[f"fork{child}_reward"]


def test_evaluate_command_redoes_the_analysis_with_new_settings(forked_run, capsys):
    code = main(
        [
            "evaluate",
            "--results_dir",
            str(forked_run.results),
            "--alpha_points",
            "3",
            "--num_eval_episodes",
            "2",
            "--eval_workers",
            "2",
            "--no_progress",
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == str(forked_run.results)
    result = _fork_json(forked_run, 1)
    assert [p["alpha"] for p in result["interpolation"]] == [0.0, 0.5, 1.0]
    assert result["num_eval_episodes"] == 2


def test_evaluate_results_do_not_depend_on_the_number_of_workers(forked_run):
    from lmc_rl.instability import evaluate_run

    run = load_run(forked_run.results)
    one = evaluate_run(run, 3, 3, workers=1, progress=False)
    two = evaluate_run(run, 3, 3, workers=2, progress=False)
    assert one == two


def test_identical_children_have_zero_instability(tmp_path):
    config = build_config(
        {
            "env": "InvertedPendulum-v5",
            "total_steps": "500",
            "learning_starts": "100",
            "eval_freq": "500",
            "num_eval_episodes_periodic": "1",
            "max_episode_steps": "50",
            "hidden_dims": "16,16",
            "batch_size": "16",
            "fork_points": "0.5",
            "seed": "2",
            "fork_noise": "none",
            "alpha_points": "5",
            "num_eval_episodes": "3",
            "eval_workers": "1",
            "output_dir": str(tmp_path),
        }
    )
    paths = run_experiment(config, progress=False)
    result = _fork_json(paths, 1)
    means = {p["mean_reward"] for p in result["interpolation"]}
    assert len(means) == 1 and result["instability"] == 0.0 and result["is_stable"]


def test_evaluate_refuses_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", "--results_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "config.json" in err and len(err.strip().splitlines()) == 1
