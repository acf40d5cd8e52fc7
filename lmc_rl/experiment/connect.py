"""``lmc-rl connect``: the interpolation path between any two agents of one architecture.

A path is a path: two seeds' final agents, two checkpoints of one run and a fork's two children
are all two agent files, measured by the same code as a run's forks (``instability``): every
(path, alpha) policy is a member of one population evaluated on the same episodes (common random
numbers), and every path gets the fields of a fork's JSON. Optionally the second agent is first
aligned to the first by weight matching (``weight_matching``), which removes the part of the
barrier that is only a relabelling of hidden units.

Output folder::

    connect.json              settings and one summary row per path
    path_{key}.json           a path's fields (those of forks/instability_{id}.json) + endpoints
    returns_{key}.npz         per-episode returns [alpha, episode], alphas, episode seeds
    interp_{key}.png          the path with its 95% CI band
    barrier_matrix.png        --runs: barrier of every pair of runs, without / with alignment
    aligned/{key}.pt          the aligned second agent of each weight-matched path
    report.md
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmc_rl.config.connect_settings import ALIGNMENTS, ConnectSettings
from lmc_rl.config.errors import UserError
from lmc_rl.config.tasks import check_task, solved_return
from lmc_rl.learners.agents import Agent
from lmc_rl.measuring.fork_result import measure_path
from lmc_rl.measuring.instability import critic_path_of_files, evaluate_paths
from lmc_rl.measuring.interpolation import interpolation_alphas
from lmc_rl.measuring.weight_matching import weight_matching
from lmc_rl.records.atomic_files import atomic_write_bytes, atomic_write_json
from lmc_rl.records.layout import CONNECT_FOLDER, results_dir_of
from lmc_rl.records.run_record import load_run
from lmc_rl.training.run_files import load_agent_state, save_agent
from lmc_rl.training.seeding import evaluation_seeds


@dataclass(frozen=True)
class Endpoint:
    """One agent file, loaded."""

    file: Path
    agent: Agent
    payload: dict[str, Any]

    @property
    def architecture(self) -> tuple:
        spec = self.agent.spec
        return (
            self.payload["env"],
            self.agent.algo,
            spec.obs_dim,
            spec.action_dim,
            tuple(spec.hidden_dims),
        )

    @property
    def info(self) -> dict[str, Any]:
        """What the file records of itself: member, step, run (``save_agent``'s ``info``)."""
        return self.payload.get("info") or {}

    def describe(self) -> str:
        """Which run, member and step the file holds, from its own record (not its name)."""
        info = self.info
        member = info.get("member", "an unnamed member")
        step = f" at step {info['step']}" if info.get("step") is not None else ""
        run = f"of run {info['run']}" if info.get("run") else "(no run recorded)"
        return f"{member}{step} {run}, file {self.file}"


def load_endpoint(file: str | Path) -> Endpoint:
    agent, payload = load_agent_state(file)
    return Endpoint(Path(file), agent, payload)


def endpoint_labels(endpoints: list[Endpoint]) -> list[str]:
    """Short names for figures and tables: the member (``fork1_child2``), with the run's seed or
    the file name added where two endpoints would otherwise read the same."""
    labels = [str(e.info.get("member") or e.file.stem) for e in endpoints]
    if len(set(labels)) == len(labels):
        return labels
    seeded = [
        f"{label} (seed {e.info['seed']})" if e.info.get("seed") is not None else label
        for label, e in zip(labels, endpoints, strict=True)
    ]
    if len(set(seeded)) == len(seeded):
        return seeded
    return [f"{label} ({e.file.name})" for label, e in zip(labels, endpoints, strict=True)]


def announce_endpoints(endpoints: list[Endpoint], names: list[str]) -> None:
    """Say on stderr what is being joined, so that a wrong file is seen before the work."""
    for name, endpoint in zip(names, endpoints, strict=True):
        print(f"lmc-rl: connect: {name} = {endpoint.describe()}", file=sys.stderr)


def check_same_architecture(endpoints: list[Endpoint]) -> None:
    """Interpolation needs one task, one algorithm and one network shape."""
    first = endpoints[0]
    names = ("task", "algorithm", "observation size", "action size", "hidden widths")
    for other in endpoints[1:]:
        for name, x, y in zip(names, first.architecture, other.architecture, strict=True):
            if x != y:
                raise UserError(
                    f"connect: {first.file} and {other.file} differ in {name} ({x} vs {y}); "
                    "only agents of one task, algorithm and architecture can be interpolated"
                )


def _check_settings(settings: ConnectSettings, align: tuple[str, ...]) -> None:
    if settings.alpha_points < 2 or settings.num_eval_episodes < 1:
        raise UserError("connect: --alpha_points must be >= 2 and --num_eval_episodes >= 1")
    if settings.max_episode_steps < 1 or settings.workers < 0:
        raise UserError("connect: --max_episode_steps must be >= 1 and --eval_workers >= 0")
    for a in align:
        if a not in ALIGNMENTS:
            raise UserError(f"connect: --align {a!r} is not one of {', '.join(ALIGNMENTS)}")


@dataclass(frozen=True)
class PathRequest:
    """One path to measure: from agent ``a`` to agent ``b``, aligned or not."""

    key: str
    a: Endpoint
    b: Endpoint
    align: str
    labels: tuple[str, str]


def measure_paths(
    requests: list[PathRequest],
    settings: ConnectSettings,
    out: Path,
    critic_transitions: Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Align, evaluate every path as one population, and write each path's JSON and returns."""
    env_id = requests[0].a.payload["env"]
    task = check_task(env_id)
    alphas = interpolation_alphas(settings.alpha_points)
    seeds = evaluation_seeds(settings.seed, settings.num_eval_episodes)
    files: dict[str, tuple[str, str]] = {}
    alignment: dict[str, dict[str, Any]] = {}
    for req in requests:
        b_file = req.b.file
        if req.align == "weight_matching":
            started = time.perf_counter()
            aligned, record = weight_matching(req.a.agent, req.b.agent)
            record = {"time_s": round(time.perf_counter() - started, 4), "networks": record}
            b_file = out / "aligned" / f"{req.key}.pt"
            info = {**req.b.payload.get("info", {}), "aligned_to": str(req.a.file)}
            save_agent(b_file, aligned, 0, task, info)
            alignment[req.key] = record
        files[req.key] = (str(req.a.file), str(b_file))
    # chunks cached by a killed call are reused only for the very same paths and episodes
    what = json.dumps([files, settings.seed, settings.max_episode_steps], sort_keys=True)
    partial = out / f"partial_{hashlib.sha256(what.encode()).hexdigest()[:12]}"
    measured = evaluate_paths(
        files,
        env_id,
        settings.max_episode_steps,
        alphas,
        seeds,
        settings.workers,
        progress,
        partial,
    )
    results = []
    for req in requests:
        critic = None
        if critic_transitions is not None:
            gamma = req.a.agent.spec.gamma
            critic = critic_path_of_files(files[req.key], critic_transitions, gamma, alphas)
        returns, terminated = measured[req.key]
        path = measure_path(
            returns,
            alphas,
            threshold=settings.stability_threshold,
            terminated=terminated,
            critic=critic,
            critic_threshold=settings.critic_threshold,
            task_ceiling=solved_return(env_id, settings.max_episode_steps),
        ).to_json()
        fork_only = ("fork_id", "fork_point", "fork_step", "fork_buffer_strategy", "fork_noise")
        result = {
            "key": req.key,
            "a": str(req.a.file),
            "b": str(req.b.file),
            "a_label": req.labels[0],
            "b_label": req.labels[1],
            "align": req.align,
            "alignment": alignment.get(req.key),
            "aligned_file": files[req.key][1] if req.align != "none" else None,
            **{k: v for k, v in path.items() if k not in fork_only},
            "returns_file": f"returns_{req.key}.npz",
            "algo": req.a.agent.algo,
            "env": env_id,
            "seed": settings.seed,
            "max_episode_steps": settings.max_episode_steps,
        }
        buffer = io.BytesIO()
        td_errors = {} if critic is None else {"td_errors": critic.td_errors}
        np.savez(
            buffer,
            alphas=alphas,
            returns=returns,
            terminated=terminated,
            episode_seeds=seeds,
            **td_errors,
        )
        atomic_write_bytes(out / result["returns_file"], buffer.getvalue())
        atomic_write_json(out / f"path_{req.key}.json", result)
        results.append(result)
    shutil.rmtree(partial, ignore_errors=True)
    return results


def _finish(
    out: Path, results: list[dict[str, Any]], settings: ConnectSettings, mode: dict[str, Any]
) -> Path:
    from lmc_rl.analysis.connect_report import write_connect_report

    summary_keys = (
        "key",
        "a_label",
        "b_label",
        "align",
        "fork1_reward",
        "fork2_reward",
        "min_reward",
        "min_alpha",
        "instability",
        "normalized_instability",
        "is_stable",
        "linear_barrier",
        "linear_barrier_crossfit",
        "linear_barrier_ci",
        "min_at_endpoint",
        "verdict",
        "critic_barrier",
        "critic_barrier_ci",
        "critic_verdict",
    )
    atomic_write_json(
        out / "connect.json",
        {
            **mode,
            "settings": vars(settings),
            "paths": [{k: r[k] for k in summary_keys} for r in results],
        },
    )
    write_connect_report(out, results, mode)
    return out


def default_out(first: Path, name: str) -> Path:
    """Where connect writes without --out: inside the first run's results folder (beside its
    forks and report, where its data are), or beside agent A's file if A is in no run, never
    in whichever folder the command happened to be typed in."""
    stamp = time.strftime("%Y%m%d_%H%M%S")
    return first / CONNECT_FOLDER / f"{name}_{stamp}"


def _prepare_out(out: str | Path | None, beside: Path, default_name: str) -> Path:
    folder = Path(out) if out else default_out(beside, default_name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out: cannot create {folder}: {err.strerror}") from None
    return folder


def connect_pair(
    a_file: str,
    b_file: str,
    align: str,
    settings: ConnectSettings,
    out: str | Path | None = None,
    save_aligned: str | None = None,
    critic_transitions: str | None = None,
    progress: bool = True,
) -> Path:
    """The path from agent file A to agent file B (B aligned to A first with weight matching)."""
    _check_settings(settings, (align,))
    endpoints = [load_endpoint(a_file), load_endpoint(b_file)]
    check_same_architecture(endpoints)
    if save_aligned and align != "weight_matching":
        raise UserError("connect: --save_aligned needs --align weight_matching")
    transitions = _transitions_file(critic_transitions)
    a_file = endpoints[0].file
    beside = results_dir_of(a_file.parent) or a_file.parent
    folder = _prepare_out(out, beside, f"{a_file.stem}_{endpoints[1].file.stem}")
    announce_endpoints(endpoints, ["A", "B"])
    labels = tuple(endpoint_labels(endpoints))
    request = PathRequest(align, endpoints[0], endpoints[1], align, labels)
    results = measure_paths([request], settings, folder, transitions, progress)
    if save_aligned:
        atomic_write_bytes(Path(save_aligned), Path(results[0]["aligned_file"]).read_bytes())
    mode = {"mode": "pair", "a": str(endpoints[0].file), "b": str(endpoints[1].file)}
    return _finish(folder, results, settings, {**mode, "labels": list(labels)})


def connect_runs(
    run_dirs: list[str],
    aligns: tuple[str, ...],
    settings: ConnectSettings,
    out: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Every pair among the final agents (final.pt) of several runs, as one population."""
    _check_settings(settings, aligns)
    if len(run_dirs) < 2:
        raise UserError("connect --runs: give two or more run directories")
    endpoints, labels, first = [], [], None
    for d in run_dirs:
        run = load_run(d)
        first = first or run.paths.results
        final = run.paths.final_weights
        if not final.is_file():
            raise UserError(f"connect --runs: {d} has no final agent {final} (did it finish?)")
        endpoints.append(load_endpoint(final))
        labels.append(f"seed {run.config.seed}")
    check_same_architecture(endpoints)
    if len(set(labels)) < len(labels):  # two runs of one seed: name them by position
        labels = [f"run{i + 1} ({label})" for i, label in enumerate(labels)]
    folder = _prepare_out(out, first, "runs")
    announce_endpoints(endpoints, [f"run{i + 1}" for i in range(len(endpoints))])
    requests = [
        PathRequest(
            f"run{i + 1}_run{j + 1}_{align}",
            endpoints[i],
            endpoints[j],
            align,
            (labels[i], labels[j]),
        )
        for align in aligns
        for i, j in itertools.combinations(range(len(endpoints)), 2)
    ]
    results = measure_paths(requests, settings, folder, None, progress)
    mode = {"mode": "runs", "runs": [str(Path(d)) for d in run_dirs], "labels": labels}
    return _finish(folder, results, settings, mode)


def _transitions_file(path: str | None) -> Path | None:
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise UserError(f"--critic_transitions: no file at {file}")
    return file
