"""Command line: ``lmc-rl run | merge | fork | evaluate | analyze | connect | sweep | check |
doctor``. Parsing; the work lives in other modules, imported when a command runs (``--help``
imports no torch)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lmc_rl import __version__
from lmc_rl.config.errors import RunInterrupted, UserError
from lmc_rl.config.flags import Parser, add_config_flags, config_overrides, unknown_flags_error
from lmc_rl.config.run_config import RunConfig, build_config, load_yaml_overrides
from lmc_rl.sweep import add_sweep_parser, sweep_command


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="lmc-rl",
        description=(
            "Linear mode connectivity for off-policy RL: train, fork, interpolate, "
            "measure instability."
        ),
    )
    parser.add_argument("--version", action="version", version=f"lmc-rl {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    run = commands.add_parser(
        "run",
        help="Train a parent agent (and its forks) and save results.",
        description="Train one run. Every flag is also a YAML key.",
    )
    run.add_argument(
        "--config",
        metavar="YAML",
        help="YAML file of overrides (any key below); flags override it.",
    )
    add_config_flags(run)
    run.add_argument(
        "--seeds",
        metavar="S1,S2,...",
        default=None,
        help="Train one run per seed (instead of --seed), all as one lockstep population: each "
        "seed writes the folder, and the bit-for-bit results, its own run would. Also a YAML key.",
    )
    run.add_argument(
        "--resume",
        metavar="RESULTS_DIR",
        nargs="+",
        help="Continue killed runs from their last checkpoints (their own settings; other flags "
        "must agree with them). Several folders (the runs of one --seeds call) go on together.",
    )
    run.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")
    run.add_argument(
        "--track",
        action="store_true",
        help="Also send every member's scalars, the config, the verdict table and the figures to "
        "Weights & Biases (pip install 'lmc-rl[wandb]'; WANDB_MODE=offline works without login).",
    )
    run.add_argument(
        "--wandb_project",
        default="lmc-rl",
        help="The W&B project of --track (default: %(default)s).",
    )
    _add_piece_flags(run)
    _add_merge_parser(commands)
    _add_fork_parser(commands)
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
        "--eval_stopping",
        default=None,
        help="none or verdict: stop a fork's evaluation once its verdict is decided, looking "
        "at 10, 20, 40, ... episodes (default: the run's).",
    )
    evaluate.add_argument(
        "--solved_return",
        default=None,
        help="Return of a solved episode for the 'untrained' verdict (default: the run's, "
        "else the task's known one, else the run's best evaluation).",
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
        "with bootstrap 95 % CIs across seeds, per env and buffer strategy, and aggregate.csv.",
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
        help="Quick end-to-end check: SAC and DDPG x 3 seeds (about 2 CPU minutes).",
        description="The original research prototype's check_run: SAC and DDPG on one task "
        "with 3 seeds, no forks, each algorithm's seeds trained together; saves a figure of "
        "returns and wall time under {output_dir}/results/check_run/. With the defaults and "
        "--threads 1 it takes about 2 minutes of CPU time (125 s measured on 2026-12-06; "
        "longer in wall time on a busy machine).",
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
    check.add_argument(
        "--threads",
        default=None,
        help="CPU threads of torch's maths, as for run (default: torch's, one per core).",
    )
    check.add_argument("--no_progress", action="store_true", help="Hide the progress bars.")
    doctor = commands.add_parser(
        "doctor",
        help="Check on this machine that a member never depends on who shares its batch.",
        description="Run the agent a run with these flags would train, at its real sizes, "
        "alone and in populations of 2, 3, 5, 8 and 21 identical members (acting, evaluation, "
        "updates with masked and out-of-step members) and report, per phase, the matmul "
        "library and whether the bits agree. Exit status 1 if a phase is not verified.",
    )
    doctor.add_argument("--config", metavar="YAML", help="YAML file of run overrides.")
    add_config_flags(doctor)
    _add_connect_parser(commands)
    add_sweep_parser(commands)
    return parser


def _add_piece_flags(run: argparse.ArgumentParser) -> None:
    from lmc_rl.config.piece_settings import PIECE_BACKENDS, PieceSettings

    defaults = PieceSettings()
    run.add_argument(
        "--pieces",
        metavar="N",
        default=None,
        help="Split the forks into N pieces of balanced cost, compute them side by side and "
        "merge them into one run folder (the whole run's results, bit for bit); the same "
        "command again skips finished pieces and resumes killed ones. See docs/pieces.md.",
    )
    run.add_argument(
        "--backend",
        default=defaults.backend,
        choices=PIECE_BACKENDS,
        help="Where the pieces run: local processes, or Ray tasks (default: %(default)s).",
    )
    run.add_argument(
        "--address",
        default=defaults.address,
        help="Ray cluster of --backend ray: host:port, auto, or local (a new one here); "
        "default: the cluster running here, else a new one.",
    )


def _add_merge_parser(commands: argparse._SubParsersAction) -> None:
    merge = commands.add_parser(
        "merge",
        help="Join the pieces of one run (lmc-rl run --forks IDS) into one run folder.",
        description="Join finished pieces of one run into the folder the whole run would have "
        "written (results and agent files bit for bit), then draw its figures and report.",
    )
    merge.add_argument("dirs", nargs="+", metavar="DIR", help="The pieces' results folders.")
    merge.add_argument(
        "--out",
        default=None,
        help="Results folder of the merged run (default: seed_{seed}_run{id} beside the first "
        "piece); must not exist yet.",
    )
    merge.add_argument(
        "--partial",
        action="store_true",
        help="Merge even if some forks of the run are in no piece (the report says which).",
    )


def _add_fork_parser(commands: argparse._SubParsersAction) -> None:
    fork = commands.add_parser(
        "fork",
        help="Add fork points to a finished run (a new run folder; the run is only read).",
        description="Compute only the new forks of a finished run (the parent again as far as "
        "they need) and merge them with the run's own into a new run folder: the results and "
        "agent files of a run that had every fork point from the start, bit for bit. Fork ids "
        "are places in the sorted schedule, so an old fork's id shifts when an earlier one is "
        "added. See docs/pieces.md.",
    )
    fork.add_argument("--results_dir", required=True, help="The finished run's results folder.")
    fork.add_argument(
        "--fork_points",
        required=True,
        metavar="P[,P ...]",
        help="Fractions of total_steps to add, strictly between 0 and 1, none already the run's.",
    )
    fork.add_argument(
        "--out",
        default=None,
        help="Results folder of the new run (default: seed_{seed}_run{id} beside the run); "
        "must not exist yet. The new forks' piece is kept beside it in seed_{seed}_run{id}_pieces.",
    )
    fork.add_argument(
        "--threads",
        default=None,
        help="Torch threads of the new forks' piece (default: the run's).",
    )
    fork.add_argument(
        "--eval_workers",
        default=None,
        help="Evaluation processes of the new forks' piece (default: the run's).",
    )
    fork.add_argument(
        "--device",
        default=None,
        help="Device of the new forks' piece (default: the one the run trained on; another "
        "device computes other bits).",
    )
    fork.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")


def _add_connect_parser(commands: argparse._SubParsersAction) -> None:
    from lmc_rl.config.connect_settings import ALIGNMENTS, ConnectSettings

    defaults = ConnectSettings()
    render = commands.add_parser(
        "render",
        help="A video of interpolated policies side by side on one evaluation episode.",
        description="Play one evaluation episode with the policies theta(alpha) of a fork's "
        "children (--results_dir, --fork) or of a connect path (--connect_dir, --path), render "
        "them offscreen through MuJoCo side by side, each captioned with alpha and its return, "
        "and write an MP4 (with imageio-ffmpeg installed) or a GIF.",
    )
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument("--results_dir", help="A finished run (with --fork).")
    source.add_argument("--connect_dir", help="An lmc-rl connect output folder (with --path).")
    render.add_argument("--fork", type=int, default=None, help="Fork id (1 = first fork point).")
    render.add_argument("--path", default=None, help="Path key of the connect folder.")
    choice = render.add_mutually_exclusive_group()
    choice.add_argument(
        "--alphas",
        default=None,
        help="Comma-separated alphas to show (nearest evaluated ones; default 0,0.5,1).",
    )
    choice.add_argument(
        "--worst",
        action="store_true",
        help="Show the endpoints and the alpha with the lowest mean return.",
    )
    render.add_argument(
        "--episode", type=int, default=0, help="Evaluation episode to play (default 0)."
    )
    render.add_argument(
        "--every", type=int, default=2, help="Keep every N-th frame (default 2; 25 fps)."
    )
    render.add_argument(
        "--out",
        default=None,
        help="Video file, .mp4 or .gif (default: render_fork{ID}.gif / render_{PATH}.gif in "
        "the run's fork_analysis/ or the connect folder).",
    )
    connect = commands.add_parser(
        "connect",
        help="The interpolation path between any two agents (seeds, checkpoints, children).",
        description="Interpolate two agent files of one task, algorithm and architecture and "
        "measure the path as a fork's (same evaluation, metrics, JSON, figure, report); or, "
        "with --runs, every pair of several runs' final agents as one population, with a "
        "barrier matrix. --align weight_matching first permutes B's hidden units to match A.",
    )
    connect.add_argument("agents", nargs="*", metavar="AGENT.pt", help="Two agent files A B.")
    connect.add_argument(
        "--runs", nargs="+", metavar="DIR", help="Run results directories (all pairs of final.pt)."
    )
    connect.add_argument(
        "--align",
        default=None,
        help=f"{' or '.join(ALIGNMENTS)}, or both comma-separated with --runs "
        "(default: none for two agents, both for --runs).",
    )
    for name, help_text in (
        ("alpha_points", "Interpolation coefficients in [0, 1]"),
        ("num_eval_episodes", "Episodes per interpolated policy"),
        ("seed", "Seed of the evaluation episodes (a run's forks use the run's seed)"),
        ("max_episode_steps", "Time limit of an evaluation episode"),
        (
            "stability_threshold",
            "'connected' if the linear barrier's interval lies below this share of the "
            "return (the prototype's naive is_stable: normalized instability at most this)",
        ),
        ("critic_threshold", "Critic connected below this relative TD-error barrier"),
    ):
        connect.add_argument(
            f"--{name}",
            default=str(getattr(defaults, name)),
            help=f"{help_text} (default: %(default)s).",
        )
    connect.add_argument(
        "--eval_workers", default=str(defaults.workers), help="Processes (0: one per core)."
    )
    connect.add_argument(
        "--out",
        default=None,
        help="Output folder (default: a new connect/{A}_{B}_{time}/ in the results folder of "
        "agent A's run, or beside A's file; with --runs, connect/runs_{time}/ in the first run's).",
    )
    connect.add_argument(
        "--save_aligned", default=None, metavar="FILE", help="Save the aligned B as an agent file."
    )
    connect.add_argument(
        "--critic_transitions",
        default=None,
        metavar="NPZ",
        help="Transitions for the critic barrier (e.g. a run's forks/critic_transitions_ID.npz).",
    )
    connect.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults <- YAML (--config) <- flags, validated."""
    return configs_from_args(args)[0]


def configs_from_args(args: argparse.Namespace) -> list[RunConfig]:
    """One validated config per seed of ``--seeds`` (or the one run's); defaults <- YAML
    (--config) <- flags."""
    overrides = load_yaml_overrides(args.config) if args.config else {}
    seeds = overrides.pop("seeds", None)
    overrides.update(config_overrides(args))
    seeds = getattr(args, "seeds", None) or seeds
    if seeds is None:
        return [build_config(overrides)]
    if overrides.get("seed") is not None:
        raise UserError("--seeds replaces --seed; give one of them")
    return [build_config({**overrides, "seed": seed}) for seed in parse_seeds(seeds)]


def parse_seeds(raw: object) -> list[int]:
    """``1,2,3`` (or a YAML list) as distinct non-negative integers."""
    parts = raw if isinstance(raw, list) else str(raw).split(",")
    try:
        seeds = [int(str(p).strip()) for p in parts if str(p).strip()]
    except ValueError:
        raise UserError(f"--seeds: expected comma-separated integers, got {raw!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds: expected distinct non-negative integers, got {raw!r}")
    return seeds


def check_out_folder(out: str | None) -> None:
    """--out names a folder to write into: refuse a path that is, or lies under, a file
    before any work starts."""
    if out is None:
        return
    for path in (Path(out), *Path(out).parents):
        if path.exists():
            if not path.is_dir():
                raise UserError(f"--out: {path} is a file, not a folder")
            return


def print_path(path: str | Path) -> None:
    """A command's result folder, the last line of its output: always an absolute path."""
    print(Path(path).resolve())


def _run(args: argparse.Namespace) -> None:
    from lmc_rl.experiment.phases import resume_experiments, run_experiments

    if args.pieces is not None:
        if args.track:
            raise UserError("--track: not with --pieces (track the pieces' runs one by one)")
        _run_in_pieces(args)
        return
    track = args.wandb_project if args.track else None
    if args.resume:
        if args.seeds:
            raise UserError("--seeds: a resumed run keeps its seed; give only --resume DIR ...")
        overrides = config_overrides(args)
        paths = resume_experiments(args.resume, overrides, not args.no_progress, track)
    else:
        paths = run_experiments(configs_from_args(args), not args.no_progress, track)
    for run_paths in paths:
        print_path(run_paths.results)


def _run_in_pieces(args: argparse.Namespace) -> None:
    from lmc_rl.config.piece_settings import PieceSettings
    from lmc_rl.experiment.pieces import run_in_pieces

    try:
        pieces = int(args.pieces)
    except ValueError:
        raise UserError(f"--pieces: expected an integer, got {args.pieces!r}") from None
    if args.resume or args.seeds:
        raise UserError(
            "--pieces: one run at a time (no --resume or --seeds); the same "
            "command again resumes its pieces"
        )
    settings = PieceSettings(pieces=pieces, backend=args.backend, address=args.address)
    config = config_from_args(args)
    print_path(run_in_pieces(config, settings, progress=not args.no_progress))


def _merge(args: argparse.Namespace) -> None:
    from lmc_rl.experiment.merge import merge_pieces

    print_path(merge_pieces(args.dirs, args.out, args.partial))


def _fork(args: argparse.Namespace) -> None:
    from lmc_rl.experiment.added_forks import add_forks

    check_out_folder(args.out)
    placement = {
        flag: getattr(args, flag)
        for flag in ("threads", "eval_workers", "device")
        if getattr(args, flag) is not None
    }
    print_path(
        add_forks(args.results_dir, args.fork_points, args.out, placement, not args.no_progress)
    )


def _evaluate(args: argparse.Namespace) -> None:
    from lmc_rl.config.run_config import EVAL_STOPPING, check_at_least, parse_value
    from lmc_rl.measuring.instability import evaluate_run
    from lmc_rl.records.run_record import load_run

    check_out_folder(args.out)
    run = load_run(args.results_dir)
    alpha_points, episodes = (
        None if raw is None else check_at_least(name, parse_value(name, raw))
        for name, raw in (
            ("alpha_points", args.alpha_points),
            ("num_eval_episodes", args.num_eval_episodes),
        )
    )
    workers = parse_value("eval_workers", args.eval_workers)
    if workers < 0:
        raise UserError(f"--eval_workers: must be >= 0, got {workers}")
    from lmc_rl.analysis import analyze_run
    from lmc_rl.measuring.fork_result import results_table
    from lmc_rl.measuring.instability import evaluation_folder

    children = parse_value("children", args.children) if args.children else None
    stopping = args.eval_stopping
    if stopping is not None and stopping not in EVAL_STOPPING:
        raise UserError(
            f"--eval_stopping: unknown choice {stopping!r} (choose from {', '.join(EVAL_STOPPING)})"
        )
    solved = parse_value("solved_return", args.solved_return) if args.solved_return else None
    if solved is not None and not math.isfinite(solved):
        raise UserError(f"--solved_return: must be a finite number, got {solved}")
    if children is not None and not 2 <= children <= run.config.children:
        raise UserError(
            f"--children: the run has {run.config.children} children per fork; got {children}"
        )
    folder = evaluation_folder(
        run,
        args.out,
        args.overwrite,
        run.config.alpha_points if alpha_points is None else alpha_points,
        run.config.num_eval_episodes if episodes is None else episodes,
        children,
        stopping,
    )
    results = evaluate_run(
        run,
        alpha_points,
        episodes,
        workers,
        progress=not args.no_progress,
        folder=folder,
        children=children,
        eval_stopping=stopping,
        solved_return=solved,
    )
    analysis = analyze_run(run.paths.results, evaluation=folder)
    print(results_table(results))
    print(f"evaluation: {folder}\nreport: {analysis / 'report.md'}", file=sys.stderr)
    print_path(folder)


def _analyze(args: argparse.Namespace) -> None:
    from lmc_rl.analysis import analyze
    from lmc_rl.config.run_config import parse_value

    check_out_folder(args.out)
    total_steps = parse_value("total_steps", args.total_steps) if args.total_steps else None
    if total_steps is not None and total_steps < 1:
        raise UserError(f"--total_steps: must be >= 1, got {total_steps}")
    if args.evaluation is not None:
        from lmc_rl.analysis import analyze_run

        if len(args.results_dir) != 1:
            raise UserError("--evaluation applies to the analysis of a single run only")
        print_path(analyze_run(args.results_dir[0], total_steps, args.out, args.evaluation))
        return
    print_path(analyze(args.results_dir, total_steps, args.out))


def _render(args: argparse.Namespace) -> None:
    import json
    import time

    from lmc_rl.measuring.render import connect_source, fork_source, headless_gl, render_path

    headless_gl()  # before anything imports MuJoCo
    if args.out is not None:
        check_out_folder(str(Path(args.out).parent))
        if Path(args.out).is_dir():
            raise UserError(f"render: --out: {args.out} is a folder; give a .mp4 or .gif file")

    if args.results_dir is not None:
        if args.fork is None or args.path is not None:
            raise UserError("render: --results_dir needs --fork ID (and no --path)")
        source = fork_source(args.results_dir, args.fork)
        default = (
            source.returns_file.parent.parent / "fork_analysis" / f"render_fork{args.fork}.gif"
        )
    else:
        if args.path is None or args.fork is not None:
            raise UserError("render: --connect_dir needs --path KEY (and no --fork)")
        source = connect_source(args.connect_dir, args.path)
        default = source.returns_file.parent / f"render_{args.path}.gif"
    alphas = None
    if args.alphas is not None:
        try:
            alphas = [float(a) for a in args.alphas.split(",") if a.strip()]
        except ValueError:
            raise UserError(f"render: --alphas: expected numbers, got {args.alphas!r}") from None
    out = Path(args.out) if args.out else default
    if out.suffix.lower() not in (".mp4", ".gif"):
        raise UserError(f"render: --out must end in .mp4 or .gif, got {out.name}")
    started = time.perf_counter()
    written, record = render_path(source, out, alphas, args.worst, args.episode, args.every)
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["bytes"] = written.stat().st_size
    print(json.dumps(record), file=sys.stderr)
    print_path(written)


def _connect(args: argparse.Namespace) -> None:
    from lmc_rl.config.run_config import parse_value
    from lmc_rl.experiment.connect import ConnectSettings, connect_pair, connect_runs

    check_out_folder(args.out)

    def number(flag: str, kind: type) -> Any:
        try:
            return kind(getattr(args, flag))
        except ValueError:
            raise UserError(f"--{flag}: expected a number, got {getattr(args, flag)!r}") from None

    settings = ConnectSettings(
        alpha_points=number("alpha_points", int),
        num_eval_episodes=number("num_eval_episodes", int),
        seed=number("seed", int),
        max_episode_steps=number("max_episode_steps", int),
        stability_threshold=number("stability_threshold", float),
        critic_threshold=number("critic_threshold", float),
        workers=parse_value("eval_workers", args.eval_workers),
    )
    progress = not args.no_progress
    if args.runs:
        if args.agents or args.save_aligned or args.critic_transitions:
            raise UserError(
                "connect: --runs takes run directories only (no agent files, --save_aligned "
                "or --critic_transitions)"
            )
        aligns = tuple((args.align or "none,weight_matching").split(","))
        print_path(connect_runs(args.runs, aligns, settings, args.out, progress))
        return
    if len(args.agents) != 2:
        raise UserError("connect: give two agent files A B, or --runs DIR DIR ...")
    print_path(
        connect_pair(
            *args.agents,
            args.align or "none",
            settings,
            args.out,
            args.save_aligned,
            args.critic_transitions,
            progress,
        )
    )


def _check(args: argparse.Namespace) -> None:
    from lmc_rl.experiment.check import run_check

    out = run_check(
        env=args.env,
        total_steps=args.total_steps,
        seeds=args.seeds,
        algos=args.algos,
        output_dir=args.output_dir,
        progress=not args.no_progress,
        threads=args.threads,
    )
    print_path(out)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; a mistyped flag gets a "did you mean" from its command's flags."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        raise unknown_flags_error(commands.choices[args.command], unknown)
    return args


def _doctor(args: argparse.Namespace) -> int:
    from lmc_rl.config.run_config import resolve_device
    from lmc_rl.config.tasks import check_task
    from lmc_rl.experiment.phases import use_threads
    from lmc_rl.learners.independence import format_report
    from lmc_rl.training.trainer import agent_spec, run_route

    config = config_from_args(args)
    use_threads(config)
    report = run_route(
        config, agent_spec(config, check_task(config.env)), resolve_device(config.device)
    )
    hidden = "x".join(map(str, config.hidden_dims))
    print(format_report(report, f"{config.env} {config.algo}, {hidden}, batch {config.batch_size}"))
    return 0 if report.verified else 1


def main(argv: Sequence[str] | None = None) -> int:
    """The ``lmc-rl`` entry point: exit status 0, 1 (a sweep's run failed), 2 (a user error)."""
    from lmc_rl.learners.allocator import keep_freed_memory

    keep_freed_memory()  # this process trains or evaluates: see lmc_rl/learners/allocator.py
    try:
        args = _parse(argv)
        handlers = {
            "run": _run,
            "evaluate": _evaluate,
            "analyze": _analyze,
            "check": _check,
            "connect": _connect,
            "render": _render,
            "sweep": sweep_command,
            "merge": _merge,
            "fork": _fork,
            "doctor": _doctor,
        }
        status = handlers[args.command](args)
    except UserError as err:
        print(f"lmc-rl: error: {err}", file=sys.stderr)
        return 2
    except RunInterrupted as stopped:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # past the progress bar's line
        for line in stopped.message.splitlines():
            print(f"lmc-rl: {line}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("lmc-rl: interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
