"""Join the pieces of one run into the run folder the whole run would have written.

A piece (``lmc-rl run --forks IDS``) holds its forks' files and the parent's as far as it
trained it; the piece that holds the schedule's last fork trained the parent to the end. The
merge copies each member's files from the piece that computed it, and measures every fork again
from its saved returns (no episode is played again): a fork's verdict reads the parent's whole
curve, which only the merged run has. Every refusal comes before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import RunConfig, run_identity
from lmc_rl.records.atomic_files import atomic_write_bytes
from lmc_rl.records.layout import (
    EVALUATION_COLUMNS,
    RunPaths,
    RunStatus,
    instability_name,
    merged_run_name,
    parent_snapshot_name,
    weights_dir_for,
)
from lmc_rl.records.run_record import RunRecord, load_run
from lmc_rl.training.forking import Fork, fork_schedule, parent_until, piece_forks
from lmc_rl.training.run_files import write_run_config

FLAG = "merge"


def merge_pieces(
    dirs: Sequence[str | Path], out: str | Path | None = None, partial: bool = False
) -> Path:
    """Merge finished pieces of one run into ``out`` (default: ``seed_{seed}_run{id}`` beside
    the first piece); returns the merged results folder. Raises UserError, writing nothing, for
    pieces of different runs, overlapping or (without ``partial``) missing forks, and pieces
    still training."""
    pieces = _read_pieces(dirs)
    config = pieces[0].config.replace(forks=())
    owner = _forks_by_piece(pieces, config, partial)
    lead = pieces[0]
    results = (
        Path(out)
        if out is not None
        else (lead.paths.results.parent / merged_run_name(config.seed, run_identity(config)))
    )
    if results.exists() and any(results.iterdir()):
        raise UserError(f"{FLAG}: --out {results} already exists and is not empty")
    paths = RunPaths(results, weights_dir_for(results))
    if paths.weights.exists() and any(paths.weights.iterdir()):
        raise UserError(f"{FLAG}: {paths.weights} (the merged run's weights) is not empty")
    present = [fork for fork in fork_schedule(config) if fork.fork_id in owner]
    missing = [fork.fork_id for fork in fork_schedule(config) if fork.fork_id not in owner]
    parent = _parent_piece(pieces, config)
    _write_merged(pieces, owner, parent, config, paths, present, missing)
    from lmc_rl.analysis import analyze_run

    analyze_run(paths.results)
    return paths.results


def _read_pieces(dirs: Sequence[str | Path]) -> list[RunRecord]:
    if not dirs:
        raise UserError(f"{FLAG}: give the results folders of the pieces to merge")
    pieces = [load_run(d, flag=FLAG) for d in dirs]
    if len({p.paths.results.resolve() for p in pieces}) != len(pieces):
        raise UserError(f"{FLAG}: a folder is named twice")
    first = pieces[0]
    first_id = run_identity(first.config)
    for piece in pieces:
        status = piece.record.get("status")
        if status != RunStatus.FINISHED:
            raise UserError(
                f"{FLAG}: {piece.paths.results} is still {status or 'unfinished'} (finish it "
                f"first: lmc-rl run --resume {piece.paths.results})"
            )
        if run_identity(piece.config) != first_id:
            raise UserError(
                f"{FLAG}: {piece.paths.results} is a piece of another run than "
                f"{first.paths.results} (their settings or seeds differ)"
            )
        if piece.record.get("code_fingerprint") != first.record.get("code_fingerprint"):
            raise UserError(
                f"{FLAG}: {piece.paths.results} was computed with other lmc-rl code than "
                f"{first.paths.results}; their bits would not join"
            )
    return pieces


def _forks_by_piece(
    pieces: Sequence[RunRecord], config: RunConfig, partial: bool
) -> dict[int, RunRecord]:
    """Fork id -> the piece that computed it; refuses overlaps and, unless ``partial``, gaps."""
    owner: dict[int, RunRecord] = {}
    for piece in pieces:
        for fork in piece_forks(piece.config):
            if fork.fork_id in owner:
                raise UserError(
                    f"{FLAG}: fork {fork.fork_id} is in two pieces: "
                    f"{owner[fork.fork_id].paths.results} and {piece.paths.results}"
                )
            owner[fork.fork_id] = piece
    missing = [f.fork_id for f in fork_schedule(config) if f.fork_id not in owner]
    if missing and not partial:
        raise UserError(
            f"{FLAG}: fork(s) {','.join(map(str, missing))} of the run are in no piece; run them "
            "(lmc-rl run ... --forks IDS) or merge what there is with --partial"
        )
    if not owner:
        raise UserError(f"{FLAG}: the pieces hold no fork")
    return owner


def _parent_piece(pieces: Sequence[RunRecord], config: RunConfig) -> RunRecord:
    """The piece that trained the parent furthest (to total_steps if it holds the last fork)."""
    return max(pieces, key=lambda p: parent_until(p.config))


def _write_merged(
    pieces: Sequence[RunRecord],
    owner: dict[int, RunRecord],
    parent: RunRecord,
    config: RunConfig,
    paths: RunPaths,
    present: list[Fork],
    missing: list[int],
) -> None:
    from lmc_rl.measuring.barrier_stats import stopping_looks
    from lmc_rl.measuring.instability import saved_returns, write_fork_results
    from lmc_rl.training.trainer import members_record

    paths.results.mkdir(parents=True, exist_ok=True)
    paths.weights.mkdir(parents=True, exist_ok=True)
    children = range(1, config.children + 1)
    # agent files: each fork's from its piece, the parent's from the piece that trained it
    for fork in present:
        source = owner[fork.fork_id].paths
        _copy(source.fork_start_weights(fork.fork_id), paths.fork_start_weights(fork.fork_id))
        for c in children:
            _copy(source.child_weights(c, fork.fork_id), paths.child_weights(c, fork.fork_id))
        _copy(
            source.critic_transitions_file(fork.fork_id),
            paths.critic_transitions_file(fork.fork_id),
        )
    _copy(parent.paths.final_weights, paths.final_weights)
    if config.save_every:
        for step in range(config.save_every, config.total_steps + 1, config.save_every):
            _copy(
                parent.paths.weights / parent_snapshot_name(step),
                paths.weights / parent_snapshot_name(step),
            )
    # evaluations and TensorBoard logs of every member
    member_piece = {"parent": parent}
    for fork in present:
        for c in children:
            member_piece[fork.child_name(c)] = owner[fork.fork_id]
    _merge_evaluations(member_piece, present, config.children, paths)
    for member, piece in member_piece.items():
        source = piece.paths.tensorboard_dir / member
        if source.is_dir():
            shutil.copytree(source, paths.tensorboard_dir / member)
    # config.json: the whole run's, with every piece's record of divergence
    record: dict[str, Any] = {
        k: v for k, v in parent.record.items() if k not in ("piece", "config", "versions")
    }
    diverged: dict[str, int] = {}
    for member, piece in member_piece.items():
        if member in (piece.record.get("diverged") or {}):
            diverged[member] = piece.record["diverged"][member]
    record.update(
        status=RunStatus.TRAINED.value,
        members=members_record(config, present),
        diverged=diverged,
        merged_from=[str(p.paths.results.resolve()) for p in pieces],
        code_fingerprint=parent.record.get("code_fingerprint"),
    )
    if missing:
        record["missing_forks"] = missing
    write_run_config(paths, config, record)
    merged = load_run(paths.results, flag=FLAG)
    healthy = [f for f in present if not any(f.child_name(c) in diverged for c in children)]
    returns: dict = {}
    for piece in pieces:
        mine = [f for f in healthy if owner[f.fork_id] is piece]
        returns.update(saved_returns(piece.paths.forks_dir, mine, config.children))
    stopping = config.eval_stopping == "verdict"
    write_fork_results(
        merged,
        present,
        returns,
        config.alpha_points,
        config.num_eval_episodes,
        config.children,
        paths.forks_dir,
        looks=stopping_looks(config.num_eval_episodes) if stopping else None,
        history={f.fork_id: _looks_of(owner[f.fork_id], f) for f in healthy} if stopping else None,
    )
    record["status"] = RunStatus.FINISHED.value
    write_run_config(paths, config, record)
    if missing:
        print(
            f"lmc-rl: merged without fork(s) {','.join(map(str, missing))} (--partial)",
            file=sys.stderr,
        )


def _looks_of(piece: RunRecord, fork: Fork) -> list[dict[str, Any]]:
    """A sequentially evaluated fork's verdict at each look, as its piece recorded them."""
    record = json.loads((piece.paths.forks_dir / instability_name(fork.fork_id)).read_text())
    return record.get("evaluation_looks") or []


def _copy(source: Path, target: Path) -> None:
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _merge_evaluations(
    member_piece: dict[str, RunRecord], forks: list[Fork], children: int, paths: RunPaths
) -> None:
    """evaluations.csv in the whole run's order: by step, then parent, then forks and children
    in schedule order (the rows of each member copied as its piece wrote them)."""
    rank = {"parent": (0, 0)}
    for fork in forks:
        for c in range(1, children + 1):
            rank[fork.child_name(c)] = (fork.fork_id, c)
    rows = []
    for piece in {id(p): p for p in member_piece.values()}.values():
        with open(piece.paths.evaluations_file, newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            for row in reader:
                member = row[0]
                if member_piece.get(member) is piece:
                    rows.append(row)
    if tuple(header) != EVALUATION_COLUMNS:
        raise UserError(f"{FLAG}: evaluations.csv has columns {header}, not {EVALUATION_COLUMNS}")
    rows.sort(key=lambda row: (int(row[1]), rank[row[0]]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVALUATION_COLUMNS)
    writer.writerows(rows)
    atomic_write_bytes(paths.evaluations_file, buffer.getvalue().encode())
