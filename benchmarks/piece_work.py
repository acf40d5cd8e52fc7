"""The default experiment in pieces: each piece's work and the files it keeps for the merge.

Why: ``lmc-rl run --pieces N`` recomputes the parent in every piece up to the forks it needs;
a researcher sharing a run out should know what each piece costs and what the price of the
recomputation is, before starting hours of work. Counted exactly from the default config and
the split ``--pieces N`` makes (``lmc_rl.experiment.pieces.split_forks``), as
``default_experiment.py`` counts the whole run; the sizes of the files a piece keeps are those of
files written at the default sizes (an agent file is saved, the npz files are built at their
shapes). Evaluation env steps are upper bounds (every episode at max_episode_steps).

Usage::

    python benchmarks/piece_work.py --pieces 2     # a few seconds
    python benchmarks/piece_work.py --add_forks 0.9   # what lmc-rl fork computes to add 0.9
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np

from lmc_rl.config.run_config import RunConfig, build_config
from lmc_rl.config.tasks import check_task
from lmc_rl.experiment.pieces import split_forks
from lmc_rl.learners.agents import make_agent
from lmc_rl.measuring.instability import fork_pairs
from lmc_rl.training.forking import child_update_after, fork_schedule, parent_until
from lmc_rl.training.run_files import save_agent
from lmc_rl.training.trainer import agent_spec, planned_updates


def piece_work(config: RunConfig, fork_ids: tuple[int, ...]) -> dict[str, float]:
    """Env steps (agent-steps), member updates and instability-evaluation env steps of the
    piece computing ``fork_ids`` (all forks: the whole run)."""
    piece = config.replace(forks=fork_ids)
    forks = [f for f in fork_schedule(config) if f.fork_id in fork_ids]
    parent_steps = parent_until(piece)
    children_steps = sum(config.children * (config.total_steps - f.step) for f in forks)
    parent_updates = planned_updates(
        config.replace(total_steps=parent_steps), config.learning_starts
    )
    children_updates = sum(
        config.children * planned_updates(config, max(f.step, child_update_after(config, f)))
        for f in forks
    )
    paths = len(forks) * len(fork_pairs(config.children))
    return {
        "parent_steps": parent_steps,
        "agent_steps": parent_steps + children_steps,
        "member_updates": parent_updates + children_updates,
        "instability_env_steps": paths
        * config.alpha_points
        * config.num_eval_episodes
        * config.max_episode_steps,
    }


def kept_file_sizes(config: RunConfig) -> dict[str, int]:
    """Bytes of each file a piece keeps per fork (and per run) for the merge, at the config's
    sizes."""
    task = check_task(config.env)
    agent = make_agent(config.algo, 1, agent_spec(config, task))
    agent.init_members([1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agent.pt"
        save_agent(path, agent, 0, task, {"member": "fork1_child1", "step": 0, "diverged_at": None})
        agent_bytes = path.stat().st_size

    def npz(**arrays: np.ndarray) -> int:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return len(buffer.getvalue())

    pairs = len(fork_pairs(config.children))
    shape = (config.alpha_points, config.num_eval_episodes)
    returns = npz(
        alphas=np.zeros(config.alpha_points),
        returns=np.zeros(shape),
        terminated=np.zeros(shape, bool),
        episode_seeds=np.zeros(config.num_eval_episodes, np.int64),
        pairs=np.zeros((pairs, 2), np.int64),
        pair_returns=np.zeros((pairs, *shape)),
        pair_terminated=np.zeros((pairs, *shape), bool),
    )
    n = 512 * config.children  # Trainer.save_critic_transitions: 512 per child
    critic = npz(
        obs=np.zeros((n, task.obs_dim), np.float32),
        action=np.zeros((n, task.action_dim), np.float32),
        reward=np.zeros(n, np.float32),
        next_obs=np.zeros((n, task.obs_dim), np.float32),
        terminated=np.zeros(n, np.float32),
    )
    return {
        "agent file (each child, the parent at the fork, final.pt)": agent_bytes,
        "returns_{id}.npz": returns,
        "critic_transitions_{id}.npz": critic,
    }


def added_forks_work(config: RunConfig, points: str) -> str:
    """A table: the piece ``lmc-rl fork`` computes to add ``points`` to the run of ``config``
    (the new forks, the parent as far as they need), against the whole larger run."""
    new = [float(p) for p in points.split(",")]
    larger = build_config(
        {"seed": config.seed, "fork_points": ",".join(map(str, [*config.fork_points, *new]))}
    )
    new_ids = tuple(f.fork_id for f in fork_schedule(larger) if f.point in new)
    all_ids = tuple(f.fork_id for f in fork_schedule(larger))
    piece, whole = piece_work(larger, new_ids), piece_work(larger, all_ids)
    parent = piece["parent_steps"]
    return "\n".join(
        [
            f"adding {points} to the default experiment ({len(config.fork_points)} forks)",
            "",
            "| | parent trained to | agent-steps | member updates | instability env steps |",
            "|---|---|---|---|---|",
            *(
                f"| {name} | {w['parent_steps']:,} | {w['agent_steps']:,} | "
                f"{w['member_updates']:,} | {w['instability_env_steps']:,} |"
                for name, w in (("lmc-rl fork", piece), ("the whole larger run", whole))
            ),
            "",
            f"recomputed parent: {parent:,} agent-steps ({parent / whole['agent_steps']:.1%} of "
            f"the whole larger run's); all of lmc-rl fork's training: "
            f"{piece['agent_steps'] / whole['agent_steps']:.1%}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pieces", type=int, default=2)
    parser.add_argument(
        "--add_forks",
        metavar="P[,P ...]",
        default=None,
        help="Instead: the work of `lmc-rl fork` adding these fork points to the default run.",
    )
    args = parser.parse_args()
    config = build_config({"seed": 1})  # the default experiment
    if args.add_forks:
        print(added_forks_work(config, args.add_forks))
        return
    schedule = tuple(f.fork_id for f in fork_schedule(config))
    whole = piece_work(config, schedule)
    split = split_forks(config, args.pieces)
    rows = [(ids, piece_work(config, ids)) for ids in split]
    points = {f.fork_id: f.point for f in fork_schedule(config)}
    lines = [
        f"default experiment ({config.env}, {config.algo}, {config.total_steps} steps, "
        f"{len(schedule)} forks of {config.children} children) in {len(split)} pieces",
        "",
        "| piece (fork points) | parent trained to | agent-steps | member updates | "
        "instability env steps (upper bound) |",
        "|---|---|---|---|---|",
    ]
    for ids, work in [*rows, (schedule, whole)]:
        name = "whole run" if ids == schedule else ", ".join(str(points[i]) for i in ids)
        lines.append(
            f"| {name} | {work['parent_steps']:,} | {work['agent_steps']:,} | "
            f"{work['member_updates']:,} | {work['instability_env_steps']:,} |"
        )
    extra_steps = sum(w["agent_steps"] for _, w in rows) - whole["agent_steps"]
    extra_updates = sum(w["member_updates"] for _, w in rows) - whole["member_updates"]
    lines += [
        "",
        f"recomputed parent: {extra_steps:,} agent-steps "
        f"({extra_steps / whole['agent_steps']:.1%} of the whole run's), {extra_updates:,} "
        f"member updates ({extra_updates / whole['member_updates']:.1%})",
        "",
        "| file kept per fork for the merge | bytes |",
        "|---|---|",
    ]
    sizes = kept_file_sizes(config)
    lines += [f"| {name} | {size:,} |" for name, size in sizes.items()]
    agent = next(iter(sizes.values()))
    per_fork = (config.children + 1) * agent + sum(list(sizes.values())[1:])
    lines.append(
        f"| per fork: {config.children} children + the parent at the fork + the two npz | "
        f"{per_fork:,} |"
    )
    lines.append(f"| the whole run's forks + final.pt | {len(schedule) * per_fork + agent:,} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
