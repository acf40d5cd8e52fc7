"""Instability of every fork of a run: evaluate all interpolated policies as one population.

A path is a path: a fork's two children are just two agent files of one architecture, so the
same functions measure any pair (``lmc-rl connect``: other seeds, checkpoints of one run).
Every (path, alpha) policy is a member. Members are evaluated in chunks spread over worker
processes (one per core by default); within a chunk, one batched forward per env step serves all
open episodes. Episode i starts from the same reset seed for every alpha and every fork (common
random numbers), so the curve along alpha reflects the weights, not the env noise.
"""

from __future__ import annotations

import io
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lmc_rl.agents import Batch
from lmc_rl.config import RunConfig
from lmc_rl.envs import check_task
from lmc_rl.errors import UserError
from lmc_rl.evaluation import EvaluationEnvs, evaluate_members
from lmc_rl.forking import Fork, fork_schedule
from lmc_rl.lmc import (
    FRANKLE_THRESHOLD,
    confidence_interval,
    critic_path,
    interpolated_population,
    interpolation_alphas,
    summarize_path,
)
from lmc_rl.runs import RunRecord, atomic_write_bytes, atomic_write_json, load_agent_state
from lmc_rl.seeding import evaluation_seeds

MEMBERS_PER_CHUNK = 16
ENVS_PER_MEMBER = 10


@dataclass(frozen=True)
class Chunk:
    """Some alphas of one path, evaluated together in one worker."""

    path_key: str
    child_files: tuple[str, str]
    alpha_indices: tuple[int, ...]
    alphas: tuple[float, ...]


def fork_path_key(fork: Fork) -> str:
    return f"fork{fork.fork_id}"


def child_files(run: RunRecord, fork: Fork) -> tuple[Path, Path]:
    files = tuple(run.paths.weights / f"fork{c}_{fork.fork_id}.pt" for c in (1, 2))
    for f in files:
        if not f.is_file():
            raise UserError(f"--results_dir: missing child weights {f} (did the run finish?)")
    return files  # type: ignore[return-value]


# -- worker side -----------------------------------------------------------------------------

_worker_cache: dict[str, Any] = {}


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _evaluate_chunk(
    chunk: Chunk, env_id: str, max_episode_steps: int, episode_seeds: np.ndarray
) -> tuple[Chunk, np.ndarray]:
    """Returns ``[len(chunk.alphas), n_episodes]``; envs and children are cached per process."""
    key = chunk.child_files
    if _worker_cache.get("children_key") != key:
        _worker_cache["children"] = tuple(load_agent_state(f)[0] for f in key)
        _worker_cache["children_key"] = key
    pool_key = (env_id, max_episode_steps)
    if _worker_cache.get("pool_key") != pool_key:
        _worker_cache["pool"] = EvaluationEnvs(check_task(env_id), max_episode_steps)
        _worker_cache["pool_key"] = pool_key
    population = interpolated_population(*_worker_cache["children"], np.array(chunk.alphas))
    returns = evaluate_members(population, _worker_cache["pool"], episode_seeds, ENVS_PER_MEMBER)
    return chunk, returns


# -- orchestration ---------------------------------------------------------------------------


def _chunks(paths: dict[str, tuple[str, str]], alphas: np.ndarray) -> list[Chunk]:
    chunks = []
    for key, files in paths.items():
        for start in range(0, len(alphas), MEMBERS_PER_CHUNK):
            idx = tuple(range(start, min(start + MEMBERS_PER_CHUNK, len(alphas))))
            chunks.append(Chunk(key, files, idx, tuple(float(alphas[i]) for i in idx)))
    return chunks


def _partial_file(folder: Path, chunk: Chunk, n_alphas: int, n_episodes: int) -> Path:
    return folder / f"{chunk.path_key}_a{n_alphas}_e{n_episodes}_{chunk.alpha_indices[0]}.npy"


def evaluate_returns(
    run: RunRecord,
    forks: list[Fork],
    alphas: np.ndarray,
    episode_seeds: np.ndarray,
    workers: int,
    progress: bool,
    partial_dir: Path | None = None,
) -> dict[int, np.ndarray]:
    """Per fork, the ``[alphas, episodes]`` returns of every interpolated policy."""
    paths = {fork_path_key(f): tuple(str(c) for c in child_files(run, f)) for f in forks}
    cfg = run.config
    returns = evaluate_paths(
        paths,  # type: ignore[arg-type]
        cfg.env,
        cfg.max_episode_steps,
        alphas,
        episode_seeds,
        workers,
        progress,
        partial_dir,
    )
    return {f.fork_id: returns[fork_path_key(f)] for f in forks}


def evaluate_paths(
    paths: dict[str, tuple[str, str]],
    env_id: str,
    max_episode_steps: int,
    alphas: np.ndarray,
    episode_seeds: np.ndarray,
    workers: int,
    progress: bool,
    partial_dir: Path | None = None,
) -> dict[str, np.ndarray]:
    """Per path (two agent files), the ``[alphas, episodes]`` returns of every interpolated
    policy; all paths' policies are evaluated as one population, on the same episodes.

    With ``partial_dir``, each finished chunk is saved there and chunks found there are not
    evaluated again, so a killed evaluation resumes where it stopped.
    """
    returns = {key: np.zeros((len(alphas), len(episode_seeds))) for key in paths}
    chunks = []
    for chunk in _chunks(paths, alphas):
        cached = partial_dir and _partial_file(partial_dir, chunk, len(alphas), len(episode_seeds))
        if cached and cached.is_file():
            returns[chunk.path_key][list(chunk.alpha_indices)] = np.load(cached)
        else:
            chunks.append(chunk)

    def store(chunk: Chunk, chunk_returns: np.ndarray) -> None:
        returns[chunk.path_key][list(chunk.alpha_indices)] = chunk_returns
        if partial_dir:
            buffer = io.BytesIO()
            np.save(buffer, chunk_returns)
            path = _partial_file(partial_dir, chunk, len(alphas), len(episode_seeds))
            atomic_write_bytes(path, buffer.getvalue())
        bar.update(chunk_returns.size)

    bar = tqdm(
        total=sum(len(c.alphas) for c in chunks) * len(episode_seeds),
        unit="episode",
        desc="instability evaluation",
        disable=not progress,
        dynamic_ncols=True,
    )
    workers = workers or os.cpu_count() or 1
    args = (env_id, max_episode_steps, episode_seeds)
    if workers == 1 or len(chunks) <= 1:
        results = (_evaluate_chunk(chunk, *args) for chunk in chunks)
        for chunk, chunk_returns in results:
            store(chunk, chunk_returns)
    else:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(chunks)),
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(1,),
        ) as pool:
            futures = [pool.submit(_evaluate_chunk, chunk, *args) for chunk in chunks]
            for future in as_completed(futures):
                store(*future.result())
    bar.close()
    return returns


def critic_transitions_file(run: RunRecord, fork_id: int) -> Path:
    return run.paths.results / "forks" / f"critic_transitions_{fork_id}.npz"


def _critic_metrics(run: RunRecord, fork: Fork, alphas: np.ndarray) -> dict[str, Any] | None:
    path = critic_transitions_file(run, fork.fork_id)
    if not path.is_file():
        return None
    return critic_metrics(child_files(run, fork), path, run.config.gamma, alphas)


def critic_metrics(
    files: tuple[Path, Path] | tuple[str, str],
    transitions_file: Path,
    gamma: float,
    alphas: np.ndarray,
) -> dict[str, Any]:
    """The critic barrier along the path between two agent files, on saved transitions."""
    with np.load(transitions_file) as data:
        transitions = Batch(
            **{
                k: torch.from_numpy(data[k])[None]
                for k in ("obs", "action", "reward", "next_obs", "terminated")
            }
        )
    children = [load_agent_state(f)[0] for f in files]
    td, q = [], []
    for start in range(0, len(alphas), MEMBERS_PER_CHUNK):
        population = interpolated_population(*children, alphas[start : start + MEMBERS_PER_CHUNK])
        chunk_td, chunk_q = critic_path(population, transitions, gamma)
        td.extend(chunk_td.tolist())
        q.extend(chunk_q.tolist())
    endpoint_td = (td[0] + td[-1]) / 2.0
    return {
        "n_transitions": int(transitions.obs.shape[1]),
        "td_error": td,
        "mean_q": q,
        "td_error_barrier": max(td) - endpoint_td,
        "td_error_max_alpha": float(alphas[int(np.argmax(td))]),
    }


def fork_result(
    cfg: RunConfig,
    fork: Fork,
    alphas: np.ndarray,
    returns: np.ndarray,
    critic: dict[str, Any] | None,
    threshold: float,
) -> dict[str, Any]:
    """The prototype's fields (fork_id ... is_stable) plus ours."""
    return {
        "fork_id": fork.fork_id,
        "fork_point": fork.point,
        "fork_step": fork.step,
        **path_result(alphas, returns, critic, threshold),
        "returns_file": f"returns_{fork.fork_id}.npz",
        "diverged": {},
        "algo": cfg.algo,
        "env": cfg.env,
        "fork_buffer_strategy": cfg.fork_buffer_strategy,
        "fork_noise": cfg.fork_noise,
        "seed": cfg.seed,
    }


def path_result(
    alphas: np.ndarray,
    returns: np.ndarray,
    critic: dict[str, Any] | None,
    threshold: float,
) -> dict[str, Any]:
    """Every metric of one path from its ``[alphas, episodes]`` returns: the fields a fork's
    JSON and ``lmc-rl connect`` share (endpoint 1 is "fork1", endpoint 2 "fork2")."""
    means = returns.mean(axis=1)
    stds = returns.std(axis=1)
    sem, low, high = confidence_interval(returns)
    path = summarize_path(alphas, means)
    return {
        "fork1_reward": float(means[0]),
        "fork2_reward": float(means[-1]),
        "interpolation": [
            {
                "alpha": float(a),
                "mean_reward": float(m),
                "std_reward": float(s),
                "sem_reward": float(e),
                "ci95_low": float(lo),
                "ci95_high": float(hi),
            }
            for a, m, s, e, lo, hi in zip(alphas, means, stds, sem, low, high, strict=True)
        ],
        "instability": path.instability,
        "is_stable": bool(path.normalized_instability <= threshold),
        "endpoint_mean_reward": path.endpoint_mean,
        "min_reward": path.min_return,
        "min_alpha": path.min_alpha,
        "normalized_instability": path.normalized_instability,
        "stability_threshold": threshold,
        "is_stable_frankle": bool(path.normalized_instability <= FRANKLE_THRESHOLD),
        "num_eval_episodes": int(returns.shape[1]),
        "alpha_points": len(alphas),
        "critic": critic,
    }


def evaluate_run(
    run: RunRecord,
    alpha_points: int | None = None,
    num_eval_episodes: int | None = None,
    workers: int = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate every fork's path; write forks/*.json, forks/*.npz and all_forks_results.json."""
    cfg = run.config
    forks = fork_schedule(cfg)
    if not forks:
        raise UserError(f"--results_dir: {run.paths.results} has no fork points to evaluate")
    alpha_points = alpha_points or cfg.alpha_points
    num_eval_episodes = num_eval_episodes or cfg.num_eval_episodes
    if alpha_points < 2 or num_eval_episodes < 1:
        raise UserError("--alpha_points must be >= 2 and --num_eval_episodes >= 1")
    alphas = interpolation_alphas(alpha_points)
    seeds = evaluation_seeds(cfg.seed, num_eval_episodes)
    diverged = run.record.get("diverged") or {}
    broken = {
        f.fork_id: [n for n in (f.child_name(1), f.child_name(2)) if n in diverged] for f in forks
    }
    healthy = [f for f in forks if not broken[f.fork_id]]
    folder = run.paths.results / "forks"
    partial = folder / "partial"
    returns = evaluate_returns(run, healthy, alphas, seeds, workers, progress, partial)
    results = []
    for fork in forks:
        if broken[fork.fork_id]:
            result = diverged_fork_result(cfg, fork, {n: diverged[n] for n in broken[fork.fork_id]})
            atomic_write_json(folder / f"instability_{fork.fork_id}.json", result)
            results.append(result)
            continue
        result = fork_result(
            cfg,
            fork,
            alphas,
            returns[fork.fork_id],
            _critic_metrics(run, fork, alphas),
            cfg.stability_threshold,
        )
        buffer = io.BytesIO()
        np.savez(buffer, alphas=alphas, returns=returns[fork.fork_id], episode_seeds=seeds)
        atomic_write_bytes(folder / result["returns_file"], buffer.getvalue())
        atomic_write_json(folder / f"instability_{fork.fork_id}.json", result)
        results.append(result)
    summary_keys = (
        "fork_id",
        "fork_point",
        "fork_step",
        "fork1_reward",
        "fork2_reward",
        "instability",
        "normalized_instability",
        "min_reward",
        "min_alpha",
        "is_stable",
        "is_stable_frankle",
    )
    atomic_write_json(
        run.paths.results / "all_forks_results.json",
        {
            "env": cfg.env,
            "algo": cfg.algo,
            "seed": cfg.seed,
            "fork_buffer_strategy": cfg.fork_buffer_strategy,
            "fork_noise": cfg.fork_noise,
            "total_steps": cfg.total_steps,
            "alpha_points": alpha_points,
            "num_eval_episodes": num_eval_episodes,
            "stability_threshold": cfg.stability_threshold,
            "forks": [
                {
                    **{k: r[k] for k in summary_keys},
                    "critic_td_error_barrier": (r["critic"] or {}).get("td_error_barrier"),
                    "diverged": r["diverged"],
                }
                for r in results
            ],
        },
    )
    shutil.rmtree(partial, ignore_errors=True)
    return results


def diverged_fork_result(cfg: RunConfig, fork: Fork, diverged: dict[str, int]) -> dict[str, Any]:
    """A fork whose child diverged has no interpolation path; say so instead of measuring it."""
    return {
        "fork_id": fork.fork_id,
        "fork_point": fork.point,
        "fork_step": fork.step,
        "fork1_reward": None,
        "fork2_reward": None,
        "interpolation": [],
        "instability": None,
        "is_stable": None,
        "endpoint_mean_reward": None,
        "min_reward": None,
        "min_alpha": None,
        "normalized_instability": None,
        "stability_threshold": cfg.stability_threshold,
        "is_stable_frankle": None,
        "critic": None,
        "returns_file": None,
        "diverged": diverged,
        "algo": cfg.algo,
        "env": cfg.env,
        "fork_buffer_strategy": cfg.fork_buffer_strategy,
        "fork_noise": cfg.fork_noise,
        "seed": cfg.seed,
    }
