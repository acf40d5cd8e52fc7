"""`lmc-rl sweep`: a grid of ordinary runs, the same on every backend, resumable, and honest about
failures."""

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lmc_rl.config.errors import UserError
from lmc_rl.records.run_record import load_run
from lmc_rl.sweep import (
    add_sweep_parser,
    axes_from_flags,
    axes_from_yaml,
    expand_grid,
    sweep_command,
)

TINY = {
    "env": "InvertedPendulum-v5",
    "total_steps": "400",
    "learning_starts": "100",
    "eval_freq": "200",
    "num_eval_episodes_periodic": "1",
    "max_episode_steps": "50",
    "hidden_dims": "16,16",
    "batch_size": "16",
    "fork_points": "0.5",
    "alpha_points": "3",
    "num_eval_episodes": "2",
    "checkpoint_every": "none",
    "eval_workers": "1",
}
GRID = ["--seeds", "1,2", "--fork_buffer_strategy", "copy,split"]


class _StrictParser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


def sweep(*argv: str, output_dir: Path) -> int:
    """What `lmc-rl sweep ...` returns as its exit status (as cli.main wires it)."""
    parser = argparse.ArgumentParser(prog="lmc-rl")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_StrictParser)
    add_sweep_parser(commands)
    flags = [item for key, value in TINY.items() for item in (f"--{key}", value)]
    try:
        args = parser.parse_args(
            ["sweep", *flags, "--output_dir", str(output_dir), "--no_progress", *argv]
        )
        return sweep_command(args)
    except UserError as err:
        print(f"lmc-rl: error: {err}", file=sys.stderr)
        return 2


def runs_by_cell(output_dir: Path) -> dict[tuple[int, str], Path]:
    """(seed, buffer strategy) -> results directory, for every run under output_dir."""
    found = {}
    for config_file in (output_dir / "results").glob("*/*/*/seed_*/config.json"):
        config = json.loads(config_file.read_text())["config"]
        key = (config["seed"], config["fork_buffer_strategy"])
        assert key not in found, f"two runs of {key}"
        found[key] = config_file.parent
    return found


def run_captured(*argv: str, output_dir: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = sweep(*argv, output_dir=output_dir)
    return code, out.getvalue().splitlines()


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The 2 seeds x 2 strategies grid on a local pool of two processes."""
    output_dir = tmp_path_factory.mktemp("local")
    code, stdout = run_captured(*GRID, "--workers", "2", output_dir=output_dir)
    return output_dir, code, stdout


def test_local_sweep_runs_every_cell_logs_it_and_compares_them(local_sweep):
    output_dir, code, stdout = local_sweep
    assert code == 0
    runs = runs_by_cell(output_dir)
    assert sorted(runs) == [(1, "copy"), (1, "split"), (2, "copy"), (2, "split")]
    assert all(load_run(path).finished for path in runs.values())
    assert all(load_run(path).config.eval_workers == 1 for path in runs.values())
    # two experiments for two workers: each trained its seeds as one population
    assert all(load_run(path).record["trained_with_seeds"] == [1, 2] for path in runs.values())
    experiment = output_dir / "results" / "base"
    logs = sorted(p.name for p in (experiment / "sweep_logs").iterdir())
    assert logs == [
        f"InvertedPendulum-v5_SAC_seeds1+2_{strategy}_noise-all.log"
        for strategy in ("copy", "split")
    ]
    comparison = experiment / "comparison"
    assert stdout[-1] == str(comparison)
    aggregate = (comparison / "aggregate.csv").read_text()
    assert "copy" in aggregate and "split" in aggregate


@pytest.fixture(scope="module")
def ray_installed():
    """Skips the test (before the fixtures after it run) where Ray is not installed."""
    return pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'lmc-rl[ray]'")


def test_ray_backend_gives_the_same_results_as_local(ray_installed, local_sweep, tmp_path):
    local_dir, _, _ = local_sweep
    code, stdout = run_captured(
        *GRID, "--backend", "ray", "--address", "local", "--workers", "2", output_dir=tmp_path
    )
    assert code == 0
    assert stdout[-1] == str(tmp_path / "results" / "base" / "comparison")
    local, ray = runs_by_cell(local_dir), runs_by_cell(tmp_path)
    assert sorted(ray) == sorted(local)
    for cell, local_run in local.items():
        ray_run = ray[cell]
        assert (ray_run / "evaluations.csv").read_text() == (
            local_run / "evaluations.csv"
        ).read_text()
        local_forks = sorted(p.name for p in (local_run / "forks").glob("instability_*.json"))
        assert local_forks == ["instability_1.json"]
        for name in local_forks:
            assert json.loads((ray_run / "forks" / name).read_text()) == json.loads(
                (local_run / "forks" / name).read_text()
            )


def test_rerun_skips_finished_runs_and_resumes_an_unfinished_one(tmp_path, monkeypatch, capsys):
    grid = ["--seeds", "1", "--fork_buffer_strategy", "copy,fresh", "--workers", "1"]
    assert sweep(*grid, output_dir=tmp_path) == 0
    runs = runs_by_cell(tmp_path)
    unfinished = runs[(1, "fresh")]
    record = json.loads((unfinished / "config.json").read_text())
    (unfinished / "config.json").write_text(json.dumps({**record, "status": "trained"}))
    for path in (unfinished / "fork_analysis").iterdir():
        path.unlink()
    (unfinished / "fork_analysis").rmdir()
    capsys.readouterr()

    from lmc_rl.experiment import phases as experiment

    def no_new_runs(*args, **kwargs):
        raise AssertionError("a sweep run again must not start its runs again")

    monkeypatch.setattr(experiment, "run_experiment", no_new_runs)
    assert sweep(*grid, output_dir=tmp_path) == 0
    assert "1 finished, 1 skipped, 0 failed" in capsys.readouterr().err
    assert runs_by_cell(tmp_path) == runs
    assert load_run(unfinished).finished
    assert (unfinished / "fork_analysis" / "report.md").is_file()

    monkeypatch.setattr(experiment, "resume_experiment", no_new_runs)
    assert sweep(*grid, output_dir=tmp_path) == 0
    assert "0 finished, 2 skipped, 0 failed" in capsys.readouterr().err


def test_rerun_resumes_a_run_killed_during_training_and_ends_as_if_never_killed(
    local_sweep, tmp_path, capsys
):
    """A sweep killed (SIGKILL, its whole process group) after its run's first checkpoint; run
    again, it resumes that run from the checkpoint, and the run ends as the uninterrupted
    sweep's run of the same cell."""
    flags = {**TINY, "checkpoint_every": "50"}
    grid = ["--seeds", "1", "--fork_buffer_strategy", "copy", "--workers", "1"]
    argv = [item for key, value in flags.items() for item in (f"--{key}", value)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmc_rl", "sweep", *argv, *grid, "--no_progress"]
        + ["--output_dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoints = tmp_path / "results"
    while proc.poll() is None and not any(checkpoints.glob("*/*/*/seed_*/checkpoint.pkl")):
        time.sleep(0.01)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (killed,) = runs_by_cell(tmp_path).values()
    assert json.loads((killed / "config.json").read_text())["status"] == "running"

    capsys.readouterr()
    assert sweep(*grid, "--checkpoint_every", "50", output_dir=tmp_path) == 0
    assert "1 finished, 0 skipped, 0 failed" in capsys.readouterr().err
    assert runs_by_cell(tmp_path) == {(1, "copy"): killed}
    (log,) = (tmp_path / "results" / "base" / "sweep_logs").iterdir()
    assert "resuming training at step" in log.read_text()
    reference = runs_by_cell(local_sweep[0])[(1, "copy")]
    for name in ("evaluations.csv", "forks/instability_1.json"):
        assert (killed / name).read_text() == (reference / name).read_text(), name


def test_a_failing_cell_is_reported_and_the_others_finish(tmp_path, monkeypatch, capsys):
    from lmc_rl.experiment import phases as experiment

    real_run_experiment = experiment.run_experiment

    def fails_for_seed_2(config, progress=True):
        if config.seed == 2:
            raise RuntimeError("simulated crash")
        return real_run_experiment(config, progress)

    monkeypatch.setattr(experiment, "run_experiment", fails_for_seed_2)
    code = sweep("--seeds", "1,2", "--workers", "1", "--separate_seeds", output_dir=tmp_path)
    captured = capsys.readouterr()
    assert code == 1
    log = tmp_path / "results/base/sweep_logs/InvertedPendulum-v5_SAC_seed2_copy_noise-all.log"
    failure = next(line for line in captured.err.splitlines() if "failed:" in line)
    assert "seed2" in failure and "simulated crash" in failure and str(log) in failure
    assert "RuntimeError: simulated crash" in log.read_text()  # the traceback is in its log
    assert "1 finished, 0 skipped, 1 failed" in captured.err
    assert [key for key in runs_by_cell(tmp_path)] == [(1, "copy")]
    assert load_run(runs_by_cell(tmp_path)[(1, "copy")]).finished
    assert captured.out.splitlines()[-1] == str(tmp_path / "results" / "base" / "comparison")


def seeds_of_tasks(argv: list[str], slots: int | None, tmp_path: Path) -> list[list[int]]:
    from lmc_rl.sweep.command import _plan

    axes = axes_from_flags({**TINY, "output_dir": str(tmp_path)})
    axes.update(axes_from_flags(dict(zip(argv[::2], argv[1::2], strict=True))))
    _, tasks = _plan(expand_grid(axes), tmp_path / "logs", isolated=True, slots=slots)
    return [[cell.config.seed for cell in task.cells] for task in tasks]


def test_seeds_of_one_experiment_become_populations_enough_to_fill_the_workers(tmp_path):
    five = ["seed", "1,2,3,4,5"]
    assert seeds_of_tasks(five, 1, tmp_path) == [[1, 2, 3, 4, 5]]
    assert seeds_of_tasks(five, 2, tmp_path) == [[1, 2, 3], [4, 5]]
    assert seeds_of_tasks(five, 8, tmp_path) == [[1], [2], [3], [4], [5]]
    assert seeds_of_tasks(five, None, tmp_path) == [[1], [2], [3], [4], [5]]
    two_experiments = ["seed", "1,2,3", "fork_buffer_strategy", "copy,fresh"]
    assert seeds_of_tasks(two_experiments, 2, tmp_path) == [[1, 2, 3], [1, 2, 3]]
    assert seeds_of_tasks(two_experiments, 4, tmp_path) == [[1, 2], [3], [1, 2], [3]]
    # three experiments on four workers: one free slot, for one group only (no second round)
    three = ["seed", "1,2,3", "fork_buffer_strategy", "copy,fresh,split"]
    assert seeds_of_tasks(three, 4, tmp_path) == [[1, 2], [3], [1, 2, 3], [1, 2, 3]]


def test_seeds_trained_as_a_population_give_the_runs_each_seed_gives_alone(tmp_path):
    grid = ["--seeds", "1,2", "--workers", "1"]
    assert sweep(*grid, output_dir=tmp_path / "together") == 0
    assert sweep(*grid, "--separate_seeds", output_dir=tmp_path / "apart") == 0
    together, apart = runs_by_cell(tmp_path / "together"), runs_by_cell(tmp_path / "apart")
    assert sorted(together) == sorted(apart) == [(1, "copy"), (2, "copy")]
    for cell, run in together.items():
        assert load_run(run).record["trained_with_seeds"] == [1, 2]
        assert "trained_with_seeds" not in load_run(apart[cell]).record
        for name in ("evaluations.csv", "forks/instability_1.json"):
            assert (run / name).read_bytes() == (apart[cell] / name).read_bytes(), name
        for name in ("forks/returns_1.npz", "forks/critic_transitions_1.npz"):
            ours, theirs = np.load(run / name), np.load(apart[cell] / name)
            assert all(np.array_equal(ours[k], theirs[k]) for k in ours.files), name


BAD_GRIDS = [
    (["--seeds", "1,2", "--algo", "SAC,PPO"], "PPO"),
    (["--seeds", "1", "--fork_noise", "all|bogus"], "bogus"),
    (["--seeds", "1", "--fork_buffer_strategy", "copy,mirror"], "mirror"),
    (["--fork_buffer_strategy", "copy"], "--seeds"),
    (["--seeds", "1,1"], "twice"),
    (["--seeds", "1", "--fork_noise", "all|env,action,batch"], "same run"),
    (["--seeds", "1", "--experiment_name", "a|b"], "experiment_name"),
    (["--seeds", "1", "--workers", "0"], "workers"),
    (["--seeds", "1", "--backend", "slurm"], "slurm"),
]


@pytest.mark.parametrize("argv, named", BAD_GRIDS)
def test_a_bad_grid_is_one_line_exit_2_and_creates_nothing(tmp_path, capsys, argv, named):
    output_dir = tmp_path / "out"
    assert sweep(*argv, output_dir=output_dir) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err
    assert not output_dir.exists()


def test_ray_backend_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    assert sweep("--seeds", "1", "--backend", "ray", output_dir=tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'lmc-rl[ray]'" in err
    assert not (tmp_path / "out").exists()


def test_grid_values_from_flags_and_a_yaml_file(tmp_path):
    axes = axes_from_flags(
        {"env": "InvertedPendulum-v5", "seed": "1, 2", "fork_noise": "all|env,action"}
    )
    assert axes["seed"] == ["1", "2"] and axes["fork_noise"] == ["all", "env,action"]
    assert axes_from_flags({"hidden_dims": "16,16|32"})["hidden_dims"] == ["16,16", "32"]

    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "env: InvertedPendulum-v5\n"
        "seeds: [1, 2]\n"
        "fork_points: [[0.25], [0.25, 0.5]]\n"
        "hidden_dims: [16, 16]\n"
        "fork_noise: [all, [env, action]]\n"
        "fork_buffer_strategy: [copy, split]\n"
    )
    axes = axes_from_yaml(grid)
    axes.update(axes_from_flags({"fork_buffer_strategy": "fresh", "total_steps": "400"}))
    cells = expand_grid(axes)
    assert len(cells) == 2 * 2 * 2  # seeds x fork_points x fork_noise; the flag fixed strategy
    assert {c.config.hidden_dims for c in cells} == {(16, 16)}
    assert {c.config.fork_points for c in cells} == {(0.25,), (0.25, 0.5)}
    assert {str(c.config.fork_noise) for c in cells} == {"env,action,batch", "env,action"}
    assert {c.config.fork_buffer_strategy for c in cells} == {"fresh"}
    assert len({c.name for c in cells}) == len(cells)
    assert any(c.name.endswith("_fork_points-0.25-0.5") for c in cells)


def test_a_bad_grid_file_is_a_user_error(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("seeds: [1]\nno_such_key: [1, 2]\n")
    with pytest.raises(UserError, match="no_such_key"):
        axes_from_yaml(grid)
    grid.write_text("seeds: []\n")
    with pytest.raises(UserError, match="empty"):
        axes_from_yaml(grid)


def test_ray_backend_by_default_connects_as_ray_init_does(monkeypatch):
    """No --address: ray.init() without an address (a running cluster, else a local one)."""
    import types

    from lmc_rl.cli import build_parser
    from lmc_rl.sweep import backends

    args = build_parser().parse_args(["sweep", "--seeds", "1", "--backend", "ray"])
    assert args.address is None
    calls = []
    fake = types.SimpleNamespace(
        is_initialized=lambda: False,
        init=lambda **kwargs: calls.append(kwargs),
        shutdown=lambda: calls.append("shutdown"),
    )
    monkeypatch.setattr(backends, "import_ray", lambda: fake)
    with backends.ray_session(args.address, None):
        pass
    assert "address" not in calls[0] and "num_cpus" not in calls[0]
    assert calls[1] == "shutdown"
