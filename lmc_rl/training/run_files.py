"""A run's files with a format of their own: the evaluation log, config.json, and saved agents
that load back as policies. Where each file lives: ``lmc_rl.records.layout``; reading a run folder
back: ``lmc_rl.records.run_record``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmc_rl.config.errors import UserError
from lmc_rl.config.run_config import RunConfig
from lmc_rl.config.tasks import TaskSpec
from lmc_rl.learners.agents import Agent, AgentSpec, make_agent
from lmc_rl.records.atomic_files import atomic_write_bytes, atomic_write_json
from lmc_rl.records.layout import EVALUATION_COLUMNS, RunPaths
from lmc_rl.records.provenance import library_versions
from lmc_rl.training.envs import ActionScaler

AGENT_FILE_FORMAT = "lmc-rl-agent/1"
CHECKSUM_KEY = "sha256"  # of everything else the file holds (``agent_checksum``)
_noted_without_checksum: set[str] = set()


class EvaluationLog:
    """evaluations.csv, rewritten atomically after every evaluation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[tuple] = []

    def add(self, member: str, step: int, returns: np.ndarray) -> None:
        self.rows.append(
            # sample std (ddof 1), as every other spread of returns the package writes
            (
                member,
                step,
                float(np.mean(returns)),
                float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0,
                len(returns),
            )
        )

    def flush(self) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(EVALUATION_COLUMNS)
        for member, step, mean, std, n in self.rows:
            writer.writerow((member, step, repr(mean), repr(std), n))
        atomic_write_bytes(self.path, buffer.getvalue().encode())


def write_run_config(paths: RunPaths, config: RunConfig, extra: dict[str, Any]) -> None:
    atomic_write_json(
        paths.config_file,
        {
            "config": config.to_dict(),
            **extra,
            "versions": library_versions(),
            "results_dir": str(paths.results.resolve()),
            "weights_dir": str(paths.weights.resolve()),
        },
    )


# ---------------------------------------------------------------------------------------------
# saved agents


def save_agent(path: Path, agent: Agent, member: int, task: TaskSpec, info: dict[str, Any]) -> None:
    """Save one member's complete learner state, loadable by ``load_agent``."""
    single = agent.take([member]).to("cpu")
    payload = {
        "format": AGENT_FILE_FORMAT,
        "algo": agent.algo,
        "spec": agent.spec.to_dict(),
        "env": task.env_id,
        "action_low": task.action_low.tolist(),
        "action_high": task.action_high.tolist(),
        "state_dict": single.state_dict(),
        "info": info,
    }
    _write_agent_payload(path, payload)


def rename_agent_file(source: Path, target: Path, **info: Any) -> None:
    """``source``'s agent saved as ``target`` with the ``info`` fields given changed (its member
    name, its fork id): the bytes ``save_agent`` writes for that agent under that name, as when
    the forks of a finished run take their ids in a larger schedule (``lmc-rl fork``)."""
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"{source} is not a readable agent file ({type(err).__name__})") from None
    _verify_checksum(source, payload)
    payload.pop(CHECKSUM_KEY, None)
    payload["info"] = {**payload["info"], **info}
    _write_agent_payload(target, payload)


def _write_agent_payload(path: Path, payload: dict[str, Any]) -> None:
    """The agent file's bytes: the payload and, last, its checksum."""
    payload[CHECKSUM_KEY] = agent_checksum(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def agent_checksum(payload: dict[str, Any]) -> str:
    """SHA-256 of an agent file's content: every tensor's name, dtype, shape and bytes, and the
    metadata; a changed byte anywhere in them changes it (torch.load itself checks nothing)."""
    digest = hashlib.sha256()
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", CHECKSUM_KEY)}
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for name in sorted(payload["state_dict"]):
        tensor = payload["state_dict"][name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _verify_checksum(path: Path, payload: dict[str, Any]) -> None:
    """A corrupted file is one clear error; a file written before checksums loads, noted once."""
    recorded = payload.get(CHECKSUM_KEY)
    if recorded is None:
        if str(path) not in _noted_without_checksum:
            _noted_without_checksum.add(str(path))
            print(
                f"lmc-rl: note: {path} carries no checksum (written before lmc-rl recorded "
                "one); loaded unverified",
                file=sys.stderr,
            )
        return
    try:
        actual = agent_checksum(payload)
    except Exception:  # a state that cannot even be hashed is damaged too
        actual = None
    if actual != recorded:
        raise UserError(
            f"{path} is corrupted: its content does not match the SHA-256 recorded in it"
        )


class Policy:
    """A saved agent as a policy: raw observation in, action within the task's bounds out."""

    def __init__(self, agent: Agent, env_id: str, scaler: ActionScaler, info: dict[str, Any]):
        self.agent = agent
        self.env_id = env_id
        self.scaler = scaler
        self.info = info

    @torch.no_grad()
    def act(
        self, obs: np.ndarray, deterministic: bool = True, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Action for one observation ``[obs_dim]`` or a batch ``[B, obs_dim]``."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        x = torch.from_numpy(obs.reshape(1, -1 if single else obs.shape[0], obs.shape[-1]))
        noise = None
        if not deterministic:
            rng = rng or np.random.default_rng()
            noise = torch.from_numpy(
                rng.standard_normal((*x.shape[:2], self.agent.spec.action_dim), dtype=np.float32)
            )
        action = self.scaler.to_env(self.agent.act(x, noise)[0].numpy()).astype(np.float32)
        return action[0] if single else action  # float32, as a MuJoCo task's Box holds


def load_agent(path: str | Path) -> Policy:
    """Load a file written by ``save_agent`` (final.pt, fork{id}_child1.pt, ...) as a ``Policy``."""
    agent, payload = load_agent_state(path)
    scaler = ActionScaler(np.array(payload["action_low"]), np.array(payload["action_high"]))
    return Policy(agent, payload["env"], scaler, payload.get("info", {}))


def load_agent_state(path: str | Path) -> tuple[Agent, dict[str, Any]]:
    """The saved member as a K=1 agent (full learner state) and the file's metadata."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"no agent file at {path}") from None
    except Exception as err:
        raise UserError(f"{path} is not a readable agent file ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != AGENT_FILE_FORMAT:
        raise UserError(f"{path} is not an lmc-rl agent file")
    _verify_checksum(path, payload)
    try:
        agent = make_agent(
            payload["algo"],
            1,
            AgentSpec(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in payload["spec"].items()}
            ),
        )
        agent.load_state_dict(payload["state_dict"])
    except Exception as err:
        raise UserError(f"{path} holds an agent that does not load ({err})") from None
    return agent, payload
