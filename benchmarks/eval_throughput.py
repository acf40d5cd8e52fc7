"""Evaluation throughput: the batched population evaluator against the prototype's loop.

Why: the instability analysis evaluates 101 interpolated policies x 100 episodes per fork. The
prototype did this one policy and one episode at a time. Measured here in one run, on the same
interpolated policies of one fork and the same episode starts:

* prototype loop: for each alpha, for each episode, a single env and a forward pass per step;
* batched, 1 process: all alphas as one population, one forward per step for all open episodes;
* batched, all cores: the same spread over worker processes (what ``lmc-rl evaluate`` does);
* raw: a single gymnasium env stepped with random actions, no policy, per core (the ceiling).

It also reports the share of the 1-process batched time spent in policy inference.

Usage::

    python benchmarks/eval_throughput.py                         # IDP, children trained 16k steps
    python benchmarks/eval_throughput.py --results_dir RUN       # a finished run's fork 1
    python benchmarks/eval_throughput.py --alphas 3 --episodes 4 # quick check
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tables import write_lines

from lmc_rl import build_config, load_run, run_experiment
from lmc_rl.config.tasks import check_task
from lmc_rl.learners.allocator import keep_freed_memory
from lmc_rl.measuring.instability import ENVS_PER_MEMBER, evaluate_returns
from lmc_rl.measuring.interpolation import interpolated_population, interpolation_alphas
from lmc_rl.training.envs import ActionScaler
from lmc_rl.training.evaluation import EvaluationEnvs, evaluate_members
from lmc_rl.training.forking import fork_schedule
from lmc_rl.training.run_files import load_agent_state
from lmc_rl.training.seeding import evaluation_seeds


def make_run(env: str, root: Path, total_steps: int) -> Path:
    """A run with one fork whose children are trained enough for long episodes (as in a real
    analysis; untrained children fall at once and the timing would be of resets)."""
    config = build_config(
        {
            "env": env,
            "seed": 1,
            "total_steps": total_steps,
            "learning_starts": 1000,
            "train_freq": 1,
            "eval_freq": 10**9,
            "fork_points": "0.6",
            "alpha_points": 2,
            "num_eval_episodes": 1,
            "eval_workers": 1,
            "output_dir": str(root),
            "device": "cpu",
        }
    )
    return run_experiment(config, progress=False).results


@torch.no_grad()
def prototype_loop(children, alphas, seeds, env_id: str, max_steps: int) -> tuple[int, float]:
    """One policy, one episode, one env at a time."""
    task = check_task(env_id)
    scaler = ActionScaler(task.action_low, task.action_high)
    env = gym.make(env_id, max_episode_steps=max_steps)
    steps, started = 0, time.perf_counter()
    for alpha in alphas:
        policy = interpolated_population(*children, np.array([alpha]))
        for seed in seeds:
            obs, _ = env.reset(seed=int(seed))
            done = False
            while not done:
                action = policy.act(torch.as_tensor(obs, dtype=torch.float32)[None, None])
                obs, _, terminated, truncated, _ = env.step(scaler.to_env(action[0, 0].numpy()))
                done = terminated or truncated
                steps += 1
    return steps, time.perf_counter() - started


def batched_one_process(children, alphas, seeds, env_id: str, max_steps: int):
    """evaluate_members on one population: (seconds, inference seconds, env steps taken)."""
    pool = EvaluationEnvs(check_task(env_id), max_steps)
    population = interpolated_population(*children, alphas)
    counted = count_steps(pool, len(alphas) * min(ENVS_PER_MEMBER, len(seeds)))
    inference = [0.0]
    act = population.act

    def timed_act(*args, **kwargs):
        t = time.perf_counter()
        out = act(*args, **kwargs)
        inference[0] += time.perf_counter() - t
        return out

    population.act = timed_act
    started = time.perf_counter()
    evaluate_members(population, pool, seeds, ENVS_PER_MEMBER)
    return time.perf_counter() - started, inference[0], counted[0]


def count_steps(pool: EvaluationEnvs, n_envs: int) -> list[int]:
    """Make the pool's first ``n_envs`` envs count their steps into the returned list."""
    counted = [0]
    for env in pool.take(n_envs):
        step = env.step

        def counting_step(action, _step=step):
            counted[0] += 1
            return _step(action)

        env.step = counting_step
    return counted


def raw_rate(env_id: str, steps: int = 20_000) -> float:
    env = gym.make(env_id)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(
        env.action_space.low, env.action_space.high, (steps, *env.action_space.shape)
    )
    started = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - started)


def main() -> None:
    keep_freed_memory()  # as the lmc-rl command does (lmc_rl/learners/allocator.py)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="InvertedDoublePendulum-v5")
    parser.add_argument("--results_dir", help="A finished run; its fork 1 is evaluated.")
    parser.add_argument(
        "--train_steps",
        type=int,
        default=16_000,
        help="Training steps of the run made when no --results_dir is given (default 16000: "
        "SAC then balances InvertedDoublePendulum for whole episodes).",
    )
    parser.add_argument(
        "--alphas",
        type=int,
        default=32,
        help="Interpolated policies (default 32: two chunks of 16, one per worker).",
    )
    parser.add_argument("--episodes", type=int, default=40, help="Episodes per policy.")
    parser.add_argument(
        "--prototype_alphas",
        type=int,
        default=4,
        help="Policies the (slow) prototype loop runs; its rate is per env step (default 4).",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        results_dir = (
            Path(args.results_dir)
            if args.results_dir
            else make_run(args.env, Path(tmp), args.train_steps)
        )
        run = load_run(results_dir)
        fork = fork_schedule(run.config)[0]
        files = [run.paths.child_weights(c, fork.fork_id) for c in (1, 2)]
        children = [load_agent_state(f)[0] for f in files]
        env_id, max_steps = run.config.env, run.config.max_episode_steps
        alphas = interpolation_alphas(args.alphas)
        seeds = evaluation_seeds(run.config.seed, args.episodes)

        proto_alphas = alphas[:: max(1, len(alphas) // args.prototype_alphas)]
        proto_steps, proto_s = prototype_loop(children, proto_alphas, seeds, env_id, max_steps)
        # the same policies and episodes in every batched mode: the same env steps
        one_s, inference_s, n = batched_one_process(children, alphas, seeds, env_id, max_steps)
        started = time.perf_counter()
        evaluate_returns(run, [fork], alphas, seeds, workers=args.workers, progress=False)
        many_s = time.perf_counter() - started
        raw = raw_rate(env_id)

    rows = [
        ("prototype loop (1 policy, 1 episode at a time)", 1, proto_steps / proto_s),
        ("batched population, 1 process", 1, n / one_s),
        (f"batched population, {args.workers} processes", args.workers, n / many_s),
        ("raw gymnasium, random actions, no policy (per core)", 1, raw),
    ]
    base = rows[0][2]
    lines = [
        f"evaluation throughput: {env_id}, fork 1 of {results_dir.name}, {args.alphas} alphas x "
        f"{args.episodes} episodes = {n} env steps (prototype loop: {len(proto_alphas)} of the "
        "alphas); torch threads 1",
        "",
        "| mode | processes | env-steps/s | vs prototype |",
        "|---|---|---|---|",
        *[f"| {name} | {p} | {rate:,.0f} | {rate / base:.2f}x |" for name, p, rate in rows],
        "",
        f"batched, all processes, against raw x processes: {rows[2][2] / (raw * args.workers):.0%}",
        f"policy inference share of the 1-process batched time: {inference_s / one_s:.0%}",
    ]
    print("\n".join(lines))
    write_lines("eval_throughput.md", lines)


if __name__ == "__main__":
    main()
