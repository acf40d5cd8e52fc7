"""The learning-quality benchmark's job list: which runs a command line asks for."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import learning_quality as lq  # noqa: E402  (the command line)
import learning_quality_report as report  # noqa: E402
import learning_quality_suite as lq_suite  # noqa: E402
import learning_quality_training as training  # noqa: E402


def test_total_steps_sets_every_experiments_budget_and_its_own_cache_keys():
    suite = lq_suite.SUITES["locomotion"]
    own = lq_suite.make_jobs(suite, (6, 7), only=["SAC:Hopper-v5"])
    short = lq_suite.make_jobs(suite, (6, 7), only=["SAC:Hopper-v5"], total_steps=60_000)
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
    lq_suite.save_result(done_dir, lq_suite.RunResult(job, steps, [float(s) for s in steps], 1.0))


def hopper_sac(impl, seed, total_steps, squash_epsilon=0.0):
    suite = lq_suite.SUITES["locomotion"]
    jobs = lq_suite.make_jobs(
        suite, (seed,), [impl], ["SAC:Hopper-v5"], squash_epsilon, total_steps
    )
    return jobs[0]


EVERY_5000 = [5000 * i for i in range(1, 41)]  # to 200k


def test_a_run_of_a_longer_budget_counts_at_a_step_it_reached(tmp_path):
    finished_run(tmp_path, hopper_sac("sb3", 1, 200_000), EVERY_5000)
    found = lq_suite.cached_result_reaching(tmp_path, hopper_sac("sb3", 1, 60_000), 60_000)
    assert found is not None and found.job.total_steps == 200_000
    assert lq_suite.cached_result_reaching(tmp_path, hopper_sac("sb3", 1, 60_000), 62_500) is None


def test_the_own_budget_comes_first_then_the_shortest_longer_one(tmp_path):
    for budget in (100_000, 200_000):
        finished_run(tmp_path, hopper_sac("sb3", 1, budget), EVERY_5000[: budget // 5000])
    found = lq_suite.cached_result_reaching(tmp_path, hopper_sac("sb3", 1, 200_000), 60_000)
    assert found.job.total_steps == 200_000
    found = lq_suite.cached_result_reaching(tmp_path, hopper_sac("sb3", 1, 60_000), 60_000)
    assert found.job.total_steps == 100_000


def test_another_seed_variant_or_stray_file_is_never_read_as_the_run(tmp_path):
    for seed in (10, 11):
        finished_run(tmp_path, hopper_sac("sb3", seed, 200_000), EVERY_5000)
    finished_run(tmp_path, hopper_sac("ours", 1, 200_000, squash_epsilon=1e-6), EVERY_5000)
    (tmp_path / "sb3_SAC_Hopper-v5_s1_60000_old.json").write_text("{}")
    assert lq_suite.cached_result_reaching(tmp_path, hopper_sac("sb3", 1, 60_000), 60_000) is None
    assert lq_suite.cached_result_reaching(tmp_path, hopper_sac("ours", 1, 60_000), 60_000) is None


def test_a_report_at_a_step_pools_budgets_and_keeps_the_suites_tables(tmp_path):
    done = tmp_path / "finished_locomotion"
    for seed in (1, 2):
        for impl in ("ours", "sb3"):
            finished_run(done, hopper_sac(impl, seed, 200_000), EVERY_5000)
            finished_run(done, hopper_sac(impl, seed + 5, 60_000), EVERY_5000[:12])
    argv = ["--suite", "locomotion", "--only", "SAC:Hopper-v5", "--out", str(tmp_path)]
    lq.main([*argv, "--seeds", "1,2,6,7", "--report", "--at_step", "60000"])
    stem = "learning_quality_locomotion_seeds1-2+6-7_SAC-Hopper-v5_at60000"
    runs = (tmp_path / f"{stem}_runs.csv").read_text().splitlines()
    assert len(runs) == 1 + 8  # header, 2 implementations x 4 seeds, each once
    assert not (tmp_path / "learning_quality_locomotion_runs.csv").exists()


def test_only_the_suites_own_report_writes_the_suites_tables(tmp_path):
    def name(**options):
        return report.output_stem(tmp_path, "locomotion", **options).name

    assert name() == "learning_quality_locomotion"
    suites_own = dict(
        seeds=(5, 4, 3, 2, 1),
        only=["SAC:Hopper-v5", "SAC:HalfCheetah-v5", "TD3:Hopper-v5"],
        implementations=["sb3", "ours"],
    )
    assert name(**suites_own) == "learning_quality_locomotion"
    assert name(seeds=(1, 2, 3, 4, 5, 6, 7)) == "learning_quality_locomotion_seeds1-7"
    assert name(seeds=(6, 9, 1, 2, 3)) == "learning_quality_locomotion_seeds1-3+6+9"
    assert name(only=["SAC:Hopper-v5"]) == "learning_quality_locomotion_SAC-Hopper-v5"
    assert name(implementations=["sb3"]) == "learning_quality_locomotion_sb3"
    assert name(total_steps=60_000) == "learning_quality_locomotion_60000steps"
    assert name(at_step=60_000) == "learning_quality_locomotion_at60000"
    assert (
        name(total_steps=60_000, squash_epsilon=1e-6)
        == "learning_quality_locomotion_60000steps_eps1e-06"
    )


def test_a_run_finished_at_one_budget_and_training_at_another_counts_once(tmp_path):
    done = tmp_path / "finished_locomotion"
    for impl in ("ours", "sb3"):
        finished_run(done, hopper_sac(impl, 1, 200_000), EVERY_5000)
    # ours still training at a shorter budget, in the folder this command reads
    folder = training.ours_runs_dir([hopper_sac("ours", 1, 60_000)], tmp_path / "runs")
    run = folder / "results" / "learning_quality" / "Hopper-v5" / "SAC" / "seed_1_20261203"
    run.mkdir(parents=True)
    rows = "".join(f"parent,{step},{step / 100}\n" for step in EVERY_5000[:12])
    (run / "evaluations.csv").write_text("member,step,mean_return\n" + rows)
    argv = ["--suite", "locomotion", "--only", "SAC:Hopper-v5", "--seeds", "1"]
    argv += ["--total_steps", "60000", "--out", str(tmp_path)]
    lq.main([*argv, "--report", "--at_step", "60000"])
    stem = report.output_stem(
        tmp_path,
        "locomotion",
        seeds=(1,),
        only=["SAC:Hopper-v5"],
        at_step=60_000,
        total_steps=60_000,
    )
    runs = Path(f"{stem}_runs.csv").read_text().splitlines()
    assert len(runs) == 1 + 2  # header, ours once (the finished run), SB3 once


def test_a_report_of_more_seeds_of_one_experiment_leaves_the_suites_tables_alone(tmp_path):
    done = tmp_path / "finished_locomotion"
    for seed in (1, 2):
        for impl in ("ours", "sb3"):
            finished_run(done, hopper_sac(impl, seed, 200_000), EVERY_5000)
    suites_table = tmp_path / "learning_quality_locomotion_summary.md"
    suites_table.write_text("the suite's own table\n")
    argv = ["--suite", "locomotion", "--only", "SAC:Hopper-v5", "--seeds", "1,2"]
    lq.main([*argv, "--out", str(tmp_path), "--report"])
    assert suites_table.read_text() == "the suite's own table\n"
    runs = tmp_path / "learning_quality_locomotion_seeds1-2_SAC-Hopper-v5_runs.csv"
    assert len(runs.read_text().splitlines()) == 1 + 4


def test_an_experiment_not_in_the_suite_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        lq.parse_args(["--suite", "locomotion", "--only", "SAC:Hoper-v5"])
    assert exit_info.value.code == 2
    assert "--only: choose from the suite's SAC:Hopper-v5" in capsys.readouterr().err
    repeated = lq.parse_args(["--implementations", "sb3,ours,sb3"])
    assert repeated.implementations == ["ours", "sb3"]
