"""One experiment from start to finish, in resumable phases (``lmc_rl.layout.RunStatus``).

    running  -> training (checkpointed at forks and every --checkpoint_every)
    trained  -> weights and critic transitions saved; instability evaluation (chunks cached)
    finished -> every result final; then figures and report.md are drawn from them

``config.json`` records the phase, so ``lmc-rl run --resume DIR`` knows where to continue.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from lmc_rl.config import PLACEMENT_FIELDS, RunConfig, parse_value
from lmc_rl.errors import UserError
from lmc_rl.layout import REPORT_FILE, RunPaths, RunStatus
from lmc_rl.provenance import code_fingerprint
from lmc_rl.runs import RunRecord, load_run, write_run_config
from lmc_rl.training import Trainer


def use_threads(config: RunConfig) -> int:
    """Apply --threads to torch (0 keeps torch's default); returns the count in use."""
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    return torch.get_num_threads()


def run_experiment(config: RunConfig, progress: bool = True) -> RunPaths:
    """Train the parent and its forks to total_steps, then measure every fork's instability."""
    paths = RunPaths.create(config)
    threads = use_threads(config)  # before the Trainer: its start-up probe runs torch maths
    trainer = Trainer(config, paths, progress=progress)
    record = {
        "status": RunStatus.RUNNING.value,
        "members": trainer.members_record(),
        "learning_rate": trainer.spec.learning_rate,
        "device": str(trainer.device),
        "update_matmul_library": trainer.update_matmuls if trainer.device.type == "cpu" else None,
        "member_independence": trainer.independence.to_dict(),
        "torch_threads": threads,
        "code_fingerprint": code_fingerprint(),
    }
    write_run_config(paths, config, record)
    if record["members"]["parent"]["gradient_updates"] == 0:
        print(
            f"lmc-rl: warning: --learning_starts {config.learning_starts} >= --total_steps "
            f"{config.total_steps}: no gradient update will be made; every agent stays at its "
            "random initialisation",
            file=sys.stderr,
        )
    trainer.start()
    _finish(trainer, record, progress)
    return paths


def resume_experiment(
    results_dir: str, overrides: dict[str, Any], progress: bool = True
) -> RunPaths:
    """Continue a killed run from its last checkpoint; refuse if settings or code changed."""
    run = load_run(results_dir, flag="--resume")
    record = run.record
    if run.finished:
        if not (run.paths.analysis_dir / REPORT_FILE).is_file():  # killed while drawing
            from lmc_rl.analysis import analyze_run

            analyze_run(run.paths.results)
            return run.paths
        print(
            f"lmc-rl: {run.paths.results} is already finished; nothing to resume", file=sys.stderr
        )
        return run.paths
    _check_same_run(run, overrides)
    # where and how fast it runs may change on resume; what it computes does not
    how = {k: parse_value(k, overrides[k]) for k in PLACEMENT_FIELDS if k in overrides}
    how.pop("output_dir", None)  # the run stays where it is
    config = run.config.replace(**{"device": record["config"].get("device", "auto"), **how})
    record["torch_threads"] = use_threads(config)
    trainer = Trainer(config, run.paths, progress=progress)
    if record["status"] == RunStatus.RUNNING:
        trainer.resume()
    else:
        print("lmc-rl: training is complete; resuming the instability evaluation", file=sys.stderr)
    _finish(trainer, record, progress, trained=record["status"] == RunStatus.TRAINED)
    return run.paths


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


def _finish(
    trainer: Trainer, record: dict[str, Any], progress: bool, trained: bool = False
) -> None:
    from lmc_rl.analysis import analyze_run
    from lmc_rl.instability import evaluate_run

    config, paths = trainer.config, trainer.paths
    started = time.time()
    if not trained:
        trainer.run()
        trainer.save_weights()
        trainer.save_critic_transitions()
        record.update(
            status=RunStatus.TRAINED.value,
            diverged=trainer.diverged_record(),
            random_policy=trainer.random_policy_record(),
        )
        write_run_config(paths, config, record)
        trainer.checkpoint_file.unlink(missing_ok=True)
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
        from lmc_rl.fork_result import results_table

        print(results_table(results))
