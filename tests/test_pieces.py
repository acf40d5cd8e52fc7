"""A run in pieces: a fork's bits do not depend on the other forks, pieces merge into the whole
run bit for bit, merge refuses what does not join, and ``--pieces`` runs and reruns them."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_forking_flags

from lmc_rl.cli import main
from lmc_rl.config.run_config import build_config
from lmc_rl.experiment.pieces import piece_cost, split_forks
from lmc_rl.records.layout import child_weights_name
from lmc_rl.records.run_record import load_run
from lmc_rl.training.run_files import load_agent_state


def _run(capsys, argv: list[str]) -> Path:
    assert main(["run", "--no_progress", *argv]) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def _merge(capsys, dirs, *extra: str | Path) -> Path:
    assert main(["merge", *map(str, dirs), *map(str, extra)]) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def _weights(results: Path) -> Path:
    return load_run(results).paths.weights


def _assert_same_results(whole: Path, merged: Path) -> None:
    """Every result and agent file of ``merged`` is ``whole``'s, bit for bit."""
    for name in ("evaluations.csv", "all_forks_results.json"):
        assert filecmp.cmp(whole / name, merged / name, shallow=False), name
    forks = sorted(p.name for p in (whole / "forks").iterdir())
    assert forks == sorted(p.name for p in (merged / "forks").iterdir())
    for name in forks:
        if name.endswith(".json"):
            assert filecmp.cmp(whole / "forks" / name, merged / "forks" / name, shallow=False)
        else:
            with np.load(whole / "forks" / name) as a, np.load(merged / "forks" / name) as b:
                assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    agents = sorted(p.name for p in _weights(whole).iterdir())
    assert agents == sorted(p.name for p in _weights(merged).iterdir())
    for name in agents:
        assert filecmp.cmp(_weights(whole) / name, _weights(merged) / name, shallow=False), name
    members = lambda d: sorted(p.name for p in (d / "tensorboard").iterdir())  # noqa: E731
    assert members(whole) == members(merged)


# -- a fork is a function of its step, not of its place in the schedule -----------------------


def test_a_forks_children_and_results_do_not_depend_on_the_other_forks(tiny_forking_runs):
    three = tiny_forking_runs()  # forks at 0.3, 0.5 and 0.7
    alone = tiny_forking_runs(fork_points="0.5")
    for child in (1, 2):  # fork 0.5 is fork 2 of one run and fork 1 of the other
        a = load_agent_state(_weights(three) / child_weights_name(child, 2))[0].state_dict()
        b = load_agent_state(_weights(alone) / child_weights_name(child, 1))[0].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    result = json.loads((three / "forks" / "instability_2.json").read_text())
    same = json.loads((alone / "forks" / "instability_1.json").read_text())
    assert result.pop("fork_id") == 2 and same.pop("fork_id") == 1
    assert result.pop("returns_file") == "returns_2.npz" and same.pop("returns_file")
    assert result == same
    with (
        np.load(three / "forks" / "returns_2.npz") as a,
        np.load(alone / "forks/returns_1.npz") as b,
    ):
        assert np.array_equal(a["pair_returns"], b["pair_returns"])


# -- pieces merged equal the whole run ---------------------------------------------------------


@pytest.mark.parametrize("algo, strategy, children", [("SAC", "copy", "2"), ("TD3", "split", "3")])
def test_pieces_merged_are_the_whole_run_bit_for_bit(
    tmp_path, tiny_forking_runs, capsys, algo, strategy, children
):
    settings = {"algo": algo, "fork_buffer_strategy": strategy, "children": children}
    whole = tiny_forking_runs(**settings)
    piece = {ids: tiny_forking_runs(**settings, forks=ids) for ids in ("1", "2", "3", "1,3")}
    record = json.loads((piece["2"] / "config.json").read_text())
    assert record["piece"]["forks"] == [2] and record["piece"]["parent_until"] == 150
    assert not (_weights(piece["2"]) / "final.pt").exists()  # its parent stopped at its fork
    every_fork_alone = _merge(
        capsys, [piece["1"], piece["2"], piece["3"]], "--out", tmp_path / "m1"
    )
    two_pieces = _merge(capsys, [piece["2"], piece["1,3"]], "--out", tmp_path / "m2" / "results")
    _assert_same_results(whole, every_fork_alone)
    _assert_same_results(whole, two_pieces)
    assert (two_pieces / "fork_analysis" / "report.md").is_file()


# -- merge refuses what does not join ------------------------------------------------------------


@pytest.fixture
def pieces(tiny_forking_runs):
    """Pieces {1}, {2} and {1,3} of the tiny run (fork 3 is the last: {1,3} has the parent)."""
    return {ids: tiny_forking_runs(forks=ids) for ids in ("1", "2", "1,3")}


def _copy_with(piece: Path, to: Path, **record_changes) -> Path:
    """A copy of a piece's results folder whose config.json says something else."""
    shutil.copytree(piece, to)
    record = json.loads((to / "config.json").read_text())
    for key, value in record_changes.items():
        if key == "seed":
            record["config"]["seed"] = value
        else:
            record[key] = value
    (to / "config.json").write_text(json.dumps(record))
    return to


@pytest.mark.parametrize(
    "case, message",
    [
        ("other_run", "another run"),
        ("overlap", "fork 1 is in two pieces"),
        ("training", "still running"),
        ("missing", "fork(s) 3 of the run are in no piece"),
    ],
)
def test_merge_refuses_with_one_line_and_writes_nothing(pieces, tmp_path, capsys, case, message):
    piece = pieces
    dirs = {
        "other_run": lambda: [piece["2"], _copy_with(piece["1,3"], tmp_path / "c", seed=4)],
        "overlap": lambda: [piece["1"], piece["2"], piece["1,3"]],
        "training": lambda: [
            piece["2"],
            _copy_with(piece["1,3"], tmp_path / "c", status="running"),
        ],
        "missing": lambda: [piece["1"], piece["2"]],
    }[case]()
    out = tmp_path / "merged"
    assert main(["merge", *map(str, dirs), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists() and not (tmp_path / "model_weights").exists()


def test_a_partial_merge_says_which_forks_are_missing(pieces, tmp_path, capsys):
    piece = pieces
    merged = _merge(capsys, [piece["1"], piece["2"]], "--partial", "--out", tmp_path / "m")
    record = json.loads((merged / "config.json").read_text())
    assert record["missing_forks"] == [3] and record["status"] == "finished"
    report = (merged / "fork_analysis" / "report.md").read_text()
    assert "missing forks (a partial merge) | 3" in report
    assert sorted(p.name for p in (merged / "forks").glob("instability_*")) == [
        "instability_1.json",
        "instability_2.json",
    ]


# -- the split, and --pieces ---------------------------------------------------------------------


def test_the_split_balances_cost_and_an_early_fork_costs_more():
    config = build_config({"seed": 1})  # the default experiment: ten forks
    split = split_forks(config, 2)
    assert sorted(i for ids in split for i in ids) == list(range(1, 11))
    costs = [piece_cost(config, ids) for ids in split]
    assert max(costs) / min(costs) < 1.2
    assert piece_cost(config, [1]) > piece_cost(config, [9])
    assert len(split_forks(config, 20)) == 10  # at most one piece per fork


def test_pieces_2_equals_the_whole_run_and_a_rerun_resumes_only_what_is_unfinished(
    tmp_path, tiny_forking_runs, capsys
):
    whole = tiny_forking_runs()
    flags = [*tiny_forking_flags(), "--output_dir", str(tmp_path / "pieces")]
    merged = _run(capsys, [*flags, "--pieces", "2"])
    _assert_same_results(whole, merged)
    # a piece killed mid-training, and the merge lost: the same command computes only those
    pieces_home = merged.parent / f"{merged.name}_pieces"
    first, second = sorted(pieces_home.iterdir())
    record = json.loads((first / "config.json").read_text())
    record["status"] = "running"
    (first / "config.json").write_text(json.dumps(record))
    kept = (second / "config.json").stat().st_mtime_ns
    shutil.rmtree(_weights(merged))
    shutil.rmtree(merged)
    assert _run(capsys, [*flags, "--pieces", "2"]) == merged
    assert (second / "config.json").stat().st_mtime_ns == kept
    assert json.loads((first / "config.json").read_text())["status"] == "finished"
    _assert_same_results(whole, merged)


def test_pieces_on_ray_equal_the_whole_run(tmp_path, tiny_forking_runs, capsys):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'lmc-rl[ray]')")
    whole = tiny_forking_runs()
    flags = [*tiny_forking_flags(), "--output_dir", str(tmp_path / "pieces")]
    merged = _run(capsys, [*flags, "--backend", "ray", "--address", "local", "--pieces", "2"])
    _assert_same_results(whole, merged)


# -- a sweep whose cells are computed in pieces --------------------------------------------------


def _sweep(capsys, argv: list[str]) -> tuple[dict[int, Path], str]:
    """Run ``lmc-rl sweep`` (exit 0); each seed's run folder, and the sweep's stderr."""
    assert main(["sweep", "--no_progress", *argv]) == 0
    err = capsys.readouterr().err
    output_dir = Path(argv[argv.index("--output_dir") + 1])
    runs = {}
    for config_file in output_dir.glob("results/*/*/*/seed_*/config.json"):
        runs[json.loads(config_file.read_text())["config"]["seed"]] = config_file.parent
    return runs, err


def test_a_sweep_in_pieces_writes_each_cells_run_bit_for_bit_and_a_rerun_resumes_only_what_is_left(
    tmp_path, capsys
):
    flags = tiny_forking_flags(
        seed="1,2", total_steps="200", learning_starts="50", fork_points="0.3,0.6"
    )
    whole, _ = _sweep(capsys, [*flags, "--workers", "1", "--output_dir", str(tmp_path / "whole")])
    in_pieces = [*flags, "--workers", "2", "--pieces", "2", "--output_dir", str(tmp_path / "p")]
    merged, err = _sweep(capsys, in_pieces)
    assert "2 to compute in pieces (4 of their 4 pieces left)" in err
    assert sorted(merged) == sorted(whole) == [1, 2]
    for seed, run in merged.items():
        assert load_run(run).finished and run.name.startswith(f"seed_{seed}_run")
        _assert_same_results(whole[seed], run)
    # seed 1: a piece killed mid-training and its merge lost; seed 2: its merge killed
    first, second = sorted((merged[1].parent / f"{merged[1].name}_pieces").iterdir())
    record = json.loads((first / "config.json").read_text())
    (first / "config.json").write_text(json.dumps({**record, "status": "running"}))
    kept = (second / "config.json").stat().st_mtime_ns
    shutil.rmtree(_weights(merged[1]))
    shutil.rmtree(merged[1])
    record = json.loads((merged[2] / "config.json").read_text())
    (merged[2] / "config.json").write_text(json.dumps({**record, "status": "trained"}))
    again, err = _sweep(capsys, in_pieces)
    assert "2 to compute in pieces (1 of their 4 pieces left)" in err
    assert "2 finished, 0 skipped, 0 failed" in err
    assert again == merged
    assert (second / "config.json").stat().st_mtime_ns == kept
    for seed, run in again.items():
        _assert_same_results(whole[seed], run)
    _, err = _sweep(capsys, in_pieces)
    assert "0 finished, 2 skipped, 0 failed" in err


@pytest.mark.parametrize(
    "changes, pieces, message",
    [
        ({}, "0", "--pieces: must be >= 1, got 0"),
        ({}, "two", "--pieces: expected an integer, got 'two'"),
        ({"fork_points": "0.5|none"}, "2", "has no fork points to share out"),
        ({"forks": "1"}, "2", "without --forks"),
    ],
)
def test_a_sweep_refuses_pieces_it_cannot_make_with_one_line_and_writes_nothing(
    tmp_path, capsys, changes, pieces, message
):
    flags = tiny_forking_flags(seed="1,2", output_dir=str(tmp_path / "out"), **changes)
    assert main(["sweep", "--no_progress", *flags, "--pieces", pieces]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()
