"""report.md of one run: its settings, a row per fork, and links to the figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lmc_rl.analysis.loading import RunResults

SETTINGS = (
    "env",
    "algo",
    "seed",
    "total_steps",
    "fork_points",
    "fork_buffer_strategy",
    "fork_noise",
    "alpha_points",
    "num_eval_episodes",
    "stability_threshold",
    "learning_starts",
    "batch_size",
    "hidden_dims",
    "buffer_size",
)


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _settings_lines(run: RunResults) -> list[str]:
    config = run.config
    rows = []
    for key in SETTINGS:
        if key not in config:
            continue
        value = config[key]
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "none"
        rows.append((f"`{key}`", str(value)))
    if run.total_steps != config.get("total_steps"):
        rows.append(("total_steps used for fork steps", f"{run.total_steps} (overridden)"))
    record = run.record
    for key in ("status", "device", "update_matmul_library", "torch_threads", "learning_rate"):
        if key in record:
            rows.append((key, str(record[key])))
    versions = record.get("versions") or {}
    if versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return _table(("setting", "value"), rows)


def _fork_lines(run: RunResults) -> list[str]:
    with_critic = any(f.get("critic") for f in run.fork_results)
    header = [
        "fork",
        "point",
        "step",
        "child 1 return",
        "child 2 return",
        "min on path",
        "at α",
        "instability",
        "normalized",
        "stable",
    ]
    if with_critic:
        header.append("critic TD barrier")
    rows = []
    for fork in run.fork_results:
        row = [
            f"[{fork['fork_id']}](interp_fork_{fork['fork_id']}.png)",
            _number(fork["fork_point"]),
            str(run.fork_step(fork)),
            _number(fork.get("fork1_reward")),
            _number(fork.get("fork2_reward")),
            _number(fork.get("min_reward")),
            _number(fork.get("min_alpha"), 2),
            _number(fork["instability"]),
            _number(fork.get("normalized_instability"), 3),
            _stable_text(fork),
        ]
        if with_critic:
            row.append(_number((fork.get("critic") or {}).get("td_error_barrier")))
        rows.append(row)
    return _table(header, rows)


def _stable_text(fork: dict) -> str:
    if fork.get("diverged"):
        return "diverged: " + ", ".join(f"{k} at step {v}" for k, v in fork["diverged"].items())
    return "yes" if fork.get("is_stable") else "no"


def report_markdown(run: RunResults, figures: Sequence[str]) -> str:
    """The report's text; `figures` are file names in the report's own folder."""
    config = run.config
    lines = [
        f"# LMC-RL run: {run.title}",
        "",
        f"Run directory: `{run.results_dir}`",
        "",
        "## Settings",
        "",
        *_settings_lines(run),
        "",
        "## Forks",
        "",
    ]
    if run.fork_results:
        threshold = config.get("stability_threshold")
        lines += [
            "Instability = mean(endpoint returns) − minimum mean return along the path "
            "θ(α) = (1−α)·θ_child1 + α·θ_child2; normalized by |mean(endpoint returns)|. "
            f"A fork is stable if its normalized instability is at most {threshold}.",
            "",
            *_fork_lines(run),
        ]
    else:
        lines.append("This run has no fork points: only its learning curves are shown.")
    lines += ["", "## Figures", ""]
    per_fork = [name for name in figures if name.startswith("interp_fork_")]
    for name in figures:
        if name not in per_fork:
            heading = name.removesuffix(".png").replace("_", " ")
            lines += [f"### {heading}", "", f"![{name}]({name})", ""]
    if per_fork:
        links = ", ".join(f"[{name}]({name})" for name in per_fork)
        lines += ["### each fork's path", "", links, ""]
    return "\n".join(lines).rstrip() + "\n"
