"""Command line: ``lmc-rl run | check``. Parsing only; the work lives in the other modules."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from lmc_rl.config import RunConfig, build_config, load_yaml_overrides
from lmc_rl.errors import UserError
from lmc_rl.sweep import add_sweep_parser, sweep_command


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message)


def _format_default(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "none"
    return "random" if value is None else str(value)


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="YAML",
        help="YAML file of overrides (any key below); flags override it.",
    )
    for f in dataclasses.fields(RunConfig):
        names = [f"--{f.name}", *f.metadata.get("aliases", ())]
        parser.add_argument(
            *names,
            dest=f.name,
            metavar=f.name.upper(),
            default=argparse.SUPPRESS,
            help=f"{f.metadata['help']} (default: {_format_default(f.default)})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lmc-rl",
        description=(
            "Linear mode connectivity for off-policy RL: train, fork, interpolate, "
            "measure instability."
        ),
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    run = commands.add_parser(
        "run",
        help="Train a parent agent (and its forks) and save results.",
        description="Train one run. Every flag is also a YAML key.",
    )
    _add_config_flags(run)
    run.add_argument(
        "--resume",
        metavar="RESULTS_DIR",
        help="Continue a killed run from its last "
        "checkpoint (its own settings; other flags must agree with them).",
    )
    run.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")
    evaluate = commands.add_parser(
        "evaluate",
        help="Re-run the instability evaluation of a finished run from its saved weights.",
        description="Evaluate every fork's interpolation path of a finished run.",
    )
    evaluate.add_argument("--results_dir", required=True, help="The run's results directory.")
    evaluate.add_argument(
        "--alpha_points", default=None, help="Interpolation coefficients (default: the run's)."
    )
    evaluate.add_argument(
        "--num_eval_episodes", default=None, help="Episodes per policy (default: the run's)."
    )
    evaluate.add_argument("--eval_workers", default="0", help="Processes (default: one per core).")
    evaluate.add_argument(
        "--children",
        default=None,
        help="Evaluate the pairs among the first N children of each fork (default: all).",
    )
    evaluate.add_argument(
        "--out",
        default=None,
        help="Folder of this evaluation (default: a new RESULTS_DIR/evaluations/a{A}_e{E}/; "
        "the run's own results are never replaced without --overwrite).",
    )
    evaluate.add_argument(
        "--overwrite",
        action="store_true",
        help="Replace the run's own evaluation (forks/), or the one in --out.",
    )
    evaluate.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")
    analyze = commands.add_parser(
        "analyze",
        help="Figures and report of a run, or a comparison across runs.",
        description="One run directory: the prototype's plots, overview.png and report.md in "
        "DIR/fork_analysis/. Several directories or a folder of runs: instability by fork point "
        "with bootstrap 95%% CIs across seeds, per env and buffer strategy, and aggregate.csv.",
    )
    analyze.add_argument(
        "--results_dir",
        nargs="+",
        required=True,
        metavar="DIR",
        help="A run's results directory, several, or a folder holding runs.",
    )
    analyze.add_argument(
        "--total_steps",
        default=None,
        help="Override the run's total_steps for the time axis (single run).",
    )
    analyze.add_argument(
        "--out",
        default=None,
        help="Output folder (default: fork_analysis/ "
        "inside a run or inside --evaluation; comparison/ beside several runs).",
    )
    analyze.add_argument(
        "--evaluation",
        default=None,
        metavar="FOLDER",
        help="Single run: show this re-evaluation (a folder written by `lmc-rl evaluate`) "
        "instead of the run's own forks/.",
    )
    check = commands.add_parser(
        "check",
        help="Quick end-to-end check: SAC and DDPG x 3 seeds.",
        description="The prototype's check_run: SAC and DDPG on one task "
        "with 3 seeds, no forks; saves a figure of returns and wall time "
        "under {output_dir}/results/check_run/.",
    )
    check.add_argument("--env", default="InvertedPendulum-v5", help="Task (default: %(default)s).")
    check.add_argument(
        "--total_steps", default="5000", help="Steps per agent (default: %(default)s)."
    )
    check.add_argument(
        "--seeds", default="1,2,3", help="Comma-separated seeds (default: %(default)s)."
    )
    check.add_argument("--algos", default="SAC,DDPG", help="Algorithms (default: %(default)s).")
    check.add_argument("--output_dir", default=".", help="Where results/ goes (default: .).")
    check.add_argument("--no_progress", action="store_true", help="Hide the progress bars.")
    add_sweep_parser(commands)
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults <- YAML (--config) <- flags, validated."""
    overrides = load_yaml_overrides(args.config) if args.config else {}
    for f in dataclasses.fields(RunConfig):
        if hasattr(args, f.name):
            overrides[f.name] = getattr(args, f.name)
    return build_config(overrides)


def _run(args: argparse.Namespace) -> None:
    from lmc_rl.experiment import run_experiment

    if args.resume:
        from lmc_rl.experiment import resume_experiment

        overrides = {
            f.name: getattr(args, f.name)
            for f in dataclasses.fields(RunConfig)
            if hasattr(args, f.name)
        }
        paths = resume_experiment(args.resume, overrides, progress=not args.no_progress)
    else:
        paths = run_experiment(config_from_args(args), progress=not args.no_progress)
    print(paths.results)


def _evaluate(args: argparse.Namespace) -> None:
    from lmc_rl.config import parse_value
    from lmc_rl.instability import evaluate_run
    from lmc_rl.runs import load_run

    run = load_run(args.results_dir)
    alpha_points = parse_value("alpha_points", args.alpha_points) if args.alpha_points else None
    episodes = (
        parse_value("num_eval_episodes", args.num_eval_episodes) if args.num_eval_episodes else None
    )
    workers = parse_value("eval_workers", args.eval_workers)
    if workers < 0:
        raise UserError(f"--eval_workers: must be >= 0, got {workers}")
    from lmc_rl.analysis import analyze_run
    from lmc_rl.fork_result import results_table
    from lmc_rl.instability import evaluation_folder

    children = parse_value("children", args.children) if args.children else None
    if children is not None and not 2 <= children <= run.config.children:
        raise UserError(
            f"--children: the run has {run.config.children} children per fork; got {children}"
        )
    folder = evaluation_folder(
        run,
        args.out,
        args.overwrite,
        alpha_points or run.config.alpha_points,
        episodes or run.config.num_eval_episodes,
        children,
    )
    results = evaluate_run(
        run,
        alpha_points,
        episodes,
        workers,
        progress=not args.no_progress,
        folder=folder,
        children=children,
    )
    analysis = analyze_run(run.paths.results, evaluation=folder)
    print(results_table(results))
    print(f"evaluation: {folder}\nreport: {analysis / 'report.md'}", file=sys.stderr)
    print(folder)


def _analyze(args: argparse.Namespace) -> None:
    from lmc_rl.analysis import analyze
    from lmc_rl.config import parse_value

    total_steps = parse_value("total_steps", args.total_steps) if args.total_steps else None
    if total_steps is not None and total_steps < 1:
        raise UserError(f"--total_steps: must be >= 1, got {total_steps}")
    if args.evaluation is not None:
        from lmc_rl.analysis import analyze_run

        if len(args.results_dir) != 1:
            raise UserError("--evaluation applies to the analysis of a single run only")
        print(analyze_run(args.results_dir[0], total_steps, args.out, args.evaluation))
        return
    print(analyze(args.results_dir, total_steps, args.out))


def _check(args: argparse.Namespace) -> None:
    from lmc_rl.check import run_check

    out = run_check(
        env=args.env,
        total_steps=args.total_steps,
        seeds=args.seeds,
        algos=args.algos,
        output_dir=args.output_dir,
        progress=not args.no_progress,
    )
    print(out)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        handlers = {
            "run": _run,
            "evaluate": _evaluate,
            "analyze": _analyze,
            "check": _check,
            "sweep": sweep_command,
        }
        status = handlers[args.command](args)
    except UserError as err:
        print(f"lmc-rl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lmc-rl: interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
