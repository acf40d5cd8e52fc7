"""RunConfig's fields as command-line flags: one builder for ``lmc-rl run`` and ``lmc-rl sweep``.

Every field is a flag of the same name whose help text and default come from the field itself, so
that a new field, a new help text or a new default shows up in both commands.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from lmc_rl.config.errors import UserError
from lmc_rl.config.fork_noise import ForkNoise
from lmc_rl.config.run_config import RunConfig, did_you_mean


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2 (a UserError), and a
    flag is taken only as spelled in full (no prefix matching: ``--total_step`` is a typo, not
    ``--total_steps``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message)


def format_default(f: dataclasses.Field) -> str:
    """A field's default as a user types it (a list comma separated; None as what it means)."""
    value = f.default
    if value is None:
        return f.metadata.get("none_means", "none")
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "none"
    if isinstance(value, ForkNoise):
        return value.label
    return str(value)


def add_config_flags(
    parser: argparse.ArgumentParser,
    *,
    aliases: dict[str, Sequence[str]] | None = None,
    help_text: dict[str, str] | None = None,
    default_text: dict[str, str] | None = None,
    note: Callable[[str], str] | None = None,
) -> None:
    """Add ``--{field}`` for every RunConfig field (value kept as typed, absent if not given).

    ``aliases``, ``help_text`` and ``default_text`` replace or extend what a field says of
    itself, per field name; ``note(name)`` is appended to its help (a sweep's grid syntax).
    """
    aliases, help_text, default_text = aliases or {}, help_text or {}, default_text or {}
    for f in dataclasses.fields(RunConfig):
        names = [f"--{f.name}", *f.metadata.get("aliases", ()), *aliases.get(f.name, ())]
        text = help_text.get(f.name, f.metadata["help"]) + (note(f.name) if note else "")
        default = default_text.get(f.name, format_default(f))
        parser.add_argument(
            *names,
            dest=f.name,
            metavar=f.name.upper(),
            default=argparse.SUPPRESS,
            help=f"{text} (default: {default})".replace("%", "%%"),
        )


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config flags the user gave, as raw values by field name."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(RunConfig)
        if hasattr(args, f.name)
    }


def unknown_flags_error(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> UserError:
    """ "unrecognized arguments" with a "did you mean" for each mistyped flag; the values that
    follow an unknown flag are left out (they belong to it, and read as part of the hint)."""
    options = [o for o in parser._option_string_actions if o.startswith("--")]
    parts = []
    after_flag = False
    for arg in unknown:
        flag = arg.split("=", 1)[0]
        if flag.startswith("-"):
            hint = did_you_mean(flag, options) if flag.startswith("--") else ""
            parts.append(f"{flag}{hint}")
            after_flag = True
        elif not after_flag:
            parts.append(arg)
    return UserError(f"unrecognized arguments: {' '.join(parts)}")
