"""Learning quality of our SAC / TD3 / DDPG next to Stable-Baselines3, same settings and budget.

Why: a population trainer is only worth having if each member learns as well as a standard,
trusted single-agent implementation. This script trains our implementation and SB3's with the
same hyperparameters, step budget, evaluation schedule and seeds, and tabulates, per
(env, algo, implementation), the mean +- std across seeds of

* the final evaluation return (where training ended up),
* the best evaluation return (what it reached at all),
* the area under the evaluation curve (mean of all evaluations: how fast it got there),
* the first step at which each seed reached 95% of the task's maximum return (tasks whose
  maximum is known: the pendulums),
* the wall time of one run.

Usage::

    python benchmarks/learning_quality.py --suite smoke        # a minute: does the script work?
    python benchmarks/learning_quality.py --suite issue        # the full comparison

Runs go through a pool of ``--workers`` processes, each limited to ``--threads`` torch threads
(default one): SB3 trains one seed per process; ours trains all seeds of an experiment as one
lockstep population in one process (``lmc-rl run --seeds``). Finished runs are kept in
``<out>/finished_<suite>/`` and ours in ``<out>/runs/`` until done, so a killed suite continues
where it stopped. Results are printed and written to
``<out>/learning_quality_<suite>_{summary,intervals}.{csv,md}``, ``_runs.csv``, ``_curves.csv``
and ``_curves.png`` (IQM learning curves with 95 % bootstrap bands). Any other selection than
the suite's own (other seeds, experiments, implementations, budget, ``--at_step`` or
``--squash_epsilon``) says so in its file names, e.g.
``learning_quality_locomotion_seeds1-7_SAC-Hopper-v5_*``, so it never replaces the suite's.

This file is the command line; the suites and jobs are defined in learning_quality_suite.py,
trained by learning_quality_training.py and tabulated by learning_quality_report.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from learning_quality_report import cut_at_step, output_stem, report_header, write_outputs
from learning_quality_suite import (
    IMPLEMENTATIONS,
    SUITES,
    cached_result,
    cached_result_reaching,
    experiment_id,
    make_jobs,
    run_identity,
)
from learning_quality_training import run_all, unfinished_ours
from tables import OUT


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative seeds, got {text!r}")
    return seeds


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Train our SAC/TD3/DDPG and Stable-Baselines3's with the same hyperparameters, budget "
            "and evaluation schedule over several seeds, and tabulate final, best and mean "
            "(area under curve) evaluation returns, steps to 95% of the maximum return (where "
            "it is known), and "
            "wall time."
        )
    )
    parser.add_argument(
        "--suite",
        choices=sorted(SUITES),
        default="issue",
        help=(
            "issue (default): SAC on InvertedPendulum-v5 (20k steps) and InvertedDoublePendulum-v5 "
            "(50k), TD3 and DDPG on InvertedPendulum-v5 (20k), seeds 1,2,3, ours vs SB3. "
            "smoke: SAC on InvertedPendulum-v5, 2000 steps, seed 1, hidden 32,32 (checks the "
            "script works). locomotion: SAC on Hopper-v5 and HalfCheetah-v5, TD3 on Hopper-v5, "
            "200k steps each, 10k random steps first, seeds 1-5. Finished runs are kept in "
            "<out>/finished_<suite>/, so a killed suite continues where it stopped."
        ),
    )
    parser.add_argument(
        "--seeds",
        type=parse_seeds,
        default=None,
        help="Comma-separated seeds, replacing the suite's (issue: 1,2,3; smoke: 1).",
    )
    parser.add_argument(
        "--implementations",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=list(IMPLEMENTATIONS),
        help="Comma-separated implementations to train: ours, sb3 (default both).",
    )
    parser.add_argument(
        "--only",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=None,
        help="Comma-separated ALGO:ENV experiments of the suite to run (default all), "
        "e.g. SAC:Hopper-v5.",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="Runs in parallel, each in its own process (default 2).",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of each worker (default 1), recorded with each result: e.g. "
        "--workers 1 --threads 2 gives our seed population both cores. Changes wall time and "
        "may change the last bits of a run (matmul blocking), not the settings compared.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help=f"Folder for the CSV and markdown results (default {OUT}).",
    )
    parser.add_argument(
        "--keep-runs",
        action="store_true",
        help="Keep our runs' result folders under <out>/runs instead of deleting them.",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="Train nothing: tabulate and plot the runs already finished in "
        "<out>/finished_<suite>/ (e.g. a suite part-way through).",
    )
    parser.add_argument(
        "--at_step",
        type=int,
        default=None,
        help="Compare at a common budget: cut every curve at this evaluation step (final = "
        "the return there; area under the curve up to it), leaving out runs that have not "
        "reached it. With --report, finished runs of any budget that reached it count (e.g. "
        "the suite's seeds with more seeds of a shorter --total_steps), and so do our runs "
        "still training under <out>/runs in the folder of this command's --seeds and budget "
        "(not those of other seed lists); the tables' names contain _at<step>.",
    )
    parser.add_argument(
        "--total_steps",
        type=int,
        default=None,
        help="Train every experiment for this many env steps instead of the suite's (e.g. "
        "more seeds of early learning for less time). Runs are cached under their budget, so "
        "they never mix with the suite's own.",
    )
    parser.add_argument(
        "--squash_epsilon",
        type=float,
        default=0.0,
        help="Our SAC's --squash_epsilon (default 0, the exact log-density). 1e-6 is SB3's "
        "constant, for an A/B of it: its runs are cached under their own names (ours_eps1e-06_"
        "...), so give it its own --out, with SB3's finished runs copied in to compare against.",
    )
    args = parser.parse_args(argv)
    if args.squash_epsilon < 0:
        parser.error("--squash_epsilon must be >= 0")
    if args.total_steps is not None and args.total_steps < 1:
        parser.error("--total_steps must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if not args.implementations or set(args.implementations) - set(IMPLEMENTATIONS):
        parser.error(f"--implementations: choose from {', '.join(IMPLEMENTATIONS)}")
    args.implementations = [i for i in IMPLEMENTATIONS if i in args.implementations]
    experiments = [experiment_id(algo, env) for algo, env, _ in SUITES[args.suite].experiments]
    if args.only is not None and (not args.only or set(args.only) - set(experiments)):
        parser.error(f"--only: choose from the suite's {', '.join(experiments)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    suite = SUITES[args.suite]
    seeds = args.seeds or suite.seeds
    jobs = make_jobs(
        suite, seeds, args.implementations, args.only, args.squash_epsilon, args.total_steps
    )
    print(
        f"learning_quality --suite {args.suite}: {len(jobs)} runs, seeds {list(seeds)}, "
        f"{args.workers} worker(s), hidden {suite.hidden_dims}",
        flush=True,
    )
    started = time.perf_counter()
    done_dir = args.out / f"finished_{args.suite}"
    if args.report:
        if args.at_step is None:
            found = (cached_result(done_dir, job) for job in jobs)
        else:  # a run of any budget that reached the step counts
            found = (cached_result_reaching(done_dir, job, args.at_step) for job in jobs)
        results = [r for r in found if r is not None]
        print(f"--report: {len(results)} of {len(jobs)} runs finished in {done_dir}", flush=True)
        if args.at_step is not None:
            finished = {run_identity(r.job) for r in results}
            partial = [
                r
                for r in unfinished_ours(jobs, args.out / "runs")
                if run_identity(r.job) not in finished
            ]
            print(f"--at_step: {len(partial)} unfinished runs of ours read too", flush=True)
            results += partial
    else:
        results = run_all(
            jobs, args.workers, args.out / "runs", args.keep_runs, done_dir, args.threads
        )
    if args.at_step is not None:
        results = cut_at_step(results, args.at_step)
    if not results:
        sys.exit(f"learning_quality: no run to report in {args.out}")
    elapsed = time.perf_counter() - started
    provenance = (
        f"tabulated from the {len(results)} of {len(jobs)} runs finished so far (--report)"
        if args.report
        else f"{args.workers} worker(s); total wall {elapsed:.0f}s"
    )
    header = report_header(
        args.suite,
        seeds,
        results,
        provenance,
        squash_epsilon=args.squash_epsilon,
        at_step=args.at_step,
    )
    stem = output_stem(
        args.out,
        args.suite,
        seeds=seeds,
        only=args.only,
        implementations=args.implementations,
        at_step=args.at_step,
        squash_epsilon=args.squash_epsilon,
        total_steps=args.total_steps,
    )
    table = write_outputs(stem, args.suite, results, header)
    print()
    print(table)
    print(f"total wall time {elapsed:.0f}s; wrote {stem}_*")
    if any(r.error for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
