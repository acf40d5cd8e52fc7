"""What a new user tripped over (issue 39): each cut as the user met it, on the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lmc_rl.cli import main
from lmc_rl.config.run_config import build_config
from lmc_rl.experiment.phases import run_experiment
from lmc_rl.records.layout import RESULTS_FOLDER, WEIGHTS_FOLDER, RunPaths
from lmc_rl.training.run_files import load_agent

TINY = {
    "env": "InvertedPendulum-v5",
    "total_steps": "400",
    "learning_starts": "100",
    "eval_freq": "200",
    "num_eval_episodes_periodic": "2",
    "max_episode_steps": "50",
    "hidden_dims": "16,16",
    "batch_size": "16",
    "alpha_points": "3",
    "num_eval_episodes": "2",
    "eval_workers": "1",
    "threads": "1",
}
QUICK_EVAL = ["--alpha_points", "3", "--num_eval_episodes", "2", "--eval_workers", "1"]


@pytest.fixture(scope="module")
def forked_run(tmp_path_factory) -> RunPaths:
    """A tiny finished run with two forks of two children."""
    out = tmp_path_factory.mktemp("first_contact")
    flags = {**TINY, "fork_points": "0.25,0.5", "seed": "3", "output_dir": str(out)}
    return run_experiment(build_config(flags), progress=False)


def _copy_run(paths: RunPaths, root: Path) -> RunPaths:
    """The run's two folders copied under ``root`` (the layout's results/ and model_weights/)."""
    parts = paths.results.parts
    tail = Path(*parts[parts.index(RESULTS_FOLDER) + 1 :])
    copy = RunPaths(root / RESULTS_FOLDER / tail, root / WEIGHTS_FOLDER / tail)
    shutil.copytree(paths.results, copy.results)
    shutil.copytree(paths.weights, copy.weights)
    return copy


def test_a_childs_agent_file_is_named_after_its_member(forked_run):
    names = {p.name for p in forked_run.weights.glob("fork*_child*.pt")}
    assert names == {f"fork{f}_child{c}.pt" for f in (1, 2) for c in (1, 2)}
    for name in names:
        assert load_agent(forked_run.weights / name).info["member"] == name.removesuffix(".pt")


def test_a_run_with_the_old_agent_file_names_still_evaluates(forked_run, tmp_path, capsys):
    old = _copy_run(forked_run, tmp_path)
    for fork_id in (1, 2):
        for child in (1, 2):
            new = old.weights / f"fork{fork_id}_child{child}.pt"
            if new.exists():  # today's code wrote the old names already
                new.rename(old.weights / f"fork{child}_{fork_id}.pt")
    assert old.child_weights(2, 1).name == "fork2_1.pt"
    out = tmp_path / "evaluation"
    code = main(["evaluate", "--results_dir", str(old.results), "--out", str(out), *QUICK_EVAL])
    assert code == 0, capsys.readouterr().err
    with (
        np.load(out / "returns_1.npz") as again,
        np.load(forked_run.returns_file(1)) as first,
    ):
        assert np.array_equal(again["returns"], first["returns"])
    assert json.loads((out / "instability_2.json").read_text())["fork_id"] == 2


@pytest.mark.parametrize(
    "argv",
    [
        # the bad --env makes today's prefix-matched run stop at once, before any training
        ["run", "--total_step", "2000", "--env", "NoSuchEnv-v9"],
        ["sweep", "--seeds", "1", "--total_step", "2000", "--env", "NoSuchEnv-v9"],
        ["evaluate", "--results_dir", "x", "--alpha_point", "3"],
        ["connect", "a.pt", "b.pt", "--alpha_point", "3"],
    ],
)
def test_a_flag_prefix_is_not_taken_for_the_flag(tmp_path, capsys, argv):
    code = main(
        [*argv, "--output_dir", str(tmp_path / "out")] if argv[0] in ("run", "sweep") else argv
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    flag = next(a for a in argv if a in ("--total_step", "--alpha_point"))
    assert f"unrecognized arguments: {flag} (did you mean" in err
    assert not (tmp_path / "out").exists()


def test_the_did_you_mean_line_does_not_print_the_value_after_the_hint(capsys):
    assert main(["run", "--totl_steps", "2000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("(did you mean '--total_steps'?)")
    assert "2000" not in err


def test_connect_names_the_runs_members_and_steps_it_joins(forked_run, tmp_path, capsys):
    """The old names' trap: fork1_1.pt and fork1_2.pt are children of two different forks;
    connect says so, from the files' own records, and labels the path by member."""
    old = _copy_run(forked_run, tmp_path)
    for fork_id in (1, 2):
        (old.weights / f"fork{fork_id}_child1.pt").rename(old.weights / f"fork1_{fork_id}.pt")
    files = [str(old.weights / "fork1_1.pt"), str(old.weights / "fork1_2.pt")]
    out = tmp_path / "out"
    code = main(["connect", *files, "--out", str(out), "--max_episode_steps", "50", *QUICK_EVAL])
    err = capsys.readouterr().err
    assert code == 0, err
    run = "base/InvertedPendulum-v5/SAC/seed_3"
    assert f"A = fork1_child1 at step 400 of run {run}, file {files[0]}" in err
    assert f"B = fork2_child1 at step 400 of run {run}, file {files[1]}" in err
    path = json.loads((out / "path_none.json").read_text())
    assert (path["a_label"], path["b_label"]) == ("fork1_child1", "fork2_child1")


def test_an_out_that_is_a_file_is_one_line_and_exit_2_before_any_work(forked_run, tmp_path, capsys):
    taken = tmp_path / "taken.txt"
    taken.write_text("mine\n")
    run, weights = str(forked_run.results), forked_run.weights
    agents = [str(weights / "fork1_child1.pt"), str(weights / "fork1_child2.pt")]
    commands = [
        ["evaluate", "--results_dir", run, *QUICK_EVAL, "--no_progress", "--out", str(taken)],
        ["analyze", "--results_dir", run, "--out", str(taken)],
        ["connect", *agents, *QUICK_EVAL, "--no_progress", "--out", str(taken)],
        ["render", "--results_dir", run, "--fork", "1", "--out", str(taken / "video.gif")],
    ]
    before = sorted(p.name for p in forked_run.results.rglob("*"))
    for argv in commands:
        code = main(argv)
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, (argv[0], err)
        assert "--out" in err and "taken.txt" in err, err
    assert taken.read_text() == "mine\n"
    assert sorted(p.name for p in forked_run.results.rglob("*")) == before


@pytest.mark.parametrize("flag", ["--alpha_points", "--num_eval_episodes"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_evaluate_refuses_a_zero_or_negative_count_instead_of_the_runs_own(
    forked_run, tmp_path, capsys, flag, value
):
    out = tmp_path / "evaluation"
    argv = ["evaluate", "--results_dir", str(forked_run.results), "--out", str(out)]
    code = main([*argv, "--eval_workers", "1", "--no_progress", f"{flag}={value}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and flag in err and value in err
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "-3"])
def test_run_refuses_a_zero_or_negative_alpha_points(tmp_path, capsys, value):
    code = main(["run", "--output_dir", str(tmp_path / "out"), f"--alpha_points={value}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--alpha_points" in err
    assert not (tmp_path / "out").exists()


def _scalar_steps(folder: Path) -> list[tuple[str, str, int]]:
    """Every (member, tag, step) of every scalar in every event file of a run's TensorBoard."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    found = []
    for file in sorted(folder.glob("*/events.out.tfevents.*")):
        for event in EventFileLoader(str(file)).Load():
            for value in event.summary.value:
                found.append((file.parent.name, value.tag, event.step))
    return found


def test_ctrl_c_says_where_the_run_is_and_its_resume_command_which_works(
    tmp_path, capsys, monkeypatch
):
    """Interrupted after a checkpoint (step 900) and a TensorBoard flush (step 1000); the
    printed command resumes it, and TensorBoard then holds each step of each scalar once."""
    import shlex

    from lmc_rl.training.lockstep import Lockstep

    advance = Lockstep.advance

    def interrupted_at_1100(self):
        if self.lead.step == 1100 and not hasattr(self.lead, "resumed"):
            raise KeyboardInterrupt
        advance(self)

    monkeypatch.setattr(Lockstep, "advance", interrupted_at_1100)
    flags = {**TINY, "total_steps": "1200", "eval_freq": "100", "checkpoint_every": "300"}
    flags = {**flags, "fork_points": "none", "seed": "5", "output_dir": str(tmp_path)}
    argv = ["run", "--no_progress", *(a for k, v in flags.items() for a in (f"--{k}", v))]
    assert main(argv) == 130
    err = capsys.readouterr().err
    folder = next((tmp_path / "results").glob("*/*/*/seed_5_*")).resolve()
    assert f"the run is in {folder}" in err
    command = err.split("continue from the last checkpoint with: ")[1].splitlines()[0]
    assert command == f"lmc-rl run --resume {shlex.quote(str(folder))}"
    before = _scalar_steps(folder / "tensorboard")
    assert ("parent", "charts/eval_return", 1000) in before  # flushed after the checkpoint

    monkeypatch.setattr("lmc_rl.training.trainer.Trainer.resumed", True, raising=False)
    assert main(shlex.split(command)[1:] + ["--no_progress"]) == 0
    assert json.loads((folder / "config.json").read_text())["status"] == "finished"
    after = _scalar_steps(folder / "tensorboard")
    duplicates = sorted({s for s in after if after.count(s) > 1})
    assert duplicates == []
    evaluated = sorted(s for m, tag, s in after if tag == "charts/eval_return")
    assert evaluated == list(range(100, 1201, 100))


def test_an_agent_file_with_four_bytes_zeroed_is_one_clear_error(forked_run, tmp_path, capsys):
    import torch

    original = forked_run.weights / "fork1_child1.pt"
    data = bytearray(original.read_bytes())
    state = torch.load(original, weights_only=True)["state_dict"]
    largest = max(state.values(), key=lambda t: t.numel()).contiguous().numpy().tobytes()
    at = data.index(largest) + len(largest) // 2  # inside a weight matrix's bytes
    assert data[at : at + 4] != bytearray(4)
    data[at : at + 4] = bytes(4)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(bytes(data))
    other = str(forked_run.weights / "fork1_child2.pt")
    code = main(["connect", str(broken), other, "--out", str(tmp_path / "out"), *QUICK_EVAL])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "broken.pt is corrupted" in err and "SHA-256" in err
    assert not (tmp_path / "out").exists()


def test_an_agent_file_without_a_checksum_still_loads_with_a_note(forked_run, tmp_path, capsys):
    import torch

    payload = torch.load(forked_run.weights / "fork1_child1.pt", weights_only=True)
    assert payload.pop("sha256", None) is not None
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    policy = load_agent(old)
    assert policy.info["member"] == "fork1_child1"
    err = capsys.readouterr().err
    assert "old.pt carries no checksum" in err and len(err.strip().splitlines()) == 1


def test_check_takes_threads_and_trains_each_algorithms_seeds_together(tmp_path, capsys):
    argv = ["check", "--total_steps", "150", "--seeds", "1,2", "--algos", "DDPG"]
    argv += ["--threads", "1", "--output_dir", str(tmp_path), "--no_progress"]
    assert main(argv) == 0
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]).is_file()
    runs = sorted((tmp_path / "results" / "check_run").glob("*/DDPG/seed_*/config.json"))
    assert len(runs) == 2
    for run in runs:
        record = json.loads(run.read_text())
        assert record["torch_threads"] == 1 and record["config"]["threads"] == 1
        assert record["trained_with_seeds"] == [1, 2]


def test_connect_without_out_writes_into_the_first_runs_results_not_the_cwd(
    forked_run, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    files = [str(forked_run.weights / f"fork1_child{c}.pt") for c in (1, 2)]
    assert main(["connect", *files, "--max_episode_steps", "50", *QUICK_EVAL]) == 0
    folder = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert folder.parent == forked_run.results.resolve() / "connect"
    assert folder.name.startswith("fork1_child1_fork1_child2_")
    assert not (tmp_path / "connect").exists()


def test_numbers_read_alike_in_reports_and_messages():
    from lmc_rl.records.number_text import counted, estimate_with_interval, yes_no

    assert estimate_with_interval(-4.8, [-8.073, 3.916]) == "-4.8 [-8.1, 3.9]"
    assert estimate_with_interval(0.0123, [0.0001, 0.0501]) == "0.0123 [0.0001, 0.0501]"
    assert estimate_with_interval(None, None) == "– [–]"
    assert (counted(1, "pair"), counted(2, "pair"), counted(1, "thread")) == (
        "1 pair",
        "2 pairs",
        "1 thread",
    )
    assert (yes_no(True), yes_no(False), yes_no(None)) == ("yes", "no", "–")


def test_the_runs_report_and_figures_say_what_they_show(forked_run):
    """No "child 3+" with two children; the barrier markers have a legend entry; the report's
    estimate and interval share their decimals and a flag reads yes/no."""
    from lmc_rl.analysis.loading import read_run
    from lmc_rl.analysis.plots import overview_figure

    run = read_run(forked_run.results)
    figure = overview_figure(run)
    legends = [*figure.legends, *(g for sub in figure.subfigs for g in sub.legends)]
    legends += [ax.get_legend() for ax in figure.get_axes() if ax.get_legend()]
    labels = [t.get_text() for legend in legends for t in legend.get_texts()]
    assert "child 2" in labels and "child 3+" not in labels
    assert any(label.startswith("linear barrier, 95% CI") for label in labels)
    report = (forked_run.analysis_dir / "report.md").read_text()
    fork = run.fork_results[0]
    shown = estimate_with_interval_of(fork)
    assert shown in report
    assert "| True |" not in report and "| False |" not in report


def estimate_with_interval_of(fork) -> str:
    from lmc_rl.records.number_text import estimate_with_interval

    return estimate_with_interval(fork.linear_barrier_crossfit, fork.linear_barrier_ci)


def _wandb_records(run_file: Path) -> list:
    """The records of an offline W&B run's transaction log (``run-*.wandb``: a 7-byte header,
    then LevelDB-log blocks of 32 KiB whose chunks hold ``wandb_internal_pb2.Record``s)."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, block, pos, records, pending = run_file.read_bytes(), 32768, 7, [], b""
    while pos < len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if length == 0 and kind == 0:  # the padding at a block's end
            pos += left
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            records.append(wandb_internal_pb2.Record.FromString(pending))
            pending = b""
    return records


def test_track_sends_every_members_scalars_config_verdicts_and_figures_to_wandb(
    tmp_path, capsys, monkeypatch
):
    pytest.importorskip("wandb", reason="the optional extra lmc-rl[wandb] is not installed")
    import csv

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    flags = {**TINY, "fork_points": "0.5", "seed": "4", "output_dir": str(tmp_path / "out")}
    argv = ["run", "--no_progress", "--track", "--wandb_project", "lmc-rl-test"]
    assert main([*argv, *(a for k, v in flags.items() for a in (f"--{k}", v))]) == 0
    results = Path(capsys.readouterr().out.strip().splitlines()[-1])
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    (run_file,) = run_dir.glob("run-*.wandb")
    records = _wandb_records(run_file)
    logged: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        items = {i.key or "/".join(i.nested_key): i.value_json for i in record.history.item}
        for key, value in items.items():
            if "env_step" in items and not key.startswith("_") and key != "env_step":
                logged.setdefault(key, []).append((int(items["env_step"]), value))
    with (results / "evaluations.csv").open() as f:
        rows = list(csv.DictReader(f))
    for member in ("parent", "fork1_child1", "fork1_child2"):
        expected = [
            (int(r["step"]), float(r["mean_return"])) for r in rows if r["member"] == member
        ]
        got = [(step, float(v)) for step, v in logged[f"{member}/charts/eval_return"]]
        assert got == expected
        assert any(key.startswith(f"{member}/losses/") for key in logged)
    (run_record,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    config = {i.key: i.value_json for i in run_record.config.update}
    assert config["env"] == '"InvertedPendulum-v5"' and config["fork_points"] == "[0.5]"
    (table,) = (run_dir / "files" / "media" / "table").glob("verdicts_*.table.json")
    verdicts = json.loads(table.read_text())
    forks = json.loads((results / "all_forks_results.json").read_text())["forks"]
    assert [row[-1] for row in verdicts["data"]] == [fork["verdict"] for fork in forks]
    figures = {p.name.split("_")[0] for p in (run_dir / "files" / "media").rglob("*.png")}
    assert {"overview", "interp", "instability", "all"} <= figures


def test_the_sweep_comparisons_legend_leaves_its_title_clear(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from test_analysis import write_fake_run

    from lmc_rl.analysis import aggregate_instability, load_runs
    from lmc_rl.analysis.plots import strategy_comparison_figure

    for seed in (1, 2):
        write_fake_run(tmp_path / "r", seed=seed, instabilities={0.3: 1.0, 0.6: 0.5})
    forks = load_runs([tmp_path / "r"]).forks
    figure = strategy_comparison_figure(aggregate_instability(forks), forks, "Pendulum-v5", "SAC")
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    title = figure._suptitle.get_window_extent(renderer)
    (legend,) = figure.legends
    assert not legend.get_window_extent(renderer).overlaps(title)


def test_a_failure_rate_of_one_is_drawn_clear_of_the_frame(forked_run):
    from lmc_rl.analysis.loading import read_run
    from lmc_rl.analysis.plots import interpolation_figure

    run = read_run(forked_run.results)
    figure = interpolation_figure(run, run.fork_results[0])
    (rate_ax,) = [ax for ax in figure.get_axes() if ax.get_ylabel().startswith("failure rate")]
    low, high = rate_ax.get_ylim()
    assert high >= 1.05 and low <= -0.03  # a line at 1.0 (or 0) is not hidden by the frame
