"""The command line as a user meets it: help, flags, YAML, and one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmc_rl.cli import main


def _flags(values):
    out = []
    for key, value in values.items():
        out += [f"--{key}", value]
    return out


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--env",
        "--fork_points",
        "--fork_buffer_strategy",
        "--alpha",
        "--output_dir",
        "--device",
        "--config",
        "--hidden_dims",
        "--learning_starts",
    ):
        assert flag in text


BAD_INPUTS = [
    (["--env", "NoSuchEnv-v9"], "NoSuchEnv-v9"),
    (["--algo", "PPO"], "PPO"),
    (["--total_steps", "ten"], "ten"),
    (["--total_steps", "-5"], "total_steps"),
    (["--batch_size", "0"], "batch_size"),
    (["--fork_buffer_strategy", "mirror"], "mirror"),
    (["--fork_points", "0.5,1.5"], "1.5"),
    (["--gamma", "1.5"], "gamma"),
    (["--alpha", "hot"], "hot"),
    (["--hidden_dims", "64,x"], "x"),
    (["--device", "tpu"], "tpu"),
    (["--cpu_matmul", "bf16"], "bf16"),
    (["--solved_return", "inf"], "solved_return"),
    (["--eval_stopping", "early"], "eval_stopping"),
    (["--no_such_flag", "1"], "no_such_flag"),
]


@pytest.mark.parametrize("argv, named", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, named):
    code = main(["run", "--output_dir", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and named in err
    assert not (tmp_path / "out").exists()


def test_yaml_errors_are_reported_without_a_traceback(tmp_path, capsys):
    bad_key = tmp_path / "bad_key.yaml"
    bad_key.write_text("total_stepz: 10\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("total_steps: [1,\n")
    for path, named in [
        (bad_key, "total_stepz"),
        (broken, "broken.yaml"),
        (tmp_path / "missing.yaml", "missing.yaml"),
    ]:
        code = main(["run", "--config", str(path), "--output_dir", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and named in err
    assert not (tmp_path / "out").exists()


def test_flags_override_yaml_which_overrides_defaults(tmp_path, capsys, tiny_run):
    config = tmp_path / "c.yaml"
    config.write_text("batch_size: 16\nalpha: 0.3\ntotal_steps: 999999\n")
    tiny_run.pop("batch_size")
    flags = _flags({**tiny_run, "seed": "1", "output_dir": str(tmp_path)})
    assert main(["run", "--no_progress", "--config", str(config), *flags]) == 0
    results_dir = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads((Path(results_dir) / "config.json").read_text())
    assert record["config"]["batch_size"] == 16  # from YAML
    assert record["config"]["ent_coef"] == 0.3  # the prototype's --alpha key
    assert record["config"]["total_steps"] == 600  # the flag wins
    assert record["config"]["gamma"] == 0.99  # the default


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "lmc_rl", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "run" in result.stdout


def test_check_trains_each_algorithm_and_seed_and_draws_one_figure(tmp_path, capsys):
    argv = [
        "check",
        "--env",
        "InvertedPendulum-v5",
        "--total_steps",
        "300",
        "--seeds",
        "1,2",
        "--algos",
        "SAC,DDPG",
        "--output_dir",
        str(tmp_path),
        "--no_progress",
    ]
    assert main(argv) == 0
    figure = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert figure.is_file() and figure.parent == tmp_path / "results" / "check_run"
    runs = sorted(
        p.name for p in (tmp_path / "results" / "check_run" / "InvertedPendulum-v5").iterdir()
    )
    assert runs == ["DDPG", "SAC"]
    assert (
        len(list((tmp_path / "results" / "check_run" / "InvertedPendulum-v5" / "SAC").iterdir()))
        == 2
    )


def test_version_prints_the_package_version(capsys):
    from lmc_rl import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lmc-rl {__version__}"


def test_resume_of_a_missing_directory_names_resume(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lmc-rl: error: --resume:") and "nope" in err


@pytest.mark.parametrize("command", [["run"], ["sweep", "--seeds", "1"]])
def test_a_mistyped_flag_gets_a_did_you_mean(capsys, command):
    assert main([*command, "--totl_steps", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--totl_steps (did you mean '--total_steps'?)" in err
    assert len(err.splitlines()) == 1


def test_a_mistyped_yaml_key_gets_a_did_you_mean(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("lerning_rate: 0.001\n")
    assert main(["run", "--config", str(config)]) == 2
    assert "did you mean 'learning_rate'?" in capsys.readouterr().err


def test_help_texts_print_defaults_as_a_user_types_them(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: random)" in text  # the seed
    assert "(default: per algorithm: SAC 0.0003, TD3 0.001, DDPG 0.001)" in text
    assert "(default: random)" not in text.split("--learning_rate")[1].split("--gamma")[0]
    assert "--threads" in text
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = capsys.readouterr().out
    assert "%%" not in text and "95 %" in text
