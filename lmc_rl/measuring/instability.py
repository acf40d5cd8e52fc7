"""Instability of every fork of a run: evaluate all interpolated policies as one population.

Every (fork, pair of children, alpha) policy is a member. With N children per fork, all
N(N-1)/2 pairs of every fork are evaluated in one batched evaluation: members are evaluated in
chunks spread over worker processes (one per core by default); within a chunk, one batched
forward per env step serves all open episodes. Episode i starts from the same reset seed for
every alpha, pair and fork (common random numbers), so the curve along alpha reflects the
weights, not the env noise. The metrics are ``fork_result.measure_path``'s.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lmc_rl.config.errors import UserError
from lmc_rl.config.tasks import check_task, solved_return
from lmc_rl.learners.agents import Batch, make_agent
from lmc_rl.measuring import barrier_stats as bs
from lmc_rl.measuring.critic_barrier import CriticPath
from lmc_rl.measuring.fork_result import ForkResult, combine_pairs, measure_path
from lmc_rl.measuring.interpolation import (
    critic_path,
    interpolate_states,
    interpolated_population,
    interpolation_alphas,
)
from lmc_rl.records.atomic_files import atomic_write_bytes, atomic_write_json
from lmc_rl.records.layout import ALL_FORKS_FILE, FORKS_FOLDER, instability_name, returns_name
from lmc_rl.records.number_text import counted
from lmc_rl.records.run_record import RunRecord
from lmc_rl.training.evaluation import EvaluationEnvs, evaluate_members
from lmc_rl.training.forking import Fork, piece_forks
from lmc_rl.training.run_files import load_agent_state
from lmc_rl.training.seeding import evaluation_seeds

MEMBERS_PER_CHUNK = 16
ENVS_PER_MEMBER = 10
RUN_EVALUATION = FORKS_FOLDER  # the run's own evaluation; `lmc-rl evaluate` writes beside it
EVALUATIONS_FOLDER = "evaluations"

Pair = tuple[int, int]


def fork_pairs(children: int) -> list[Pair]:
    """Every pair (c1, c2), c1 < c2, of children 1..N; (1, 2) first."""
    return list(itertools.combinations(range(1, children + 1), 2))


@dataclass(frozen=True)
class PathMember:
    """One interpolated policy: theta(alpha) on the path ``key`` between two agent files (the
    children of a fork, or any two agents of one architecture)."""

    key: Any
    child_files: tuple[str, str]
    alpha_index: int
    alpha: float


@dataclass(frozen=True)
class Chunk:
    """Interpolated policies of any forks and pairs, evaluated as one population in one
    worker (one batched forward per env step serves them all)."""

    index: int
    members: tuple[PathMember, ...]


def child_files(run: RunRecord, fork: Fork, pair: Pair = (1, 2)) -> tuple[Path, Path]:
    files = tuple(run.paths.child_weights(c, fork.fork_id) for c in pair)
    for f in files:
        if not f.is_file():
            raise UserError(f"--results_dir: missing child weights {f} (did the run finish?)")
    return files  # type: ignore[return-value]


# -- worker side -----------------------------------------------------------------------------

_worker_cache: dict[str, Any] = {}


def _init_worker(threads: int) -> None:
    from lmc_rl.learners.allocator import keep_freed_memory

    keep_freed_memory()  # a worker evaluates: see lmc_rl/learners/allocator.py
    torch.set_num_threads(threads)


def _child(path: str) -> Any:
    children = _worker_cache.setdefault("children", {})
    if path not in children:
        if len(children) >= 64:  # a run's children are few; bound the cache anyway
            children.clear()
        children[path] = load_agent_state(path)[0]
    return children[path]


def chunk_population(chunk: Chunk) -> Any:
    """One population holding every member of the chunk: per pair, (1 - alpha) theta_a +
    alpha theta_b of its two children (``interpolate_states``), stacked along the member dim."""
    states = []
    for files, group in itertools.groupby(chunk.members, key=lambda m: m.child_files):
        a, b = (_child(f) for f in files)
        alphas = np.array([m.alpha for m in group])
        states.append(interpolate_states(a.state_dict(), b.state_dict(), alphas))
    first = _child(chunk.members[0].child_files[0])
    population = make_agent(first.algo, len(chunk.members), first.spec)
    population.load_state_dict({k: torch.cat([s[k] for s in states]) for k in states[0]})
    return population


def _evaluate_chunk(
    chunk: Chunk, env_id: str, max_episode_steps: int, episode_seeds: np.ndarray
) -> tuple[Chunk, np.ndarray, np.ndarray]:
    """Returns and termination flags, ``[len(chunk.members), n_episodes]`` each; envs and
    children are cached per process."""
    pool_key = (env_id, max_episode_steps)
    if _worker_cache.get("pool_key") != pool_key:
        _worker_cache["pool"] = EvaluationEnvs(check_task(env_id), max_episode_steps)
        _worker_cache["pool_key"] = pool_key
    population = chunk_population(chunk)
    terminated = np.zeros((len(chunk.members), len(episode_seeds)), dtype=bool)
    returns = evaluate_members(
        population, _worker_cache["pool"], episode_seeds, ENVS_PER_MEMBER, None, terminated
    )
    return chunk, returns, terminated


# -- orchestration ---------------------------------------------------------------------------


def _chunks(paths: dict[Any, tuple[str, str]], alphas: np.ndarray) -> list[Chunk]:
    """Every (path, alpha) policy, in that order, cut into chunks of MEMBERS_PER_CHUNK
    regardless of path: all paths in one batched evaluation."""
    members = [
        PathMember(key, files, i, a)
        for key, files in paths.items()
        for i, a in enumerate(alphas.tolist())
    ]
    return [
        Chunk(k, tuple(members[start : start + MEMBERS_PER_CHUNK]))
        for k, start in enumerate(range(0, len(members), MEMBERS_PER_CHUNK))
    ]


def _partial_file(folder: Path, chunk: Chunk, n_alphas: int, n_episodes: int, n_paths: int) -> Path:
    return folder / f"chunk{chunk.index}_a{n_alphas}_e{n_episodes}_p{n_paths}.npz"


def evaluate_paths(
    paths: dict[Any, tuple[str, str]],
    env_id: str,
    max_episode_steps: int,
    alphas: np.ndarray,
    episode_seeds: np.ndarray,
    workers: int,
    progress: bool,
    partial_dir: Path | None = None,
) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    """Per path (two agent files), the ``[alphas, episodes]`` returns and termination flags of
    every interpolated policy; all paths in one batched evaluation, on the same episodes.

    With ``partial_dir``, each finished chunk is saved there and chunks found there are not
    evaluated again, so a killed evaluation resumes where it stopped.
    """
    shape = (len(alphas), len(episode_seeds))
    results = {key: (np.zeros(shape), np.zeros(shape, dtype=bool)) for key in paths}

    def store_rows(chunk: Chunk, chunk_returns: np.ndarray, terminated: np.ndarray) -> None:
        for row, member in enumerate(chunk.members):
            returns, flags = results[member.key]
            returns[member.alpha_index] = chunk_returns[row]
            flags[member.alpha_index] = terminated[row]

    chunks = []
    for chunk in _chunks(paths, alphas):
        cached = partial_dir and _partial_file(partial_dir, chunk, *shape, len(paths))
        if cached and cached.is_file():
            with np.load(cached) as data:
                store_rows(chunk, data["returns"], data["terminated"])
        else:
            chunks.append(chunk)

    def store(chunk: Chunk, chunk_returns: np.ndarray, terminated: np.ndarray) -> None:
        store_rows(chunk, chunk_returns, terminated)
        if partial_dir:
            buffer = io.BytesIO()
            np.savez(buffer, returns=chunk_returns, terminated=terminated)
            path = _partial_file(partial_dir, chunk, *shape, len(paths))
            atomic_write_bytes(path, buffer.getvalue())
        bar.update(chunk_returns.size)

    bar = tqdm(
        total=sum(len(c.members) for c in chunks) * len(episode_seeds),
        unit="episode",
        desc="instability evaluation",
        disable=not progress,
        dynamic_ncols=True,
    )
    workers = workers or os.cpu_count() or 1
    args = (env_id, max_episode_steps, episode_seeds)
    if workers == 1 or len(chunks) <= 1:
        for chunk in chunks:
            store(*_evaluate_chunk(chunk, *args))
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
    return results


def evaluate_returns(
    run: RunRecord,
    forks: list[Fork],
    alphas: np.ndarray,
    episode_seeds: np.ndarray,
    workers: int,
    progress: bool,
    partial_dir: Path | None = None,
    pairs: list[Pair] | None = None,
) -> dict[tuple[int, Pair], tuple[np.ndarray, np.ndarray]]:
    """Per (fork id, pair), the ``[alphas, episodes]`` returns and termination flags of every
    interpolated policy, all pairs of all forks in one batched evaluation."""
    pairs = pairs or [(1, 2)]
    paths = {
        (fork.fork_id, pair): tuple(str(f) for f in child_files(run, fork, pair))
        for fork in forks
        for pair in pairs
    }
    cfg = run.config
    return evaluate_paths(
        paths,
        cfg.env,
        cfg.max_episode_steps,
        alphas,
        episode_seeds,
        workers,
        progress,
        partial_dir,
    )


def _critic_path(
    run: RunRecord, fork: Fork, alphas: np.ndarray, pair: Pair = (1, 2)
) -> CriticPath | None:
    path = run.paths.critic_transitions_file(fork.fork_id)
    if not path.is_file():
        return None
    return critic_path_of_files(child_files(run, fork, pair), path, run.config.gamma, alphas)


def critic_path_of_files(
    files: tuple[Path, Path] | tuple[str, str],
    transitions_file: Path,
    gamma: float,
    alphas: np.ndarray,
) -> CriticPath:
    """The critic along the path between two agent files, on saved transitions: every
    transition's squared TD error at every alpha (the critic barrier resamples them)."""
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
        td.append(chunk_td)
        q.append(chunk_q)
    return CriticPath(td_errors=np.concatenate(td), mean_q=np.concatenate(q))


@dataclass(frozen=True)
class TrainingReference:
    """What the "untrained" verdict and the barrier's scale compare children with (None where
    the run lacks it)."""

    random_return: float | None  # the parent's warm-up episodes (uniform random actions)
    best_return: float | None  # the best periodic evaluation of the parent or the fork's children
    solved_return: float | None = None  # --solved_return, else the task's known value
    solved_source: str = bs.REFERENCE_SOLVED


def training_reference(
    run: RunRecord, fork: Fork, solved: float | None = None
) -> TrainingReference:
    """The references of ``fork``'s verdict: from the parent and this fork's children only, so
    that a fork's result does not depend on which other forks the run has. ``solved``: the
    solved return given to this evaluation (``--solved_return``), over the run's."""
    random_return = (run.record.get("random_policy") or {}).get("mean_return")
    lineage = {"parent", *(fork.child_name(c) for c in range(1, run.config.children + 1))}
    best = None
    try:
        with open(run.paths.evaluations_file, newline="") as f:
            values = [
                float(row["mean_return"]) for row in csv.DictReader(f) if row["member"] in lineage
            ]
        best = max(values) if values else None
    except (OSError, KeyError, ValueError):
        best = None
    cfg = run.config
    if solved is not None:
        return TrainingReference(random_return, best, solved, bs.REFERENCE_FLAG)
    if cfg.solved_return is not None:
        return TrainingReference(random_return, best, cfg.solved_return, bs.REFERENCE_FLAG)
    known = solved_return(cfg.env, cfg.max_episode_steps)
    source = f"{cfg.env}'s solved return"
    return TrainingReference(random_return, best, known, source)


def _gradient_updates(run: RunRecord, fork: Fork, children: int) -> int | None:
    members = run.record.get("members") or {}
    counts = [
        (members.get(fork.child_name(c)) or {}).get("gradient_updates")
        for c in range(1, children + 1)
    ]
    return None if any(c is None for c in counts) else min(counts)


def _fork_identity(run: RunRecord, fork: Fork) -> dict[str, Any]:
    cfg = run.config
    return {
        "fork_id": fork.fork_id,
        "fork_point": fork.point,
        "fork_step": fork.step,
        "algo": cfg.algo,
        "env": cfg.env,
        "fork_buffer_strategy": cfg.fork_buffer_strategy,
        "fork_noise": str(cfg.fork_noise),
        "seed": cfg.seed,
        "stability_threshold": cfg.stability_threshold,
    }


def evaluation_folder(
    run: RunRecord,
    out: str | Path | None,
    overwrite: bool,
    alpha_points: int,
    num_eval_episodes: int,
    children: int | None = None,
    eval_stopping: str | None = None,
) -> Path:
    """Where a re-evaluation goes: ``out``, or a new ``evaluations/a{A}_e{E}[_k]`` folder; the
    run's own ``forks/`` only with ``overwrite``. Never replaces results silently."""
    if out is None and overwrite:
        return run.paths.results / RUN_EVALUATION
    if out is not None:
        folder = Path(out)
        if not overwrite and any(folder.glob("instability_*.json")):
            raise UserError(
                f"--out: {folder} already holds an evaluation; choose another folder or add "
                "--overwrite"
            )
        return folder
    name = f"a{alpha_points}_e{num_eval_episodes}"
    if children is not None and children != run.config.children:
        name += f"_c{children}"
    if eval_stopping is not None and eval_stopping != run.config.eval_stopping:
        name += f"_stopping_{eval_stopping}"
    base = run.paths.results / EVALUATIONS_FOLDER / name
    folder, k = base, 1
    while folder.exists() and any(folder.glob("instability_*.json")):
        k += 1
        folder = base.with_name(f"{base.name}_{k}")
    return folder


def _measure_fork(
    run: RunRecord,
    fork: Fork,
    returns: dict[tuple[int, Pair], tuple[np.ndarray, np.ndarray]],
    alphas: np.ndarray,
    pairs: list[Pair],
    reference: TrainingReference,
    confidence: float,
    critics: dict[Pair, CriticPath | None] | None = None,
) -> ForkResult:
    """Every pair's path of one fork and the fork's record (``combine_pairs``), with each
    pair's critic path where ``critics`` has one (none at a sequential evaluation's looks:
    the critic reads no episode)."""
    cfg = run.config
    common = {
        "threshold": cfg.stability_threshold,
        "random_return": reference.random_return,
        "best_return": reference.best_return,
        "gradient_updates": _gradient_updates(run, fork, max(max(p) for p in pairs)),
        "solved_return": reference.solved_return,
        "solved_source": reference.solved_source,
        "confidence": confidence,
        "critic_threshold": cfg.critic_threshold,
        "task_ceiling": solved_return(cfg.env, cfg.max_episode_steps),
    }
    per_pair = {
        pair: measure_path(
            returns[(fork.fork_id, pair)][0],
            alphas,
            terminated=returns[(fork.fork_id, pair)][1],
            critic=(critics or {}).get(pair),
            **common,
        )
        for pair in pairs
    }
    return combine_pairs(per_pair[(1, 2)], per_pair, **common)


def evaluate_run(
    run: RunRecord,
    alpha_points: int | None = None,
    num_eval_episodes: int | None = None,
    workers: int = 0,
    progress: bool = True,
    folder: Path | None = None,
    children: int | None = None,
    eval_stopping: str | None = None,
    solved_return: float | None = None,
) -> list[ForkResult]:
    """Evaluate every pair of every fork's children (of its first ``children``, default all);
    write instability_{id}.json, returns_{id}.npz and all_forks_results.json into ``folder``
    (default: the run's forks/ and its all_forks_results.json).

    ``eval_stopping`` "verdict" (default: the run's): episodes come in the looks of
    ``bs.stopping_looks``, the same episode seeds at every alpha, pair and fork; after each look
    a fork whose verdict is decided stops, the others play the next batch. Every look's
    interval is at ``bs.look_confidence``, so the verdicts stay valid under the repeated looks.
    ``solved_return`` overrides the run's reference for "untrained"."""
    cfg = run.config
    forks = piece_forks(cfg)
    if not forks:
        raise UserError(f"--results_dir: {run.paths.results} has no fork points to evaluate")
    alpha_points = cfg.alpha_points if alpha_points is None else alpha_points
    num_eval_episodes = cfg.num_eval_episodes if num_eval_episodes is None else num_eval_episodes
    if alpha_points < 2 or num_eval_episodes < 1:
        raise UserError("--alpha_points must be >= 2 and --num_eval_episodes >= 1")
    children = children or cfg.children
    if not 2 <= children <= cfg.children:
        raise UserError(f"--children: the run has {cfg.children} children per fork; got {children}")
    stopping = (eval_stopping or cfg.eval_stopping) == "verdict"
    own = folder is None or Path(folder).resolve() == (run.paths.results / RUN_EVALUATION).resolve()
    folder = Path(folder) if folder is not None else run.paths.results / RUN_EVALUATION
    alphas = interpolation_alphas(alpha_points)
    seeds = evaluation_seeds(cfg.seed, num_eval_episodes)
    pairs = fork_pairs(children)
    broken = _broken_forks(run, forks, children)
    healthy = [f for f in forks if not broken[f.fork_id]]
    looks = bs.stopping_looks(num_eval_episodes) if stopping else [num_eval_episodes]
    confidence = bs.look_confidence(len(looks)) if stopping else bs.CONFIDENCE
    partial = folder / "partial"
    started = time.time()
    returns: dict[tuple[int, Pair], tuple[np.ndarray, np.ndarray]] = {}
    history: dict[int, list[dict[str, Any]]] = {f.fork_id: [] for f in healthy}
    open_forks, done = list(healthy), 0
    for look, episodes in enumerate(looks):
        if not open_forks:
            break
        batch = evaluate_returns(
            run,
            open_forks,
            alphas,
            seeds[done:episodes],
            workers,
            progress,
            partial / f"look{look}" if stopping else partial,
            pairs,
        )
        for key, (more_returns, more_flags) in batch.items():
            old = returns.get(key)
            returns[key] = (
                (more_returns, more_flags)
                if old is None
                else (np.hstack([old[0], more_returns]), np.hstack([old[1], more_flags]))
            )
        done = episodes
        if not stopping:
            break
        still_open = []
        for fork in open_forks:
            reference = training_reference(run, fork, solved_return)
            verdict = _measure_fork(run, fork, returns, alphas, pairs, reference, confidence)
            history[fork.fork_id].append({"episodes": episodes, "verdict": verdict.verdict})
            if not bs.decided(verdict.verdict):
                still_open.append(fork)
        open_forks = still_open
    print(
        f"lmc-rl: evaluated {counted(len(pairs), 'pair')} of {counted(len(healthy), 'fork')}, "
        f"{alpha_points} alphas x {'up to ' if stopping else ''}{num_eval_episodes} episodes, in "
        f"{time.time() - started:.1f} s",
        file=sys.stderr,
    )
    results = write_fork_results(
        run,
        forks,
        returns,
        alpha_points,
        num_eval_episodes,
        children,
        folder,
        own,
        looks=looks if stopping else None,
        history=history,
        solved_return=solved_return,
    )
    shutil.rmtree(partial, ignore_errors=True)
    return results


def _broken_forks(run: RunRecord, forks: list[Fork], children: int) -> dict[int, list[str]]:
    """Per fork id, its children (of the first ``children``) that diverged."""
    diverged = run.record.get("diverged") or {}
    return {
        f.fork_id: [n for c in range(1, children + 1) if (n := f.child_name(c)) in diverged]
        for f in forks
    }


def saved_returns(
    folder: Path, forks: list[Fork], children: int
) -> dict[tuple[int, Pair], tuple[np.ndarray, np.ndarray]]:
    """The returns and termination flags that ``write_fork_results`` saved in ``folder``'s
    returns_{id}.npz, as ``evaluate_returns`` gives them (a merge measures them again)."""
    pairs = fork_pairs(children)
    out = {}
    for fork in forks:
        with np.load(Path(folder) / returns_name(fork.fork_id)) as data:
            stored = [tuple(p) for p in data["pairs"].tolist()]
            for pair in pairs:
                i = stored.index(pair)
                out[(fork.fork_id, pair)] = (data["pair_returns"][i], data["pair_terminated"][i])
    return out


def write_fork_results(
    run: RunRecord,
    forks: list[Fork],
    returns: dict[tuple[int, Pair], tuple[np.ndarray, np.ndarray]],
    alpha_points: int,
    num_eval_episodes: int,
    children: int,
    folder: Path,
    own: bool = True,
    *,
    looks: list[int] | None = None,
    history: dict[int, list[dict[str, Any]]] | None = None,
    solved_return: float | None = None,
) -> list[ForkResult]:
    """Measure every fork's evaluated paths; write instability_{id}.json and returns_{id}.npz
    into ``folder`` and the summary (the run's all_forks_results.json if ``own``). ``looks``:
    a sequential evaluation's schedule (None: every fork played all its episodes at once) and
    ``history`` each fork's verdict at each look."""
    cfg = run.config
    summary_file = run.paths.all_forks_file if own else folder / ALL_FORKS_FILE
    alphas = interpolation_alphas(alpha_points)
    seeds = evaluation_seeds(cfg.seed, num_eval_episodes)
    pairs = fork_pairs(children)
    diverged = run.record.get("diverged") or {}
    broken = _broken_forks(run, forks, children)
    stopping = looks is not None
    looks = looks if stopping else [num_eval_episodes]
    confidence = bs.look_confidence(len(looks)) if stopping else bs.CONFIDENCE
    history = history or {}
    evaluation = {
        "folder": os.path.relpath(folder, run.paths.results),
        "alpha_points": alpha_points,
        "num_eval_episodes": num_eval_episodes,
        "children": children,
        "pairs": len(pairs),
        "episode_seeds": "evaluation_seeds(run seed): the same for every alpha, pair and fork",
        "stability_threshold": cfg.stability_threshold,
        "eval_stopping": "verdict" if stopping else "none",
        "looks": looks,
        "confidence": confidence,
        "critic_threshold": cfg.critic_threshold,
    }  # no times here: a resumed evaluation writes the same files as an uninterrupted one
    results = []
    for fork in forks:
        identity = {**_fork_identity(run, fork), "evaluation": evaluation}
        if broken[fork.fork_id]:
            names = broken[fork.fork_id]
            result = diverged_fork_result(identity, {n: diverged[n] for n in names})
            atomic_write_json(folder / instability_name(fork.fork_id), result.to_json())
            results.append(result)
            continue
        reference = training_reference(run, fork, solved_return)
        critics = {pair: _critic_path(run, fork, alphas, pair) for pair in pairs}
        result = _measure_fork(run, fork, returns, alphas, pairs, reference, confidence, critics)
        used = returns[(fork.fork_id, (1, 2))][0].shape[1]
        result = dataclasses.replace(
            result,
            **identity,
            returns_file=returns_name(fork.fork_id),
            episodes_used=used,
            evaluation_looks=history.get(fork.fork_id) if stopping else None,
        )
        buffer = io.BytesIO()
        np.savez(
            buffer,
            alphas=alphas,
            returns=returns[(fork.fork_id, (1, 2))][0],
            terminated=returns[(fork.fork_id, (1, 2))][1],
            episode_seeds=seeds[:used],
            pairs=np.array(pairs),
            pair_returns=np.stack([returns[(fork.fork_id, p)][0] for p in pairs]),
            pair_terminated=np.stack([returns[(fork.fork_id, p)][1] for p in pairs]),
            **_td_error_arrays(critics, pairs),
        )
        atomic_write_bytes(folder / result.returns_file, buffer.getvalue())
        atomic_write_json(folder / instability_name(fork.fork_id), result.to_json())
        results.append(result)
    atomic_write_json(
        summary_file,
        {
            "env": cfg.env,
            "algo": cfg.algo,
            "seed": cfg.seed,
            "fork_buffer_strategy": cfg.fork_buffer_strategy,
            "fork_noise": str(cfg.fork_noise),
            "total_steps": cfg.total_steps,
            "alpha_points": alpha_points,
            "num_eval_episodes": num_eval_episodes,
            "stability_threshold": cfg.stability_threshold,
            "critic_threshold": cfg.critic_threshold,
            "children": children,
            "evaluation": evaluation,
            "forks": [r.summary() for r in results],
        },
    )
    return results


def _td_error_arrays(critics: dict[Pair, CriticPath | None], pairs: list[Pair]) -> dict:
    """returns_{id}.npz's critic arrays: ``td_errors[alpha, transition]`` of the pair (1, 2)
    and ``pair_td_errors[pair, alpha, transition]``; none where no transitions were saved."""
    if any(critics[p] is None for p in pairs):
        return {}
    return {
        "td_errors": critics[pairs[0]].td_errors,
        "pair_td_errors": np.stack([critics[p].td_errors for p in pairs]),
    }


def diverged_fork_result(identity: dict[str, Any], diverged: dict[str, int]) -> ForkResult:
    """A fork whose child diverged has no interpolation path; say so instead of measuring it."""
    return ForkResult(
        **identity,
        diverged=diverged,
        verdict="diverged",
        verdict_reason="non-finite weights or losses: " + ", ".join(diverged),
    )
