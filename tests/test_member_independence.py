"""A member gets the same bits alone as in any population, at the sizes users run.

Real sizes: every supported task's observation and action dimensions, 256x256 networks, batch
256, 10 evaluation rows, with 1 and 2 threads; populations of 2, 3, 5, 8 and 21 members, some of
them masked or at other step counts.
"""

import json

import pytest
import torch

from lmc_rl.config.run_config import build_config
from lmc_rl.config.tasks import SUPPORTED_TASKS, check_task
from lmc_rl.experiment.phases import run_experiment
from lmc_rl.learners import independence
from lmc_rl.learners import nn as batched_nn
from lmc_rl.learners import optim as optim_module
from lmc_rl.learners.agents import make_agent
from lmc_rl.learners.independence import check_member_independence
from lmc_rl.learners.matmul import update_library
from lmc_rl.learners.nn import linear_layer_sizes
from lmc_rl.learners.optim import BatchedAdam
from lmc_rl.training.run_files import load_agent_state
from lmc_rl.training.trainer import default_agent_spec


def _task_dims() -> dict[tuple[int, int], str]:
    """One task per distinct (obs_dim, action_dim): tasks with equal dims run the same code."""
    dims: dict[tuple[int, int], str] = {}
    for env_id in SUPPORTED_TASKS:
        task = check_task(env_id)
        dims.setdefault((task.obs_dim, task.action_dim), env_id)
    return dims


TASK_DIMS = _task_dims()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("algo", ["SAC", "TD3", "DDPG"])
@pytest.mark.parametrize("dims", list(TASK_DIMS), ids=list(TASK_DIMS.values()))
def test_acting_evaluation_and_updates_do_not_depend_on_the_population(dims, algo, threads):
    torch.set_num_threads(threads)  # the autouse fixture sets 1 again for the next test
    spec = default_agent_spec(*dims, algo=algo)
    library = update_library("auto", 256, linear_layer_sizes(make_agent(algo, 1, spec)))
    report = check_member_independence(algo, spec, 256, [10], library)
    assert report.verified, report.failed_phases()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dims", list(TASK_DIMS), ids=list(TASK_DIMS.values()))
def test_sb3s_squash_epsilon_keeps_sac_members_independent(dims, threads):
    """``--squash_epsilon`` takes SAC's log-density through other kernels (log of 1 - a^2)."""
    torch.set_num_threads(threads)
    spec = default_agent_spec(*dims, algo="SAC", squash_epsilon=1e-6)
    library = update_library("auto", 256, linear_layer_sizes(make_agent("SAC", 1, spec)))
    report = check_member_independence("SAC", spec, 256, [10], library)
    assert report.verified, report.failed_phases()


def test_the_check_fails_on_the_unaligned_layout_it_replaced(monkeypatch):
    """Without padding, SAC's 6-wide Hopper head gives members other bits by their row."""
    monkeypatch.setattr(batched_nn, "aligned_width", lambda n: n)
    monkeypatch.setattr(batched_nn, "aligned_rows", lambda n: n)
    spec = default_agent_spec(11, 3)
    report = check_member_independence("SAC", spec, 256, [10], "mkl", sizes=(8,))
    assert not report.acting


def masked_adam_members_equal_alone(k: int, shape: tuple[int, ...]) -> list[bool]:
    """300 Adam steps of ``k`` members under a changing mask (member 0 always active, the others
    masked or out of step), then, per member, whether it equals its own one-member optimizer."""
    g = torch.Generator().manual_seed(0)
    grads = torch.randn(300, k, *shape, generator=g)
    masks = torch.rand(300, k, generator=g) < 0.7
    masks[:, 0] = True

    def adam(n):
        owner = torch.nn.Module()
        owner.w = torch.nn.Parameter(torch.ones(n, *shape))
        return owner, BatchedAdam([owner.w], n, 3e-4, owner)

    owner, optim = adam(k)
    for step in range(300):
        optim.step([grads[step]], masks[step])
    equal = []
    for member in range(k):
        alone_owner, alone = adam(1)
        for step in range(300):
            alone.step([grads[step, member : member + 1]], masks[step, member : member + 1])
        equal.append(
            torch.equal(owner.w[member], alone_owner.w[0])
            and torch.equal(optim.exp_avg_sq_0[member], alone.exp_avg_sq_0[0])
        )
    return equal


@pytest.mark.parametrize("shape", [(64, 96), (7, 5)])
def test_masked_and_out_of_step_members_get_the_adam_bits_they_would_get_alone(shape):
    """(7, 5): 35 floats a member, so members start and end inside vectors of the fused kernel."""
    assert all(masked_adam_members_equal_alone(8, shape))


def fused_adam_tail_rounds_unlike_its_vector_loop() -> bool:
    """Whether, on this machine, torch's fused Adam gives an element other bits in its scalar
    tail than in its vector loop: 35 floats alone (the last ones in the tail) against the same
    35 floats followed by zeros to whole vectors, 300 steps; parameters and both moments
    compared. Uses no lmc-rl code."""
    g = torch.Generator().manual_seed(1)
    start, grads = torch.randn(35, generator=g), torch.randn(300, 35, generator=g)
    ends = []
    for padding in (0, 13):
        p, m, v = (torch.cat([t, torch.zeros(padding)]) for t in (start, *[torch.zeros(35)] * 2))
        for step, grad in enumerate(grads, start=1):
            torch._fused_adam_(
                [p], [torch.cat([grad, torch.zeros(padding)])], [m], [v], [],
                [torch.tensor(float(step))], lr=3e-4, beta1=0.9, beta2=0.999,
                weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False,
            )  # fmt: skip
        ends.append([t[:35] for t in (p, m, v)])
    return not all(torch.equal(a, b) for a, b in zip(*ends, strict=True))


def test_without_padding_the_fused_adam_gives_members_other_bits(monkeypatch):
    """The padding is needed: without it, members' last elements fall into the kernel's scalar
    tail or not depending on how many share the tensor. Where the kernel's tail rounds as its
    vector loop (probed without our code), padding changes nothing and there is nothing to see."""
    if not fused_adam_tail_rounds_unlike_its_vector_loop():
        pytest.skip("on this machine the fused kernel's scalar tail rounds as its vector loop")
    owner = torch.nn.Module()
    owner.w = torch.nn.Parameter(torch.ones(3, 7, 5))
    padded = BatchedAdam([owner.w], 3, 3e-4, owner)
    assert padded.flat_params.flat.numel() % batched_nn.WIDTH_ALIGNMENT == 0  # 105 -> 112
    monkeypatch.setattr(optim_module, "vector_padding", lambda numel: 0)
    assert not all(masked_adam_members_equal_alone(8, (7, 5)))


# -- end to end, 256x256 ------------------------------------------------------------------

REAL_RUN = {
    "total_steps": "300",
    "learning_starts": "60",
    "batch_size": "256",
    "hidden_dims": "256,256",
    "eval_freq": "300",
    "num_eval_episodes_periodic": "2",
    "max_episode_steps": "50",
    "alpha_points": "3",
    "num_eval_episodes": "2",
    "eval_workers": "1",
    "seed": "5",
}


def _run(tmp_path, **flags):
    config = build_config({**REAL_RUN, "output_dir": str(tmp_path), **flags})
    return run_experiment(config, progress=False)


def _state(paths, name):
    agent, _ = load_agent_state(paths.weights / name)
    return agent.state_dict()


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.parametrize(
    ("env", "algo"),
    [("Hopper-v5", "SAC"), ("Walker2d-v5", "TD3"), ("HalfCheetah-v5", "DDPG")],
)
def test_fork_noise_none_gives_identical_children_and_zero_instability(tmp_path, env, algo):
    paths = _run(tmp_path, env=env, algo=algo, fork_points="0.5", fork_noise="none")
    assert _same(_state(paths, "fork1_child1.pt"), _state(paths, "fork1_child2.pt"))
    result = json.loads((paths.results / "forks" / "instability_1.json").read_text())
    assert result["instability"] == 0.0
    assert len({point["mean_reward"] for point in result["interpolation"]}) == 1
    assert len(set(result["critic"]["td_error"])) == 1  # the critic barrier's rows too


@pytest.fixture(scope="module")
def parents_without_forks(tmp_path_factory):
    root = tmp_path_factory.mktemp("alone")
    return {
        algo: _state(_run(root / algo, env=env, algo=algo, fork_points="none"), "final.pt")
        for env, algo in (("Hopper-v5", "SAC"), ("Walker2d-v5", "TD3"))
    }


@pytest.mark.parametrize("strategy", ["copy", "fresh", "shared", "split"])
@pytest.mark.parametrize(("env", "algo"), [("Hopper-v5", "SAC"), ("Walker2d-v5", "TD3")])
def test_a_fork_leaves_the_parent_bitwise_unchanged(
    tmp_path, parents_without_forks, env, algo, strategy
):
    paths = _run(tmp_path, env=env, algo=algo, fork_points="0.5", fork_buffer_strategy=strategy)
    assert _same(_state(paths, "final.pt"), parents_without_forks[algo])


def test_runs_in_one_process_share_one_check_per_setting(monkeypatch):
    """A sweep's runs in one process pay for one start-up check; another thread count (a
    setting that can change the verdict) is checked again."""
    calls = []
    real = independence.check_member_independence

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(independence, "check_member_independence", counted)
    monkeypatch.setattr(independence, "_ROUTES", {})
    spec = default_agent_spec(5, 2, hidden_dims=(32, 32))
    first = independence.verified_route("SAC", spec, 32, [2], "mkl")
    assert independence.verified_route("SAC", spec, 32, [2], "mkl") is first
    assert len(calls) == 1
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if threads != 1 else 2)
        independence.verified_route("SAC", spec, 32, [2], "mkl")
    finally:
        torch.set_num_threads(threads)
    assert len(calls) == 2


def test_doctor_names_each_phase_and_exits_0_when_all_are_verified(capsys):
    from lmc_rl.cli import main

    assert main(["doctor", "--env", "InvertedPendulum-v5", "--hidden_dims", "32,32"]) == 0
    out = capsys.readouterr().out
    assert all(phase in out for phase in ("acting", "evaluation", "updates"))
    assert "NOT verified" not in out


def _updates_independent_only_with(monkeypatch, libraries: set[str]) -> None:
    """A machine where gradient updates keep members independent only under ``libraries``
    (acting and evaluation are checked for real)."""
    monkeypatch.setattr(independence, "_ROUTES", {})
    monkeypatch.setattr(
        independence, "_updates_alike", lambda algo, spec, batch, library, *a: library in libraries
    )


def test_a_run_falls_back_to_mkl_where_onednn_fails_the_check(monkeypatch):
    spec = default_agent_spec(5, 2, hidden_dims=(32, 32))
    _updates_independent_only_with(monkeypatch, {"mkl"})
    route = independence.verified_route("SAC", spec, 32, [2], "onednn")
    assert route.update_library == "mkl" and route.verified
    _updates_independent_only_with(monkeypatch, set())  # neither: the preferred one, unverified
    route = independence.verified_route("SAC", spec, 32, [2], "onednn")
    assert route.update_library == "onednn" and route.failed_phases() == ["updates"]


def test_doctor_exits_1_and_names_the_phase_not_verified(monkeypatch, capsys):
    from lmc_rl.cli import main

    _updates_independent_only_with(monkeypatch, set())
    assert main(["doctor", "--env", "InvertedPendulum-v5", "--hidden_dims", "32,32"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-2:] for line in lines if line.startswith("updates")] == [
        ["NOT", "verified"]
    ]
    assert sum("NOT verified" in line for line in lines) == 1
