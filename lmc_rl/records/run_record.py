"""A run folder read back: its config.json and its two directories.

The one reader of a run's config.json, for resume, sweeps, evaluation and analysis alike. Light
(no torch): analysis reads the recorded settings as plain data, and the typed ``RunConfig`` is
built on first use of ``RunRecord.config`` (validating it imports torch and gymnasium).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmc_rl.config.errors import UserError
from lmc_rl.records.layout import CONFIG_FILE, RunPaths, RunStatus, weights_dir_of

if TYPE_CHECKING:
    from lmc_rl.config.run_config import RunConfig


@dataclass(frozen=True)
class RunRecord:
    """A run as found on disk: its directories and what config.json says of it; errors about it
    name ``flag``, the option that pointed at it."""

    paths: RunPaths
    record: dict[str, Any]
    flag: str = "--results_dir"

    @property
    def settings(self) -> dict[str, Any]:
        """config.json's ``config`` section as written (plain JSON values)."""
        return self.record["config"]

    @property
    def finished(self) -> bool:
        return self.record.get("status") == RunStatus.FINISHED

    @property
    def recorded_device(self) -> str:
        """The device the run was started with (``config`` holds the CPU instead)."""
        return self.settings.get("device", "auto")

    @functools.cached_property
    def config(self) -> RunConfig:
        """The recorded config, typed and validated, for this machine: the device is the CPU
        (a copied run must not depend on the machine it ran on) and output_dir is unset."""
        from lmc_rl.config.run_config import build_config

        try:
            return build_config({**self.settings, "device": "cpu", "output_dir": "."})
        except UserError as err:
            file = self.paths.config_file
            raise UserError(f"{self.flag}: {file} holds an invalid config ({err})") from None


def load_run(
    results_dir: str | Path, flag: str = "--results_dir", *, validate: bool = True
) -> RunRecord:
    """Read a run's config.json; a UserError, naming ``flag``, says what is missing or
    unreadable. ``validate=False`` leaves the typed config to its first use (analysis reads
    only ``settings`` and so never imports torch)."""
    results = Path(results_dir)
    if not results.is_dir():
        raise UserError(f"{flag}: {results} is not a directory")
    config_file = results / CONFIG_FILE
    missing = f"{results} has no config.json (not a run directory?)"
    record = read_json_object(config_file, flag, missing)
    if not isinstance(record.get("config"), dict):
        raise UserError(f"{flag}: {config_file} has no 'config' section (not an lmc-rl run?)")
    weights = weights_dir_of(results, record.get("weights_dir"))
    run = RunRecord(RunPaths(results, weights), record, flag)
    if validate:
        _ = run.config  # now, so that a bad config.json is reported where it is read
    return run


def read_json_object(path: Path, flag: str, missing: str) -> dict[str, Any]:
    """The JSON object in one of a run's files; else a one-line UserError naming ``flag``:
    ``missing`` if there is no file, or that it is unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{flag}: {missing}") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{flag}: {path} is unreadable ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{flag}: {path} is not a JSON object")
    return data
