"""The learning-quality benchmark's job list: which runs a command line asks for."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import learning_quality as lq  # noqa: E402


def test_total_steps_sets_every_experiments_budget_and_its_own_cache_keys():
    suite = lq.SUITES["locomotion"]
    own = lq.make_jobs(suite, (6, 7), only=["SAC:Hopper-v5"])
    short = lq.make_jobs(suite, (6, 7), only=["SAC:Hopper-v5"], total_steps=60_000)
    assert {j.total_steps for j in own} == {200_000}
    assert {j.total_steps for j in short} == {60_000}
    assert len(short) == 4  # 2 seeds x ours and SB3
    assert not {j.key for j in own} & {j.key for j in short}  # never read as the suite's


def test_a_budget_below_one_step_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        lq.parse_args(["--total_steps", "0"])
    assert exit_info.value.code == 2
    assert "--total_steps must be >= 1" in capsys.readouterr().err
