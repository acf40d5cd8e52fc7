"""Several runs (seeds) trained as one lockstep population: one batched act and one batched
update per env step for every member of every run.

Each run keeps everything that makes it a run of its own (its ``Trainer``: config, random
streams, envs, replay store, logs, result folder); only the learner state is joined into one
agent while they step. Because a member never depends on who shares its batch (the start-up
independence check), every run comes out bit for bit as it would alone. Evaluation, snapshots,
forks and checkpoints use each run's own agent, taken from the joined one when they are due.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from lmc_rl.learners.agents import Agent
from lmc_rl.learners.matmul import matmuls_on
from lmc_rl.training.replay import to_batch

if TYPE_CHECKING:  # the Lockstep owns the step loop; a run alone is a Lockstep of one
    from lmc_rl.training.trainer import Trainer


class Lockstep:
    """Steps ``trainers`` (all at the same step, same settings but the seed) together."""

    def __init__(self, trainers: Sequence[Trainer], progress: bool = False) -> None:
        steps = {t.step for t in trainers}
        if len(steps) != 1:
            raise ValueError(f"runs in a lockstep must be at one step, got {sorted(steps)}")
        self.trainers = list(trainers)
        self.progress = progress
        self.lead = self.trainers[0]
        self.agent = self._joined()

    # -- the joined learner and each run's block of its rows
    def _joined(self) -> Agent:
        if len(self.trainers) == 1:
            return self.lead.agent
        return Agent.join([t.agent for t in self.trainers])

    def _blocks(self) -> list[slice]:
        blocks, start = [], 0
        for t in self.trainers:
            blocks.append(slice(start, start + len(t.members)))
            start += len(t.members)
        return blocks

    def scatter(self) -> None:
        """Give every run its own members' current state (before per-run work)."""
        if len(self.trainers) > 1:
            for t, block in zip(self.trainers, self._blocks(), strict=True):
                t.agent = self.agent.take(range(block.start, block.stop))

    def gather(self) -> None:
        """Join the runs' agents again (after per-run work, which may have forked)."""
        self.agent = self._joined()

    # -- one env step
    def advance(self) -> None:
        """One env step of every member of every run, then updates, evaluation and forking as
        scheduled."""
        self._act_and_collect()
        self._update()
        if any(t.after_step_due() for t in self.trainers):
            self.scatter()
            for t in self.trainers:
                t.after_step()
            self.gather()

    def _act_and_collect(self) -> None:
        draws = [t.draw_actions() for t in self.trainers]
        if any(d.policy_rows for d in draws):
            device = self.lead.device
            obs = np.concatenate([t.policy_input() for t in self.trainers])
            noise = np.concatenate([d.noise for d in draws])
            with torch.no_grad():
                acted = self.agent.act(
                    torch.from_numpy(obs).to(device), torch.from_numpy(noise).to(device)
                )
            acted = acted[:, 0].cpu().numpy()
            for d, block in zip(draws, self._blocks(), strict=True):
                d.actions[d.policy_rows] = acted[block][d.policy_rows]
        for t, d in zip(self.trainers, draws, strict=True):
            t.collect(d.actions)

    def _update(self) -> None:
        actives = [t.update_rows() for t in self.trainers]
        if all(a is None for a in actives):
            return
        # a run with nothing to update takes part masked: its rows do not change
        masks = [
            np.zeros(len(t.members), bool) if a is None else a
            for t, a in zip(self.trainers, actives, strict=True)
        ]
        active_t = torch.from_numpy(np.concatenate(masks)).to(self.lead.device)
        blocks = self._blocks()
        for _ in range(self.lead.config.gradient_steps):
            drawn = [t.draw_batch(m) for t, m in zip(self.trainers, masks, strict=True)]
            transitions = {k: np.concatenate([d[0][k] for d in drawn]) for k in drawn[0][0]}
            noise = np.concatenate([d[1] for d in drawn])
            with matmuls_on(self.lead.update_matmuls):
                metrics = self.agent.update(
                    to_batch(transitions, self.lead.device),
                    torch.from_numpy(noise).to(self.lead.device),
                    active_t,
                )
            for t, a, block in zip(self.trainers, actives, blocks, strict=True):
                if a is not None:
                    t.record_update({k: v[block] for k, v in metrics.items()}, a)

    # -- to total_steps
    def run(self) -> None:
        """Train every run to ``total_steps``, with checkpoints and a progress bar."""
        for t in self.trainers:
            t.warn_if_not_resumable()
        cfg = self.lead.config
        started = last_checkpoint = time.perf_counter()
        first_step = self.lead.step
        seeds = ",".join(str(t.config.seed) for t in self.trainers)
        bar = tqdm(
            total=cfg.total_steps,
            initial=first_step,
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
            disable=not self.progress,
            desc=f"{cfg.algo} {cfg.env}" + (f" seeds {seeds}" if len(self.trainers) > 1 else ""),
        )
        while self.lead.step < cfg.total_steps:
            self.advance()
            now = time.perf_counter()
            if all(t.checkpoint_due(now - last_checkpoint) for t in self.trainers):
                self.checkpoint()
                last_checkpoint = time.perf_counter()
            step = self.lead.step
            if step % 100 == 0 or step == cfg.total_steps:
                live = sum(len(t.members.live_rows()) for t in self.trainers)
                rate = (step - first_step) * live / max(now - started, 1e-9)
                returns = " ".join(f"{t.members.parent.last_return:.1f}" for t in self.trainers)
                bar.set_postfix(
                    members=live, agent_steps_s=f"{rate:.0f}", last_return=returns, refresh=False
                )
                bar.update(step - bar.n)
            if step % 1000 == 0:
                for t in self.trainers:
                    rate = (step - first_step) * len(t.members) / (now - started)
                    t.scalars.add("parent", "charts/agent_steps_per_s", rate, step)
                    t.scalars.flush()
        bar.close()
        self.scatter()  # every run's final weights are read from its own agent
        for t in self.trainers:
            t.close()

    def checkpoint(self) -> None:
        """Write every run's own checkpoint (each can also be resumed alone)."""
        self.scatter()
        for t in self.trainers:
            t.checkpoint()
