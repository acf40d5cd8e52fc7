"""Videos of interpolated policies side by side: watch the policy at the bottom of a valley.

``lmc-rl render`` plays one evaluation episode (same reset seed for every panel) with the
deterministic policies theta(alpha) of a fork's children or of a ``connect`` path, renders each
offscreen through MuJoCo and writes the panels side by side, captioned with alpha and the
episode's return, as an MP4 (where imageio's ffmpeg is installed) or a GIF.

The episode is played exactly as the instability evaluation played it: the policy acts on a
batch of the evaluation's row count with the episode in the evaluation's slot, so its return is
the one recorded in ``returns_{id}.npz`` (checked, and stated in the caption if not).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmc_rl.config.errors import UserError

PANEL_PIXELS = 240
FPS = 25


@dataclass(frozen=True)
class PathSource:
    """Where a path's endpoints and its recorded evaluation live."""

    file_a: Path
    file_b: Path
    returns_file: Path
    max_episode_steps: int
    label: str


def fork_source(results_dir: str | Path, fork_id: int) -> PathSource:
    """Children 1 and 2 of fork ``fork_id`` of a finished run."""
    from lmc_rl.records.run_record import load_run
    from lmc_rl.training.forking import fork_schedule

    run = load_run(results_dir)
    forks = {f.fork_id: f for f in fork_schedule(run.config)}
    if fork_id not in forks:
        raise UserError(f"render: --fork {fork_id}: the run has forks {sorted(forks) or 'none'}")
    file_a = run.paths.child_weights(1, fork_id)
    file_b = run.paths.child_weights(2, fork_id)
    returns_file = run.paths.returns_file(fork_id)
    for file in (file_a, file_b, returns_file):
        if not file.is_file():
            raise UserError(f"render: {file} is missing (is the run finished?)")
    return PathSource(file_a, file_b, returns_file, run.config.max_episode_steps, f"fork {fork_id}")


def connect_source(connect_dir: str | Path, key: str) -> PathSource:
    """Path ``key`` of a ``lmc-rl connect`` output folder (B aligned if the path was)."""
    folder = Path(connect_dir)
    path_file = folder / f"path_{key}.json"
    if not path_file.is_file():
        keys = sorted(p.stem.removeprefix("path_") for p in folder.glob("path_*.json"))
        raise UserError(
            f"render: --path {key}: not in {folder} (paths: {', '.join(keys) or 'none'})"
        )
    record = json.loads(path_file.read_text())
    file_b = record["aligned_file"] or record["b"]
    return PathSource(
        Path(record["a"]),
        Path(file_b),
        folder / record["returns_file"],
        int(record["max_episode_steps"]),
        f"path {key}",
    )


def recorded_returns(source: PathSource) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alphas, returns [alpha, episode], episode_seeds) of the path's evaluation."""
    with np.load(source.returns_file) as data:
        return data["alphas"], data["returns"], data["episode_seeds"]


def choose_alphas(
    alphas: np.ndarray, returns: np.ndarray, wanted: list[float] | None, worst: bool
) -> list[int]:
    """Indices of the alphas to show: the given ones (nearest evaluated), or the endpoints and
    the alpha of the lowest mean return (``worst``)."""
    if worst:
        lowest = int(np.argmin(returns.mean(axis=1)))
        return sorted({0, lowest, len(alphas) - 1})
    picked = []
    for alpha in wanted or [0.0, 0.5, 1.0]:
        if not 0.0 <= alpha <= 1.0:
            raise UserError(f"render: --alphas: {alpha} is outside [0, 1]")
        picked.append(int(np.argmin(np.abs(alphas - alpha))))
    return list(dict.fromkeys(picked))


def headless_gl() -> None:
    """Have MuJoCo render through EGL (no display needed) on Linux unless the user chose a
    platform; it takes effect only if MuJoCo has not been imported yet."""
    import sys

    if sys.platform.startswith("linux"):
        os.environ.setdefault("MUJOCO_GL", "egl")


def check_offscreen_gl() -> None:
    """Fail with one line where MuJoCo cannot render offscreen. The probe runs in a child
    process: a GL platform that is missing can abort the process rather than raise."""
    import subprocess
    import sys

    probe = (
        "import mujoco\n"
        "m = mujoco.MjModel.from_xml_string('<mujoco><worldbody/></mujoco>')\n"
        "r = mujoco.Renderer(m, 8, 8); r.render(); r.close()\n"
    )
    env = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise UserError(
            f"render: no offscreen OpenGL for MuJoCo (MUJOCO_GL={env.get('MUJOCO_GL', '')}: "
            f"{lines[-1] if lines else f'exit status {done.returncode}'}); install EGL or "
            "OSMesa, or set MUJOCO_GL=osmesa"
        )


def play(
    source: PathSource,
    alphas: np.ndarray,
    episode: int,
    episode_seeds: np.ndarray,
    every: int = 2,
    pixels: int = PANEL_PIXELS,
) -> tuple[list[list[np.ndarray]], np.ndarray]:
    """Frames ``[time][panel]`` and the episode return of each alpha's policy."""
    import gymnasium as gym
    import torch

    from lmc_rl.measuring.interpolation import interpolated_population
    from lmc_rl.training.envs import ActionScaler
    from lmc_rl.training.evaluation import evaluation_rows
    from lmc_rl.training.run_files import load_agent_state

    agent_a, info = load_agent_state(source.file_a)
    agent_b, _ = load_agent_state(source.file_b)
    population = interpolated_population(agent_a, agent_b, alphas)
    env_id = info["env"]
    envs = [
        gym.make(
            env_id,
            max_episode_steps=source.max_episode_steps,
            render_mode="rgb_array",
            width=pixels,
            height=pixels,
        )
        for _ in alphas
    ]
    scaler = ActionScaler(envs[0].action_space.low, envs[0].action_space.high)
    rows = evaluation_rows(len(episode_seeds))
    slot = episode % rows  # the evaluation ran episode j in slot j mod rows
    obs = np.zeros((len(alphas), rows, envs[0].observation_space.shape[0]), dtype=np.float32)
    for k, env in enumerate(envs):
        obs[k, slot], _ = env.reset(seed=int(episode_seeds[episode]))
    returns = np.zeros(len(alphas))
    running = np.ones(len(alphas), dtype=bool)
    last = [env.render() for env in envs]
    frames = [list(last)]
    t = 0
    with torch.no_grad():
        while running.any():
            action = scaler.to_env(population.act(torch.from_numpy(obs)).numpy())
            t += 1
            for k in np.flatnonzero(running):
                next_obs, reward, terminated, truncated, _ = envs[k].step(action[k, slot])
                returns[k] += reward
                obs[k, slot] = next_obs
                if t % every == 0 or terminated or truncated:
                    last[k] = envs[k].render()
                running[k] = not (terminated or truncated)
            if t % every == 0:
                frames.append(list(last))
    if t % every:
        frames.append(list(last))  # every episode's end is shown
    for env in envs:
        env.close()
    return frames, returns


def compose(frames: list[list[np.ndarray]], captions: list[str]) -> list:
    """Panels side by side with a caption strip above each (PIL images)."""
    from PIL import Image, ImageDraw, ImageFont

    height, width = frames[0][0].shape[:2]
    strip = 22
    font = ImageFont.load_default()
    images = []
    for panels in frames:
        canvas = Image.new("RGB", (width * len(panels), height + strip), "white")
        draw = ImageDraw.Draw(canvas)
        for k, panel in enumerate(panels):
            canvas.paste(Image.fromarray(panel), (k * width, strip))
            draw.text((k * width + 6, 5), captions[k], fill="black", font=font)
        images.append(canvas)
    return images


def write_video(images: list, out: Path, fps: int = FPS) -> Path:
    """MP4 where imageio can find ffmpeg, else GIF; returns the file written."""
    from lmc_rl.records.atomic_files import atomic_write_bytes

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".mp4":
        try:
            import imageio.v3 as iio
            import imageio_ffmpeg  # noqa: F401

            data = iio.imwrite(
                "<bytes>", [np.asarray(i) for i in images], extension=".mp4", fps=fps
            )
            atomic_write_bytes(out, data)
            return out
        except ImportError:
            out = out.with_suffix(".gif")
    import io

    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
        optimize=True,
    )
    atomic_write_bytes(out, buffer.getvalue())
    return out


def render_path(
    source: PathSource,
    out: Path,
    alphas: list[float] | None = None,
    worst: bool = False,
    episode: int = 0,
    every: int = 2,
) -> tuple[Path, dict]:
    """Render one episode of the chosen policies on ``source``'s path into ``out``; returns the
    file written and a record (alphas, returns played and recorded)."""
    all_alphas, recorded, seeds = recorded_returns(source)
    if not 0 <= episode < len(seeds):
        raise UserError(
            f"render: --episode {episode}: the evaluation has episodes 0..{len(seeds) - 1}"
        )
    if every < 1:
        raise UserError(f"render: --every must be >= 1, got {every}")
    picked = choose_alphas(all_alphas, recorded, alphas, worst)
    check_offscreen_gl()
    frames, returns = play(source, all_alphas[picked], episode, seeds, every)
    expected = recorded[picked, episode]
    captions = [
        f"alpha={all_alphas[i]:.2f}  return {r:.0f}"
        + ("" if np.isclose(r, e, rtol=1e-6, atol=1e-3) else f" (eval {e:.0f})")
        for i, r, e in zip(picked, returns, expected, strict=True)
    ]
    written = write_video(compose(frames, captions), out)
    record = {
        "source": source.label,
        "episode": episode,
        "episode_seed": int(seeds[episode]),
        "alphas": [float(all_alphas[i]) for i in picked],
        "returns": [float(r) for r in returns],
        "recorded_returns": [float(e) for e in expected],
        "frames": len(frames),
        "file": str(written),
    }
    return written, record
