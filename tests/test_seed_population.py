"""Seeds as members: a run trained in a lockstep population with other seeds comes out bit for
bit as it would alone (``lmc-rl run --seeds``), also after a resume from uneven checkpoints."""

import filecmp
import json
from pathlib import Path

import pytest
import torch

from lmc_rl.cli import main
from lmc_rl.config.run_config import build_config
from lmc_rl.experiment.phases import _catch_up
from lmc_rl.records.layout import RunPaths
from lmc_rl.training.lockstep import Lockstep
from lmc_rl.training.trainer import Trainer

# Hopper-v5's dimensions and the sizes users run: 256x256, batch 256; few steps.
REAL_SIZE = {
    "env": "Hopper-v5",
    "total_steps": "60",
    "learning_starts": "20",
    "train_freq": "1",
    "eval_freq": "30",
    "num_eval_episodes_periodic": "2",
    "max_episode_steps": "40",
    "hidden_dims": "256,256",
    "batch_size": "256",
    "fork_points": "0.5",
    "checkpoint_every": "none",
}


_ROUTES = {}  # the start-up independence check, once per settings (it is checked elsewhere)


def _trainer(flags: dict, seed: int, root: Path) -> Trainer:
    config = build_config({**flags, "seed": str(seed), "output_dir": str(root / f"s{seed}")})
    key = tuple(sorted(flags.items()))
    trainer = Trainer(config, RunPaths.create(config), progress=False, route=_ROUTES.get(key))
    _ROUTES[key] = trainer.independence
    trainer.start()
    return trainer


def _learner_state(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.agent.state_dict().items()}


def _assert_same_run(a: Trainer, b: Trainer) -> None:
    assert [m.name for m in a.members] == [m.name for m in b.members]
    state_a, state_b = _learner_state(a), _learner_state(b)
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    assert a.evaluations.rows == b.evaluations.rows
    assert [m.streams.batch.bit_generator.state for m in a.members] == [
        m.streams.batch.bit_generator.state for m in b.members
    ]


@pytest.mark.real_size
@pytest.mark.parametrize(("algo", "threads"), [("SAC", 1), ("SAC", 2), ("TD3", 1)])
def test_a_seed_trained_among_others_is_bitwise_the_seed_trained_alone(tmp_path, algo, threads):
    torch.set_num_threads(threads)  # the route is checked per thread count (conftest resets it)
    flags = {**REAL_SIZE, "algo": algo, "threads": str(threads)}
    alone = _trainer(flags, 2, tmp_path / "alone")
    Lockstep([alone], progress=alone.progress).run()
    group = [_trainer(flags, seed, tmp_path / "group") for seed in (1, 2, 3)]
    Lockstep(group).run()
    _assert_same_run(alone, group[1])
    # and the seeds are different runs, not copies of one
    assert not torch.equal(
        _learner_state(group[0])["actor.net.layers.0.weight"],
        _learner_state(group[1])["actor.net.layers.0.weight"],
    )


def test_runs_resumed_from_checkpoints_at_different_steps_catch_up_and_match(tmp_path):
    flags = {**REAL_SIZE, "hidden_dims": "32,32", "batch_size": "32", "total_steps": "80"}
    reference = [_trainer(flags, seed, tmp_path / "reference") for seed in (5, 6)]
    Lockstep(reference).run()

    group = [_trainer(flags, seed, tmp_path / "killed") for seed in (5, 6)]
    lockstep = Lockstep(group)
    for _ in range(25):
        lockstep.advance()
    lockstep.checkpoint()  # both at step 25
    for _ in range(20):
        lockstep.advance()
    lockstep.scatter()
    group[0].checkpoint()  # killed after seed 5 was written at step 45, before seed 6 was

    resumed = [Trainer(t.config, t.paths, progress=False) for t in group]
    for t in resumed:
        t.resume()
    assert [t.step for t in resumed] == [45, 25]
    _catch_up(resumed)
    assert [t.step for t in resumed] == [45, 45]
    Lockstep(resumed).run()
    for a, b in zip(reference, resumed, strict=True):
        _assert_same_run(a, b)


def test_run_seeds_writes_the_folder_each_seed_would_write_alone(tmp_path, tiny_run, capsys):
    flags = {**tiny_run, "fork_points": "0.5", "alpha_points": "3", "num_eval_episodes": "2"}
    flags["total_steps"] = "400"
    argv = [arg for key, value in flags.items() for arg in (f"--{key}", value)]
    assert main(["run", *argv, "--seeds", "7,8", "--output_dir", str(tmp_path / "g")]) == 0
    group_dirs = capsys.readouterr().out.strip().splitlines()[-2:]
    assert main(["run", *argv, "--seed", "8", "--output_dir", str(tmp_path / "a")]) == 0
    alone_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    eight = Path(group_dirs[1])
    assert "seed_8" in eight.name
    for name in ("evaluations.csv", "all_forks_results.json", "forks/instability_1.json"):
        assert filecmp.cmp(eight / name, alone_dir / name, shallow=False), name
    record = json.loads((eight / "config.json").read_text())
    assert record["status"] == "finished" and record["trained_with_seeds"] == [7, 8]
    weights = lambda d: Path(str(d).replace("/results/", "/model_weights/"))  # noqa: E731
    for name in ("final.pt", "fork1_child1.pt", "fork1_child2.pt"):
        assert filecmp.cmp(weights(eight) / name, weights(alone_dir) / name, shallow=False)


@pytest.mark.real_size
@pytest.mark.parametrize("algo", ["SAC", "TD3"])
def test_a_seed_among_others_writes_the_files_it_writes_alone_at_256x256(tmp_path, algo, capsys):
    """The README's claim as it stands: at 256x256 on Hopper-v5, agent files, evaluations.csv
    and the instability JSON (the evaluation after training included) are byte-identical."""
    flags = {**REAL_SIZE, "algo": algo, "alpha_points": "3", "num_eval_episodes": "2"}
    flags |= {"eval_workers": "1", "threads": "1"}
    argv = [arg for key, value in flags.items() for arg in (f"--{key}", value)]
    assert main(["run", *argv, "--seeds", "1,2", "--output_dir", str(tmp_path / "g")]) == 0
    among = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["run", *argv, "--seed", "2", "--output_dir", str(tmp_path / "a")]) == 0
    alone = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert "seed_2" in among.name
    for name in ("evaluations.csv", "all_forks_results.json", "forks/instability_1.json"):
        assert filecmp.cmp(among / name, alone / name, shallow=False), name
    weights = lambda d: Path(str(d).replace("/results/", "/model_weights/"))  # noqa: E731
    for name in ("final.pt", "fork1_child1.pt", "fork1_child2.pt"):
        assert filecmp.cmp(weights(among) / name, weights(alone) / name, shallow=False), name


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seeds", "1,1"], "distinct"),
        (["--seeds", "1,x"], "integers"),
        (["--seeds", "1,2", "--seed", "3"], "replaces --seed"),
        (["--seeds", "1,2", "--resume", "/nope"], "keeps its seed"),
    ],
)
def test_bad_seeds_are_one_line_and_exit_2(tmp_path, flags, message, capsys):
    assert main(["run", "--output_dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not any(tmp_path.iterdir())


def test_a_resume_records_the_seeds_it_trained_with(tmp_path, tiny_run, monkeypatch):
    """A group killed in training, resumed once seed by seed (killed again) and then together,
    says so in each config.json."""
    from lmc_rl.experiment.phases import resume_experiments, run_experiments

    flags = {**tiny_run, "total_steps": "300", "learning_starts": "50", "fork_points": "none"}
    configs = [
        build_config({**flags, "seed": str(seed), "output_dir": str(tmp_path)}) for seed in (3, 4)
    ]

    def killed(self):  # trains 60 steps, checkpoints, dies
        for _ in range(60):
            self.advance()
        self.checkpoint()
        raise KeyboardInterrupt

    monkeypatch.setattr(Lockstep, "run", killed)
    with pytest.raises(KeyboardInterrupt):
        run_experiments(configs, progress=False)
    dirs = sorted(tmp_path.glob("results/*/*/*/seed_*"))
    record = lambda d: json.loads((d / "config.json").read_text())  # noqa: E731
    assert [record(d)["status"] for d in dirs] == ["running", "running"]
    assert all("resumed_with_seeds" not in record(d) for d in dirs)
    with pytest.raises(KeyboardInterrupt):
        resume_experiments([str(dirs[0])], {}, progress=False)  # seed 3 alone, killed again
    monkeypatch.undo()
    resume_experiments([str(d) for d in dirs], {}, progress=False)  # both, to the end
    three, four = (record(d) for d in dirs)
    assert three["status"] == four["status"] == "finished"
    assert three["trained_with_seeds"] == four["trained_with_seeds"] == [3, 4]
    assert three["resumed_with_seeds"] == [[3], [3, 4]]
    assert four["resumed_with_seeds"] == [[3, 4]]
