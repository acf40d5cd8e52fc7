"""Forks added to a finished run (``lmc-rl fork``) are those of a run that had them from the
start, bit for bit, under their ids in the larger schedule; bad input writes nothing."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from test_pieces import _assert_same_results  # every result and agent file, bit for bit

from lmc_rl.cli import main
from lmc_rl.records.run_record import load_run

TINY = {
    "env": "InvertedPendulum-v5",
    "max_episode_steps": "100",
    "num_eval_episodes_periodic": "2",
    "hidden_dims": "32,32",
    "batch_size": "32",
    "total_steps": "300",
    "learning_starts": "100",
    "eval_freq": "100",
    "alpha_points": "3",
    "num_eval_episodes": "2",
    "eval_workers": "1",
    "threads": "1",
    "seed": "3",
}


def _lmc_rl(*argv: str | Path) -> Path:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*map(str, argv)]) == 0
    return Path(stdout.getvalue().strip().splitlines()[-1])


def _run(fork_points: str, output_dir: Path) -> Path:
    flags = {**TINY, "fork_points": fork_points, "output_dir": str(output_dir)}
    return _lmc_rl("run", "--no_progress", *[a for k, v in flags.items() for a in (f"--{k}", v)])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished tiny run that forks at 0.3 only."""
    return _run("0.3", tmp_path_factory.mktemp("run"))


def _every_file(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_forks_added_later_equal_a_run_that_had_them_from_the_start(finished_run, tmp_path):
    weights = load_run(finished_run).paths.weights
    before = _every_file(finished_run) | _every_file(weights)
    # 0.2 comes before the run's fork: the run's fork 1 (0.3) becomes fork 2
    added = _lmc_rl(
        "fork", "--no_progress", "--results_dir", finished_run, "--fork_points", "0.6,0.2"
    )
    whole = _run("0.2,0.3,0.6", tmp_path / "whole")
    _assert_same_results(whole, added)
    record = json.loads((added / "config.json").read_text())
    assert record["forks_added"]["fork_ids"] == [1, 3]
    assert record["merged_from"][0] == str(finished_run.resolve())
    assert _every_file(finished_run) | _every_file(weights) == before  # only read
    # the same command again: the new run is found by its settings, not computed again
    kept = (added / "config.json").stat().st_mtime_ns
    again = ("fork", "--no_progress", "--results_dir", finished_run, "--fork_points", "0.6,0.2")
    assert _lmc_rl(*again) == added
    assert (added / "config.json").stat().st_mtime_ns == kept


def _unfinished(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    record = json.loads((to / "config.json").read_text())
    record["status"] = "trained"
    (to / "config.json").write_text(json.dumps(record))
    return to


@pytest.mark.parametrize(
    "case, points, message",
    [
        ("has it", "0.3", "already forks at 0.3"),
        ("outside", "0.5,1.0", "1.0 is not strictly between 0 and 1"),
        ("unfinished", "0.6", "is still trained"),
    ],
)
def test_fork_refuses_with_one_line_and_writes_nothing(
    finished_run, tmp_path, capsys, case, points, message
):
    run = _unfinished(finished_run, tmp_path / "copy") if case == "unfinished" else finished_run
    root = finished_run.parents[4]
    before = _every_file(root), _every_file(tmp_path)
    capsys.readouterr()
    argv = ["fork", "--results_dir", str(run), "--fork_points", points]
    assert main([*argv, "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert (_every_file(root), _every_file(tmp_path)) == before
