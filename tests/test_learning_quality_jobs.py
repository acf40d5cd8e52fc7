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


def finished_run(done_dir, job, steps):
    lq.save_result(done_dir, lq.RunResult(job, steps, [float(s) for s in steps], 1.0))


def test_a_run_of_a_longer_budget_counts_at_a_step_it_reached(tmp_path):
    suite = lq.SUITES["locomotion"]
    long_job, short_job = (
        lq.make_jobs(suite, (1,), ["sb3"], ["SAC:Hopper-v5"], total_steps=n)[0]
        for n in (200_000, 60_000)
    )
    finished_run(tmp_path, long_job, [5000 * i for i in range(1, 41)])
    found = lq.cached_result_reaching(tmp_path, short_job, 60_000)
    assert found is not None and found.job.total_steps == 200_000
    assert lq.cached_result_reaching(tmp_path, short_job, 62_500) is None  # never evaluated
    other_seed = lq.make_jobs(suite, (11,), ["sb3"], ["SAC:Hopper-v5"], total_steps=60_000)[0]
    assert lq.cached_result_reaching(tmp_path, other_seed, 60_000) is None  # s11 is not s1


def test_another_budget_step_or_epsilon_never_replaces_the_suites_tables(tmp_path):
    options = [
        (at, eps, steps) for at in (None, 60_000) for eps in (0.0, 1e-6) for steps in (None, 60_000)
    ]
    names = {lq.output_stem(tmp_path, "locomotion", *option).name for option in options}
    assert len(names) == len(options)
