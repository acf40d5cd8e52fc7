"""The lockstep training loop: every live member collects, updates and is evaluated together.

Per env step: one batched forward picks every member's action, each member's env steps (the only
per-member loop), each transition is stored once, and every ``train_freq`` steps one batched update
trains the members that are due (the others are masked out). A member whose losses or weights
become non-finite is marked diverged and stops; the others go on.
"""

from __future__ import annotations

import io
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from lmc_rl.agents import Agent, AgentSpec, make_agent
from lmc_rl.checkpoint import (
    CHECKPOINT_NAME,
    has_mujoco_state,
    load_checkpoint,
    restore_trainer,
    save_checkpoint,
)
from lmc_rl.config import RunConfig, checkpoint_schedule, resolve_device
from lmc_rl.envs import MemberEnvs, TaskSpec, check_task
from lmc_rl.evaluation import EvaluationEnvs, evaluate_members
from lmc_rl.forking import Fork, child_streams, child_views, fork_schedule
from lmc_rl.matmul import matmuls_on, update_library
from lmc_rl.nn import linear_layer_sizes
from lmc_rl.replay import ReplayStore, ReplayView, to_batch
from lmc_rl.runs import EvaluationLog, RunPaths, atomic_write_bytes, save_agent
from lmc_rl.seeding import MemberStreams, evaluation_seeds, parent_streams, stream_seed
from lmc_rl.training_log import ScalarLog


@dataclass
class Member:
    """One learner of the population, named by its role."""

    name: str
    streams: MemberStreams
    view: ReplayView
    random_until: int  # env steps up to this one use uniform random actions
    update_after: int  # gradient updates happen at env steps after this one
    last_return: float = math.nan
    fork: Fork | None = None  # the fork that created this member (None for the parent)
    child: int | None = None
    diverged_at: int | None = None  # env step at which losses or weights became non-finite

    @property
    def live(self) -> bool:
        return self.diverged_at is None


def agent_spec(config: RunConfig, task: TaskSpec, algo_default_lr: float) -> AgentSpec:
    return AgentSpec(
        obs_dim=task.obs_dim,
        action_dim=task.action_dim,
        hidden_dims=tuple(config.hidden_dims),
        learning_rate=config.learning_rate or algo_default_lr,
        gamma=config.gamma,
        tau=config.tau,
        ent_coef=config.ent_coef,
        noise_std=config.noise_std,
        policy_delay=config.policy_delay,
        target_policy_noise=config.target_policy_noise,
        target_noise_clip=config.target_noise_clip,
    )


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


class Trainer:
    """Holds the population and steps it to ``total_steps``."""

    def __init__(self, config: RunConfig, paths: RunPaths, progress: bool = True) -> None:
        from lmc_rl.agents import ALGORITHMS

        self.config = config
        self.paths = paths
        self.progress = progress
        self.task = check_task(config.env)
        self.device = torch.device(resolve_device(config.device))
        self.spec = agent_spec(config, self.task, ALGORITHMS[config.algo].default_learning_rate)
        self.store = ReplayStore(self.task.obs_dim, self.task.action_dim)
        streams = parent_streams(config.seed)
        self.agent: Agent = make_agent(config.algo, 1, self.spec)
        self.agent.init_members([streams.seeds["init"]])
        self.agent.to(self.device)
        self.update_matmuls = update_library(
            config.cpu_matmul, config.batch_size, linear_layer_sizes(self.agent)
        )
        parent_view = ReplayView(self.store, config.buffer_size)
        start = config.learning_starts
        self.members = [Member("parent", streams, parent_view, start, start)]
        self.envs = MemberEnvs(self.task, config.max_episode_steps, [streams.env])
        self.obs_rows: list[int] = []
        self.eval_pool = EvaluationEnvs(self.task, config.max_episode_steps)
        self.eval_seeds = evaluation_seeds(config.seed, config.num_eval_episodes_periodic)
        self.evaluations = EvaluationLog(paths.evaluations_file)
        self.scalars = ScalarLog(paths.tensorboard_dir)
        self.forks = {fork.step: fork for fork in fork_schedule(config)}
        self.checkpoint_steps, self.checkpoint_seconds = checkpoint_schedule(config)
        self.checkpoint_file = paths.results / CHECKPOINT_NAME
        self.step = 0
        self.random_returns: list[float] = []  # the parent's episodes of uniform random actions

    # -- one env step of every member
    def _live_rows(self) -> list[int]:
        return [row for row, m in enumerate(self.members) if m.live]

    def _actions(self, rows: list[int]) -> np.ndarray:
        n, action_dim = len(self.members), self.task.action_dim
        actions = np.zeros((n, action_dim), dtype=np.float32)
        noise = np.zeros((n, 1, action_dim), dtype=np.float32)
        policy_rows = []
        for row in rows:
            member = self.members[row]
            if self.step < member.random_until:  # self.step is the number of steps already taken
                actions[row] = member.streams.action.uniform(-1.0, 1.0, action_dim)
            else:
                noise[row, 0] = member.streams.action.standard_normal(action_dim, dtype=np.float32)
                policy_rows.append(row)
        if policy_rows:
            with torch.no_grad():
                obs = torch.from_numpy(self.envs.obs[:, None, :]).to(self.device)
                acted = self.agent.act(obs, torch.from_numpy(noise).to(self.device))
            actions[policy_rows] = acted[policy_rows, 0].cpu().numpy()
        return actions

    def _collect(self) -> None:
        actions = self._actions(self._live_rows())
        self._mark_diverged(~np.isfinite(actions).all(axis=1))  # never step an env with NaN
        rows = self._live_rows()
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

    def _update(self) -> None:
        cfg = self.config
        active = np.array([m.live and self.step > m.update_after for m in self.members])
        if self.step % cfg.train_freq or not active.any():
            return
        noise_shape = self.agent.update_noise_shape(cfg.batch_size)
        active_t = torch.from_numpy(active).to(self.device)
        for _ in range(cfg.gradient_steps):
            rows = np.zeros((len(self.members), cfg.batch_size), dtype=np.int64)
            noise = np.zeros((len(self.members), *noise_shape), dtype=np.float32)
            for i, member in enumerate(self.members):
                if active[i]:  # masked members draw nothing: their streams do not advance
                    rows[i] = member.view.sample_rows(member.streams.batch, cfg.batch_size)
                    noise[i] = member.streams.batch.standard_normal(noise_shape, dtype=np.float32)
            batch = to_batch(self.store.gather(rows), self.device)
            with matmuls_on(self.update_matmuls):
                metrics = self.agent.update(
                    batch, torch.from_numpy(noise).to(self.device), active_t
                )
            self.scalars.add_metrics([m.name for m in self.members], active, metrics, self.step)
            finite = np.ones(len(self.members), dtype=bool)
            for value in metrics.values():
                finite &= torch.isfinite(value).cpu().numpy()
            self._mark_diverged(active & ~finite)

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
        rows = self._live_rows()
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
        parent = self.members[0]
        save_agent(
            self.paths.weights / f"fork_{fork.fork_id}_start.pt",
            self.agent,
            0,
            self.task,
            {"member": "parent", "step": self.step, "fork_id": fork.fork_id},
        )
        streams = child_streams(cfg.seed, fork.fork_id, cfg.fork_noise, cfg.children)
        views = child_views(
            parent.view, cfg.fork_buffer_strategy, cfg.seed, fork.fork_id, cfg.children
        )
        self.agent = self.agent.take([*range(len(self.members)), *[0] * cfg.children])
        fresh = cfg.fork_buffer_strategy == "fresh"
        for child, (child_stream, view) in enumerate(zip(streams, views, strict=True), start=1):
            self.members.append(
                Member(
                    fork.child_name(child),
                    child_stream,
                    view,
                    random_until=self.step if fresh else parent.random_until,
                    update_after=self.step + cfg.learning_starts if fresh else parent.update_after,
                    fork=fork,
                    child=child,
                    diverged_at=parent.diverged_at,
                )
            )
            self.envs.add_member(child_stream.env)
            self.obs_rows.append(self.store.observe(self.envs.obs[-1]))

    # -- the run
    def start(self) -> None:
        self.envs.reset_all()
        self.obs_rows = [self.store.observe(obs) for obs in self.envs.obs]

    def advance(self) -> None:
        """One env step of every member, then updates, evaluation and forking as scheduled."""
        self._collect()
        self._update()
        if self.step % self.config.eval_freq == 0 or self.step == self.config.total_steps:
            self._evaluate()  # and always at the end: every run records its final returns
        if self.step in self.forks:
            self._fork(self.forks[self.step])

    def resume(self) -> None:
        """Continue from the run's checkpoint (or from the start if none was written yet)."""
        if not self.checkpoint_file.exists():
            self.start()
            return
        restore_trainer(self, load_checkpoint(self.checkpoint_file))
        self.scalars.purge_from(self.step + 1)
        print(f"lmc-rl: resuming training at step {self.step}", file=sys.stderr)

    def checkpoint(self) -> int:
        """Write the whole run state; returns its size in bytes."""
        self.scalars.flush()
        return save_checkpoint(self, self.checkpoint_file)

    def run(self) -> None:
        cfg = self.config
        can_checkpoint = has_mujoco_state(self)
        if not can_checkpoint and (self.checkpoint_steps or self.checkpoint_seconds):
            print(
                f"lmc-rl: {cfg.env} is not a MuJoCo task; its env state cannot be saved, so "
                "this run writes no checkpoints and cannot be resumed",
                file=sys.stderr,
            )
        started = last_checkpoint = time.perf_counter()
        first_step = self.step
        bar = tqdm(
            total=cfg.total_steps,
            initial=self.step,
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
            disable=not self.progress,
            desc=f"{cfg.algo} {cfg.env}",
        )
        while self.step < cfg.total_steps:
            self.advance()
            now = time.perf_counter()
            if (
                can_checkpoint
                and self.step < cfg.total_steps
                and (
                    self.step in self.forks
                    or (self.checkpoint_steps and self.step % self.checkpoint_steps == 0)
                    or (
                        self.checkpoint_seconds and now - last_checkpoint >= self.checkpoint_seconds
                    )
                )
            ):
                self.checkpoint()
                last_checkpoint = time.perf_counter()
            if self.step % 100 == 0 or self.step == cfg.total_steps:
                live = len(self._live_rows())
                rate = (self.step - first_step) * live / max(now - started, 1e-9)
                bar.set_postfix(
                    members=live,
                    agent_steps_s=f"{rate:.0f}",
                    last_return=f"{self.members[0].last_return:.1f}",
                    refresh=False,
                )
                bar.update(self.step - bar.n)
            if self.step % 1000 == 0:
                rate = (self.step - first_step) * len(self.members) / (now - started)
                self.scalars.add("parent", "charts/agent_steps_per_s", rate, self.step)
                self.scalars.flush()
        bar.close()
        self.scalars.close()
        self.envs.close()
        self.eval_pool.close()

    # -- what a finished training phase leaves behind
    def save_weights(self) -> None:
        """final.pt (parent) and fork{c}_{id}.pt (child c of fork id), at total_steps."""
        for row, member in enumerate(self.members):
            if member.fork is None:
                name = "final.pt"
            else:
                name = f"fork{member.child}_{member.fork.fork_id}.pt"
            info = {"member": member.name, "step": self.step, "diverged_at": member.diverged_at}
            save_agent(self.paths.weights / name, self.agent, row, self.task, info)

    def save_critic_transitions(self, per_child: int = 512) -> None:
        """A fixed set of transitions from every child of each fork, for the critic barrier."""
        for fork in self.forks.values():
            children = [m for m in self.members if m.fork is fork and m.view.size > 0]
            if not children:
                continue
            rng = np.random.default_rng(stream_seed(self.config.seed, 3, fork.fork_id))
            rows = np.concatenate([m.view.sample_rows(rng, per_child) for m in children])
            buffer = io.BytesIO()
            np.savez(buffer, **self.store.gather(rows))
            path = self.paths.results / "forks" / f"critic_transitions_{fork.fork_id}.npz"
            atomic_write_bytes(path, buffer.getvalue())

    def diverged_record(self) -> dict[str, int]:
        return {m.name: m.diverged_at for m in self.members if not m.live}

    def random_policy_record(self) -> dict:
        """Return of a uniform-random policy: the parent's warm-up episodes (a verdict's floor)."""
        returns = self.random_returns
        return {
            "mean_return": float(np.mean(returns)) if returns else None,
            "n_episodes": len(returns),
        }

    def members_record(self) -> dict:
        """Every member's role, seeds and planned number of gradient updates, including
        children yet to be forked."""
        cfg = self.config
        record: dict = {
            "parent": {
                "seeds": self.members[0].streams.seeds,
                "gradient_updates": planned_updates(cfg, cfg.learning_starts),
            }
        }
        fresh = cfg.fork_buffer_strategy == "fresh"
        for fork in self.forks.values():
            update_after = fork.step + cfg.learning_starts if fresh else cfg.learning_starts
            streams = child_streams(
                self.config.seed, fork.fork_id, self.config.fork_noise, self.config.children
            )
            for child, child_stream in enumerate(streams, start=1):
                record[fork.child_name(child)] = {
                    "fork_id": fork.fork_id,
                    "fork_point": fork.point,
                    "fork_step": fork.step,
                    "child": child,
                    "seeds": child_stream.seeds,
                    "gradient_updates": planned_updates(cfg, update_after),
                }
        return record
