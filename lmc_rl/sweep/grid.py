"""The grid of a sweep: the values each run flag takes, and the cartesian product of them.

Every RunConfig field may take several values. On the command line, ``|`` separates the values
of any flag (``--fork_noise 'all|env,action'``, ``--hidden_dims '32,32|64,64'``); the flags whose
single values never hold a comma (``--env``, ``--algo``, ``--seeds``, ``--fork_buffer_strategy``)
also take a plain comma list. In a YAML grid file a list is an axis and a scalar is fixed; for
the fields that are lists themselves (``fork_points``, ``hidden_dims``) a list of lists is an
axis and a flat list one fixed value.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import (
    KEY_ALIASES,
    RunConfig,
    build_config,
    did_you_mean,
    field_names,
    parse_value,
)

GRID_SEPARATOR = "|"
COMMA_LIST_AXES = ("env", "algo", "seed", "fork_buffer_strategy")
LIST_VALUED_FIELDS = ("fork_points", "hidden_dims")
ONE_VALUE_PER_SWEEP = ("experiment_name", "output_dir")
NAMED_AXES = ("env", "algo", "seed", "fork_buffer_strategy", "fork_noise")


@dataclass(frozen=True)
class SweepCell:
    """One point of the grid: an ordinary run, and a file-safe name for its log."""

    name: str
    config: RunConfig


def axes_from_flags(flags: dict[str, str]) -> dict[str, list[Any]]:
    """Split each command-line value into its grid values (``|``, or commas where allowed)."""
    axes = {}
    for key, raw in flags.items():
        text = str(raw)
        values = text.split(GRID_SEPARATOR)
        if key in COMMA_LIST_AXES:
            values = [v for value in values for v in value.split(",")]
        values = [v.strip() for v in values]
        if len(values) > 1 and not all(values):
            raise UserError(f"--{key}: empty value in the grid {text!r}")
        axes[key] = values
    return axes


def axes_from_yaml(path: str | Path) -> dict[str, list[Any]]:
    """Read a grid file: each key a config field, a list an axis, a scalar a fixed value."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise UserError(f"--grid: cannot read {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        raise UserError(f"--grid: {path} is not valid YAML ({first})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"--grid: {path} must hold a mapping of config keys to values or lists")
    aliases = {"seeds": "seed", **KEY_ALIASES}
    axes = {}
    for key, value in data.items():
        name = aliases.get(key, key)
        if name not in field_names():
            known = [*field_names(), *aliases]
            raise UserError(
                f"--grid: {path} has unknown key {key!r}{did_you_mean(str(key), known)}"
            )
        if name in axes:
            raise UserError(f"--grid: {path} gives {name!r} twice (as {key!r})")
        axes[name] = _yaml_axis(path, name, value)
    return axes


def _yaml_axis(path: Path, name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        return [value]
    if not value:
        raise UserError(f"--grid: {path}: {name} is an empty list")
    if name in LIST_VALUED_FIELDS and not any(isinstance(v, list) for v in value):
        return [value]  # one fork_points / hidden_dims value, not an axis
    return list(value)


def expand_grid(axes: dict[str, list[Any]], check_device: bool = True) -> list[SweepCell]:
    """Every combination of the axes as a validated run config, before anything runs.

    ``check_device=False`` leaves a cuda device to be checked where the run executes (a Ray
    worker with a GPU), not on this machine.
    """
    if "seed" not in axes:
        raise UserError(
            "--seeds: a sweep needs explicit seeds (e.g. --seeds 1,2,3), so that running it "
            "again finds its runs"
        )
    if any(parse_value("seed", value) is None for value in axes["seed"]):
        raise UserError(
            "--seeds: every seed must be a number (a random seed cannot be found again)"
        )
    for key, values in axes.items():
        if key in ONE_VALUE_PER_SWEEP and len(values) > 1:
            raise UserError(f"--{key}: one value per sweep, got {len(values)}")
        seen = set()
        for value in values:
            marker = repr(value)
            if marker in seen:
                raise UserError(f"--{key}: {value} is listed twice in the grid")
            seen.add(marker)
    keys = [name for name in field_names() if name in axes]
    varying = [k for k in keys if len(axes[k]) > 1 and k not in NAMED_AXES]
    cells: list[SweepCell] = []
    identities: dict[RunConfig, str] = {}
    for combination in itertools.product(*(axes[k] for k in keys)):
        config = _build(dict(zip(keys, combination, strict=True)), check_device)
        name = _unique(cell_name(config, varying), {c.name for c in cells})
        identity = run_identity(config)
        if identity in identities:
            raise UserError(
                f"grid cells {identities[identity]} and {name} are the same run "
                "(the same values written two ways?)"
            )
        identities[identity] = name
        cells.append(SweepCell(name, config))
    return cells


def _build(overrides: dict[str, Any], check_device: bool) -> RunConfig:
    device = str(overrides.get("device", "")).strip()
    if not check_device and device.startswith("cuda"):
        return build_config({**overrides, "device": "cpu"}).replace(device=device)
    return build_config(overrides)


def run_identity(config: RunConfig) -> RunConfig:
    """What decides a run's results: the config without where and how fast it runs."""
    return config.results_identity()


def cell_name(config: RunConfig, extra_axes: list[str]) -> str:
    """``{env}_{algo}_seed{seed}_{strategy}_noise-{noise}``, then any other varying axis."""
    noise = config.fork_noise.label.replace(",", "+")
    parts = [
        config.env,
        config.algo,
        f"seed{config.seed}",
        config.fork_buffer_strategy,
        f"noise-{noise}",
        *(f"{key}-{_value_text(getattr(config, key))}" for key in extra_axes),
    ]
    return re.sub(r"[^A-Za-z0-9.+=-]+", "_", "_".join(parts))


def _value_text(value: Any) -> str:
    if isinstance(value, tuple):
        return "-".join(map(str, value)) or "none"
    return str(value)


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate
