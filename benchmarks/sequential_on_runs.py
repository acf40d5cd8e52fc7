"""Sequential evaluation against the fixed number of episodes, on a finished run's own agents.

Why: the calibration (``barrier_calibration.py``) shows on synthetic paths that stopping a fork
once its verdict is decided keeps the error bounds; a researcher choosing ``--eval_stopping``
also wants to know what it saves and whether it changes any verdict on real agents. This script
evaluates every fork of a finished run twice with ``lmc-rl evaluate``, once with
``--eval_stopping verdict`` and once with ``none`` (every policy plays all episodes), each into a
folder of its own outside the run, times both in the same session, and prints the verdicts,
linear barriers, episodes used and wall times side by side.

Usage::

    python benchmarks/sequential_on_runs.py RESULTS_DIR [--alpha_points 21] \
        [--num_eval_episodes 100] [--children N] [--eval_workers 1] [--out DIR]

The two evaluations run one after the other with the same workers, so their wall times compare
on a shared machine only as well as its load held still; the episode counts compare exactly.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import markdown_table, write_lines  # benchmarks/ is on sys.path as a script

from lmc_rl.records.number_text import estimate_with_interval

MODES = ("verdict", "none")


def refuse(problem: str) -> None:
    """One line on stderr naming the problem, exit status 2."""
    print(f"sequential_on_runs: {problem}", file=sys.stderr)
    sys.exit(2)


def evaluate(results_dir: Path, out: Path, mode: str, args: argparse.Namespace) -> float:
    """Run ``lmc-rl evaluate`` with ``--eval_stopping mode`` into ``out``; its wall seconds."""
    command = [
        "lmc-rl",
        "evaluate",
        "--results_dir",
        str(results_dir),
        "--out",
        str(out),
        "--eval_stopping",
        mode,
        "--num_eval_episodes",
        str(args.num_eval_episodes),
        "--eval_workers",
        str(args.eval_workers),
        "--no_progress",
    ]
    if args.alpha_points is not None:
        command += ["--alpha_points", str(args.alpha_points)]
    if args.children is not None:
        command += ["--children", str(args.children)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        refuse(f"lmc-rl evaluate ({mode}) failed: {done.stderr.strip()}")
    return seconds


def fork_records(out: Path) -> list[dict]:
    """Each fork's record of one evaluation, in fork order."""
    return [
        json.loads(p.read_text())
        for p in sorted(out.glob("instability_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    ]


def barrier_cell(record: dict) -> str:
    """The barrier the verdict reads, with its interval: the mean over pairs with three or more
    children, else the one pair's cross-fitted linear barrier (formatted as lmc-rl prints it)."""
    if record.get("pair_mean_linear_barrier") is not None:
        return estimate_with_interval(
            record["pair_mean_linear_barrier"], record.get("pair_mean_linear_barrier_ci")
        )
    return estimate_with_interval(
        record.get("linear_barrier_crossfit"), record.get("linear_barrier_ci")
    )


def side_by_side(records: dict[str, list[dict]]) -> list[list[str]]:
    """One row per fork: verdicts, barriers and episodes of both evaluations."""
    rows = []
    for seq, fixed in zip(records["verdict"], records["none"], strict=True):
        rows.append(
            [
                str(seq["fork_id"]),
                f"{seq['fork_point']:g}",
                str(seq["fork_step"]),
                seq["verdict"],
                fixed["verdict"],
                "same" if seq["verdict"] == fixed["verdict"] else "**differs**",
                str(seq["episodes_used"]),
                str(fixed["episodes_used"]),
                barrier_cell(seq),
                barrier_cell(fixed),
                f"{seq['barrier_limit']:.4g}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dir", type=Path, help="A finished run's results folder.")
    parser.add_argument(
        "--alpha_points",
        type=int,
        default=None,
        help="Interpolation coefficients (default: the run's).",
    )
    parser.add_argument(
        "--num_eval_episodes",
        type=int,
        default=100,
        help="Episodes per policy of the fixed evaluation, and the most the sequential one plays.",
    )
    parser.add_argument(
        "--children",
        type=int,
        default=None,
        help="Evaluate the pairs among the first N children (default: all).",
    )
    parser.add_argument("--eval_workers", type=int, default=1, help="Processes of each evaluation.")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="Folder for the two evaluations (default: a temporary one).",
    )
    args = parser.parse_args()
    if not (args.results_dir / "config.json").is_file():
        refuse(f"{args.results_dir} is not a run's results folder")
    base = args.out or Path(tempfile.mkdtemp(prefix="sequential_on_runs_"))
    seconds, records = {}, {}
    for mode in MODES:
        out = base / mode
        seconds[mode] = evaluate(args.results_dir, out, mode, args)
        records[mode] = fork_records(out)
    config = json.loads((args.results_dir / "config.json").read_text())["config"]
    alphas = records["verdict"][0]["alpha_points"] if records["verdict"] else args.alpha_points
    title = (
        f"{config['env']} {config['algo']} seed {config['seed']}, {len(records['verdict'])} "
        f"forks, {alphas} alphas, at most {args.num_eval_episodes} episodes per policy"
    )
    header = [
        "fork",
        "point",
        "step",
        "verdict (sequential)",
        "verdict (fixed)",
        "",
        "episodes (sequential)",
        "episodes (fixed)",
        "linear barrier, verdict's (sequential)",
        "linear barrier, verdict's (fixed)",
        "limit",
    ]
    table = markdown_table(header, side_by_side(records))
    used = {m: sum(r["episodes_used"] for r in records[m]) for m in MODES}
    summary = (
        f"wall time: sequential {seconds['verdict']:.0f} s, fixed {seconds['none']:.0f} s "
        f"({seconds['none'] / seconds['verdict']:.1f}x); episodes per policy summed over "
        f"forks: {used['verdict']} against {used['none']}"
    )
    lines = [title, "", table, summary, f"evaluations in {base}"]
    print("\n".join(lines))
    name = f"sequential_on_runs_{config['env']}_{config['algo']}_seed{config['seed']}.md"
    print(f"kept in {write_lines(name, lines)}")


if __name__ == "__main__":
    main()
