"""Run directories, atomic result files, and saved agents that load back as policies.

Layout (the prototype's names)::

    {output_dir}/results/{experiment_name}/{env}/{algo}/seed_{seed}_{timestamp}/
        config.json  evaluations.csv  tensorboard/
    {output_dir}/model_weights/{experiment_name}/{env}/{algo}/seed_{seed}_{timestamp}/
        final.pt
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmc_rl.agents import Agent, AgentSpec, make_agent
from lmc_rl.config import RunConfig
from lmc_rl.envs import ActionScaler, TaskSpec
from lmc_rl.errors import UserError

EVALUATION_COLUMNS = ("member", "step", "mean_return", "std_return", "n_episodes")
AGENT_FILE_FORMAT = "lmc-rl-agent/1"


def parent_snapshot_name(step: int) -> str:
    """File name of the parent's agent saved by ``--save_every`` at env step ``step``."""
    return f"parent_step{step}.pt"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync and rename: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("lmc-rl", "torch", "gymnasium", "mujoco", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class RunPaths:
    results: Path
    weights: Path

    @classmethod
    def create(cls, config: RunConfig) -> RunPaths:
        """Fresh, uniquely named directories for a new run."""
        tail = Path(config.experiment_name) / config.env / config.algo
        stamp = time.strftime("%Y%m%d_%H%M%S")
        root = Path(config.output_dir)
        for attempt in range(1000):
            name = f"seed_{config.seed}_{stamp}" + (f"_{attempt}" if attempt else "")
            results = root / "results" / tail / name
            try:
                results.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                continue
            except OSError as err:
                raise UserError(f"--output_dir: cannot create {results}: {err.strerror}") from None
            return cls(results, root / "model_weights" / tail / name)
        raise UserError(f"--output_dir: too many runs named seed_{config.seed}_{stamp}")

    @property
    def config_file(self) -> Path:
        return self.results / "config.json"

    @property
    def evaluations_file(self) -> Path:
        return self.results / "evaluations.csv"

    @property
    def tensorboard_dir(self) -> Path:
        return self.results / "tensorboard"


class EvaluationLog:
    """evaluations.csv, rewritten atomically after every evaluation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[tuple] = []

    def add(self, member: str, step: int, returns: np.ndarray) -> None:
        self.rows.append(
            (member, step, float(np.mean(returns)), float(np.std(returns)), len(returns))
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
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


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
        action = self.scaler.to_env(self.agent.act(x, noise)[0].numpy())
        return action[0] if single else action


def load_agent(path: str | Path) -> Policy:
    """Load a file written by ``save_agent`` (final.pt, fork1_{id}.pt, ...) as a ``Policy``."""
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


# ---------------------------------------------------------------------------------------------
# finished runs, read back from their files


@dataclass(frozen=True)
class RunRecord:
    """A run as found on disk: its config, its directories and what config.json says of it."""

    config: RunConfig
    paths: RunPaths
    record: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.record.get("status") == "finished"


def load_run(results_dir: str | Path) -> RunRecord:
    """Read a run's config.json; a UserError says what is missing or unreadable."""
    from lmc_rl.config import build_config

    results = Path(results_dir)
    if not results.is_dir():
        raise UserError(f"--results_dir: {results} is not a directory")
    config_file = results / "config.json"
    try:
        record = json.loads(config_file.read_text())
        raw = dict(record["config"])
    except FileNotFoundError:
        raise UserError(
            f"--results_dir: {results} has no config.json (not a run directory?)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(
            f"--results_dir: {config_file} is unreadable ({type(err).__name__})"
        ) from None
    raw["device"] = "cpu"  # analysis of a copied run must not depend on the machine it ran on
    raw["output_dir"] = "."
    try:
        config = build_config(raw)
    except UserError as err:
        raise UserError(f"--results_dir: {config_file} holds an invalid config ({err})") from None
    return RunRecord(config, RunPaths(results, _weights_dir(results, record)), record)


def _weights_dir(results: Path, record: dict[str, Any]) -> Path:
    """The run's model_weights folder: beside results/ as the layout puts it (so a copied tree
    still works), else where config.json recorded it."""
    parts = results.resolve().parts
    if "results" in parts:
        i = len(parts) - 1 - parts[::-1].index("results")
        sibling = Path(*parts[:i], "model_weights", *parts[i + 1 :])
        if sibling.is_dir():
            return sibling
    return Path(record.get("weights_dir", results / "model_weights"))
