import pytest
import torch

from lmc_rl.agents import AgentSpec


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)  # only guards against accidental use of the global generator in tests
    torch.set_num_threads(1)  # tiny nets: threads only add contention on a shared 2-core machine
    yield


@pytest.fixture
def tiny_spec() -> AgentSpec:
    return AgentSpec(obs_dim=5, action_dim=2, hidden_dims=(32, 32), learning_rate=1e-3)


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
