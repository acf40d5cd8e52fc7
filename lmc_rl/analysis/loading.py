"""A run's result files read back as plain data and pandas frames, from files alone.

Analysis never touches weights, envs or the machine the run trained on: a results directory
copied anywhere (or out of a cluster) reads the same. Everything wrong with a directory is a
`UserError` of one line that says what is missing and how to get it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lmc_rl.config.errors import UserError
from lmc_rl.measuring.fork_result import INTERPOLATION_KEYS, REQUIRED_KEYS, ForkResult
from lmc_rl.records.layout import CONFIG_FILE, EVALUATION_COLUMNS, RunStatus, instability_name
from lmc_rl.records.run_record import load_run, read_json_object

IDENTITY_COLUMNS = ("env", "algo", "seed", "fork_buffer_strategy", "fork_noise")
INTERPOLATION_COLUMNS = INTERPOLATION_KEYS
# a loaded table names a policy's return as evaluations.csv does (the JSON keeps the prototype's)
RETURN_COLUMN_NAMES = {
    "mean_reward": "mean_return",
    "std_reward": "std_return",
    "sem_reward": "sem_return",
}
FORK_METRIC_COLUMNS = (
    "fork_id",
    "fork_point",
    "fork_step",
    "fork1_reward",
    "fork2_reward",
    "endpoint_mean_reward",
    "min_reward",
    "min_alpha",
    "instability",
    "normalized_instability",
    "stability_threshold",
    "is_stable",
    "is_stable_frankle",
    "num_eval_episodes",
    "alpha_points",
    "min_at_endpoint",
    "linear_barrier",
    "linear_barrier_alpha",
    "linear_barrier_crossfit",
    "normalized_linear_barrier",
    "cvar10_linear_barrier",
    "children",
    "children_return_std",
    "pair_mean_linear_barrier",
    "verdict",
    "saturated",
    "critic_threshold",
    "critic_verdict",
)


@dataclass(frozen=True)
class RunResults:
    """One finished run as its files hold it: config.json, evaluations.csv and every fork's
    instability_{id}.json of one evaluation (sorted by fork id; empty for a run without
    forks). ``evaluation_dir`` is the folder they were read from: the run's own forks/ or a
    re-evaluation's folder."""

    results_dir: Path
    record: dict[str, Any]
    evaluations: pd.DataFrame
    fork_results: list[ForkResult]
    total_steps: int
    evaluation_dir: Path | None = None

    @property
    def config(self) -> dict[str, Any]:
        return self.record["config"]

    @property
    def identity(self) -> dict[str, Any]:
        """The settings that tell runs apart in a comparison: env, algo, seed, buffer, noise."""
        return {key: self.config.get(key) for key in IDENTITY_COLUMNS}

    @property
    def title(self) -> str:
        """One line naming the run for figure titles."""
        c = self.config
        return (
            f"{c.get('env')} · {c.get('algo')} · buffer {c.get('fork_buffer_strategy')} · "
            f"seed {c.get('seed')}"
        )

    def fork_step(self, fork: ForkResult) -> int:
        """The env step of a fork: the recorded one, or point × total_steps when overridden."""
        if self.total_steps != self.config.get("total_steps"):
            return int(round(fork.fork_point * self.total_steps))
        return int(fork.fork_step)


@dataclass(frozen=True)
class RunFrames:
    """Tidy tables of one or many runs for notebooks; every row carries its run's identity
    (env, algo, seed, fork_buffer_strategy, fork_noise) and `run` (its results directory)."""

    evaluations: pd.DataFrame
    interpolation: pd.DataFrame
    forks: pd.DataFrame


def read_run(
    results_dir: str | Path,
    total_steps: int | None = None,
    evaluation: str | Path | None = None,
) -> RunResults:
    """Read a finished run's files; a UserError names the first thing that is missing.
    ``evaluation``: the folder of a re-evaluation (default: the run's own forks/)."""
    run = load_run(results_dir, validate=False)
    results, record = run.paths.results, run.record
    flag = f"--results_dir {results}"
    status = record.get("status")
    if status not in (RunStatus.TRAINED, RunStatus.FINISHED):
        raise UserError(f"{flag}: the run has not finished training (status {status!r})")
    evaluations = _read_evaluations(run.paths.evaluations_file, flag)
    folder = Path(evaluation) if evaluation is not None else run.paths.forks_dir
    fork_results = _read_fork_results(results, folder, record, flag)
    if status != RunStatus.FINISHED and not fork_results and run.settings.get("fork_points"):
        raise UserError(f"{flag}: the run was trained but not evaluated (status 'trained')")
    steps = int(total_steps if total_steps is not None else run.settings["total_steps"])
    if steps <= 0:
        raise UserError(f"--total_steps: must be positive, got {steps}")
    return RunResults(results, record, evaluations, fork_results, steps, folder)


def _read_evaluations(path: Path, flag: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError(f"{flag}: no evaluations.csv") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{flag}: evaluations.csv is unreadable ({type(err).__name__})") from None
    missing = [c for c in EVALUATION_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{flag}: evaluations.csv lacks columns {', '.join(missing)}")
    return frame


def _expected_fork_ids(record: dict[str, Any]) -> list[int]:
    """Fork ids the run made, from its members (config.json's record of who trained)."""
    members = record.get("members") or {}
    ids = {m["fork_id"] for m in members.values() if isinstance(m, dict) and "fork_id" in m}
    if not ids:  # an older record without members: one fork per fork point, numbered from 1
        ids = set(range(1, len(record["config"].get("fork_points") or []) + 1))
    return sorted(int(i) for i in ids)


def _read_fork_results(
    results: Path, folder: Path, record: dict[str, Any], flag: str
) -> list[ForkResult]:
    expected = _expected_fork_ids(record)
    if not expected:
        return []
    evaluate_hint = f"run `lmc-rl evaluate --results_dir {results}` first"
    shown = folder.name if folder.parent == results else str(folder)
    files = sorted(folder.glob("instability_*.json"))
    if not files:
        raise UserError(f"{flag}: no {shown}/instability_*.json; {evaluate_hint}")
    missing = [i for i in expected if not (folder / instability_name(i)).is_file()]
    if missing:
        names = ", ".join(f"{shown}/instability_{i}.json" for i in missing)
        raise UserError(f"{flag}: missing {names}; {evaluate_hint}")
    forks = [
        read_json_object(folder / instability_name(i), flag, "vanished while reading")
        for i in expected
    ]
    for fork in forks:
        absent = [k for k in REQUIRED_KEYS if k not in fork]
        if absent:
            raise UserError(
                f"{flag}: {shown}/instability_{fork.get('fork_id')}.json lacks {', '.join(absent)}"
            )
    return [ForkResult.from_json(fork) for fork in forks]


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run directories named by `paths`: a path holding config.json is a run; any other folder
    is searched recursively for runs. Sorted, without duplicates."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise UserError(f"--results_dir {path}: no such file or directory")
        if (path / CONFIG_FILE).is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise UserError(f"--results_dir {path}: not a directory")
        nested = sorted(p.parent for p in path.rglob(CONFIG_FILE))
        if not nested:
            raise UserError(f"--results_dir {path}: no run (config.json) found in it")
        found.extend(nested)
    unique = {p.resolve(): p for p in found}
    return [unique[key] for key in sorted(unique)]


def read_runs(paths: Sequence[str | Path]) -> list[RunResults]:
    """Every finished run under `paths`. Runs named directly must be complete (UserError
    otherwise); incomplete runs found by searching a folder are skipped with a note on stderr."""
    named = {Path(p).resolve() for p in paths if (Path(p) / CONFIG_FILE).is_file()}
    runs = []
    for path in find_runs(paths):
        try:
            runs.append(read_run(path))
        except UserError as err:
            if path.resolve() in named:
                raise
            print(f"lmc-rl: skipping {err}", file=sys.stderr)
    if not runs:
        raise UserError(f"--results_dir {' '.join(str(p) for p in paths)}: no finished run found")
    return runs


# ---------------------------------------------------------------------------------------------
# tidy frames


def evaluations_frame(run: RunResults) -> pd.DataFrame:
    """evaluations.csv with the run's identity and each member's fork id and point (NaN for
    the parent)."""
    frame = run.evaluations.copy()
    members = run.record.get("members") or {}
    frame["fork_id"] = (
        frame["member"].map(lambda m: (members.get(m) or {}).get("fork_id")).astype("Int64")
    )
    frame["fork_point"] = (
        frame["member"].map(lambda m: (members.get(m) or {}).get("fork_point")).astype(float)
    )
    return _with_identity(frame, run)


def interpolation_frame(run: RunResults) -> pd.DataFrame:
    """One row per (fork, alpha): the interpolated policy's return statistics (``mean_return``,
    ``std_return``, ``sem_return``, as in the evaluations table)."""
    rows = [
        {
            "fork_id": int(fork.fork_id),
            "fork_point": float(fork.fork_point),
            **{key: _nan_if_none(point.get(key)) for key in INTERPOLATION_COLUMNS},
        }
        for fork in run.fork_results
        for point in fork.interpolation
    ]
    frame = pd.DataFrame(rows, columns=["fork_id", "fork_point", *INTERPOLATION_COLUMNS])
    return _with_identity(frame.rename(columns=RETURN_COLUMN_NAMES), run)


def forks_frame(run: RunResults) -> pd.DataFrame:
    """One row per fork: the path's summary metrics, the linear barrier the verdict judged with
    its interval (``barrier_estimate``, ``barrier_ci_*``), the critic's barriers (plug-in in
    squared TD units; relative with the interval its verdict judged: ``critic_barrier_*``;
    NaN if none) and whether the returns sat at the ceiling (``saturated``)."""
    rows = []
    for fork in run.fork_results:
        row = {key: getattr(fork, key) for key in FORK_METRIC_COLUMNS}
        row["fork_step"] = run.fork_step(fork)
        row["barrier_estimate"] = _nan_if_none(fork.barrier_estimate)
        low, high = fork.barrier_interval or (None, None)
        row["barrier_ci_low"], row["barrier_ci_high"] = _nan_if_none(low), _nan_if_none(high)
        critic = fork.critic or {}
        row["critic_td_error_barrier"] = critic.get("td_error_barrier", float("nan"))
        row["critic_td_error_max_alpha"] = critic.get("td_error_max_alpha", float("nan"))
        row["critic_barrier_estimate"] = _nan_if_none(fork.critic_barrier_estimate)
        low, high = fork.critic_barrier_interval or (None, None)
        row["critic_barrier_ci_low"] = _nan_if_none(low)
        row["critic_barrier_ci_high"] = _nan_if_none(high)
        row["total_steps"] = run.total_steps
        rows.append(row)
    columns = [
        *FORK_METRIC_COLUMNS,
        "barrier_estimate",
        "barrier_ci_low",
        "barrier_ci_high",
        "critic_td_error_barrier",
        "critic_td_error_max_alpha",
        "critic_barrier_estimate",
        "critic_barrier_ci_low",
        "critic_barrier_ci_high",
        "total_steps",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    floats = (
        "instability",
        "normalized_instability",
        "critic_td_error_barrier",
        "linear_barrier",
        "linear_barrier_crossfit",
        "normalized_linear_barrier",
        "pair_mean_linear_barrier",
        "barrier_estimate",
        "critic_barrier_estimate",
    )
    for key in floats:
        frame[key] = frame[key].astype(float)
    return _with_identity(frame, run)


def _nan_if_none(value: Any) -> Any:
    return float("nan") if value is None else value


def _with_identity(frame: pd.DataFrame, run: RunResults) -> pd.DataFrame:
    frame = frame.copy()
    for key, value in run.identity.items():
        frame[key] = value
    frame["run"] = str(run.results_dir)
    return frame


def frames_of(runs: Iterable[RunResults]) -> RunFrames:
    """Concatenate the tidy frames of several runs."""
    runs = list(runs)
    return RunFrames(
        evaluations=_concat([evaluations_frame(r) for r in runs]),
        interpolation=_concat([interpolation_frame(r) for r in runs]),
        forks=_concat([forks_frame(r) for r in runs]),
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    non_empty = [f for f in frames if len(f)]
    if non_empty:
        return pd.concat(non_empty, ignore_index=True)
    return frames[0] if frames else pd.DataFrame()


def load_run_frames(results_dir: str | Path, total_steps: int | None = None) -> RunFrames:
    """Tidy pandas frames of one finished run (evaluations, interpolation, forks)."""
    return frames_of([read_run(results_dir, total_steps)])


def load_runs(paths: Sequence[str | Path]) -> RunFrames:
    """Tidy pandas frames of many runs: run directories or folders searched for runs."""
    return frames_of(read_runs(paths))
