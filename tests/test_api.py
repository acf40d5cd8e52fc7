"""The public API (``import lmc_rl``) runs an experiment as the CLI does and reads it back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import lmc_rl

FLAGS = {
    "env": "InvertedPendulum-v5",
    "seed": "5",
    "total_steps": "400",
    "learning_starts": "200",
    "eval_freq": "200",
    "num_eval_episodes_periodic": "2",
    "max_episode_steps": "50",
    "hidden_dims": "16,16",
    "batch_size": "16",
    "fork_points": "0.5",
    "alpha_points": "3",
    "num_eval_episodes": "4",
    "threads": "1",
}
RESULT_FILES = ("evaluations.csv", "all_forks_results.json", "forks/instability_1.json")


def test_an_experiment_from_python_equals_the_cli_run_and_reads_back(tmp_path: Path) -> None:
    config = lmc_rl.build_config({**FLAGS, "output_dir": str(tmp_path / "api")})
    paths = lmc_rl.run_experiment(config, progress=False)

    argv = [f"--{key}={value}" for key, value in FLAGS.items()]
    cli = subprocess.run(
        [sys.executable, "-m", "lmc_rl", "run", *argv, f"--output_dir={tmp_path / 'cli'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    cli_results = Path(cli.stdout.strip().splitlines()[-1])
    for name in RESULT_FILES:
        assert (paths.results / name).read_bytes() == (cli_results / name).read_bytes(), name

    run = lmc_rl.load_run(paths.results)
    assert run.record["status"] == "finished"
    forks = lmc_rl.load_run_frames(paths.results).forks
    assert list(forks.fork_id) == [1]
    assert set(forks.verdict) <= {"connected", "barrier", "inconclusive", "untrained"}

    policy = lmc_rl.load_agent(paths.weights / "final.pt")
    action = policy.act(np.zeros(4))
    assert action.shape == (1,) and np.all(np.abs(action) <= 3.0)


def test_measure_path_sees_a_planted_dip() -> None:
    alphas = np.linspace(0, 1, 11)
    rng = np.random.default_rng(0)
    dip = 500 * np.exp(-(((alphas - 0.5) / 0.1) ** 2))
    returns = 1000 - dip[:, None] + rng.normal(0, 5, (11, 40))
    result = lmc_rl.measure_path(returns, alphas, threshold=0.05)
    assert result.verdict == "barrier"
    flat = lmc_rl.measure_path(1000 + rng.normal(0, 5, (11, 40)), alphas, threshold=0.05)
    assert flat.verdict == "connected"
