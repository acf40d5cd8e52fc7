"""Tasks, action bounds and episode boundaries."""

import numpy as np
import pytest

from lmc_rl.config.errors import UserError
from lmc_rl.config.tasks import SUPPORTED_TASKS, check_task
from lmc_rl.training.envs import ActionScaler, MemberEnvs


@pytest.mark.parametrize("env_id, bound", [("Humanoid-v5", 0.4), ("InvertedPendulum-v5", 3.0)])
def test_policy_actions_are_scaled_to_the_task_bounds(env_id, bound):
    task = check_task(env_id)
    scaler = ActionScaler(task.action_low, task.action_high)
    ones = np.ones(task.action_dim)
    assert np.allclose(scaler.to_env(ones), bound)
    assert np.allclose(scaler.to_env(-ones), -bound)
    assert np.allclose(scaler.to_env(0 * ones), 0.0)


def test_every_listed_task_is_continuous_control():
    for env_id in SUPPORTED_TASKS:
        task = check_task(env_id)
        assert task.action_dim >= 1 and task.obs_dim >= 1


def test_unknown_task_is_a_user_error():
    with pytest.raises(UserError, match="NoSuchEnv-v0"):
        check_task("NoSuchEnv-v0")


def test_truncation_is_not_termination_and_keeps_the_final_observation():
    task = check_task("InvertedPendulum-v5")
    envs = MemberEnvs(task, max_episode_steps=5, reset_rngs=[np.random.default_rng(0)])
    envs.reset_all()
    for _ in range(4):
        result = envs.step(np.zeros((1, 1), dtype=np.float32))
        assert not result.truncated[0] and result.terminated[0] == 0
    before_reset = envs.envs[0].unwrapped.state_vector().copy()
    result = envs.step(np.zeros((1, 1), dtype=np.float32))
    assert result.truncated[0] and result.terminated[0] == 0.0
    final = result.next_obs[0]
    assert not np.allclose(final, envs.obs[0])  # the env was reset; next_obs is the true final one
    assert result.episode_returns == [(0, 5.0, 5)]
    assert before_reset.shape[0] == task.obs_dim


def test_termination_is_flagged_when_the_pole_falls():
    task = check_task("InvertedPendulum-v5")
    envs = MemberEnvs(task, max_episode_steps=1000, reset_rngs=[np.random.default_rng(0)])
    envs.reset_all()
    for _ in range(200):
        result = envs.step(np.ones((1, 1), dtype=np.float32))
        if result.terminated[0]:
            break
    assert result.terminated[0] == 1.0 and not result.truncated[0]
