"""Instability analysis: interpolation endpoints, common random numbers, metrics and files."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from lmc_rl.cli import main
from lmc_rl.config.run_config import build_config
from lmc_rl.config.tasks import check_task, solved_return
from lmc_rl.experiment.phases import run_experiment
from lmc_rl.measuring import barrier_stats as bs
from lmc_rl.measuring.fork_result import ForkResult, critic_metrics, measure_path
from lmc_rl.measuring.interpolation import critic_path, interpolated_population
from lmc_rl.records.run_record import load_run
from lmc_rl.training.evaluation import EvaluationEnvs, evaluate_members
from lmc_rl.training.run_files import load_agent_state
from lmc_rl.training.seeding import evaluation_seeds


@pytest.fixture(scope="module")
def forked_run(tmp_path_factory):
    """One tiny run with two forks of three children each and a short instability evaluation
    (shared by tests)."""
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
            "children": "3",
            "output_dir": str(out),
        }
    )
    return run_experiment(config, progress=False)


def _fork_json(paths, fork_id):
    return json.loads((paths.results / "forks" / f"instability_{fork_id}.json").read_text())


def test_path_metrics_match_the_formulas_and_round_trip_through_json():
    alphas = np.linspace(0, 1, 5)
    means = np.array([100.0, 80.0, 40.0, 90.0, 60.0])
    returns = means[:, None] + np.array([-1.0, 1.0, -2.0, 2.0, 0.0, 0.0])[None, :]
    result = measure_path(returns, alphas, threshold=0.05)
    assert result.endpoint_mean_reward == 80.0
    assert result.instability == 40.0 and result.min_alpha == 0.5
    assert result.normalized_instability == 0.5
    assert result.linear_barrier == 40.0 and result.linear_barrier_alpha == 0.5
    assert result.verdict == "barrier" and not result.min_at_endpoint
    assert ForkResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_the_return_spread_and_its_standard_error_use_one_sample_std():
    deviations = np.array([-1.0, 1.0, -2.0, 2.0, 0.0, 0.0])  # sample std sqrt(2), ddof 0: 1.29
    returns = np.array([100.0, 50.0])[:, None] + deviations[None, :]
    result = measure_path(returns, np.array([0.0, 1.0]), threshold=0.05)
    for point in result.interpolation:
        assert point["std_reward"] == pytest.approx(np.sqrt(2.0))
        assert point["sem_reward"] == pytest.approx(point["std_reward"] / np.sqrt(6))
        half_width = point["ci95_high"] - point["mean_reward"]
        assert half_width == pytest.approx(2.5706 * point["sem_reward"], rel=1e-4)  # t(5)
    one_episode = measure_path(returns[:, :1], np.array([0.0, 1.0]), threshold=0.05)
    assert [p["std_reward"] for p in one_episode.interpolation] == [0.0, 0.0]


ALPHAS_11 = np.linspace(0.0, 1.0, 11)


def _noisy_path(curve: np.ndarray, seed: int = 0, n: int = 40) -> np.ndarray:
    """``[alpha, episode]`` returns around ``curve``: a start effect shared along the path
    (common random numbers) plus independent noise, both sd 1."""
    rng = np.random.default_rng(seed)
    return curve[:, None] + rng.normal(0.0, 1.0, (1, n)) + rng.normal(0.0, 1.0, (len(curve), n))


def test_flaw_2_the_limit_is_a_share_of_the_learned_return_not_of_the_endpoint_mean():
    straight = _noisy_path(np.linspace(100.0, -100.0, 11), seed=2)  # endpoint mean 0
    result = measure_path(straight, ALPHAS_11, threshold=0.05, random_return=-300.0)
    assert result.verdict == "connected", result.verdict_reason
    assert result.barrier_scale_kind == "learned return"
    assert result.barrier_limit == pytest.approx(15.0, abs=0.05)
    moved = measure_path(straight + 1e4, ALPHAS_11, threshold=0.05, random_return=1e4 - 300.0)
    assert moved.verdict == "connected"
    assert moved.barrier_limit == pytest.approx(result.barrier_limit)
    # negative returns (Reacher): children at -5 against a random policy's -40 are connected
    reacher = measure_path(
        _noisy_path(np.full(11, -5.0), seed=3), ALPHAS_11, threshold=0.05, random_return=-40.0
    )
    assert reacher.verdict == "connected", reacher.verdict_reason
    unknown = measure_path(straight, ALPHAS_11, threshold=0.05)  # no random return: as before
    assert unknown.barrier_scale_kind == "|endpoint mean|" and unknown.verdict == "inconclusive"


@pytest.mark.parametrize(
    ("alpha_index", "value"),
    [(5, np.nan), (5, np.inf), (5, -np.inf), (0, np.nan), (10, -np.inf)],
)
def test_flaw_3_a_nonfinite_return_gives_the_verdict_diverged(alpha_index, value):
    returns = _noisy_path(np.full(11, 100.0), seed=4)
    returns[alpha_index, 3] = value
    result = measure_path(returns, ALPHAS_11, threshold=0.05, random_return=0.0, best_return=100.0)
    assert result.verdict == "diverged" and "non-finite" in result.verdict_reason
    assert result.nonfinite_returns == 1 and result.linear_barrier_crossfit is None
    assert result.linear_barrier_ci is None and result.min_at_endpoint is None
    json.dumps(result.to_json(), allow_nan=False)  # standard JSON, nothing silently NaN


def test_flaw_6_untrained_is_judged_against_the_solved_return_where_known():
    returns = _noisy_path(np.full(11, 100.0), seed=5)  # children at 100 of a possible 1000
    judged = {"threshold": 0.05, "random_return": 5.2, "best_return": 131.0}
    solved = measure_path(returns, ALPHAS_11, solved_return=1000.0, **judged)
    assert solved.verdict == "untrained" and "solved return" in solved.verdict_reason
    assert solved.progress_reference == 1000.0
    own_best = measure_path(returns, ALPHAS_11, **judged)  # none known: the run's best
    assert own_best.verdict == "connected"
    assert own_best.progress_reference_kind == "the run's best evaluation"


def test_flaw_6_the_run_records_its_tasks_solved_return(forked_run):
    result = _fork_json(forked_run, 1)
    assert result["progress_reference_kind"] == "InvertedPendulum-v5's solved return"
    assert result["progress_reference"] == 60.0  # 1 per step, 60-step episodes
    assert result["random_return"] is not None and result["barrier_scale_kind"] == "learned return"


def test_the_failure_rate_barrier_has_its_own_verdict_beside_the_returns():
    """Returns that hold their mean while interior episodes fail half the time."""
    returns = _noisy_path(np.full(11, 100.0), seed=6, n=60)
    terminated = np.zeros(returns.shape, dtype=bool)
    terminated[3:8] = np.random.default_rng(6).random((5, 60)) < 0.5
    result = measure_path(returns, ALPHAS_11, threshold=0.05, terminated=terminated)
    assert result.failure_verdict == "barrier" and result.verdict != "barrier"
    assert 0.3 < result.failure_rate_barrier < 0.7
    low, high = result.failure_rate_barrier_ci
    assert 0.05 < low < 0.5 < high
    assert measure_path(returns, ALPHAS_11, threshold=0.05).failure_verdict is None


def test_interpolation_endpoints_are_the_children_bit_for_bit(tiny_spec):
    from lmc_rl.learners.agents import make_agent

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
            agent, _ = load_agent_state(forked_run.weights / f"fork{fork_id}_child{child}.pt")
            alone = evaluate_members(agent, pool, seeds)[0].mean()
            assert alone == result["interpolation"][row]["mean_reward"]
            assert alone == result[f"fork{child}_reward"]


def test_a_fork_with_three_children_measures_all_three_pairs(forked_run):
    result = _fork_json(forked_run, 1)
    assert result["children"] == 3 and len(result["children_returns"]) == 3
    assert [p["children"] for p in result["pairs"]] == [[1, 2], [1, 3], [2, 3]]
    assert result["pairs"][0]["linear_barrier"] == result["linear_barrier"]
    low, high = result["pair_mean_linear_barrier_ci"]
    assert low <= result["pair_mean_linear_barrier"] <= high
    # the verdict: the all-pairs interval against the limit, after the training check, whose
    # floor is the return of the parent's uniform-random warm-up episodes and whose reference
    # is the task's solved return (InvertedPendulum: 1 a step)
    record = json.loads((forked_run.results / "config.json").read_text())
    random_return = record["random_policy"]["mean_return"]
    assert record["random_policy"]["n_episodes"] > 0 and np.isfinite(random_return)
    config = record["config"]
    solved = solved_return(config["env"], config["max_episode_steps"])
    assert solved == config["max_episode_steps"]
    children_mean = float(np.mean(result["children_returns"]))
    progress = (children_mean - random_return) / (solved - random_return)
    assert result["progress_reference"] == pytest.approx(solved)
    assert result["training_progress"] == pytest.approx(progress)
    interval = tuple(result["pair_mean_linear_barrier_ci"])
    limit = bs.barrier_limit(0.05, children_mean, random_return)
    expected = bs.verdict(interval, limit, progress, None, None, result["progress_reference_kind"])
    assert (result["verdict"], result["verdict_reason"]) == expected
    point = result["interpolation"][1]
    assert point["q05"] <= point["q50"] <= point["q95"] and 0 <= point["failure_rate"] <= 1
    with np.load(forked_run.results / "forks" / "returns_1.npz") as data:
        assert data["pair_returns"].shape == (3, 5, 4)
        assert np.array_equal(data["pair_returns"][0], data["returns"])
    run = load_run(forked_run.results)
    pool = EvaluationEnvs(check_task(run.config.env), run.config.max_episode_steps)
    agent, _ = load_agent_state(forked_run.weights / "fork1_child3.pt")
    alone = evaluate_members(agent, pool, evaluation_seeds(run.config.seed, 4))[0].mean()
    assert alone == result["children_returns"][2]


def test_evaluate_command_writes_a_new_evaluation_and_keeps_the_runs_own(forked_run, capsys):
    before = (forked_run.results / "forks" / "instability_1.json").read_bytes()
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
    out = capsys.readouterr().out.strip().splitlines()
    folder = forked_run.results / "evaluations" / "a3_e2"
    assert out[-1] == str(folder) and "verdict" in out[0]
    assert (forked_run.results / "forks" / "instability_1.json").read_bytes() == before
    result = json.loads((folder / "instability_1.json").read_text())
    assert [p["alpha"] for p in result["interpolation"]] == [0.0, 0.5, 1.0]
    assert result["num_eval_episodes"] == 2
    assert result["evaluation"]["folder"] == "evaluations/a3_e2"
    report = (folder / "fork_analysis" / "report.md").read_text()
    assert "evaluations/a3_e2" in report and "3 α × 2 episodes" in report
    assert (
        main(
            [
                "evaluate",
                "--results_dir",
                str(forked_run.results),
                "--alpha_points",
                "3",
                "--num_eval_episodes",
                "2",
                "--eval_workers",
                "1",
                "--no_progress",
                "--out",
                str(folder),
            ]
        )
        == 2
    )
    assert "--overwrite" in capsys.readouterr().err


def test_evaluate_children_overwrite_and_analyze_evaluation(forked_run, tmp_path, capsys):
    """--children 2 measures only the pair (1, 2), in a folder of its own; --overwrite replaces
    the run's own forks/ (the pair's numbers unchanged: one pair, the same episodes); analyze
    --evaluation reports on a re-evaluation, not on the run's own."""
    root = forked_run.results.parents[3]  # results/{experiment}/{env}/{algo}/seed_*
    shutil.copytree(root, tmp_path / "copy")
    results = tmp_path / "copy" / forked_run.results.relative_to(root)
    argv = ["evaluate", "--results_dir", str(results), "--alpha_points", "3"]
    argv += ["--num_eval_episodes", "2", "--eval_workers", "1", "--no_progress"]

    assert main([*argv, "--children", "2"]) == 0
    two = results / "evaluations" / "a3_e2_c2"
    result = json.loads((two / "instability_1.json").read_text())
    assert result["children"] == 2 and [p["children"] for p in result["pairs"]] == [[1, 2]]
    with np.load(two / "returns_1.npz") as data:
        assert data["pair_returns"].shape == (1, 3, 2)

    folders = sorted(p.name for p in (results / "evaluations").iterdir())
    assert "a3_e2_c2" in folders
    assert main([*argv, "--overwrite"]) == 0
    own = json.loads((results / "forks" / "instability_1.json").read_text())
    assert own["children"] == 3 and [p["alpha"] for p in own["interpolation"]] == [0, 0.5, 1]
    assert own["pairs"][0] == result["pairs"][0]
    summary = json.loads((results / "all_forks_results.json").read_text())
    assert summary["alpha_points"] == 3 and summary["num_eval_episodes"] == 2
    assert sorted(p.name for p in (results / "evaluations").iterdir()) == folders  # no new one

    shutil.rmtree(two / "fork_analysis")
    own_report = (results / "fork_analysis" / "report.md").read_text()
    capsys.readouterr()
    assert main(["analyze", "--results_dir", str(results), "--evaluation", str(two)]) == 0
    report = (two / "fork_analysis" / "report.md").read_text()
    assert "evaluations/a3_e2_c2" in report and "3 α × 2 episodes" in report
    assert (results / "fork_analysis" / "report.md").read_text() == own_report != report
    both = ["--results_dir", str(results), str(results)]
    assert main(["analyze", *both, "--evaluation", str(two)]) == 2
    assert "--evaluation" in capsys.readouterr().err


def test_evaluate_results_do_not_depend_on_the_number_of_workers(forked_run, tmp_path):
    from lmc_rl.measuring.instability import evaluate_run

    run = load_run(forked_run.results)
    one = evaluate_run(run, 3, 3, workers=1, progress=False, folder=tmp_path / "one")
    two = evaluate_run(run, 3, 3, workers=2, progress=False, folder=tmp_path / "two")
    assert [dataclasses.replace(r, evaluation=None).to_json() for r in one] == [
        dataclasses.replace(r, evaluation=None).to_json() for r in two
    ]


def test_a_run_without_gradient_updates_says_so_and_its_forks_are_untrained(tmp_path, capsys):
    config = build_config(
        {
            "env": "InvertedPendulum-v5",
            "total_steps": "120",
            "learning_starts": "500",
            "eval_freq": "120",
            "num_eval_episodes_periodic": "1",
            "max_episode_steps": "30",
            "hidden_dims": "8,8",
            "batch_size": "8",
            "fork_points": "0.5",
            "seed": "4",
            "alpha_points": "2",
            "num_eval_episodes": "4",
            "eval_workers": "1",
            "output_dir": str(tmp_path),
        }
    )
    paths = run_experiment(config, progress=False)
    captured = capsys.readouterr()
    assert "no gradient update" in captured.err
    assert "untrained" in captured.out  # the table at the end of the run
    assert _fork_json(paths, 1)["verdict"] == "untrained"
    report = (paths.results / "fork_analysis" / "report.md").read_text()
    assert "No gradient update was made" in report


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
    stored = json.loads(paths.config_file.read_text())["config"]
    assert result["fork_noise"] == stored["fork_noise"] == "none"  # as users write it


def test_evaluate_refuses_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", "--results_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "config.json" in err and len(err.strip().splitlines()) == 1


def test_sequential_evaluation_reads_a_prefix_of_the_same_episodes_and_records_its_looks(
    forked_run, tmp_path
):
    from lmc_rl.measuring.instability import evaluate_run

    run = load_run(forked_run.results)
    common = {"num_eval_episodes": 24, "workers": 1, "progress": False}
    fixed = evaluate_run(run, folder=tmp_path / "fixed", **common)
    looked = evaluate_run(run, folder=tmp_path / "looked", eval_stopping="verdict", **common)
    for plain, seq in zip(fixed, looked, strict=True):
        looks = seq.evaluation_looks
        assert [look["episodes"] for look in looks] == [10, 20, 24][: len(looks)]
        assert seq.episodes_used == looks[-1]["episodes"] == seq.num_eval_episodes
        assert looks[-1]["verdict"] == seq.verdict
        assert all(look["verdict"] not in ("connected", "barrier") for look in looks[:-1])
        assert plain.episodes_used == 24 and plain.evaluation_looks is None
        name = f"returns_{seq.fork_id}.npz"
        with np.load(tmp_path / "fixed" / name) as a, np.load(tmp_path / "looked" / name) as b:
            used = seq.episodes_used
            assert np.array_equal(a["pair_returns"][:, :, :used], b["pair_returns"])
    assert looked[0].evaluation["confidence"] == pytest.approx(1 - 0.05 / 3)
    from lmc_rl.analysis import analyze_run

    report = analyze_run(forked_run.results, evaluation=tmp_path / "looked") / "report.md"
    text = report.read_text()
    assert "up to 24 episodes per policy" in text and "looks at 10, 20, 24 episodes" in text


@pytest.mark.parametrize(
    ("flag", "value"), [("--eval_stopping", "early"), ("--solved_return", "nan")]
)
def test_evaluate_names_a_bad_stopping_rule_or_solved_return(forked_run, capsys, flag, value):
    argv = ["evaluate", "--results_dir", str(forked_run.results), flag, value, "--no_progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err
    assert not (forked_run.results / "evaluations" / "a5_e4_stopping_early").exists()


def test_a_killed_sequential_evaluation_resumes_bit_for_bit(forked_run, tmp_path, monkeypatch):
    from lmc_rl.measuring import instability

    run = load_run(forked_run.results)
    common = {"num_eval_episodes": 24, "workers": 1, "progress": False}
    whole = instability.evaluate_run(
        run, folder=tmp_path / "whole", eval_stopping="verdict", **common
    )
    real_write, writes = instability.atomic_write_bytes, []

    def killed_after_one_chunk(path, data):
        if writes:
            raise KeyboardInterrupt
        writes.append(path)
        real_write(path, data)

    monkeypatch.setattr(instability, "atomic_write_bytes", killed_after_one_chunk)
    with pytest.raises(KeyboardInterrupt):
        instability.evaluate_run(
            run, folder=tmp_path / "resumed", eval_stopping="verdict", **common
        )
    assert writes and writes[0].parent.name == "look0"  # one chunk of the first look was kept
    monkeypatch.setattr(instability, "atomic_write_bytes", real_write)
    resumed = instability.evaluate_run(
        run, folder=tmp_path / "resumed", eval_stopping="verdict", **common
    )
    assert [dataclasses.replace(r, evaluation=None).to_json() for r in whole] == [
        dataclasses.replace(r, evaluation=None).to_json() for r in resumed
    ]
    assert not (tmp_path / "resumed" / "partial").exists()


ALPHAS_5 = np.linspace(0.0, 1.0, 5)


def test_the_critic_td_barrier_of_a_known_td_curve():
    """TD error 1, 4, 2, 2, 3 along alpha 0 .. 1: worst at 0.25, 4 - (1 + 3) / 2 = 2 above the
    endpoints' mean and 4 - 1.5 = 2.5 above their straight line."""
    per_transition = np.repeat(np.array([1.0, 4.0, 2.0, 2.0, 3.0])[:, None], 7, axis=1)
    metrics = critic_metrics(per_transition, np.zeros(5), ALPHAS_5)
    assert metrics["td_error_barrier"] == 2.0 and metrics["td_error_max_alpha"] == 0.25
    assert metrics["td_error_linear_barrier"] == 2.5
    assert metrics["td_error_linear_barrier_alpha"] == 0.25
    assert metrics["n_transitions"] == 7


def test_the_critic_path_of_constant_critics_is_the_td_formula(tiny_spec):
    """Critics whose weights are 0 output their last bias: twin Q values (1, 3) for one agent
    and (5, 3) for the other, so at alpha the twins say 1 + 4 alpha and 3, and
    delta = Q_j - (r + gamma (1 - terminated) min(1 + 4 alpha, 3))."""
    from lmc_rl.learners.agents import Batch, make_agent

    agents = []
    for first_twin in (1.0, 5.0):
        agent = make_agent("SAC", 1, tiny_spec)
        agent.init_members([1])
        with torch.no_grad():
            for name, value in agent.critic.named_parameters():
                value.zero_()
                if name.endswith("2.bias"):
                    value[0, :, 0, 0] = torch.tensor([first_twin, 3.0])
        agents.append(agent)
    reward = torch.tensor([0.5, -1.0, 2.0, 0.0])
    terminated = torch.tensor([0.0, 1.0, 0.0, 0.0])
    g = torch.Generator().manual_seed(0)
    transitions = Batch(
        obs=torch.randn(1, 4, 5, generator=g),
        action=torch.rand(1, 4, 2, generator=g),
        reward=reward[None],
        next_obs=torch.randn(1, 4, 5, generator=g),
        terminated=terminated[None],
    )
    td, mean_q = critic_path(interpolated_population(*agents, ALPHAS_5), transitions, 0.9)
    twins = np.stack([1 + 4 * ALPHAS_5, np.full(5, 3.0)], axis=1)  # [alpha, twin]
    target = reward.numpy() + 0.9 * (1 - terminated.numpy()) * twins.min(axis=1)[:, None]
    expected = np.square(twins[:, :, None] - target[:, None, :]).mean(axis=1)  # [alpha, transition]
    assert td == pytest.approx(expected, rel=1e-6, abs=1e-6)  # float32 maths
    assert mean_q == pytest.approx(twins.mean(axis=1), rel=1e-6)
