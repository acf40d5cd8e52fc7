"""The connect study of the README: barriers between seeds (with and without weight matching),
between checkpoints of one run 10 % of training apart, and between the children of a late fork.

Why a script: the table in the README is only worth as much as the command that remakes it.
Given the run folders of one ``lmc-rl run --seeds ... --save_every N --fork_points 0.8`` call,
it runs ``lmc-rl connect --runs`` over the seeds' final agents, ``lmc-rl connect`` between each
seed's last two snapshots (``parent_step{T - N}.pt`` and ``final.pt``), reads every path JSON and
each run's own fork JSON, and prints one markdown table (also written as ``table.md``), with the
time of each step. Connect outputs that exist are reused.

Usage::

    lmc-rl run --env InvertedDoublePendulum-v5 --algo SAC --seeds 1,2,3 --total_steps 40000 \\
        --learning_starts 1000 --train_freq 1 --save_every 4000 --fork_points 0.8 \\
        --alpha_points 21 --num_eval_episodes 20 --eval_freq 4000 --output_dir STUDY
    python benchmarks/connect_study.py STUDY/results/*/*/*/seed_* --out STUDY/connect
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lmc_rl import connect_pair, load_run
from lmc_rl.config.connect_settings import ConnectSettings
from lmc_rl.experiment.connect import connect_runs
from lmc_rl.records.layout import parent_snapshot_name


def interval(values: list[float] | None) -> str:
    low, high = (round(v, 1) + 0.0 for v in values) if values else (None, None)  # no "-0.0"
    return f"[{low:.1f}, {high:.1f}]" if values else "[-, -]"


def row(label: str, path: dict) -> str:
    """One table row from a path's (or fork's) JSON fields."""
    return (
        f"| {label} | {path['fork1_reward']:.0f} | {path['fork2_reward']:.0f} | "
        f"{path['min_reward']:.0f} ({path['min_alpha']:.2f}) | {path['instability']:.1f} | "
        f"{path['linear_barrier']:.1f} {interval(path['linear_barrier_ci'])} | "
        f"{path['verdict']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="Run folders of one --seeds call.")
    parser.add_argument("--out", required=True, help="Folder for the connect outputs.")
    parser.add_argument("--alpha_points", type=int, default=21)
    parser.add_argument("--num_eval_episodes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="Evaluation processes.")
    args = parser.parse_args()
    out = Path(args.out)
    runs = [load_run(d) for d in args.runs]
    settings = ConnectSettings(
        alpha_points=args.alpha_points,
        num_eval_episodes=args.num_eval_episodes,
        seed=0,
        max_episode_steps=runs[0].config.max_episode_steps,
        workers=args.workers,
    )
    timings = {}
    seeds_dir = out / "seeds"
    if not (seeds_dir / "connect.json").is_file():
        started = time.perf_counter()
        connect_runs(args.runs, ("none", "weight_matching"), settings, seeds_dir, progress=False)
        timings["all pairs of seeds, with and without alignment"] = time.perf_counter() - started
    lines = [
        "| path | R(0) | R(1) | min (at α) | B | linear barrier [95 % CI] | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in json.loads((seeds_dir / "connect.json").read_text())["paths"]:
        how = "weight matching" if path["align"] == "weight_matching" else "no alignment"
        tag = "(b)" if path["align"] == "weight_matching" else "(a)"
        full = json.loads((seeds_dir / f"path_{path['key']}.json").read_text())
        lines.append(row(f"{tag} {path['a_label']} – {path['b_label']}, {how}", full))
    for run in runs:
        cfg = run.config
        early = cfg.total_steps - cfg.save_every
        folder = out / f"checkpoints_seed{cfg.seed}"
        if not (folder / "connect.json").is_file():
            started = time.perf_counter()
            connect_pair(
                str(run.paths.weights / parent_snapshot_name(early)),
                str(run.paths.final_weights),
                "none",
                settings,
                folder,
                progress=False,
            )
            timings[f"checkpoints of seed {cfg.seed}"] = time.perf_counter() - started
        key = json.loads((folder / "connect.json").read_text())["paths"][0]["key"]
        path = json.loads((folder / f"path_{key}.json").read_text())
        label = f"(c) seed {cfg.seed}, step {early // 1000}k – {cfg.total_steps // 1000}k"
        lines.append(row(label, path))
    for run in runs:
        cfg = run.config
        fork = json.loads((run.paths.forks_dir / "instability_1.json").read_text())
        label = (
            f"(d) seed {cfg.seed}, fork at {fork['fork_step'] // 1000}k, children at "
            f"{cfg.total_steps // 1000}k"
        )
        lines.append(row(label, fork))
    table = "\n".join(lines) + "\n"
    (out / "table.md").write_text(table)
    print(table)
    for what, seconds in timings.items():
        print(f"{what}: {seconds:.0f} s")


if __name__ == "__main__":
    main()
