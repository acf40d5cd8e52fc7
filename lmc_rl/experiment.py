"""One experiment from start to finish, in resumable phases.

    running  -> training (checkpointed at forks and every --checkpoint_every)
    trained  -> weights and critic transitions saved; instability evaluation (chunks cached)
    finished -> every result file written

``config.json`` records the phase, so ``lmc-rl run --resume DIR`` knows where to continue.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from lmc_rl.checkpoint import code_fingerprint
from lmc_rl.config import RunConfig
from lmc_rl.errors import UserError
from lmc_rl.runs import RunPaths, RunRecord, load_run, write_run_config
from lmc_rl.training import Trainer


def run_experiment(config: RunConfig, progress: bool = True) -> RunPaths:
    """Train the parent and its forks to total_steps, then measure every fork's instability."""
    paths = RunPaths.create(config)
    trainer = Trainer(config, paths, progress=progress)
    record = {
        "status": "running",
        "members": trainer.members_record(),
        "learning_rate": trainer.spec.learning_rate,
        "device": str(trainer.device),
        "update_matmul_library": trainer.update_matmuls if trainer.device.type == "cpu" else None,
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
    run = load_run(results_dir)
    record = run.record
    if run.finished:
        print(
            f"lmc-rl: {run.paths.results} is already finished; nothing to resume", file=sys.stderr
        )
        return run.paths
    _check_same_run(run, overrides)
    how = {k: overrides[k] for k in ("device", "eval_workers") if k in overrides}
    config = run.config.replace(device=record["config"].get("device", "auto"))
    if how:  # where and how fast it runs may change on resume; results do not
        from lmc_rl.config import parse_value

        config = config.replace(**{k: parse_value(k, v) for k, v in how.items()})
    trainer = Trainer(config, run.paths, progress=progress)
    if record["status"] == "running":
        trainer.resume()
    else:
        print("lmc-rl: training is complete; resuming the instability evaluation", file=sys.stderr)
    _finish(trainer, record, progress, trained=record["status"] == "trained")
    return run.paths


def _check_same_run(run: RunRecord, overrides: dict[str, Any]) -> None:
    from lmc_rl.config import parse_value

    stored = run.config
    for key, raw in overrides.items():
        if key in ("device", "output_dir", "eval_workers"):
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
            status="trained",
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
    analyze_run(paths.results)
    if results:
        from lmc_rl.fork_result import results_table

        print(results_table(results))
    record.update(status="finished", last_phase_time_s=round(time.time() - started, 3))
    write_run_config(paths, config, record)
