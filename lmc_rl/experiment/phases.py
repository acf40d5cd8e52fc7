"""One experiment from start to finish, in resumable phases (``lmc_rl.records.layout.RunStatus``).

    running  -> training (checkpointed at forks and every --checkpoint_every)
    trained  -> weights and critic transitions saved; instability evaluation (chunks cached)
    finished -> every result final; then figures and report.md are drawn from them

``config.json`` records the phase, so ``lmc-rl run --resume DIR`` knows where to continue.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmc_rl.config.errors import RunInterrupted, UserError
from lmc_rl.config.run_config import PLACEMENT_FIELDS, RunConfig, parse_value
from lmc_rl.records.layout import REPORT_FILE, RunPaths, RunStatus
from lmc_rl.records.provenance import code_fingerprint
from lmc_rl.records.run_record import RunRecord, load_run
from lmc_rl.training.forking import piece_record
from lmc_rl.training.lockstep import Lockstep
from lmc_rl.training.run_files import write_run_config
from lmc_rl.training.trainer import Trainer

if TYPE_CHECKING:
    from lmc_rl.experiment.tracking import Trackers


def use_threads(config: RunConfig) -> int:
    """Apply --threads to torch (0 keeps torch's default); returns the count in use."""
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    return torch.get_num_threads()


def run_experiment(config: RunConfig, progress: bool = True) -> RunPaths:
    """Train the parent and its forks to total_steps, then measure every fork's instability."""
    return run_experiments([config], progress)[0]


def run_experiments(
    configs: Sequence[RunConfig],
    progress: bool = True,
    track: str | None = None,
    paths: Sequence[RunPaths] | None = None,
) -> list[RunPaths]:
    """Runs that differ only by seed, trained together as one lockstep population (each writes
    the folder it would write alone), then measured one after another; in new folders, or in
    ``paths`` (one per config). ``track``: a Weights & Biases project that also gets each run's
    scalars, config, verdicts and figures."""
    lead = configs[0]
    _check_seed_group(configs)
    folders: list[Path] = []
    with resume_hint_on_interrupt(folders), tracking(track) as trackers:
        return _run_experiments(configs, lead, folders, progress, trackers, paths)


@contextlib.contextmanager
def tracking(project: str | None) -> Iterator[Trackers | None]:
    """W&B runs of this command (``--track``), each closed when its run is measured or, should
    the command stop early, marked as stopped."""
    if project is None:
        yield None
        return
    from lmc_rl.experiment.tracking import Trackers

    trackers = Trackers(project)
    try:
        yield trackers
    finally:
        trackers.abandon_all()


@contextlib.contextmanager
def resume_hint_on_interrupt(folders: list[Path]) -> Iterator[None]:
    """Ctrl-C: say where the runs are (``folders``, as they are created) and the exact
    ``--resume`` command that continues them."""
    try:
        yield
    except KeyboardInterrupt as err:
        if not folders or isinstance(err, RunInterrupted):
            raise
        where = ", ".join(str(f.resolve()) for f in folders)
        command = "lmc-rl run --resume " + " ".join(shlex.quote(str(f.resolve())) for f in folders)
        raise RunInterrupted(
            f"interrupted; the run{'s are' if len(folders) > 1 else ' is'} in {where}\n"
            f"continue from the last checkpoint with: {command}"
        ) from None


def _run_experiments(
    configs: Sequence[RunConfig],
    lead: RunConfig,
    folders: list[Path],
    progress: bool,
    trackers: Trackers | None,
    paths: Sequence[RunPaths] | None,
) -> list[RunPaths]:
    threads = use_threads(lead)  # before the Trainer: its start-up probe runs torch maths
    trainers: list[Trainer] = []
    records = []
    route = None
    for i, config in enumerate(configs):
        run_paths = paths[i] if paths else RunPaths.create(config)
        folders.append(run_paths.results)
        trainer = Trainer(config, run_paths, progress=progress, route=route)
        route = trainer.independence  # one start-up check serves every seed
        record = {
            "status": RunStatus.RUNNING.value,
            "members": trainer.members_record(),
            "learning_rate": trainer.spec.learning_rate,
            "device": str(trainer.device),
            "update_matmul_library": trainer.update_matmuls
            if trainer.device.type == "cpu"
            else None,
            "member_independence": trainer.independence.to_dict(),
            "torch_threads": threads,
            "code_fingerprint": code_fingerprint(),
        }
        if len(configs) > 1:
            record["trained_with_seeds"] = [c.seed for c in configs]
        if config.forks:
            record["piece"] = piece_record(config)
        write_run_config(run_paths, config, record)
        if trackers is not None:
            trackers.attach(trainer)
        trainer.start()
        trainers.append(trainer)
        records.append(record)
    if records[0]["members"]["parent"]["gradient_updates"] == 0:
        print(
            f"lmc-rl: warning: --learning_starts {lead.learning_starts} >= --total_steps "
            f"{lead.total_steps}: no gradient update will be made; every agent stays at its "
            "random initialisation",
            file=sys.stderr,
        )
    _train(trainers, records, progress)
    for trainer, record in zip(trainers, records, strict=True):
        _measure(trainer.config, trainer.paths, record, progress)
        if trackers is not None:
            trackers.finish(trainer.paths)
    return [t.paths for t in trainers]


def _check_seed_group(configs: Sequence[RunConfig]) -> None:
    """Runs share a population only if nothing but the seed tells them apart."""
    seeds = [c.seed for c in configs]
    if len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds: each seed once, got {','.join(map(str, seeds))}")
    lead = configs[0]
    for config in configs[1:]:
        if config.replace(seed=lead.seed) != lead:
            raise UserError("--seeds: runs trained together must differ only by their seed")


def resume_experiment(
    results_dir: str, overrides: dict[str, Any], progress: bool = True
) -> RunPaths:
    """Continue a killed run from its last checkpoint; refuse if settings or code changed."""
    return resume_experiments([results_dir], overrides, progress)[0]


def resume_experiments(
    results_dirs: Sequence[str],
    overrides: dict[str, Any],
    progress: bool = True,
    track: str | None = None,
) -> list[RunPaths]:
    """Continue killed runs; those still training go on together as one lockstep population
    (the runs of one ``--seeds`` call), catching up one another first if their last
    checkpoints are at different steps."""
    runs = [load_run(d, flag="--resume") for d in results_dirs]
    if len({r.paths.results.resolve() for r in runs}) != len(runs):
        raise UserError("--resume: a results directory is named twice")
    with resume_hint_on_interrupt([r.paths.results for r in runs]), tracking(track) as trackers:
        return _resume_runs(runs, overrides, progress, trackers)


def _resume_runs(
    runs: Sequence[RunRecord],
    overrides: dict[str, Any],
    progress: bool,
    trackers: Trackers | None,
) -> list[RunPaths]:
    unfinished = []
    for run in runs:
        if not run.finished:
            _check_same_run(run, overrides)
            unfinished.append(run)
        elif not (run.paths.analysis_dir / REPORT_FILE).is_file():  # killed while drawing
            from lmc_rl.analysis import analyze_run

            analyze_run(run.paths.results)
        else:
            print(
                f"lmc-rl: {run.paths.results} is already finished; nothing to resume",
                file=sys.stderr,
            )
    # where and how fast it runs may change on resume; what it computes does not
    how = {k: parse_value(k, overrides[k]) for k in PLACEMENT_FIELDS if k in overrides}
    how.pop("output_dir", None)  # the runs stay where they are
    configs = [run.config.replace(**{"device": run.recorded_device, **how}) for run in unfinished]
    training = [
        (run, config)
        for run, config in zip(unfinished, configs, strict=True)
        if run.record["status"] == RunStatus.RUNNING
    ]
    if len(training) > 1:
        _check_seed_group([config for _, config in training])
    threads = use_threads(configs[0]) if configs else None
    trainers, records, route = [], [], None
    together = [config.seed for _, config in training]
    for run, config in training:
        run.record["torch_threads"] = threads
        trainer = Trainer(config, run.paths, progress=progress, route=route)
        route = trainer.independence
        if trackers is not None:
            trackers.attach(trainer)
        trainer.resume()
        # which seeds shared its population on each resume (trained_with_seeds: at the start),
        # written once its checkpoint has loaded, so that a killed resume keeps it too
        run.record.setdefault("resumed_with_seeds", []).append(list(together))
        write_run_config(run.paths, config, run.record)
        trainers.append(trainer)
        records.append(run.record)
    _train(trainers, records, progress)
    for run, config in zip(unfinished, configs, strict=True):
        if run.record["status"] == RunStatus.TRAINED:
            print(
                f"lmc-rl: {run.paths.results}: training is complete; resuming the instability "
                "evaluation",
                file=sys.stderr,
            )
            run.record["torch_threads"] = threads
        _measure(config, run.paths, run.record, progress)
        if trackers is not None:
            trackers.finish(run.paths)
    return [run.paths for run in runs]


def _check_same_run(run: RunRecord, overrides: dict[str, Any]) -> None:
    stored = run.config
    for key, raw in overrides.items():
        if key in PLACEMENT_FIELDS:
            continue  # where and how fast it runs does not change results
        if parse_value(key, raw) != getattr(stored, key):
            raise UserError(
                f"--resume: --{key} {raw} differs from the run's {getattr(stored, key)!r}"
                "; a resumed run keeps its settings (start a new run instead)"
            )
    recorded = run.record.get("code_fingerprint")
    if recorded != code_fingerprint():
        raise UserError(
            f"--resume: the run was started with other lmc-rl code (fingerprint "
            f"{recorded}, now {code_fingerprint()}); its results would differ"
        )


def _train(trainers: Sequence[Trainer], records: Sequence[dict[str, Any]], progress: bool) -> None:
    """Train the runs together to total_steps; save each one's weights and record."""
    if not trainers:
        return
    _catch_up(trainers)
    Lockstep(trainers, progress=progress).run()
    for trainer, record in zip(trainers, records, strict=True):
        trainer.save_weights()
        trainer.save_critic_transitions()
        record.update(
            status=RunStatus.TRAINED.value,
            diverged=trainer.diverged_record(),
            random_policy=trainer.random_policy_record(),
        )
        write_run_config(trainer.paths, trainer.config, record)
        trainer.checkpoint_file.unlink(missing_ok=True)


def _catch_up(trainers: Sequence[Trainer]) -> None:
    """Step the runs that resumed from an earlier checkpoint until all are at one step."""
    while len({t.step for t in trainers}) > 1:
        behind = min(t.step for t in trainers)
        Lockstep([t for t in trainers if t.step == behind]).advance()


def _measure(config: RunConfig, paths: RunPaths, record: dict[str, Any], progress: bool) -> None:
    """Evaluate a trained run's forks, mark it finished and draw its report."""
    from lmc_rl.analysis import analyze_run
    from lmc_rl.measuring.instability import evaluate_run

    started = time.time()
    results = []
    if config.fork_points:
        results = evaluate_run(
            load_run(paths.results), workers=config.eval_workers, progress=progress
        )
    record.update(
        status=RunStatus.FINISHED.value, last_phase_time_s=round(time.time() - started, 3)
    )
    write_run_config(paths, config, record)
    analyze_run(paths.results)  # reads the status just written: report.md says "finished"
    if results:
        from lmc_rl.measuring.fork_result import results_table

        print(results_table(results))
