"""lmc-rl connect: any two agents measured as a fork is, all pairs of runs, bad input refused."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lmc_rl.cli import main
from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import build_config
from lmc_rl.config.tasks import check_task
from lmc_rl.experiment.phases import run_experiment
from lmc_rl.learners.agents import make_agent
from lmc_rl.measuring.weight_matching import permute_agent, random_permutations
from lmc_rl.records.layout import parent_snapshot_name
from lmc_rl.training.run_files import load_agent_state, save_agent
from lmc_rl.training.trainer import agent_spec

TINY = {
    "env": "InvertedPendulum-v5",
    "total_steps": "600",
    "learning_starts": "200",
    "eval_freq": "300",
    "num_eval_episodes_periodic": "2",
    "max_episode_steps": "60",
    "hidden_dims": "16,16",
    "batch_size": "32",
    "alpha_points": "3",
    "num_eval_episodes": "3",
    "eval_workers": "1",
}
EVAL_FLAGS = ["--alpha_points", "3", "--num_eval_episodes", "3", "--max_episode_steps", "60"]
EVAL_FLAGS += ["--eval_workers", "1", "--no_progress"]


@pytest.fixture(scope="module")
def forked_run(tmp_path_factory):
    """A tiny run with one fork, saving the parent every 200 steps."""
    out = tmp_path_factory.mktemp("connect_run")
    flags = {**TINY, "fork_points": "0.5", "seed": "9", "save_every": "200"}
    return run_experiment(build_config({**flags, "output_dir": str(out)}), progress=False)


def _json(path):
    return json.loads(path.read_text())


def test_save_every_writes_the_parent_by_step_and_the_last_is_final(forked_run):
    files = sorted(forked_run.weights.glob("parent_step*.pt"))
    assert [f.name for f in files] == [parent_snapshot_name(s) for s in (200, 400, 600)]
    last, _ = load_agent_state(forked_run.weights / parent_snapshot_name(600))
    final, _ = load_agent_state(forked_run.weights / "final.pt")
    for key, value in final.state_dict().items():
        assert torch.equal(last.state_dict()[key], value), key


def test_connect_on_a_forks_children_equals_the_forks_own_json(forked_run, tmp_path):
    fork = _json(forked_run.results / "forks" / "instability_1.json")
    transitions = forked_run.results / "forks" / "critic_transitions_1.npz"
    children = [str(forked_run.weights / f"fork1_child{c}.pt") for c in (1, 2)]
    out = tmp_path / "out"
    flags = ["--seed", "9", "--critic_transitions", str(transitions), "--out", str(out)]
    assert main(["connect", *children, *flags, *EVAL_FLAGS]) == 0
    path = _json(out / "path_none.json")
    different = {"fork_id", "fork_point", "fork_step", "returns_file", "diverged"}
    different |= {"fork_buffer_strategy", "fork_noise"}
    # a fork's record also holds what only the run knows: all pairs of its children, which
    # evaluation it is, and the run's reference returns that the "untrained" verdict reads
    different |= {"pairs", "pair_mean_linear_barrier", "pair_mean_linear_barrier_ci"}
    different |= {"evaluation", "training_progress", "verdict", "verdict_reason"}
    different |= {"random_return", "progress_reference", "progress_reference_kind"}
    different |= {"barrier_limit", "barrier_scale", "barrier_scale_kind"}
    different |= {"normalized_linear_barrier"}  # on the learned-return scale where known
    different |= {"critic_verdict", "critic_verdict_reason"}  # "untrained" reads the run too
    different |= {"pair_mean_critic_barrier", "pair_mean_critic_barrier_ci"}
    for key in set(fork) - different:
        assert path[key] == fork[key], key
    with (
        np.load(out / "returns_none.npz") as mine,
        np.load(forked_run.results / "forks" / "returns_1.npz") as theirs,
    ):
        assert np.array_equal(mine["returns"], theirs["returns"])
    assert (out / "interp_none.png").is_file() and (out / "report.md").is_file()


def test_a_permuted_copy_aligned_by_weight_matching_has_a_flat_path(forked_run, tmp_path):
    original = forked_run.weights / "final.pt"
    agent, payload = load_agent_state(original)
    shuffled = permute_agent(agent, random_permutations(agent, np.random.default_rng(0)))
    copy = tmp_path / "shuffled.pt"
    save_agent(copy, shuffled, 0, check_task(payload["env"]), {})
    out, aligned_file = tmp_path / "out", tmp_path / "aligned.pt"
    flags = ["--align", "weight_matching", "--out", str(out), "--save_aligned", str(aligned_file)]
    assert main(["connect", str(original), str(copy), *flags, *EVAL_FLAGS]) == 0
    path = _json(out / "path_weight_matching.json")
    means = [p["mean_reward"] for p in path["interpolation"]]
    assert means == pytest.approx([means[0]] * len(means), abs=1e-9)
    assert path["instability"] == pytest.approx(0.0, abs=1e-9)
    aligned, _ = load_agent_state(aligned_file)  # a valid agent file, equal to the original
    for key, value in agent.state_dict().items():
        assert torch.equal(aligned.state_dict()[key], value), key


def test_connect_runs_evaluates_all_pairs_with_and_without_alignment(tmp_path):
    runs = []
    for seed in ("1", "2", "3"):
        flags = {**TINY, "total_steps": "300", "learning_starts": "100", "seed": seed}
        config = build_config({**flags, "fork_points": "none", "output_dir": str(tmp_path)})
        runs.append(str(run_experiment(config, progress=False).results))
    out = tmp_path / "connect"
    assert main(["connect", "--runs", *runs, "--out", str(out), *EVAL_FLAGS]) == 0
    summary = _json(out / "connect.json")
    keys = {p["key"] for p in summary["paths"]}
    assert keys == {
        f"run{i}_run{j}_{a}"
        for i, j in ((1, 2), (1, 3), (2, 3))
        for a in ("none", "weight_matching")
    }
    assert summary["labels"] == ["seed 1", "seed 2", "seed 3"]
    assert (out / "barrier_matrix.png").is_file()
    assert len(list((out / "aligned").glob("*.pt"))) == 3
    # each path is the path `connect A B` measures between the two runs' final agents
    finals = [str(Path(r.replace("/results/", "/model_weights/")) / "final.pt") for r in runs]
    for align in ("none", "weight_matching"):
        pair = tmp_path / f"pair_{align}"
        flags = ["--align", align, "--out", str(pair)]
        assert main(["connect", finals[1], finals[2], *flags, *EVAL_FLAGS]) == 0
        alone = _json(pair / f"path_{align}.json")
        (entry,) = [p for p in summary["paths"] if p["key"] == f"run2_run3_{align}"]
        for key in set(entry) - {"key", "a_label", "b_label"}:
            assert entry[key] == alone[key], (align, key)
        assert (entry["a_label"], entry["b_label"]) == ("seed 2", "seed 3")

    # render --connect_dir --path plays the path as evaluated: B aligned, mid-path included
    from lmc_rl.measuring.render import check_offscreen_gl, headless_gl

    headless_gl()
    try:
        check_offscreen_gl()
    except UserError as err:
        pytest.skip(f"no offscreen OpenGL here: {err}")
    argv = ["render", "--connect_dir", str(out), "--path", "run2_run3_weight_matching"]
    argv += ["--alphas", "0.5", "--episode", "1", "--every", "10", "--out", str(tmp_path / "p.gif")]
    done = subprocess.run([sys.executable, "-m", "lmc_rl", *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stderr.strip().splitlines()[-1])
    with np.load(out / "returns_run2_run3_weight_matching.npz") as data:
        recorded = data["returns"][list(data["alphas"]).index(0.5), 1]
    assert record["alphas"] == [0.5]
    np.testing.assert_allclose(record["returns"], [recorded], rtol=1e-6)


def _write_agent(path, env, hidden_dims, algo="SAC"):
    task = check_task(env)
    config = build_config({"env": env, "hidden_dims": hidden_dims, "algo": algo})
    agent = make_agent(algo, 1, agent_spec(config, task))
    agent.init_members([0])
    save_agent(path, agent, 0, task, {})
    return str(path)


@pytest.mark.parametrize(
    "other",
    [
        ("InvertedPendulum-v5", "16,8", "SAC"),
        ("InvertedDoublePendulum-v5", "16,16", "SAC"),
        ("InvertedPendulum-v5", "16,16", "TD3"),
    ],
)
def test_agents_of_different_architecture_are_refused_and_nothing_is_written(
    tmp_path, capsys, other
):
    a = _write_agent(tmp_path / "a.pt", "InvertedPendulum-v5", "16,16")
    b = _write_agent(tmp_path / "b.pt", *other)
    out = tmp_path / "out"
    assert main(["connect", a, b, "--out", str(out), *EVAL_FLAGS]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "differ in" in err
    assert not out.exists()


def test_missing_and_foreign_files_are_refused(tmp_path, capsys):
    a = _write_agent(tmp_path / "a.pt", "InvertedPendulum-v5", "16,16")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for b in (str(tmp_path / "missing.pt"), str(foreign)):
        assert main(["connect", a, b, "--out", str(tmp_path / "out"), *EVAL_FLAGS]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("lmc-rl: error:") and "\n" not in err
    assert main(["connect", a, "--no_progress"]) == 2
    assert not (tmp_path / "out").exists()


def test_the_barrier_matrix_colours_by_the_linear_barrier_and_the_report_leads_with_verdicts():
    """An endpoint gap (naive instability 400) is no barrier: its cell is 0, and says so."""
    from lmc_rl.analysis.connect_report import _path_rows, barrier_matrix_figure

    def path(a, b, instability, barrier, verdict):
        return {
            "key": f"{a}_{b}",
            "a_label": a,
            "b_label": b,
            "align": "none",
            "instability": instability,
            "linear_barrier_crossfit": barrier,
            "linear_barrier_ci": [barrier - 1, barrier + 1],
            "barrier_limit": 20.0,
            "verdict": verdict,
            "fork1_reward": 1000.0,
            "fork2_reward": 200.0,
            "min_reward": 200.0,
            "min_alpha": 1.0,
            "interpolation": [{"alpha": 1.0, "ci95_low": 190.0, "ci95_high": 210.0}],
            "normalized_instability": 0.67,
            "is_stable": False,
            "env": "Pendulum-v5",
            "algo": "SAC",
        }

    results = [path("x", "y", 400.0, 0.0, "connected"), path("x", "z", 50.0, 300.0, "barrier")]
    figure = barrier_matrix_figure(results, ["x", "y", "z"])
    matrix = figure.axes[0].get_images()[0].get_array()
    assert matrix[0, 1] == 0.0 and matrix[0, 2] == 300.0
    assert "0\nconn." in [t.get_text() for t in figure.axes[0].texts]
    header = _path_rows(results)[0]
    assert header.startswith("| path | verdict |") and "naive stable (prototype)" in header
