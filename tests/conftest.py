import pytest
import torch

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
