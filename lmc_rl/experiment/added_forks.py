"""Forks added to a finished run (``lmc-rl fork``): each new fork's files are those of a run
that had its fork point from the start, bit for bit.

A fork is a pure function of (run settings, fork step), so the run with the larger schedule
(the old fork points and the new ones) is computed as two pieces of it: a new piece that holds
only the new forks (the parent recomputed as far as they need), and the finished run itself,
relabeled as the piece that holds the old forks (fork ids are places in the sorted schedule, so
an old fork's id shifts when an earlier one is added). ``merge`` joins the two into a new run
folder; the finished run is only read. Every refusal comes before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import (
    PLACEMENT_FIELDS,
    RunConfig,
    fork_step,
    parse_value,
    resolve,
    run_identity,
    validate,
)
from lmc_rl.records.atomic_files import atomic_write_bytes, atomic_write_json
from lmc_rl.records.layout import (
    CONFIG_FILE,
    RunPaths,
    RunStatus,
    child_member_name,
    merged_run_name,
    parent_snapshot_name,
    piece_name,
    pieces_folder_name,
    returns_name,
    weights_dir_for,
)
from lmc_rl.records.provenance import code_fingerprint
from lmc_rl.records.run_record import RunRecord, load_run
from lmc_rl.training.forking import fork_schedule, piece_record
from lmc_rl.training.run_files import rename_agent_file, write_run_config


def add_forks(
    results_dir: str | Path,
    fork_points: str,
    out: str | Path | None = None,
    placement: dict[str, Any] | None = None,
    progress: bool = False,
) -> Path:
    """The run of ``results_dir`` with forks at ``fork_points`` added, in ``out`` (default:
    ``seed_{seed}_run{id}`` beside it, named by the larger run's settings); returns its results
    folder. ``placement``: where and how fast the new piece runs (threads, eval_workers,
    device). The same call again skips what is done and resumes a killed piece."""
    from lmc_rl.experiment.merge import merge_pieces
    from lmc_rl.experiment.pieces import run_piece

    run = _finished_run(results_dir)
    larger = _larger_config(run, fork_points, placement or {})
    new_ids = _new_fork_ids(run.config, larger)
    old_ids = _old_fork_ids(run.config, larger)
    results = (
        Path(out)
        if out is not None
        else run.paths.results.parent / merged_run_name(larger.seed, run_identity(larger))
    )
    if _finished_before(results, larger, named_by_settings=out is None):
        print(f"lmc-rl: {results} is already finished", file=sys.stderr)
        return results
    home = results.parent / pieces_folder_name(larger.seed, run_identity(larger))
    new_piece = home / piece_name(new_ids)
    how = run_piece(larger.replace(forks=new_ids), str(new_piece), progress)
    print(f"lmc-rl: the new forks' piece {new_piece}: {how}", file=sys.stderr)
    pieces = [new_piece]
    relabeled = None
    if old_ids:  # the finished run, as the piece of the old forks (a copy: it is only read)
        ids = tuple(sorted(old_ids.values()))
        relabeled = RunPaths(home / piece_name(ids), weights_dir_for(home / piece_name(ids)))
        _remove(relabeled)
        _write_relabeled(run, larger.replace(forks=ids), old_ids, relabeled)
        pieces.insert(0, relabeled.results)  # first: the parent's files come from the run
    _remove(RunPaths(results, weights_dir_for(results)))  # a merge that was killed
    merged = merge_pieces(pieces, results)
    if relabeled is not None:
        _remove(relabeled)
    _record_origin(merged, run, new_piece, new_ids)
    return merged


def _finished_run(results_dir: str | Path) -> RunRecord:
    run = load_run(results_dir, flag="--results_dir")
    where = run.paths.results
    status = run.record.get("status")
    if status != RunStatus.FINISHED:
        raise UserError(
            f"--results_dir: {where} is still {status or 'unfinished'} (finish it first: "
            f"lmc-rl run --resume {where})"
        )
    if run.config.forks:
        raise UserError(
            f"--results_dir: {where} is a piece of a run (forks "
            f"{','.join(map(str, run.config.forks))}); merge its pieces first (lmc-rl merge)"
        )
    if run.record.get("missing_forks"):
        missing = ",".join(map(str, run.record["missing_forks"]))
        raise UserError(
            f"--results_dir: {where} is a partial merge (fork(s) {missing} missing); merge "
            "every piece first"
        )
    recorded, now = run.record.get("code_fingerprint"), code_fingerprint()
    if recorded != now:
        raise UserError(
            f"--results_dir: {where} was computed with other lmc-rl code (fingerprint "
            f"{recorded}, now {now}); forks added now would not be bitwise the run's"
        )
    return run


def _larger_config(run: RunRecord, raw_points: str, placement: dict[str, Any]) -> RunConfig:
    """The run's config with the new fork points in its schedule, to run here."""
    old = run.config
    new = parse_value("fork_points", raw_points)
    if not new:
        raise UserError("--fork_points: give one or more fork points to add")
    steps = {fork_step(p, old.total_steps): p for p in old.fork_points}
    for point in new:
        if not 0.0 < point < 1.0:
            raise UserError(f"--fork_points: {point} is not strictly between 0 and 1")
        step = fork_step(point, old.total_steps)
        if step in steps:
            raise UserError(
                f"--fork_points: the run already forks at {steps[step]} (step {step}); "
                f"{point} would be that fork again"
            )
    here = {"device": run.record.get("device") or run.recorded_device}
    for key, raw in placement.items():
        if key not in PLACEMENT_FIELDS:
            raise ValueError(f"{key} is not a placement setting")
        here[key] = parse_value(key, raw)
    here["output_dir"] = run.settings.get("output_dir", old.output_dir)
    larger = old.replace(fork_points=(*old.fork_points, *new), forks=(), **here)
    return resolve(validate(larger))


def _new_fork_ids(old: RunConfig, larger: RunConfig) -> tuple[int, ...]:
    steps = {f.step for f in fork_schedule(old)}
    return tuple(f.fork_id for f in fork_schedule(larger) if f.step not in steps)


def _old_fork_ids(old: RunConfig, larger: RunConfig) -> dict[int, int]:
    """Each old fork's id -> its id in the larger schedule."""
    by_step = {f.step: f.fork_id for f in fork_schedule(larger)}
    return {f.fork_id: by_step[f.step] for f in fork_schedule(old)}


def _finished_before(results: Path, larger: RunConfig, named_by_settings: bool) -> bool:
    """Whether ``results`` holds this larger run, finished by this command (the same command
    again). A merge of it killed before the end is done again; any other folder given as
    ``--out`` that is not empty is refused."""
    try:
        earlier = load_run(results, flag="--out")
        ours = (
            "merged_from" in earlier.record
            and not earlier.config.forks
            and run_identity(earlier.config) == run_identity(larger)
        )
    except UserError:
        ours = False
    if ours:
        return earlier.finished and "forks_added" in earlier.record
    if named_by_settings:  # seed_{seed}_run{id}: only this command writes there
        return False
    if results.exists() and any(results.iterdir()):
        raise UserError(f"--out: {results} already exists and is not empty")
    weights = weights_dir_for(results)
    if weights.exists() and any(weights.iterdir()):
        raise UserError(f"--out: {weights} (the new run's weights) is not empty")
    return False


def _remove(paths: RunPaths) -> None:
    for folder in (paths.results, paths.weights):
        shutil.rmtree(folder, ignore_errors=True)


def _write_relabeled(
    run: RunRecord, config: RunConfig, ids: dict[int, int], paths: RunPaths
) -> None:
    """The finished run as a piece of the larger run holding its forks under their new ids
    (``ids``: old id -> new id): the files a run with the larger schedule writes for them."""
    source = run.paths
    children = range(1, config.children + 1)
    names = {"parent": "parent"}
    for old, new in ids.items():
        for c in children:
            names[child_member_name(old, c)] = child_member_name(new, c)
    paths.results.mkdir(parents=True)
    paths.weights.mkdir(parents=True, exist_ok=True)
    paths.forks_dir.mkdir()
    for old, new in ids.items():
        if source.fork_start_weights(old).is_file():
            rename_agent_file(
                source.fork_start_weights(old), paths.fork_start_weights(new), fork_id=new
            )
        for c in children:
            if source.child_weights(c, old).is_file():
                rename_agent_file(
                    source.child_weights(c, old),
                    paths.child_weights(c, new),
                    member=child_member_name(new, c),
                )
        _link(source.returns_file(old), paths.returns_file(new))
        _link(source.critic_transitions_file(old), paths.critic_transitions_file(new))
        if source.instability_file(old).is_file():
            result = json.loads(source.instability_file(old).read_text())
            result.update(fork_id=new, returns_file=returns_name(new))
            atomic_write_json(paths.instability_file(new), result)
    _link(source.final_weights, paths.final_weights)
    if config.save_every:
        for step in range(config.save_every, config.total_steps + 1, config.save_every):
            name = parent_snapshot_name(step)
            _link(source.weights / name, paths.weights / name)
    _relabel_evaluations(source.evaluations_file, paths.evaluations_file, names)
    if source.tensorboard_dir.is_dir():
        for member in source.tensorboard_dir.iterdir():
            if member.name in names:
                target = paths.tensorboard_dir / names[member.name]
                shutil.copytree(member, target, copy_function=_link)
    record = {
        k: v
        for k, v in run.record.items()
        if k not in ("config", "versions", "results_dir", "weights_dir")
    }
    record["members"] = {
        names.get(name, name): _relabeled_member(member, ids)
        for name, member in (run.record.get("members") or {}).items()
    }
    record["diverged"] = {
        names.get(name, name): step for name, step in (run.record.get("diverged") or {}).items()
    }
    record["piece"] = piece_record(config)
    write_run_config(paths, config, record)


def _relabeled_member(member: dict[str, Any], ids: dict[int, int]) -> dict[str, Any]:
    """config.json's record of a member, its fork (a child's) under the fork's new id."""
    if "fork_id" not in member:
        return member
    return {**member, "fork_id": ids[member["fork_id"]]}


def _relabel_evaluations(source: Path, target: Path, names: dict[str, str]) -> None:
    """evaluations.csv with every member renamed; each row's numbers as they were written."""
    with open(source, newline="") as f:
        rows = list(csv.reader(f))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows[0])
    writer.writerows([names.get(row[0], row[0]), *row[1:]] for row in rows[1:])
    atomic_write_bytes(target, buffer.getvalue().encode())


def _link(source: Path, target: Path) -> None:
    """``target`` as the same file as ``source`` (a hard link, else a copy), if it exists."""
    if not Path(source).is_file():
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _record_origin(merged: Path, run: RunRecord, new_piece: Path, new_ids: tuple[int, ...]) -> None:
    """config.json says which finished run the merged run extends and which forks it added
    (the relabeled copy the merge read is gone)."""
    file = merged / CONFIG_FILE
    record = json.loads(file.read_text())
    record["merged_from"] = [str(run.paths.results.resolve()), str(new_piece.resolve())]
    record["forks_added"] = {"to": str(run.paths.results.resolve()), "fork_ids": list(new_ids)}
    atomic_write_json(file, record)
