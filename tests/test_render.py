"""``lmc-rl render``: interpolated policies played headless on one evaluation episode."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lmc_rl.cli import main
from lmc_rl.config.errors import UserError
from lmc_rl.measuring.render import check_offscreen_gl, headless_gl


def _offscreen_gl() -> str | None:
    headless_gl()  # for the probe's child process; this process may have MuJoCo already
    try:
        check_offscreen_gl()
    except UserError as err:
        return str(err)
    return None


NO_GL = _offscreen_gl()
needs_gl = pytest.mark.skipif(NO_GL is not None, reason=f"no offscreen OpenGL here: {NO_GL}")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    flags = {
        "env": "InvertedPendulum-v5",
        "total_steps": "400",
        "learning_starts": "200",
        "eval_freq": "400",
        "num_eval_episodes_periodic": "2",
        "max_episode_steps": "60",
        "hidden_dims": "32,32",
        "batch_size": "32",
        "fork_points": "0.5",
        "alpha_points": "5",
        "num_eval_episodes": "3",
        "eval_workers": "1",
        "seed": "3",
    }
    out = tmp_path_factory.mktemp("render_run")
    argv = [arg for key, value in flags.items() for arg in (f"--{key}", value)]
    assert main(["run", "--no_progress", *argv, "--output_dir", str(out)]) == 0
    return next((out / "results").glob("*/*/*/seed_*"))


@needs_gl
def test_render_plays_the_evaluated_episode_and_writes_a_gif(finished_run, tmp_path):
    out = tmp_path / "fork1.gif"
    argv = ["render", "--results_dir", str(finished_run), "--fork", "1", "--alphas", "0,1"]
    done = subprocess.run(  # a fresh process, as a user runs it: MuJoCo picks EGL at import
        [
            sys.executable,
            "-m",
            "lmc_rl",
            *argv,
            "--episode",
            "2",
            "--every",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "MUJOCO_GL"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(out)
    record = json.loads(done.stderr.strip().splitlines()[-1])
    with Image.open(out) as gif:
        assert gif.size[0] == 2 * 240 and gif.n_frames >= 2  # two panels, two frames or more
    # the episode played is the one the evaluation recorded for these alphas
    with np.load(finished_run / "forks" / "returns_1.npz") as data:
        recorded = data["returns"][[0, -1], 2]
    np.testing.assert_allclose(record["returns"], recorded, rtol=1e-6)
    assert record["alphas"] == [0.0, 1.0] and record["episode"] == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fork", "9"], "--fork 9"),
        (["--fork", "1", "--out", "video.avi"], ".mp4 or .gif"),
        (["--fork", "1", "--episode", "7"], "--episode 7"),
        (["--fork", "1", "--alphas", "0,2"], "outside [0, 1]"),
        ([], "needs --fork"),
    ],
)
def test_bad_render_requests_are_one_line_and_exit_2(finished_run, extra, message, capsys):
    assert main(["render", "--results_dir", str(finished_run), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def _render(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    """``lmc-rl render`` in a fresh process, as a user runs it (MuJoCo picks GL at import)."""
    base = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY")}
    return subprocess.run(
        [sys.executable, "-m", "lmc_rl", "render", *argv],
        capture_output=True,
        text=True,
        env={**base, **env},
    )


@needs_gl
def test_render_worst_shows_the_endpoints_and_the_lowest_alpha(finished_run):
    done = _render(["--results_dir", str(finished_run), "--fork", "1", "--worst", "--every", "5"])
    assert done.returncode == 0, done.stderr
    out = finished_run / "fork_analysis" / "render_fork1.gif"  # the default place
    assert done.stdout.strip().splitlines()[-1] == str(out)
    record = json.loads(done.stderr.strip().splitlines()[-1])
    with np.load(finished_run / "forks" / "returns_1.npz") as data:
        alphas, returns = data["alphas"], data["returns"]
    shown = sorted({0, int(np.argmin(returns.mean(axis=1))), len(alphas) - 1})
    assert record["alphas"] == alphas[shown].tolist()
    np.testing.assert_allclose(record["returns"], returns[shown, record["episode"]], rtol=1e-6)
    with Image.open(out) as gif:
        assert gif.size[0] == len(shown) * 240


def test_render_without_offscreen_gl_is_one_line_and_exit_2(finished_run, tmp_path):
    out = tmp_path / "never.gif"
    argv = ["--results_dir", str(finished_run), "--fork", "1", "--out", str(out)]
    done = _render(argv, MUJOCO_GL="glx")  # GLX without a display: no GL context
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no offscreen OpenGL" in lines[0], lines
    assert not out.exists()
