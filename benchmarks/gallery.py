"""Copy a finished run's small result files into the documentation's gallery.

Why: a run's folder does not outlive the machine it ran on, and its agent files and checkpoints are
too large for the repository. The gallery keeps, per experiment, what a reader needs to see and
re-analyse the result (report, figures, per-fork results, every episode's return, the learning
curves, the settings) and how to reproduce it (the exact commands, the code version, the wall
times), a few MB in all.

Usage::

    # a finished piece of a run in pieces: its result files, kept until the merge
    python benchmarks/gallery.py piece RESULTS_DIR docs/gallery/NAME/pieces/PIECE
    # the finished (merged) run: report with a preface, figures, render of the deepest barrier
    python benchmarks/gallery.py run RESULTS_DIR docs/gallery/NAME --preface PREFACE.md
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from lmc_rl.records.layout import (
    ALL_FORKS_FILE,
    ANALYSIS_FOLDER,
    CONFIG_FILE,
    EVALUATIONS_FILE,
    FORKS_FOLDER,
    REPORT_FILE,
)

# per fork: its measured result (each alpha's mean return and interval); every episode's return,
# with the critics' TD errors (1.7 MB a fork), and the agent files stay behind (large)
FORK_FILES = ("instability_*.json",)


def copy_results(run: Path, dest: Path) -> list[Path]:
    """The run's settings, learning curves, per-fork results and episode returns, into dest."""
    if json.loads((run / CONFIG_FILE).read_text()).get("status") != "finished":
        sys.exit(f"gallery: {run} is not finished")
    (dest / FORKS_FOLDER).mkdir(parents=True, exist_ok=True)
    copied = [shutil.copy2(run / name, dest / name) for name in (CONFIG_FILE, EVALUATIONS_FILE)]
    if (run / ALL_FORKS_FILE).exists():
        copied.append(shutil.copy2(run / ALL_FORKS_FILE, dest / ALL_FORKS_FILE))
    for pattern in FORK_FILES:
        for file in sorted((run / FORKS_FOLDER).glob(pattern)):
            copied.append(shutil.copy2(file, dest / FORKS_FOLDER / file.name))
    return [Path(p) for p in copied]


def deepest_barrier(run: Path) -> int:
    """The fork whose linear barrier (cross-fitted estimate, every pair's mean) is largest."""
    forks = json.loads((run / ALL_FORKS_FILE).read_text())["forks"]

    def depth(fork: dict) -> float:
        value = fork.get("pair_mean_linear_barrier")
        return float("-inf") if value is None else value

    return max(forks, key=depth)["fork_id"]


def copy_run(run: Path, dest: Path, preface: Path | None, render: bool) -> None:
    """Results, figures and report (after the preface) of a finished run, and a render GIF of the
    fork with the deepest barrier."""
    copy_results(run, dest)
    analysis = run / ANALYSIS_FOLDER
    for figure in sorted(analysis.glob("*.png")):
        shutil.copy2(figure, dest / figure.name)
    report = (analysis / REPORT_FILE).read_text()
    if preface:  # the preface is the page's title; the run's report becomes its second part
        head = preface.read_text().rstrip() + "\n\n## The run's report"
        report = head + report.removeprefix("# LMC-RL run")
    (dest / REPORT_FILE).write_text(report)
    if render:
        fork = deepest_barrier(run)
        gif = dest / f"render_fork{fork}.gif"
        command = ["lmc-rl", "render", "--results_dir", str(run), "--fork", str(fork), "--worst"]
        subprocess.run([*command, "--every", "4", "--out", str(gif)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("piece", "run"), help="a finished piece, or the run")
    parser.add_argument("results_dir", type=Path, help="the run's (or piece's) results folder")
    parser.add_argument("dest", type=Path, help="the gallery folder to write")
    parser.add_argument("--preface", type=Path, help="Markdown put before the run's report")
    parser.add_argument("--no_render", action="store_true", help="skip the render GIF")
    args = parser.parse_args()
    if args.what == "piece":
        copy_results(args.results_dir, args.dest)
    else:
        copy_run(args.results_dir, args.dest, args.preface, render=not args.no_render)
    print(args.dest)


if __name__ == "__main__":
    main()
