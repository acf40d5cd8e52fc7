"""``lmc-rl check``: the prototype's check_run, a few short runs and one figure.

Each run is an ordinary run under results/check_run/, so every other command works on it.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import RunConfig, build_config
from lmc_rl.records.atomic_files import atomic_write_bytes
from lmc_rl.records.layout import experiment_dir


def run_check(
    env: str,
    total_steps: str,
    seeds: str,
    algos: str,
    output_dir: str,
    progress: bool = True,
    threads: str | None = None,
) -> Path:
    """Train each algorithm's seeds together (one lockstep population, bit for bit the runs
    each would be alone, in about two thirds of the time), then plot returns against steps
    and each algorithm's wall time."""
    from lmc_rl.experiment.phases import run_experiments

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds: expected comma-separated integers, got {seeds!r}") from None
    algo_list = [a.strip() for a in algos.split(",") if a.strip()]
    if not seed_list or not algo_list:
        raise UserError("--seeds and --algos need at least one value each")
    steps = build_config({"total_steps": total_steps}).total_steps

    def config(algo: str, seed: int) -> RunConfig:
        return build_config(
            {
                "env": env,
                "algo": algo,
                "seed": seed,
                "total_steps": steps,
                "learning_starts": min(1000, steps // 5),
                "eval_freq": max(steps // 10, 1),
                "num_eval_episodes_periodic": 5,
                "fork_points": "none",
                "experiment_name": "check_run",
                "output_dir": output_dir,
                **({"threads": threads} if threads is not None else {}),
            }
        )

    runs = []
    for algo in algo_list:
        configs = [config(algo, seed) for seed in seed_list]
        started = time.perf_counter()
        group = run_experiments(configs, progress=progress)
        wall = time.perf_counter() - started
        runs += [(c, paths, wall) for c, paths in zip(configs, group, strict=True)]
    out = experiment_dir(output_dir, "check_run") / (
        f"check_run_{env}_{time.strftime('%Y%m%d_%H%M%S')}.png"
    )
    _plot(runs, out)
    return out


def _read_curve(path: Path) -> tuple[list[int], list[float]]:
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if r["member"] == "parent"]
    return [int(r["step"]) for r in rows], [float(r["mean_return"]) for r in rows]


def _plot(runs: list, out: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ret, ax_time) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    colors = {"SAC": "tab:blue", "TD3": "tab:green", "DDPG": "tab:orange"}
    styles = ["-", "--", ":", "-."]
    seeds = sorted({c.seed for c, _, _ in runs})
    for config, paths, _ in runs:
        steps, returns = _read_curve(paths.evaluations_file)
        ax_ret.plot(
            steps,
            returns,
            color=colors.get(config.algo),
            alpha=0.85,
            ls=styles[seeds.index(config.seed) % len(styles)],
            label=f"{config.algo} seed {config.seed}",
        )
    ax_ret.set(
        xlabel="environment steps",
        ylabel="mean evaluation return",
        title=f"Learning curves on {runs[0][0].env} ({len(seeds)} seeds)",
    )
    ax_ret.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    walls = {config.algo: wall for config, _, wall in runs}  # each algorithm's seeds together
    for i, (algo, wall) in enumerate(walls.items()):
        ax_time.bar(i, wall, color=colors.get(algo))
    ax_time.set_xticks(range(len(walls)), [f"{a}\n{len(seeds)} seeds" for a in walls])
    ax_time.set(
        ylabel="wall-clock time (s)",
        title=f"Wall time, {runs[0][0].total_steps} steps per run, seeds trained together",
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
