"""Forks added to a finished run (``lmc-rl fork``) are those of a run that had them from the
start, bit for bit, under their ids in the larger schedule; bad input writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import lmc_rl
from test_pieces import _assert_same_results  # every result and agent file, bit for bit

from lmc_rl.cli import main
from lmc_rl.records.run_record import load_run


@pytest.fixture
def finished_run(tiny_forking_runs) -> Path:
    """The finished tiny run, forking at 0.5 only (shared: tests only read it)."""
    return tiny_forking_runs(fork_points="0.5")


def _every_file(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_forks_added_later_equal_a_run_that_had_them_from_the_start(
    finished_run, tiny_forking_runs
):
    weights = load_run(finished_run).paths.weights
    before = _every_file(finished_run) | _every_file(weights)
    # 0.3 comes before the run's fork: the run's fork 1 (0.5) becomes fork 2
    added = lmc_rl(
        "fork", "--no_progress", "--results_dir", finished_run, "--fork_points", "0.7,0.3"
    )
    whole = tiny_forking_runs(fork_points="0.3,0.5,0.7")
    _assert_same_results(whole, added)
    record = json.loads((added / "config.json").read_text())
    assert record["forks_added"]["fork_ids"] == [1, 3]
    assert record["merged_from"][0] == str(finished_run.resolve())
    assert _every_file(finished_run) | _every_file(weights) == before  # only read
    # the same command again: the new run is found by its settings, not computed again
    kept = (added / "config.json").stat().st_mtime_ns
    again = ("fork", "--no_progress", "--results_dir", finished_run, "--fork_points", "0.7,0.3")
    assert lmc_rl(*again) == added
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
        ("has it", "0.5", "already forks at 0.5"),
        ("outside", "0.3,1.0", "1.0 is not strictly between 0 and 1"),
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
