"""The lockstep training loop: every live member collects, updates and is evaluated together.

Per env step: one batched forward picks every member's action, each member's env steps (the only
per-member loop), each transition is stored once, and every ``train_freq`` steps one batched update
trains the members that are due (the others are masked out). A member whose losses or weights
become non-finite is marked diverged and stops; the others go on.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lmc_rl.config.run_config import (
    RunConfig,
    checkpoint_schedule,
    evaluation_due,
    learning_rate_of,
    resolve_device,
)
from lmc_rl.config.tasks import TaskSpec, check_task
from lmc_rl.learners.agents import Agent, AgentSpec, make_agent
from lmc_rl.learners.independence import IndependenceReport, unverified_warning, verified_route
from lmc_rl.learners.matmul import update_library
from lmc_rl.learners.nn import linear_layer_sizes
from lmc_rl.records.atomic_files import atomic_write_bytes
from lmc_rl.records.layout import RunPaths, parent_snapshot_name, run_label
from lmc_rl.records.training_log import ScalarLog
from lmc_rl.training.checkpoint import load_checkpoint, save_checkpoint
from lmc_rl.training.envs import MemberEnvs
from lmc_rl.training.evaluation import EvaluationEnvs, evaluate_members, evaluation_rows
from lmc_rl.training.forking import (
    CRITIC_TRANSITIONS_PATH,
    Fork,
    child_streams,
    child_update_after,
    child_views,
    parent_until,
    piece_forks,
)
from lmc_rl.training.population import Member, Population
from lmc_rl.training.replay import ReplayStore, ReplayView
from lmc_rl.training.run_files import EvaluationLog, save_agent
from lmc_rl.training.seeding import evaluation_seeds, parent_streams, stream_seed


def agent_spec(config: RunConfig, task: TaskSpec) -> AgentSpec:
    """The learner's hyperparameters: the run config's, with the task's dimensions."""
    return AgentSpec(
        obs_dim=task.obs_dim,
        action_dim=task.action_dim,
        hidden_dims=tuple(config.hidden_dims),
        learning_rate=learning_rate_of(config),
        gamma=config.gamma,
        tau=config.tau,
        ent_coef="auto" if config.ent_coef is None else str(config.ent_coef),
        noise_std=config.noise_std,
        policy_delay=config.policy_delay,
        target_policy_noise=config.target_policy_noise,
        target_noise_clip=config.target_noise_clip,
        squash_epsilon=config.squash_epsilon,
    )


def run_route(config: RunConfig, spec: AgentSpec, device: str | torch.device) -> IndependenceReport:
    """The update library a run with ``config`` uses, and which phases keep members
    independent on this machine (the Trainer's start-up check; ``lmc-rl doctor``)."""
    layers = linear_layer_sizes(make_agent(config.algo, 1, spec))
    episodes = (config.num_eval_episodes_periodic, config.num_eval_episodes)
    return verified_route(
        config.algo,
        spec,
        config.batch_size,
        sorted({evaluation_rows(n) for n in episodes}),
        update_library(config.cpu_matmul, config.batch_size, layers),
        device,
    )


def default_agent_spec(obs_dim: int, action_dim: int, algo: str = "SAC", **overrides) -> AgentSpec:
    """The run defaults' learner at these task dimensions (tests, benchmarks, ``doctor``)."""
    from lmc_rl.config.run_config import build_config
    from lmc_rl.config.tasks import TaskSpec

    bounds = np.ones(action_dim, dtype=np.float32)
    task = TaskSpec("", obs_dim, action_dim, -bounds, bounds)
    return dataclasses.replace(agent_spec(build_config({"algo": algo}), task), **overrides)


def nonfinite_members(agent: Agent) -> np.ndarray:
    """Rows whose learner state holds a NaN or infinity."""
    bad = torch.zeros(agent.n_members, dtype=torch.bool)
    for value in agent.state_dict().values():
        bad |= ~torch.isfinite(value.reshape(agent.n_members, -1)).all(dim=1).cpu()
    return bad.numpy()


def planned_updates(config: RunConfig, update_after: int) -> int:
    """Gradient updates a member that updates after env step ``update_after`` makes by
    ``total_steps`` (rounds at every ``train_freq``-th step), if it does not diverge."""
    rounds = config.total_steps // config.train_freq - update_after // config.train_freq
    return max(rounds, 0) * config.gradient_steps


@dataclasses.dataclass
class ActionDraw:
    """One step's actions before the policy is asked: uniform random rows filled in, the
    policy noise of the rows in ``policy_rows`` (whose actions the policy then fills in)."""

    actions: np.ndarray  # [K, action_dim]
    noise: np.ndarray  # [K, 1, action_dim]
    policy_rows: list[int]


class Trainer:
    """One run (a seed): its population of parent and children, envs, replay and logs. A
    ``Lockstep`` steps it to ``total_steps``, alone (``Lockstep([trainer]).run()``) or with other
    runs."""

    def __init__(
        self,
        config: RunConfig,
        paths: RunPaths,
        progress: bool = True,
        route: IndependenceReport | None = None,
    ) -> None:
        """``route``: the start-up independence check's result, when the caller already has it
        for these settings (runs that differ only by seed share it)."""
        self.config = config
        self.paths = paths
        self.progress = progress
        self.task = check_task(config.env)
        self.device = torch.device(resolve_device(config.device))
        self.spec = agent_spec(config, self.task)
        self.store = ReplayStore(self.task.obs_dim, self.task.action_dim)
        streams = parent_streams(config.seed)
        self.agent: Agent = make_agent(config.algo, 1, self.spec)
        self.agent.init_members([streams.seeds["init"]])
        self.agent.to(self.device)
        self.independence = route or run_route(config, self.spec, self.device)
        self.update_matmuls = self.independence.update_library
        warning = unverified_warning(self.independence)
        if warning and route is None:
            print(warning, file=sys.stderr)
        parent_view = ReplayView(self.store, config.buffer_size)
        start = config.learning_starts
        self.members = Population(
            [
                Member(
                    name="parent",
                    streams=streams,
                    view=parent_view,
                    random_until=start,
                    update_after=start,
                )
            ]
        )
        self.envs = MemberEnvs(self.task, config.max_episode_steps, [streams.env])
        self.obs_rows: list[int] = []
        self.eval_pool = EvaluationEnvs(self.task, config.max_episode_steps)
        self.eval_seeds = evaluation_seeds(config.seed, config.num_eval_episodes_periodic)
        self.evaluations = EvaluationLog(paths.evaluations_file)
        self.scalars = ScalarLog(paths.tensorboard_dir)
        self.forks = {fork.step: fork for fork in piece_forks(config)}
        self.parent_until = parent_until(config)
        self.checkpoint_steps, self.checkpoint_seconds = checkpoint_schedule(config)
        self.checkpoint_file = paths.checkpoint_file
        self.step = 0
        self.random_returns: list[float] = []  # the parent's episodes of uniform random actions

    # -- one env step of every member. Each phase is split where the agent is called, so that
    # a Lockstep of several runs (seeds) can make one batched call for all of them.
    def draw_actions(self) -> ActionDraw:
        """The live members' uniform random actions and policy noise for this step."""
        n, action_dim = len(self.members), self.task.action_dim
        draw = ActionDraw(
            actions=np.zeros((n, action_dim), dtype=np.float32),
            noise=np.zeros((n, 1, action_dim), dtype=np.float32),
            policy_rows=[],
        )
        for row in self.members.live_rows():
            member = self.members[row]
            if self.step < member.random_until:  # self.step is the number of steps already taken
                draw.actions[row] = member.streams.action.uniform(-1.0, 1.0, action_dim)
            else:
                draw.noise[row, 0] = member.streams.action.standard_normal(
                    action_dim, dtype=np.float32
                )
                draw.policy_rows.append(row)
        return draw

    def policy_input(self) -> np.ndarray:
        """Every member's current observation, ``[K, 1, obs_dim]``: what the policy acts on."""
        return self.envs.obs[:, None, :]

    def collect(self, actions: np.ndarray) -> None:
        """Step every live member's env with its action and store the transitions."""
        self._mark_diverged(~np.isfinite(actions).all(axis=1))  # never step an env with NaN
        rows = self.members.live_rows()
        result = self.envs.step(actions[rows], rows)
        self.step += 1
        store = self.store
        for i, row in enumerate(rows):
            next_obs_row = store.observe(result.next_obs[i])
            transition = store.write(
                self.obs_rows[row],
                actions[row],
                result.reward[i],
                next_obs_row,
                result.terminated[i],
            )
            self.members[row].view.add(transition)
            store.release_observation(self.obs_rows[row])
            if result.terminated[i] or result.truncated[i]:  # the env was reset
                store.release_observation(next_obs_row)
                next_obs_row = store.observe(self.envs.obs[row])
            self.obs_rows[row] = next_obs_row
        for row, episode_return, length in result.episode_returns:
            member = self.members[row]
            if member.fork is None and self.step <= member.random_until:
                self.random_returns.append(float(episode_return))  # a uniform-random policy's
            member.last_return = episode_return
            self.scalars.add(member.name, "charts/episodic_return", episode_return, self.step)
            self.scalars.add(member.name, "charts/episodic_length", length, self.step)

    def update_rows(self) -> np.ndarray | None:
        """The members that make gradient updates after this step, or None if no update is
        due (not a ``train_freq`` step, or no member is live and past its warm-up)."""
        active = np.array([m.live and self.step > m.update_after for m in self.members])
        if self.step % self.config.train_freq or not active.any():
            return None
        return active

    def draw_batch(self, active: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """One gradient step's minibatch rows (gathered) and update noise for every member;
        masked members draw nothing, so their streams do not advance."""
        cfg = self.config
        noise_shape = self.agent.update_noise_shape(cfg.batch_size)
        rows = np.zeros((len(self.members), cfg.batch_size), dtype=np.int64)
        noise = np.zeros((len(self.members), *noise_shape), dtype=np.float32)
        for i, member in enumerate(self.members):
            if active[i]:
                rows[i] = member.view.sample_rows(member.streams.batch, cfg.batch_size)
                noise[i] = member.streams.batch.standard_normal(noise_shape, dtype=np.float32)
        return self.store.gather(rows), noise

    def record_update(self, metrics: dict[str, torch.Tensor], active: np.ndarray) -> None:
        """Log one gradient step's metrics and stop the members whose losses became
        non-finite."""
        self.scalars.add_metrics([m.name for m in self.members], active, metrics, self.step)
        finite = np.ones(len(self.members), dtype=bool)
        for value in metrics.values():
            finite &= torch.isfinite(value).cpu().numpy()
        self._mark_diverged(active & ~finite)

    def after_step_due(self) -> bool:
        """Whether this step ends with an evaluation, a parent snapshot or a fork (the work
        that needs this run's own agent)."""
        cfg, step = self.config, self.step
        return (
            evaluation_due(cfg, step)
            or bool(cfg.save_every and step % cfg.save_every == 0)
            or step in self.forks
            or step == self.parent_until
        )

    def after_step(self) -> None:
        """Evaluation, parent snapshot and forking, as scheduled for this step."""
        cfg = self.config
        if evaluation_due(cfg, self.step):
            self._evaluate()
        if cfg.save_every and self.step % cfg.save_every == 0:
            self._save_parent_snapshot()
        if self.step in self.forks:
            self._fork(self.forks[self.step])
        if self.step == self.parent_until < cfg.total_steps and self.members.has_parent:
            self._retire_parent()

    def checkpoint_due(self, seconds_since_last: float) -> bool:
        """Whether the run state should be written after this step (forks, --checkpoint_every)."""
        return (
            self.envs.can_save_state
            and self.step < self.config.total_steps
            and (
                self.step in self.forks
                or bool(self.checkpoint_steps and self.step % self.checkpoint_steps == 0)
                or bool(self.checkpoint_seconds and seconds_since_last >= self.checkpoint_seconds)
            )
        )

    def _mark_diverged(self, rows: np.ndarray) -> None:
        for row in np.flatnonzero(rows):
            member = self.members[row]
            if member.live:
                member.diverged_at = self.step
                tqdm.write(
                    f"lmc-rl: {member.name} diverged at step {self.step} "
                    "(non-finite loss or weights); the other members go on",
                    file=sys.stderr,
                )

    def _evaluate(self) -> None:
        self._mark_diverged(nonfinite_members(self.agent))
        rows = self.members.live_rows()
        returns = evaluate_members(self.agent, self.eval_pool, self.eval_seeds, members=rows)
        for row, member_returns in zip(rows, returns, strict=True):
            member = self.members[row]
            self.evaluations.add(member.name, self.step, member_returns)
            self.scalars.add(
                member.name, "charts/eval_return", float(np.mean(member_returns)), self.step
            )
        self.evaluations.flush()

    def _fork(self, fork: Fork) -> None:
        """Append the children that copy the parent's complete state; they start new episodes."""
        cfg = self.config
        parent = self.members.parent
        save_agent(
            self.paths.fork_start_weights(fork.fork_id),
            self.agent,
            0,
            self.task,
            self._agent_info("parent", fork_id=fork.fork_id),
        )
        streams = child_streams(cfg.seed, fork.step, cfg.fork_noise, cfg.children)
        views = child_views(
            parent.view, cfg.fork_buffer_strategy, cfg.seed, fork.step, cfg.children
        )
        self.agent = self.agent.take([*range(len(self.members)), *[0] * cfg.children])
        fresh = cfg.fork_buffer_strategy == "fresh"
        for child, (child_stream, view) in enumerate(zip(streams, views, strict=True), start=1):
            self.members.append(
                Member(
                    name=fork.child_name(child),
                    streams=child_stream,
                    view=view,
                    random_until=self.step if fresh else parent.random_until,
                    update_after=child_update_after(cfg, fork),
                    fork=fork,
                    child=child,
                    diverged_at=parent.diverged_at,
                )
            )
            self.envs.add_member(child_stream.env)
            self.obs_rows.append(self.store.observe(self.envs.obs[-1]))

    def _retire_parent(self) -> None:
        """A piece of the run drops its parent once its forks are made (row 0 goes; every other
        member's results are unchanged, as a member never depends on who shares its batch)."""
        self.agent = self.agent.take(range(1, len(self.members)))
        parent = self.members.remove(0)
        if not any(m.view is parent.view for m in self.members):
            parent.view.release()
        self.envs.remove_member(0)
        self.store.release_observation(self.obs_rows.pop(0))

    # -- the run
    def start(self) -> None:
        self.envs.reset_all()
        self.obs_rows = [self.store.observe(obs) for obs in self.envs.obs]

    def _save_parent_snapshot(self) -> None:
        """The parent's agent file at this step (--save_every): same-run paths need them."""
        save_agent(
            self.paths.weights / parent_snapshot_name(self.step),
            self.agent,
            0,
            self.task,
            self._agent_info("parent", diverged_at=self.members[0].diverged_at),
        )

    def resume(self) -> None:
        """Continue from the run's checkpoint (or from the start if none was written yet)."""
        if not self.checkpoint_file.exists():
            self.start()
            return
        self.load_state_dict(load_checkpoint(self.checkpoint_file))
        self.scalars.purge_from(self.step + 1)
        print(f"lmc-rl: resuming training at step {self.step}", file=sys.stderr)

    def checkpoint(self) -> int:
        """Write the whole run state; returns its size in bytes."""
        self.scalars.flush()
        return save_checkpoint(self.state_dict(), self.checkpoint_file)

    def state_dict(self) -> dict[str, Any]:
        """Everything that decides the rest of the run, as plain data: every member's learner
        state, the replay store and views (shared rows once), every random stream's exact
        state, each member's env (MuJoCo's full ``mjData`` and the time-limit counter), the
        step and the evaluation log."""
        return {
            "step": self.step,
            # clone: a view would pickle the whole flat tensor it belongs to, once per view
            "agent": {k: v.detach().cpu().clone() for k, v in self.agent.state_dict().items()},
            **self.members.state_dict(),  # "members" and "views"
            "store": {
                "observations": self.store.observations.state(),
                "transitions": self.store.transitions.state(),
            },
            "obs_rows": list(self.obs_rows),
            "envs": self.envs.state(),
            "evaluations": list(self.evaluations.rows),
            "random_returns": list(self.random_returns),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put this freshly constructed Trainer (same config) into a ``state_dict()``'s state."""
        self.store.observations.load_state(state["store"]["observations"])
        self.store.transitions.load_state(state["store"]["transitions"])
        self.members = Population.from_state_dict(state, self.store, list(self.forks.values()))
        agent = make_agent(self.config.algo, len(self.members), self.spec)
        agent.load_state_dict(state["agent"])
        self.agent = agent.to(self.device)
        self.envs.close()
        self.envs = MemberEnvs(
            self.task, self.config.max_episode_steps, [m.streams.env for m in self.members]
        )
        self.envs.load_state(state["envs"])
        self.obs_rows = list(state["obs_rows"])
        self.evaluations.rows = [tuple(row) for row in state["evaluations"]]
        self.step = state["step"]
        self.random_returns = list(state["random_returns"])

    def warn_if_not_resumable(self) -> None:
        if not self.envs.can_save_state and (self.checkpoint_steps or self.checkpoint_seconds):
            print(
                f"lmc-rl: {self.config.env} is not a MuJoCo task; its env state cannot be saved, "
                "so this run writes no checkpoints and cannot be resumed",
                file=sys.stderr,
            )

    def close(self) -> None:
        """Release the envs and flush the logs at the end of training."""
        self.scalars.close()
        self.envs.close()
        self.eval_pool.close()

    # -- what a finished training phase leaves behind
    def save_weights(self) -> None:
        """final.pt (parent) and fork{id}_child{c}.pt (child c of fork id), at total_steps (a
        piece whose parent retired early writes no final.pt)."""
        for row, member in enumerate(self.members):
            if member.fork is None:
                path = self.paths.final_weights
            else:
                path = self.paths.child_weights(member.child, member.fork.fork_id)
            info = self._agent_info(member.name, diverged_at=member.diverged_at)
            save_agent(path, self.agent, row, self.task, info)

    def _agent_info(self, member: str, **fields: Any) -> dict[str, Any]:
        """What an agent file records of itself, so that it can be named without its path."""
        cfg = self.config
        run = run_label(cfg.experiment_name, cfg.env, cfg.algo, cfg.seed)
        return {"member": member, "step": self.step, "run": run, "seed": cfg.seed, **fields}

    def save_critic_transitions(self, per_child: int = 512) -> None:
        """A fixed set of transitions from every child of each fork, for the critic barrier."""
        for fork in self.forks.values():
            children = [m for m in self.members if m.fork is fork and m.view.size > 0]
            if not children:
                continue
            rng = np.random.default_rng(
                stream_seed(self.config.seed, CRITIC_TRANSITIONS_PATH, fork.step)
            )
            rows = np.concatenate([m.view.sample_rows(rng, per_child) for m in children])
            buffer = io.BytesIO()
            np.savez(buffer, **self.store.gather(rows))
            atomic_write_bytes(self.paths.critic_transitions_file(fork.fork_id), buffer.getvalue())

    def diverged_record(self) -> dict[str, int]:
        return self.members.diverged_record()

    def random_policy_record(self) -> dict:
        """Return of a uniform-random policy: the parent's warm-up episodes (a verdict's floor)."""
        returns = self.random_returns
        return {
            "mean_return": float(np.mean(returns)) if returns else None,
            "n_episodes": len(returns),
        }

    def members_record(self) -> dict:
        """Every member's role, seeds and planned number of gradient updates, including
        children yet to be forked (of this run's forks: a piece lists only its own)."""
        return members_record(self.config, list(self.forks.values()))


def members_record(config: RunConfig, forks: list[Fork]) -> dict:
    """The parent's and the children of ``forks``: role, seeds, planned gradient updates
    (config.json's ``members``; the parent's as in the whole run)."""
    record: dict = {
        "parent": {
            "seeds": parent_streams(config.seed).seeds,
            "gradient_updates": planned_updates(config, config.learning_starts),
        }
    }
    for fork in forks:
        update_after = child_update_after(config, fork)
        streams = child_streams(config.seed, fork.step, config.fork_noise, config.children)
        for child, child_stream in enumerate(streams, start=1):
            record[fork.child_name(child)] = {
                "fork_id": fork.fork_id,
                "fork_point": fork.point,
                "fork_step": fork.step,
                "child": child,
                "seeds": child_stream.seeds,
                "gradient_updates": planned_updates(config, update_after),
            }
    return record
