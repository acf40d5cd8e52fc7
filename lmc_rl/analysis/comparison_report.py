"""report.md of a comparison across runs: what was compared, the aggregate table, the figures,
and a warning where runs compared side by side were evaluated with different settings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from lmc_rl.analysis.loading import RunResults

# Settings of the instability evaluation: runs that differ in them measure different things.
EVALUATION_SETTINGS = (
    "alpha_points",
    "num_eval_episodes",
    "stability_threshold",
    "critic_threshold",
    "total_steps",
)
_GROUP = ("env", "algo", "fork_buffer_strategy", "fork_noise")


def _evaluation_settings(run: RunResults) -> list[dict[str, Any]]:
    """The settings each of a run's forks was evaluated with (an `lmc-rl evaluate` may have
    changed alpha_points and num_eval_episodes after training)."""
    settings = []
    for fork in run.fork_results:
        values = {key: getattr(fork, key, None) for key in EVALUATION_SETTINGS}
        settings.append({k: v if v is not None else run.config.get(k) for k, v in values.items()})
    return settings


def mixed_settings_warnings(runs: Sequence[RunResults]) -> list[str]:
    """One line per comparison group whose runs were evaluated with different settings."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        key = tuple(str(run.config.get(k)) for k in _GROUP)
        groups.setdefault(key, []).extend(_evaluation_settings(run))
    warnings = []
    for key, settings in sorted(groups.items()):
        differing = [
            f"{name} {sorted({str(s[name]) for s in settings}, key=_natural)}"
            for name in EVALUATION_SETTINGS
            if len({str(s[name]) for s in settings}) > 1
        ]
        if differing:
            warnings.append(
                f"{' · '.join(key)}: runs were evaluated with different settings "
                f"({'; '.join(differing)}); their mean mixes different measurements"
            )
    return warnings


def _natural(text: str) -> tuple:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def comparison_markdown(
    aggregate: pd.DataFrame,
    runs: Sequence[RunResults],
    figures: Sequence[str],
    warnings: Sequence[str],
) -> str:
    """The comparison's report; ``figures`` are file names in the report's own folder."""
    lines = [
        "# LMC-RL comparison",
        "",
        f"{len(runs)} runs; instability and cross-fitted linear barrier by fork point, mean over "
        "seeds with a percentile bootstrap 95 % confidence interval (`aggregate.csv` holds the "
        "same table).",
        "",
    ]
    if warnings:
        lines += ["## Warnings", "", *[f"- {w}" for w in warnings], ""]
    lines += ["## Runs", ""]
    lines += [f"- `{run.results_dir}`" for run in runs]
    columns = list(aggregate.columns)
    lines += ["", "## Instability and linear barrier", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    for row in aggregate.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    lines += ["", "## Figures", ""]
    for name in figures:
        lines += [f"![{name}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"
