"""Analysis of finished runs from their files: fake run directories written by hand, no training."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmc_rl.analysis import (
    aggregate_instability,
    analyze,
    analyze_many,
    analyze_run,
    load_run_frames,
    load_runs,
)
from lmc_rl.analysis.aggregate import default_comparison_dir, mean_with_bootstrap_ci
from lmc_rl.analysis.plots import strategy_comparison_figure
from lmc_rl.config.errors import UserError

TOTAL_STEPS = 1000
ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0]
ENDPOINT_RETURN = 100.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_fake_run(
    folder: Path,
    *,
    seed: int = 1,
    strategy: str = "copy",
    instabilities: dict[float, float] | None = None,
    env: str = "Pendulum-v5",
    algo: str = "SAC",
    status: str = "finished",
    critic: bool = True,
    evaluated: bool = True,
) -> Path:
    """A run directory as `lmc-rl run` leaves it. Each fork's path has both endpoints at
    ENDPOINT_RETURN and its minimum at alpha 0.5, so its instability is exactly the given one."""
    instabilities = {0.3: 10.0, 0.6: 2.0} if instabilities is None else instabilities
    run = folder / f"seed_{seed}_20250101_000000"
    (run / "forks").mkdir(parents=True)
    fork_points = sorted(instabilities)
    members: dict[str, dict] = {"parent": {"seeds": {"init": seed}}}
    for fork_id, point in enumerate(fork_points, start=1):
        for child in (1, 2):
            members[f"fork{fork_id}_child{child}"] = {
                "fork_id": fork_id,
                "fork_point": point,
                "fork_step": int(point * TOTAL_STEPS),
                "child": child,
                "seeds": {"init": seed},
            }
    config = {
        "env": env,
        "algo": algo,
        "seed": seed,
        "total_steps": TOTAL_STEPS,
        "fork_points": fork_points,
        "fork_buffer_strategy": strategy,
        "fork_noise": "env,action,batch",
        "alpha_points": len(ALPHAS),
        "num_eval_episodes": 4,
        "stability_threshold": 0.05,
    }
    record = {"config": config, "status": status, "members": members, "versions": {}}
    (run / "config.json").write_text(json.dumps(record))
    rows = ["member,step,mean_return,std_return,n_episodes"]
    for step in range(250, TOTAL_STEPS + 1, 250):
        rows.append(f"parent,{step},{step / 10},1.0,2")
        for member, info in members.items():
            if member != "parent" and step > info["fork_step"]:
                rows.append(f"{member},{step},{step / 10 + info['child']},1.0,2")
    (run / "evaluations.csv").write_text("\n".join(rows) + "\n")
    if evaluated:
        for fork_id, point in enumerate(fork_points, start=1):
            result = fake_fork_result(fork_id, point, instabilities[point], config, critic)
            (run / "forks" / f"instability_{fork_id}.json").write_text(json.dumps(result))
    return run


def fake_fork_result(
    fork_id: int, point: float, instability: float, config: dict, critic: bool
) -> dict:
    means = [ENDPOINT_RETURN, ENDPOINT_RETURN, ENDPOINT_RETURN - instability]
    means += [ENDPOINT_RETURN, ENDPOINT_RETURN]
    return {
        "fork_id": fork_id,
        "fork_point": point,
        "fork_step": int(point * TOTAL_STEPS),
        "fork1_reward": ENDPOINT_RETURN,
        "fork2_reward": ENDPOINT_RETURN,
        "interpolation": [
            {
                "alpha": a,
                "mean_reward": m,
                "std_reward": 2.0,
                "sem_reward": 1.0,
                "ci95_low": m - 1.96,
                "ci95_high": m + 1.96,
            }
            for a, m in zip(ALPHAS, means, strict=True)
        ],
        "instability": instability,
        "is_stable": instability / ENDPOINT_RETURN <= 0.05,
        "endpoint_mean_reward": ENDPOINT_RETURN,
        "min_reward": ENDPOINT_RETURN - instability,
        "min_alpha": 0.5 if instability > 0 else 0.0,
        "normalized_instability": instability / ENDPOINT_RETURN,
        "stability_threshold": 0.05,
        "is_stable_frankle": instability / ENDPOINT_RETURN <= 0.02,
        "num_eval_episodes": 4,
        "alpha_points": len(ALPHAS),
        "critic": {
            "n_transitions": 64,
            "td_error": [1.0, 1.2, 1.5, 1.2, 1.0],
            "mean_q": [3.0] * 5,
            "td_error_barrier": 0.5,
            "td_error_max_alpha": 0.5,
        }
        if critic
        else None,
        **(
            {
                "critic_threshold": 0.1,
                "critic_barrier": 0.5 * point,
                "critic_barrier_ci": [0.5 * point - 0.1, 0.5 * point + 0.1],
                "critic_verdict": "barrier" if 0.5 * point - 0.1 > 0.1 else "inconclusive",
            }
            if critic
            else {}
        ),
        "returns_file": f"returns_{fork_id}.npz",
        "algo": config["algo"],
        "env": config["env"],
        "fork_buffer_strategy": config["fork_buffer_strategy"],
        "fork_noise": config["fork_noise"],
        "seed": config["seed"],
    }


RUN_FIGURES = (
    "overview.png",
    "all_interpolations.png",
    "instability_over_time.png",
    "interp_fork_1.png",
    "interp_fork_2.png",
)


# ---------------------------------------------------------------------------------------------
# one run


def test_analyze_run_writes_every_figure_and_a_report_linking_them(tmp_path):
    run = write_fake_run(tmp_path)
    out = analyze_run(run)
    assert out == run / "fork_analysis"
    for name in RUN_FIGURES:
        assert (out / name).read_bytes().startswith(PNG_MAGIC), name
        assert f"]({name})" in (out / "report.md").read_text()
    report = (out / "report.md").read_text()
    # an older file: the prototype's fields only, so ours show as "–"
    row = (
        "| [1](interp_fork_1.png) | 0.3 | 300 | – | 100 | 100 | 90 | 0.5 | 10 | 0.1 | no | – "
        "| – [–] | – | – | 0.5 | – |"
    )
    assert row in report
    assert "| [2](interp_fork_2.png) | 0.6 | 600 |" in report
    assert "Pendulum-v5" in report and "`fork_buffer_strategy` | copy" in report
    assert not list(out.glob(".*.tmp")), "atomic writes leave no temporary files"


def test_a_measured_fork_shows_its_barrier_interval_and_verdict(tmp_path):
    from lmc_rl.measuring.fork_result import measure_path

    run = write_fake_run(tmp_path, instabilities={0.5: 0.0})
    alphas = np.array(ALPHAS)
    rng = np.random.default_rng(0)
    dip = 40.0 * np.exp(-0.5 * ((alphas - 0.5) / 0.15) ** 2)
    returns = ENDPOINT_RETURN - dip[:, None] + rng.normal(0, 1, (len(alphas), 40))
    result = measure_path(returns, alphas, threshold=0.05)
    result.fork_id, result.fork_point, result.fork_step = 1, 0.5, 500
    (run / "forks" / "instability_1.json").write_text(json.dumps(result.to_json()))
    out = analyze_run(run)
    report = (out / "report.md").read_text()
    assert result.verdict == "barrier" and "**barrier**" in report
    assert "linear barrier [95% CI]" in report and "CVaR" in report
    frames = load_run_frames(run)
    assert frames.forks.loc[0, "verdict"] == "barrier"
    assert frames.forks.loc[0, "barrier_ci_low"] > 0
    assert {"q05", "cvar10", "failure_rate"} <= set(frames.interpolation.columns)


def test_total_steps_overrides_the_fork_steps_of_the_report(tmp_path):
    out = analyze_run(write_fake_run(tmp_path), total_steps=10_000)
    report = (out / "report.md").read_text()
    assert "| 0.3 | 3000 |" in report and "| 0.6 | 6000 |" in report
    assert "10000 (overridden)" in report


def test_a_run_without_critic_metrics_is_analyzed(tmp_path):
    out = analyze_run(write_fake_run(tmp_path, critic=False))
    assert (out / "overview.png").is_file()
    assert "| critic TD barrier |" not in (out / "report.md").read_text()


def test_the_critic_barrier_and_the_ceiling_warning_are_reported_beside_the_return(tmp_path):
    from lmc_rl.analysis.loading import read_run
    from lmc_rl.analysis.plots import instability_figure

    run = write_fake_run(tmp_path)
    fork_file = run / "forks" / "instability_1.json"
    fork = json.loads(fork_file.read_text())
    fork.update(saturated=True, return_ceiling=100.0, verdict="connected", critic_verdict="barrier")
    fork_file.write_text(json.dumps(fork))
    report = (analyze_run(run) / "report.md").read_text()
    assert "critic barrier [95% CI]" in report
    assert "| 0.150 [0.050, 0.250] | **barrier** |" in report
    assert "**connected** (saturated)" in report
    assert "**Returns at the ceiling (fork 1)**" in report
    assert "Read the critic verdict instead: fork 1 **barrier**." in report
    figure = instability_figure(read_run(run))
    critic_ax = figure.axes[2]
    assert "critic barrier" in critic_ax.get_ylabel()
    bars = [c for c in critic_ax.containers if c.has_yerr]
    assert len(bars) == 2  # one estimate with its interval per fork
    assert [0.1, 0.1] in [list(line.get_ydata()) for line in critic_ax.get_lines()]
    assert "saturated" in figure.axes[0].get_title()
    frames = load_run_frames(run)
    assert frames.forks["critic_barrier_estimate"].tolist() == pytest.approx([0.15, 0.3])
    assert frames.forks["critic_barrier_ci_high"].tolist() == pytest.approx([0.25, 0.4])
    assert frames.forks["saturated"].tolist() == [True, None]


@pytest.mark.parametrize("early_barrier, scale", [(0.15, "linear"), (30.0, "symlog")])
def test_critic_barriers_far_beyond_the_threshold_get_an_axis_that_shows_the_late_ones(
    tmp_path, early_barrier, scale
):
    """As in the default experiment: 30 at the first fork, intervals around 0.1 later."""
    from lmc_rl.analysis.loading import read_run
    from lmc_rl.analysis.plots import instability_figure

    run = write_fake_run(tmp_path)
    fork_file = run / "forks" / "instability_1.json"
    fork = json.loads(fork_file.read_text())
    fork.update(critic_barrier=early_barrier, critic_barrier_ci=[0.0, 2 * early_barrier])
    fork_file.write_text(json.dumps(fork))
    figure = instability_figure(read_run(run))
    critic_ax = figure.axes[2]
    assert critic_ax.get_yscale() == scale
    low, high = critic_ax.get_ylim()
    assert low <= 0.0 and high >= 2 * early_barrier  # every interval inside the axis
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "verdict: barrier (estimate, interval)" in labels  # the critic's markers too


def test_each_forks_own_reference_for_untrained_is_named_where_forks_differ(tmp_path):
    """As in the Hopper gallery run: a child of fork 2 hopped to 3188, the others to ~1000."""
    run = write_fake_run(tmp_path)
    for fork_id, reference in ((1, 1028.4), (2, 3188.3)):
        fork_file = run / "forks" / f"instability_{fork_id}.json"
        fork = json.loads(fork_file.read_text())
        fork.update(
            progress_reference=reference,
            progress_reference_kind="the run's best evaluation",
            barrier_scale_kind="learned return",
        )
        fork_file.write_text(json.dumps(fork))
    report = (analyze_run(run) / "report.md").read_text()
    assert "each fork's own reference" in report
    best = "the run's best evaluation"
    assert f"fork 1: {best} 1028; fork 2: {best} 3188" in report


def test_with_three_children_the_report_shows_every_pairs_barrier_beside_the_mean(tmp_path):
    """As at the Hopper gallery run's first fork: every pair a barrier, the mean's interval wide."""
    run = write_fake_run(tmp_path)
    fork_file = run / "forks" / "instability_1.json"
    fork = json.loads(fork_file.read_text())
    pairs = {(1, 2): 281.6, (1, 3): 350.4, (2, 3): 326.3}
    fork.update(
        children=3,
        verdict="inconclusive",
        pair_mean_linear_barrier=319.4,
        pair_mean_linear_barrier_ci=[-80.5, 719.4],
        pairs=[
            {
                "children": list(children),
                "linear_barrier_crossfit": value,
                "linear_barrier_ci": [value - 3.0, value + 3.0],
                "verdict": "barrier",
                "critic_barrier": None,
            }
            for children, value in pairs.items()
        ],
    )
    fork_file.write_text(json.dumps(fork))
    report = (analyze_run(run) / "report.md").read_text()
    line = next(x for x in report.splitlines() if x.startswith("- fork 1, every pair"))
    assert "1–2 281.60 [278.60, 284.60] barrier" in line
    assert "2–3 326.30 [323.30, 329.30] barrier" in line
    assert "critic" not in line  # no critic numbers recorded for these pairs
    assert "- fork 2, every pair" not in report  # two children: one pair, in the table


def test_intervals_of_a_sequential_evaluation_are_labelled_at_its_per_look_confidence(tmp_path):
    from lmc_rl.analysis.loading import read_run
    from lmc_rl.analysis.plots import barrier_handles

    run = write_fake_run(tmp_path)
    for fork_id in (1, 2):
        fork_file = run / "forks" / f"instability_{fork_id}.json"
        fork = json.loads(fork_file.read_text())
        fork.update(
            evaluation={"eval_stopping": "verdict", "confidence": 0.99},
            verdict="barrier",
            linear_barrier_crossfit=5.0,
            linear_barrier_ci=[4.0, 6.0],
        )
        fork_file.write_text(json.dumps(fork))
    report = (analyze_run(run) / "report.md").read_text()
    assert "linear barrier [99% CI]" in report
    assert "critic barrier [95% CI]" in report  # two children: the pair's, over transitions
    assert "| linear barrier [95% CI] |" not in report
    labels = [h.get_label() for h in barrier_handles(read_run(run).fork_results)]
    assert labels == ["linear barrier, 99% CI: barrier"]


def test_the_comparison_aggregates_the_critic_barrier_like_the_linear_barrier(tmp_path):
    for seed, barrier in ((1, 0.2), (2, 0.6), (3, 1.0)):
        run = write_fake_run(tmp_path / "r", seed=seed, instabilities={0.5: 1.0})
        fork_file = run / "forks" / "instability_1.json"
        fork = json.loads(fork_file.read_text())
        fork.update(critic_barrier=barrier, critic_barrier_ci=[barrier - 0.1, barrier + 0.1])
        fork_file.write_text(json.dumps(fork))
    out = analyze_many([tmp_path / "r"], out=tmp_path / "cmp")
    row = pd.read_csv(out / "aggregate.csv").iloc[0]
    columns = [f"critic_barrier_{c}" for c in ("mean", "ci_low", "ci_high")]
    assert row[columns].tolist() == pytest.approx(mean_with_bootstrap_ci([0.2, 0.6, 1.0]))
    assert "critic_barrier_mean" in (out / "report.md").read_text()
    forks = load_runs([tmp_path / "r"]).forks
    figure = strategy_comparison_figure(aggregate_instability(forks), forks, "Pendulum-v5", "SAC")
    critic_ax = figure.axes[3]
    assert "critic barrier" in critic_ax.get_ylabel()
    assert sorted(critic_ax.collections[-1].get_offsets()[:, 1]) == pytest.approx([0.2, 0.6, 1.0])


def test_runs_judged_with_different_critic_thresholds_are_named_in_a_warning(tmp_path):
    from lmc_rl.analysis.comparison_report import mixed_settings_warnings
    from lmc_rl.analysis.loading import read_runs

    for seed, threshold in ((1, 0.1), (2, 0.3)):
        run = write_fake_run(tmp_path / "r", seed=seed, instabilities={0.5: 1.0})
        fork_file = run / "forks" / "instability_1.json"
        fork = json.loads(fork_file.read_text())
        fork_file.write_text(json.dumps({**fork, "critic_threshold": threshold}))
    (warning,) = mixed_settings_warnings(read_runs([tmp_path / "r"]))
    assert "critic_threshold ['0.1', '0.3']" in warning


def test_a_run_without_forks_gets_learning_curves_and_a_report(tmp_path):
    out = analyze_run(write_fake_run(tmp_path, instabilities={}))
    assert sorted(p.name for p in out.iterdir()) == ["overview.png", "report.md"]
    assert "no fork points" in (out / "report.md").read_text()


def test_a_zero_return_path_with_infinite_normalized_instability_is_plotted(tmp_path):
    run = write_fake_run(tmp_path)
    fork_file = run / "forks" / "instability_1.json"
    result = json.loads(fork_file.read_text())
    result["normalized_instability"] = math.inf  # endpoints' mean 0, minimum below it
    fork_file.write_text(json.dumps(result))
    out = analyze_run(run)
    assert (out / "instability_over_time.png").is_file()
    assert "| inf |" in (out / "report.md").read_text()


def test_a_run_copied_elsewhere_is_analyzed_from_its_files(tmp_path):
    original = write_fake_run(tmp_path / "cluster")
    copy = tmp_path / "laptop" / "my_run"
    shutil.copytree(original, copy)
    shutil.rmtree(tmp_path / "cluster")
    out = analyze_run(copy)
    assert out == copy / "fork_analysis"
    assert all((out / name).is_file() for name in RUN_FIGURES)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "config.json").unlink(), "no config.json"),
        (lambda run: (run / "evaluations.csv").unlink(), "no evaluations.csv"),
        (lambda run: shutil.rmtree(run / "forks"), "no forks/instability_*.json; run `lmc-rl"),
        (
            lambda run: (run / "forks" / "instability_2.json").unlink(),
            "missing forks/instability_2.json",
        ),
        (lambda run: (run / "config.json").write_text("{not json"), "config.json is unreadable"),
        (
            lambda run: (run / "forks" / "instability_1.json").write_text('{"fork_id": 1}'),
            "forks/instability_1.json lacks fork_point",
        ),
    ],
)
def test_a_damaged_run_names_what_is_missing(tmp_path, damage, message):
    run = write_fake_run(tmp_path)
    damage(run)
    with pytest.raises(UserError, match=message.replace("*", r"\*").replace("(", r"\(")) as err:
        analyze_run(run)
    assert "\n" not in str(err.value)
    assert not (run / "fork_analysis").exists()


def test_an_unfinished_run_is_refused(tmp_path):
    running = write_fake_run(tmp_path / "a", status="running", evaluated=False)
    with pytest.raises(UserError, match="has not finished training .status 'running'"):
        analyze_run(running)
    trained = write_fake_run(tmp_path / "b", status="trained", evaluated=False)
    with pytest.raises(UserError, match=r"lmc-rl evaluate --results_dir"):
        analyze_run(trained)
    with pytest.raises(UserError, match="not a directory"):
        analyze_run(tmp_path / "nowhere")


def test_a_trained_run_evaluated_afterwards_is_analyzed(tmp_path):
    """`lmc-rl evaluate` writes the fork files but leaves the status at 'trained'."""
    assert (analyze_run(write_fake_run(tmp_path, status="trained")) / "report.md").is_file()


# ---------------------------------------------------------------------------------------------
# frames for notebooks


def test_load_run_frames_are_tidy_with_the_run_identity(tmp_path):
    frames = load_run_frames(write_fake_run(tmp_path, seed=7))
    assert len(frames.forks) == 2 and len(frames.interpolation) == 2 * len(ALPHAS)
    identity = {"env", "algo", "seed", "fork_buffer_strategy", "fork_noise", "run"}
    for frame in (frames.evaluations, frames.interpolation, frames.forks):
        assert identity <= set(frame.columns)
        assert (frame["seed"] == 7).all()
    assert {"fork_id", "fork_point", "alpha", "mean_return", "ci95_low", "ci95_high"} <= set(
        frames.interpolation.columns
    )
    assert frames.forks["instability"].tolist() == [10.0, 2.0]
    assert frames.forks["critic_td_error_barrier"].tolist() == [0.5, 0.5]
    children = frames.evaluations[frames.evaluations["member"] != "parent"]
    assert children["fork_point"].notna().all()
    assert frames.evaluations.loc[frames.evaluations["member"] == "parent", "fork_id"].isna().all()


def test_load_runs_concatenates_runs_found_in_a_folder(tmp_path):
    for seed in (1, 2, 3):
        write_fake_run(tmp_path / "results" / "copy", seed=seed)
    write_fake_run(tmp_path / "results" / "fresh", seed=1, strategy="fresh")
    frames = load_runs([tmp_path / "results"])
    assert len(frames.forks) == 4 * 2
    assert len(frames.interpolation) == 4 * 2 * len(ALPHAS)
    assert frames.evaluations["run"].nunique() == 4
    assert sorted(frames.forks.groupby("fork_buffer_strategy")["seed"].nunique().items()) == [
        ("copy", 3),
        ("fresh", 1),
    ]


# ---------------------------------------------------------------------------------------------
# several runs


def test_bootstrap_ci_of_one_seed_is_nan_and_of_equal_seeds_is_the_value():
    mean, low, high = mean_with_bootstrap_ci([4.0])
    assert mean == 4.0 and math.isnan(low) and math.isnan(high)
    assert mean_with_bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert mean_with_bootstrap_ci([1.0, 2.0, 6.0]) == mean_with_bootstrap_ci([1.0, 2.0, 6.0])


def test_analyze_many_aggregates_seeds_per_strategy_and_fork_point(tmp_path):
    copy_instabilities = {1: (10.0, 2.0), 2: (14.0, 4.0), 3: (30.0, 0.0)}
    for seed, (early, late) in copy_instabilities.items():
        write_fake_run(
            tmp_path / "results" / "copy", seed=seed, instabilities={0.3: early, 0.6: late}
        )
    write_fake_run(tmp_path / "results" / "fresh", seed=5, strategy="fresh")
    out = analyze_many([tmp_path / "results"], out=tmp_path / "cmp")

    assert out == tmp_path / "cmp"
    assert (out / "instability_by_strategy_Pendulum-v5_SAC.png").read_bytes().startswith(PNG_MAGIC)
    table = pd.read_csv(out / "aggregate.csv")
    assert list(table.columns) == [
        "env",
        "algo",
        "fork_buffer_strategy",
        "fork_noise",
        "fork_point",
        "n_seeds",
        "seeds",
        "instability_mean",
        "instability_ci_low",
        "instability_ci_high",
        "normalized_instability_mean",
        "normalized_ci_low",
        "normalized_ci_high",
        "linear_barrier_crossfit_mean",
        "linear_barrier_crossfit_ci_low",
        "linear_barrier_crossfit_ci_high",
        "critic_barrier_mean",
        "critic_barrier_ci_low",
        "critic_barrier_ci_high",
    ]
    copy = table[table["fork_buffer_strategy"] == "copy"].set_index("fork_point")
    assert copy.loc[0.3, "n_seeds"] == 3 and copy.loc[0.3, "seeds"] == "1 2 3"
    assert copy.loc[0.3, "instability_mean"] == pytest.approx((10 + 14 + 30) / 3)
    assert copy.loc[0.6, "instability_mean"] == pytest.approx(2.0)
    assert copy.loc[0.3, "normalized_instability_mean"] == pytest.approx(18 / ENDPOINT_RETURN)
    for point, values in ((0.3, [10, 14, 30]), (0.6, [2, 4, 0])):
        row = copy.loc[point]
        assert min(values) <= row["instability_ci_low"] <= row["instability_mean"]
        assert row["instability_mean"] <= row["instability_ci_high"] <= max(values)
        assert row["normalized_ci_low"] <= row["normalized_instability_mean"]
        assert row["normalized_instability_mean"] <= row["normalized_ci_high"]
    fresh = table[table["fork_buffer_strategy"] == "fresh"]
    assert fresh["n_seeds"].tolist() == [1, 1] and fresh["instability_mean"].tolist() == [10, 2]
    assert fresh["instability_ci_low"].isna().all() and fresh["normalized_ci_high"].isna().all()


def test_the_comparison_draws_the_stability_threshold_with_a_legend_entry(tmp_path):
    for seed in (1, 2):  # normalized instabilities 0.01 and 0.005: below the line
        write_fake_run(tmp_path / "r", seed=seed, instabilities={0.3: 1.0, 0.6: 0.5})
    forks = load_runs([tmp_path / "r"]).forks
    figure = strategy_comparison_figure(aggregate_instability(forks), forks, "Pendulum-v5", "SAC")
    raw_ax, norm_ax, barrier_ax, critic_ax = figure.axes
    dotted = [line for line in norm_ax.get_lines() if line.get_linestyle() == ":"]
    assert [list(line.get_ydata()) for line in dotted] == [[0.05, 0.05]]
    assert norm_ax.get_ylim()[1] > 0.05  # in view, though every seed is below it
    for ax in (raw_ax, barrier_ax, critic_ax):
        assert not [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "prototype's naive rule: stable if ≤ 0.05" in labels


def _all_texts(figure) -> list[str]:
    texts = [t.get_text() for t in figure.findobj(lambda o: hasattr(o, "get_text"))]
    return [t for t in texts if t]


def test_one_language_the_verdict_leads_and_the_naive_rule_is_named_as_such(tmp_path):
    """A straight path from 100 to 50: the naive instability (25, normalized 0.33) says
    "unstable", the verdict says "connected"; every screen leads with the verdict and names
    the prototype's rule wherever it shows it."""
    from lmc_rl.analysis.loading import read_run
    from lmc_rl.analysis.plots import instability_figure
    from lmc_rl.measuring.fork_result import measure_path, results_table

    run = write_fake_run(tmp_path, instabilities={0.5: 0.0})
    alphas = np.array(ALPHAS)
    rng = np.random.default_rng(3)
    straight = 100.0 - 50.0 * alphas
    returns = straight[:, None] + rng.normal(0, 1, (1, 60)) + rng.normal(0, 1, (len(alphas), 60))
    result = measure_path(returns, alphas, threshold=0.05, random_return=0.0)
    assert result.verdict == "connected" and result.is_stable is False
    result.fork_id, result.fork_point, result.fork_step = 1, 0.5, 500
    (run / "forks" / "instability_1.json").write_text(json.dumps(result.to_json()))

    table = results_table([result]).splitlines()
    assert table[0].split()[3] == "verdict" and table[2].split()[3] == "connected"
    assert "naive B (prototype)" in table[0] and "limit" in table[0]

    out = analyze_run(run)
    report = (out / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| fork |"))
    assert header.startswith("| fork | point | step | verdict |")
    assert "naive stable (prototype)" in header and "| stable |" not in header

    figure = instability_figure(read_run(run))
    texts = _all_texts(figure)
    assert "connected" in texts
    assert all("prototype" in t or "naive" in t for t in texts if "stable" in t)
    verdict_ax = figure.axes[0]
    dashed = [line for line in verdict_ax.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in dashed] == [[0.05, 0.05]]


def test_the_comparison_aggregates_the_linear_barrier_the_verdicts_judged(tmp_path):
    barriers = {1: (3.0, None), 2: (5.0, None), 3: (0.0, 10.0)}  # seed 3: 3 children, pair mean
    for seed, (pair, pair_mean) in barriers.items():
        run = write_fake_run(tmp_path / "r", seed=seed, instabilities={0.5: 12.0})
        fork_file = run / "forks" / "instability_1.json"
        fork = json.loads(fork_file.read_text())
        fork.update(linear_barrier_crossfit=pair, pair_mean_linear_barrier=pair_mean)
        fork["children"] = 2 if pair_mean is None else 3
        fork_file.write_text(json.dumps(fork))
    out = analyze_many([tmp_path / "r"], out=tmp_path / "cmp")
    row = pd.read_csv(out / "aggregate.csv").iloc[0]
    columns = [f"linear_barrier_crossfit_{c}" for c in ("mean", "ci_low", "ci_high")]
    assert row[columns].tolist() == pytest.approx(mean_with_bootstrap_ci([3.0, 5.0, 10.0]))
    assert row["linear_barrier_crossfit_mean"] == pytest.approx(6.0)
    assert "linear_barrier_crossfit_mean" in (out / "report.md").read_text()
    forks = load_runs([tmp_path / "r"]).forks
    figure = strategy_comparison_figure(aggregate_instability(forks), forks, "Pendulum-v5", "SAC")
    barrier_ax = figure.axes[2]
    assert "linear barrier" in barrier_ax.get_ylabel()
    assert sorted(barrier_ax.collections[-1].get_offsets()[:, 1]) == [3.0, 5.0, 10.0]  # seeds


def test_analyze_many_writes_one_comparison_per_env_and_algo(tmp_path):
    write_fake_run(tmp_path / "a", seed=1, env="Hopper-v5", algo="TD3")
    write_fake_run(tmp_path / "b", seed=1, env="Pendulum-v5", algo="SAC")
    out = analyze_many([tmp_path / "a", tmp_path / "b"], out=tmp_path / "cmp")
    assert sorted(p.name for p in out.glob("*.png")) == [
        "instability_by_strategy_Hopper-v5_TD3.png",
        "instability_by_strategy_Pendulum-v5_SAC.png",
    ]


def test_comparison_goes_beside_the_runs_by_default(tmp_path):
    runs = [write_fake_run(tmp_path / "SAC", seed=s) for s in (1, 2)]
    assert default_comparison_dir(runs) == tmp_path / "SAC" / "comparison"
    assert default_comparison_dir([runs[0]]) == tmp_path / "SAC" / "comparison"
    assert default_comparison_dir([tmp_path]) == tmp_path / "comparison"
    out = analyze_many(runs)
    assert out == (tmp_path / "SAC" / "comparison").resolve()
    assert (out / "aggregate.csv").is_file()


def test_unfinished_runs_found_in_a_folder_are_skipped_but_named_ones_refused(tmp_path, capsys):
    write_fake_run(tmp_path / "runs", seed=1)
    broken = write_fake_run(tmp_path / "runs", seed=2, status="running", evaluated=False)
    out = analyze_many([tmp_path / "runs"], out=tmp_path / "cmp")
    assert pd.read_csv(out / "aggregate.csv")["n_seeds"].tolist() == [1, 1]
    assert "skipping" in capsys.readouterr().err
    with pytest.raises(UserError, match="has not finished training"):
        analyze_many([broken], out=tmp_path / "cmp2")
    with pytest.raises(UserError, match="no run .config.json. found"):
        analyze_many([tmp_path / "cmp"])


def test_analyze_many_without_forks_says_so(tmp_path):
    run = write_fake_run(tmp_path, instabilities={})
    with pytest.raises(UserError, match="has forks to compare"):
        analyze_many([run], out=tmp_path / "cmp")


def test_aggregate_is_reproducible(tmp_path):
    for seed in (1, 2, 3):
        write_fake_run(tmp_path / "r", seed=seed, instabilities={0.5: float(seed**2)})
    first = (analyze_many([tmp_path / "r"], out=tmp_path / "x") / "aggregate.csv").read_text()
    second = (analyze_many([tmp_path / "r"], out=tmp_path / "y") / "aggregate.csv").read_text()
    assert first == second
    assert np.isfinite(pd.read_csv(tmp_path / "x" / "aggregate.csv")["instability_ci_low"]).all()


# ---------------------------------------------------------------------------------------------
# what `lmc-rl analyze` does


def test_analyze_reports_on_one_run_and_compares_a_folder_of_runs(tmp_path):
    runs = [write_fake_run(tmp_path / "results", seed=s) for s in (1, 2)]
    assert analyze([runs[0]]) == runs[0] / "fork_analysis"
    assert (analyze([runs[0]], out=tmp_path / "elsewhere") / "report.md").is_file()
    assert analyze([tmp_path / "results"]) == (tmp_path / "results" / "comparison").resolve()
    assert (analyze(runs, out=tmp_path / "cmp") / "aggregate.csv").is_file()
    with pytest.raises(UserError, match="--total_steps applies to the analysis of a single run"):
        analyze(runs, total_steps=100)


def test_loaded_tables_name_a_return_mean_return_in_evaluations_and_interpolation(tmp_path):
    frames = load_run_frames(write_fake_run(tmp_path))
    assert "mean_return" in frames.evaluations.columns
    assert {"mean_return", "std_return", "sem_return"} <= set(frames.interpolation.columns)
    assert "mean_reward" not in frames.interpolation.columns


def test_a_comparison_writes_a_report_and_warns_of_runs_evaluated_differently(tmp_path, capsys):
    write_fake_run(tmp_path / "results", seed=1)
    other = write_fake_run(tmp_path / "results", seed=2)
    fork_file = other / "forks" / "instability_1.json"
    fork = json.loads(fork_file.read_text())
    fork_file.write_text(json.dumps({**fork, "num_eval_episodes": 50}))
    out = analyze_many([tmp_path / "results"], out=tmp_path / "cmp")
    report = (out / "report.md").read_text()
    assert "num_eval_episodes ['4', '50']" in report
    assert "](instability_by_strategy_Pendulum-v5_SAC.png)" in report
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "num_eval_episodes" in err


def test_a_comparison_of_runs_evaluated_alike_has_no_warning(tmp_path, capsys):
    for seed in (1, 2):
        write_fake_run(tmp_path / "results", seed=seed)
    out = analyze_many([tmp_path / "results"], out=tmp_path / "cmp")
    assert "Warnings" not in (out / "report.md").read_text()
    assert "warning" not in capsys.readouterr().err


def test_a_fork_with_a_nonfinite_return_is_reported_as_diverged_with_its_reason(tmp_path):
    from lmc_rl.measuring.fork_result import measure_path, results_table

    run = write_fake_run(tmp_path, instabilities={0.5: 0.0})
    returns = np.full((len(ALPHAS), 8), ENDPOINT_RETURN)
    returns[2, 0] = np.nan
    result = measure_path(returns, np.array(ALPHAS), threshold=0.05, random_return=0.0)
    result.fork_id, result.fork_point, result.fork_step = 1, 0.5, 500
    (run / "forks" / "instability_1.json").write_text(json.dumps(result.to_json()))
    assert "diverged" in results_table([result])
    report = (analyze_run(run) / "report.md").read_text()
    assert "**diverged**: non-finite episode returns (1 NaN) at alpha 0.5" in report
