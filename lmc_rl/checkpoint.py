"""Checkpoints of a whole training run, so that a resumed run ends bit for bit as an
uninterrupted one would.

A checkpoint holds every member's learner state, the replay store and views (shared rows once),
every random stream's exact state, each member's env (MuJoCo's full ``mjData`` and the time-limit
counter), counters and the evaluation log. The file is written atomically and carries a SHA-256
digest of its payload, so a truncated or corrupted file is recognised before it is read.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmc_rl.errors import UserError
from lmc_rl.forking import Fork
from lmc_rl.replay import ReplayView
from lmc_rl.runs import atomic_write_bytes
from lmc_rl.seeding import MemberStreams

if TYPE_CHECKING:
    from lmc_rl.training import Trainer

MAGIC = b"LMCRL-CHECKPOINT-1\n"
CHECKPOINT_NAME = "checkpoint.pkl"


# Modules that only parse commands, orchestrate or plot: editing them cannot change results.
_NOT_RESULT_CODE = {"cli.py", "check.py", "__main__.py", "sweep", "analysis"}


def code_fingerprint() -> str:
    """A digest of the source that computes results: a resume with other code could differ."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in _NOT_RESULT_CODE or parts[0].removesuffix(".py") in _NOT_RESULT_CODE:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _generator_states(streams: MemberStreams) -> dict[str, Any]:
    return {name: getattr(streams, name).bit_generator.state for name in ("env", "action", "batch")}


def trainer_state(trainer: Trainer) -> dict[str, Any]:
    """Everything that decides the rest of a run, as plain data."""
    views: list[ReplayView] = []
    for member in trainer.members:
        if not any(member.view is v for v in views):
            views.append(member.view)
    members = []
    for member in trainer.members:
        members.append(
            {
                "name": member.name,
                "seeds": member.streams.seeds,
                "generators": _generator_states(member.streams),
                "view": next(i for i, v in enumerate(views) if v is member.view),
                "random_until": member.random_until,
                "update_after": member.update_after,
                "last_return": member.last_return,
                "fork_id": member.fork.fork_id if member.fork else None,
                "child": member.child,
                "diverged_at": member.diverged_at,
            }
        )
    return {
        "step": trainer.step,
        # clone: a view would pickle the whole flat tensor it belongs to, once per view
        "agent": {k: v.detach().cpu().clone() for k, v in trainer.agent.state_dict().items()},
        "members": members,
        "views": [v.state() for v in views],
        "store": {
            "observations": trainer.store.observations.state(),
            "transitions": trainer.store.transitions.state(),
        },
        "obs_rows": list(trainer.obs_rows),
        "envs": trainer.envs.state(),
        "evaluations": list(trainer.evaluations.rows),
        "random_returns": list(trainer.random_returns),
    }


def restore_trainer(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put a freshly constructed Trainer (same config) into the checkpointed state."""
    from lmc_rl.agents import make_agent
    from lmc_rl.envs import MemberEnvs
    from lmc_rl.training import Member

    store = trainer.store
    store.observations.load_state(state["store"]["observations"])
    store.transitions.load_state(state["store"]["transitions"])
    views = [ReplayView.from_state(store, v) for v in state["views"]]
    forks = {fork.fork_id: fork for fork in trainer.forks.values()}
    members = []
    for m in state["members"]:
        streams = MemberStreams(m["seeds"])
        for name, generator_state in m["generators"].items():
            getattr(streams, name).bit_generator.state = generator_state
        fork: Fork | None = forks.get(m["fork_id"]) if m["fork_id"] is not None else None
        members.append(
            Member(
                m["name"],
                streams,
                views[m["view"]],
                m["random_until"],
                m["update_after"],
                m["last_return"],
                fork,
                m["child"],
                m["diverged_at"],
            )
        )
    trainer.members = members
    agent = make_agent(trainer.config.algo, len(members), trainer.spec)
    agent.load_state_dict(state["agent"])
    trainer.agent = agent.to(trainer.device)
    trainer.envs.close()
    trainer.envs = MemberEnvs(
        trainer.task, trainer.config.max_episode_steps, [m.streams.env for m in members]
    )
    trainer.envs.load_state(state["envs"])
    trainer.obs_rows = list(state["obs_rows"])
    trainer.evaluations.rows = [tuple(row) for row in state["evaluations"]]
    trainer.step = state["step"]
    trainer.random_returns = list(state.get("random_returns", []))


def save_checkpoint(trainer: Trainer, path: Path) -> int:
    """Write atomically; returns the file size in bytes."""
    payload = pickle.dumps(trainer_state(trainer), protocol=pickle.HIGHEST_PROTOCOL)
    data = MAGIC + hashlib.sha256(payload).digest() + payload
    atomic_write_bytes(path, data)
    return len(data)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read and verify a checkpoint; a UserError if it is missing, truncated or corrupted."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read checkpoint {path}: {err.strerror}") from None
    header = len(MAGIC) + 32
    if not data.startswith(MAGIC) or len(data) < header:
        raise UserError(f"checkpoint {path} is not an lmc-rl checkpoint or is truncated")
    payload = data[header:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) : header]:
        raise UserError(f"checkpoint {path} is corrupted or truncated (digest mismatch)")
    try:
        state = pickle.loads(payload)
    except Exception as err:  # a digest match makes this unlikely, but never a traceback
        raise UserError(f"checkpoint {path} does not load ({type(err).__name__})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise UserError(f"checkpoint {path} holds no run state")
    return state


def has_mujoco_state(trainer: Trainer) -> bool:
    return all(hasattr(env.unwrapped, "data") for env in trainer.envs.envs)
