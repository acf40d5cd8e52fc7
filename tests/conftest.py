import contextlib
import io
from pathlib import Path

import pytest
import torch

from lmc_rl.cli import main
from lmc_rl.config.run_config import build_config
from lmc_rl.learners.agents import AgentSpec, Batch
from lmc_rl.training.trainer import default_agent_spec


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)  # only guards against accidental use of the global generator in tests
    torch.set_num_threads(1)  # tiny nets: threads only add contention on a shared 2-core machine
    yield


@pytest.fixture
def tiny_spec() -> AgentSpec:
    return default_agent_spec(5, 2, hidden_dims=(32, 32), learning_rate=1e-3)


@pytest.fixture
def tiny_run() -> dict[str, str]:
    """Flags of a run that takes a few seconds: tiny nets, few steps and episodes."""
    return {
        "env": "InvertedPendulum-v5",
        "total_steps": "600",
        "learning_starts": "200",
        "eval_freq": "300",
        "num_eval_episodes_periodic": "2",
        "max_episode_steps": "100",
        "hidden_dims": "32,32",
        "batch_size": "32",
        "fork_points": "none",
    }


# A tiny run that forks three times: the whole run of tests/test_pieces.py and test_added_forks.py
TINY_FORKING_RUN = {
    "env": "InvertedPendulum-v5",
    "max_episode_steps": "100",
    "num_eval_episodes_periodic": "2",
    "hidden_dims": "32,32",
    "batch_size": "32",
    "total_steps": "300",
    "learning_starts": "100",
    "eval_freq": "100",
    "fork_points": "0.3,0.5,0.7",
    "alpha_points": "3",
    "num_eval_episodes": "2",
    "eval_workers": "1",
    "threads": "1",
    "seed": "3",
}


def tiny_forking_flags(**changes: str) -> list[str]:
    """``lmc-rl run`` flags of TINY_FORKING_RUN with ``changes``."""
    flags = {**TINY_FORKING_RUN, **changes}
    return [arg for key, value in flags.items() for arg in (f"--{key}", value)]


def lmc_rl(*argv: str | Path) -> Path:
    """Runs the CLI, which must succeed; the path it prints last (the results folder)."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*map(str, argv)]) == 0
    return Path(stdout.getvalue().strip().splitlines()[-1])


@pytest.fixture(scope="session")
def tiny_forking_runs(tmp_path_factory):
    """``tiny_forking_runs(**changes)``: the results folder of ``lmc-rl run`` with
    ``tiny_forking_flags(**changes)``, computed once a session (each its own output_dir), as
    several tests compare against the same run. Tests only read these folders (copy to change)."""
    done: dict[str, Path] = {}

    def run(**changes: str) -> Path:
        key = repr(build_config({**TINY_FORKING_RUN, **changes}))  # SAC is SAC, named or not
        if key not in done:
            root = tmp_path_factory.mktemp("tiny_forking_run")
            done[key] = lmc_rl(
                "run", "--no_progress", *tiny_forking_flags(**changes), "--output_dir", root
            )
        return done[key]

    return run


def _random_batch(k: int, spec: AgentSpec, batch_size: int = 16, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        obs=torch.randn(k, batch_size, spec.obs_dim, generator=g),
        action=torch.rand(k, batch_size, spec.action_dim, generator=g) * 2 - 1,
        reward=torch.randn(k, batch_size, generator=g),
        next_obs=torch.randn(k, batch_size, spec.obs_dim, generator=g),
        terminated=(torch.rand(k, batch_size, generator=g) < 0.2).float(),
    )


@pytest.fixture
def random_batch():
    """``random_batch(k, spec, batch_size=16, seed=0)``: random transitions for K members."""
    return _random_batch
