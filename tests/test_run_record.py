"""One reader of a run folder: resume, sweeps, evaluation and analysis read config.json alike,
and reading a run's settings for analysis imports no torch."""

import json
import subprocess
import sys

import pytest

from lmc_rl.analysis.loading import read_run
from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import build_config
from lmc_rl.records.run_record import load_run


def _run_folder(tmp_path, config: dict, status: str = "finished"):
    folder = tmp_path / "results" / "base" / "seed_1"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"config": config, "status": status}))
    return folder


def test_a_run_folder_reads_back_as_its_typed_config_and_plain_settings(tmp_path, tiny_run):
    config = build_config({**tiny_run, "seed": "3"})
    folder = _run_folder(tmp_path, config.to_dict())
    weights = tmp_path / "model_weights" / "base" / "seed_1"
    weights.mkdir(parents=True)
    run = load_run(folder)
    assert run.config == config.replace(device="cpu", output_dir=".")
    assert run.settings == json.loads(json.dumps(config.to_dict()))
    assert run.finished and run.paths.results == folder
    assert run.paths.weights.resolve() == weights.resolve()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: folder.rmdir(), "is not a directory"),
        (lambda folder: None, "has no config.json"),
        (lambda folder: (folder / "config.json").write_text("{not json"), "is unreadable"),
        (lambda folder: (folder / "config.json").write_text("[]"), "not a JSON object"),
        (lambda folder: (folder / "config.json").write_text("{}"), "no 'config' section"),
        (
            lambda folder: (folder / "config.json").write_text('{"config": {"env": "Nope-v0"}}'),
            "holds an invalid config",
        ),
    ],
)
def test_a_bad_run_folder_is_one_line_naming_the_flag(tmp_path, damage, message):
    folder = tmp_path / "run"
    folder.mkdir()
    damage(folder)
    with pytest.raises(UserError, match=message) as err:
        load_run(folder, flag="--resume")
    assert str(err.value).startswith("--resume: ") and "\n" not in str(err.value)


def test_analysis_reads_settings_it_cannot_validate_without_importing_torch(tmp_path):
    folder = _run_folder(tmp_path, {"env": "Nope-v0", "total_steps": 10, "fork_points": []})
    (folder / "evaluations.csv").write_text("member,step,mean_return,std_return,n_episodes\n")
    assert read_run(folder).config["env"] == "Nope-v0"
    with pytest.raises(UserError, match="invalid config"):
        _ = load_run(folder, validate=False).config  # the typed config is built on use
    code = (
        "import sys\n"
        "from lmc_rl.analysis.loading import read_run\n"
        f"read_run({str(folder)!r})\n"
        "print(','.join(m for m in ('torch', 'gymnasium') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
