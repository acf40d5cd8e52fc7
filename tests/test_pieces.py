"""A run in pieces: a fork's bits do not depend on the other forks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from lmc_rl.cli import main
from lmc_rl.records.run_record import load_run
from lmc_rl.training.run_files import load_agent_state


def _flags(tiny_run: dict[str, str], **changes: str) -> list[str]:
    flags = {
        **tiny_run,
        "total_steps": "300",
        "learning_starts": "100",
        "eval_freq": "100",
        "fork_points": "0.3,0.5,0.7",
        "alpha_points": "3",
        "num_eval_episodes": "2",
        "eval_workers": "1",
        "threads": "1",
        "seed": "3",
        **changes,
    }
    return [arg for key, value in flags.items() for arg in (f"--{key}", value)]


def _run(capsys, argv: list[str]) -> Path:
    assert main(["run", "--no_progress", *argv]) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def _weights(results: Path) -> Path:
    return load_run(results).paths.weights


# -- a fork is a function of its step, not of its place in the schedule -----------------------


def test_a_forks_children_and_results_do_not_depend_on_the_other_forks(tmp_path, tiny_run, capsys):
    both = _run(capsys, _flags(tiny_run, fork_points="0.3,0.6", output_dir=str(tmp_path / "a")))
    alone = _run(capsys, _flags(tiny_run, fork_points="0.6", output_dir=str(tmp_path / "b")))
    for child in (1, 2):  # fork 0.6 is fork 2 of one run and fork 1 of the other
        a = load_agent_state(_weights(both) / f"fork{child}_2.pt")[0].state_dict()
        b = load_agent_state(_weights(alone) / f"fork{child}_1.pt")[0].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    result = json.loads((both / "forks" / "instability_2.json").read_text())
    same = json.loads((alone / "forks" / "instability_1.json").read_text())
    assert result.pop("fork_id") == 2 and same.pop("fork_id") == 1
    assert result.pop("returns_file") == "returns_2.npz" and same.pop("returns_file")
    assert result == same
    with (
        np.load(both / "forks" / "returns_2.npz") as a,
        np.load(alone / "forks/returns_1.npz") as b,
    ):
        assert np.array_equal(a["pair_returns"], b["pair_returns"])
