"""Crash safety: a run killed at any moment and resumed ends exactly as an uninterrupted one."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lmc_rl.cli import main
from lmc_rl.config.run_config import build_config
from lmc_rl.experiment.phases import run_experiment
from lmc_rl.measuring.instability import MEMBERS_PER_CHUNK
from lmc_rl.training.lockstep import Lockstep
from lmc_rl.training.run_files import load_agent_state
from lmc_rl.training.trainer import Trainer

RUN_FLAGS = {
    "env": "InvertedPendulum-v5",
    "total_steps": "1200",
    "learning_starts": "200",
    "eval_freq": "300",
    "num_eval_episodes_periodic": "2",
    "max_episode_steps": "150",
    "hidden_dims": "32,32",
    "batch_size": "32",
    "fork_points": "0.3,0.6",
    "seed": "11",
    "alpha_points": "7",
    "num_eval_episodes": "6",
    "eval_workers": "1",
    "checkpoint_every": "100",
}


def _argv(flags):
    return [arg for key, value in flags.items() for arg in (f"--{key}", value)]


def _start(args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lmc_rl", "run", "--no_progress", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _results_dir(root: Path) -> Path:
    found = list((root / "results").glob("*/*/*/seed_*"))
    return found[0] if found else None


def _status(results: Path):
    try:
        return json.loads((results / "config.json").read_text())["status"]
    except (OSError, ValueError, TypeError):
        return None


def _kill_when(proc, condition, delay, timeout=120):
    """SIGKILL the process a little after ``condition()`` first holds (or let it finish)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not condition():
        time.sleep(0.01)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def _result_files(root: Path) -> dict:
    """Every result a user reads, in comparable form (paths and wall times left out)."""
    results = _results_dir(root)
    weights = root / "model_weights" / results.relative_to(root / "results")
    out = {"evaluations.csv": (results / "evaluations.csv").read_text()}
    record = json.loads((results / "config.json").read_text())
    out["config.json"] = {k: record[k] for k in ("config", "members", "status", "diverged")}
    out["config.json"]["config"].pop("output_dir")
    for path in sorted((results / "forks").glob("*.json")):
        out[path.name] = json.loads(path.read_text())
    out["all_forks_results.json"] = json.loads((results / "all_forks_results.json").read_text())
    for path in sorted((results / "forks").glob("*.npz")):
        with np.load(path) as data:
            out[path.name] = {k: data[k].tolist() for k in data.files}
    for path in sorted(weights.glob("*.pt")):
        agent, payload = load_agent_state(path)
        out[path.name] = ({k: v.tolist() for k, v in agent.state_dict().items()}, payload["info"])
    return out


# Counts the chunks a process evaluates: a resumed evaluation must not evaluate saved ones again.
COUNTING_CLI = """
import sys
from lmc_rl.cli import main
from lmc_rl.measuring import instability

evaluate_chunk = instability._evaluate_chunk


def counted(chunk, *args):
    print(f"test: evaluating chunk {chunk.index}", file=sys.stderr, flush=True)
    return evaluate_chunk(chunk, *args)


instability._evaluate_chunk = counted
sys.exit(main(sys.argv[1:]))
"""


def test_killed_and_resumed_runs_equal_an_uninterrupted_run(tmp_path):
    """Killed twice in training and once inside the second chunk of the evaluation: the resume
    reuses the first chunk's saved returns and every result file equals the uninterrupted run's."""
    flags = {**RUN_FLAGS, "alpha_points": "11"}  # 2 forks x 11 alphas: a chunk of 16, then 6
    assert 2 * int(flags["alpha_points"]) > MEMBERS_PER_CHUNK
    reference = tmp_path / "reference"
    proc = _start(_argv({**flags, "output_dir": str(reference)}), tmp_path)
    assert proc.wait() == 0, proc.stderr.read()

    killed = tmp_path / "killed"
    rng = random.Random(0)
    proc = _start(_argv({**flags, "output_dir": str(killed)}), tmp_path)
    _kill_when(
        proc,
        lambda: (r := _results_dir(killed)) and (r / "checkpoint.pkl").exists(),
        rng.uniform(0.0, 1.0),
    )
    results = _results_dir(killed)
    kills = [_status(results)]
    checkpoint = results / "checkpoint.pkl"
    before = checkpoint.stat().st_mtime_ns if checkpoint.exists() else 0
    proc = _start(["--resume", str(results)], tmp_path)
    _kill_when(
        proc,
        lambda: checkpoint.exists() and checkpoint.stat().st_mtime_ns > before,
        rng.uniform(0.0, 0.3),
    )
    kills.append(_status(results))
    resumed = proc.stderr.read()
    assert kills == ["running", "running"], kills  # two kills really hit training
    assert "resuming training at step" in resumed, resumed
    assert int(resumed.split("at step ")[1].split()[0]) > 0  # from a checkpoint

    # a kill as soon as the first chunk's returns are saved: inside the second chunk
    partial = results / "forks" / "partial"
    proc = _start(["--resume", str(results)], tmp_path)
    _kill_when(proc, lambda: any(partial.glob("chunk0_*.npz")), 0.0, timeout=3600)
    assert _status(results) == "trained"
    saved = sorted(p.name for p in partial.glob("*.npz"))
    assert [name.split("_")[0] for name in saved] == ["chunk0"], saved

    script = tmp_path / "counting_cli.py"
    script.write_text(COUNTING_CLI)
    proc = subprocess.run(
        [sys.executable, str(script), "run", "--no_progress", "--resume", str(results)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    evaluated = [line for line in proc.stderr.splitlines() if line.startswith("test: evaluating")]
    assert evaluated == ["test: evaluating chunk 1"], proc.stderr  # chunk 0 was read back
    assert _status(results) == "finished"
    assert not partial.exists()  # saved chunks are removed once every result is written

    assert _result_files(killed) == _result_files(reference)

    proc = _start(["--resume", str(results)], tmp_path)  # resuming a finished run
    assert proc.wait() == 0 and "already finished" in proc.stderr.read()


def test_resume_refuses_other_settings_and_bad_checkpoints(tmp_path, capsys):
    config = build_config({**RUN_FLAGS, "output_dir": str(tmp_path)})
    from lmc_rl.experiment.phases import resume_experiment  # noqa: F401  (the CLI path is tested)
    from lmc_rl.records.provenance import code_fingerprint
    from lmc_rl.training.run_files import RunPaths, write_run_config

    paths = RunPaths.create(config)
    trainer = Trainer(config, paths, progress=False)
    write_run_config(paths, config, {"status": "running", "code_fingerprint": code_fingerprint()})
    trainer.start()
    for _ in range(150):
        Lockstep([trainer]).advance()
    trainer.checkpoint()

    assert main(["run", "--resume", str(paths.results), "--total_steps", "999"]) == 2
    err = capsys.readouterr().err
    assert "--total_steps" in err and len(err.strip().splitlines()) == 1

    record = json.loads(paths.config_file.read_text())
    other_code = {**record, "code_fingerprint": "0" * 16}  # as if lmc-rl changed since
    paths.config_file.write_text(json.dumps(other_code))
    assert main(["run", "--resume", str(paths.results), "--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "other lmc-rl code" in err and len(err.strip().splitlines()) == 1
    assert trainer.checkpoint_file.is_file() and _status(paths.results) == "running"
    paths.config_file.write_text(json.dumps(record))

    data = trainer.checkpoint_file.read_bytes()
    trainer.checkpoint_file.write_bytes(data[: len(data) // 2])
    assert main(["run", "--resume", str(paths.results), "--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint" in err and "truncated" in err and len(err.strip().splitlines()) == 1

    assert main(["run", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_a_diverging_member_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    original = Trainer._fork

    def fork_and_poison(self, fork):
        original(self, fork)
        if fork.fork_id == 1:  # fork1_child1 is row 1: make its actor produce NaN
            with torch.no_grad():
                self.agent.actor.net.layers[0].weight[1].fill_(float("nan"))

    monkeypatch.setattr(Trainer, "_fork", fork_and_poison)
    config = build_config({**RUN_FLAGS, "checkpoint_every": "none", "output_dir": str(tmp_path)})
    paths = run_experiment(config, progress=False)
    record = json.loads(paths.config_file.read_text())
    assert record["status"] == "finished"
    assert list(record["diverged"]) == ["fork1_child1"]
    diverged_at = record["diverged"]["fork1_child1"]
    assert 360 <= diverged_at <= 400
    rows = paths.evaluations_file.read_text().splitlines()
    assert not any(
        r.startswith("fork1_child1,") and int(r.split(",")[1]) > diverged_at for r in rows
    )
    assert any(r.startswith("fork2_child1,1200") for r in rows)
    fork1 = json.loads((paths.results / "forks" / "instability_1.json").read_text())
    fork2 = json.loads((paths.results / "forks" / "instability_2.json").read_text())
    assert fork1["instability"] is None and "fork1_child1" in fork1["diverged"]
    assert fork2["instability"] is not None and fork2["diverged"] == {}


@pytest.mark.parametrize("bad", ["not-a-number", "0", "5x"])
def test_bad_checkpoint_every_is_refused(bad):
    from lmc_rl.config.errors import UserError

    with pytest.raises(UserError, match="checkpoint_every"):
        build_config({**RUN_FLAGS, "checkpoint_every": bad})
