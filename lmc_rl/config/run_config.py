"""Typed run configuration: the one place where every default lives.

A value is resolved in three layers: the dataclass default, then a YAML file (``--config``), then
command-line flags. Every field is a YAML key and a flag of the same name.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import secrets
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmc_rl.config.errors import UserError
from lmc_rl.config.fork_noise import ForkNoise
from lmc_rl.config.tasks import check_task

ALGOS = ("SAC", "TD3", "DDPG")
# Adam step size when --learning_rate is not given (SAC: Haarnoja et al.; TD3/DDPG: Fujimoto et al.)
DEFAULT_LEARNING_RATES = {"SAC": 3e-4, "TD3": 1e-3, "DDPG": 1e-3}
BUFFER_STRATEGIES = ("copy", "fresh", "shared", "split")
EVAL_STOPPING = ("none", "verdict")
CPU_MATMUL_CHOICES = ("auto", "mkl")  # lmc_rl.learners.matmul routes the updates by this
DEFAULT_FORK_POINTS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def _f(default: Any, help: str, **extra: Any) -> Any:
    """A config field with its help text; ``affects_results=False`` marks where and how fast a
    run executes (a resume may change it; a sweep finds a run regardless of it), ``none_means``
    says in help texts what a value of None stands for (and, for ``ent_coef``, is the word that
    gives it), ``aliases`` are further flag names (and YAML keys, without the dashes), and
    ``at_least`` is the smallest valid value (checked by ``validate``)."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what a run computes (plus where it writes)."""

    # --- task and algorithm
    env: str = _f("InvertedDoublePendulum-v5", "Gymnasium task id with a Box action space.")
    algo: str = _f("SAC", "Algorithm: SAC, TD3 or DDPG.")
    seed: int | None = _f(
        None,
        "Run seed; drawn at random (1..1000000) and recorded if not given.",
        none_means="random",
    )
    # --- schedule (all counted in environment steps of one agent)
    total_steps: int = _f(200_000, "Environment steps each agent is trained for.", at_least=1)
    learning_starts: int = _f(
        10_000, "Steps of uniform random actions before the first update.", at_least=0
    )
    train_freq: int = _f(2, "Env steps between two rounds of gradient updates.", at_least=1)
    gradient_steps: int = _f(1, "Gradient updates per round.", at_least=1)
    eval_freq: int = _f(
        1000,
        "Env steps between periodic evaluations of every member (and at the final step).",
        at_least=1,
    )
    num_eval_episodes_periodic: int = _f(10, "Episodes per periodic evaluation.", at_least=1)
    max_episode_steps: int = _f(
        1000, "Time limit of an episode (truncation, which bootstraps).", at_least=1
    )
    # --- forking and instability analysis
    fork_points: tuple[float, ...] = _f(
        DEFAULT_FORK_POINTS,
        "Fractions of total_steps at which the parent forks into two children, comma separated, "
        "or 'none'.",
    )
    fork_buffer_strategy: str = _f("copy", "Replay data of children: copy, fresh, shared or split.")
    fork_noise: ForkNoise = _f(
        ForkNoise.parse("all"),
        "Random sources that differ between the two children of a fork: all, none, or a comma "
        "list of env (reset seeds), action (exploration), batch (minibatches and update noise).",
    )
    children: int = _f(
        2,
        "Children per fork (>= 2). All train in the lockstep population; every pair of a fork "
        "is interpolated and evaluated. The prototype's fields describe the pair (1, 2).",
        at_least=2,
    )
    forks: tuple[int, ...] = _f(
        (),
        "A piece of the run: ids (1 = earliest) into the full schedule of --fork_points of the "
        "forks this run computes; the parent trains only as far as they need. Pieces of one run "
        "join with `lmc-rl merge` (docs/pieces.md). Empty: every fork.",
    )
    num_eval_episodes: int = _f(
        100, "Episodes per interpolated policy in the instability analysis.", at_least=1
    )
    alpha_points: int = _f(101, "Evenly spaced interpolation coefficients in [0, 1].", at_least=2)
    stability_threshold: float = _f(
        0.05,
        "A fork is 'connected' if its linear barrier's 95% interval lies below this share of "
        "the learned return (endpoint mean minus a random policy's return), 'barrier' if above; "
        "the prototype's naive is_stable compares the normalized instability with it "
        "(Frankle: 0.02).",
        at_least=0,
    )
    eval_stopping: str = _f(
        "none",
        "none: every interpolated policy plays num_eval_episodes episodes; verdict: episodes "
        "come in looks of 10, 20, 40, ... up to num_eval_episodes, and a fork stops once its "
        "verdict is connected or barrier (each look's interval at confidence 1 - 0.05/looks, "
        "so repeated looks err no more often than one).",
    )
    solved_return: float | None = _f(
        None,
        "Return of a solved episode: children less than half-way from a random policy to it "
        "are 'untrained'.",
        none_means="the task's known solved return (InvertedPendulum-v5 1000, "
        "InvertedDoublePendulum-v5 9360, per 1000 steps), else the run's best evaluation",
    )
    critic_threshold: float = _f(
        0.1,
        "The critic is connected along a path if its TD-error barrier, relative to the "
        "children's own mean squared TD error, is below this (0.1: 5 % in root-mean-square TD "
        "error, the return's default 5 %; docs/critic-barrier.md).",
        at_least=0,
    )
    eval_workers: int = _f(
        0,
        "Processes for the instability evaluation (0: one per core).",
        affects_results=False,
        at_least=0,
    )
    # --- learner
    buffer_size: int = _f(1_000_000, "Replay capacity of each agent (FIFO).", at_least=1)
    batch_size: int = _f(256, "Minibatch size of an update.", at_least=1)
    hidden_dims: tuple[int, ...] = _f((256, 256), "Hidden layer widths of actor and critics.")
    learning_rate: float | None = _f(
        None,
        "Adam step size of actor and critics.",
        none_means="per algorithm: "
        + ", ".join(f"{algo} {lr:g}" for algo, lr in DEFAULT_LEARNING_RATES.items()),
    )
    gamma: float = _f(0.99, "Discount factor.")
    tau: float = _f(0.005, "Polyak coefficient of target network updates.")
    ent_coef: float | None = _f(
        None,
        "SAC temperature: auto (learned, target entropy -|A|) or a fixed number > 0. "
        "Alias: --alpha.",
        aliases=("--alpha",),
        none_means="auto",
    )
    squash_epsilon: float = _f(
        0.0,
        "SAC: constant inside log(1 - tanh(u)^2) of the squashed Gaussian's log-density. 0 is "
        "the exact density; Stable-Baselines3 and CleanRL use 1e-6, which bounds the correction "
        "and stops the entropy term pulling saturated actions back.",
        at_least=0,
    )
    noise_std: float = _f(
        0.1,
        "TD3/DDPG Gaussian exploration noise std, in the normalised [-1, 1] action space (so "
        "half the action range is 1).",
        at_least=0,
    )
    policy_delay: int = _f(2, "TD3: critic updates per actor and target update.", at_least=1)
    target_policy_noise: float = _f(0.2, "TD3: std of target policy smoothing noise.", at_least=0)
    target_noise_clip: float = _f(0.5, "TD3: clip of target policy smoothing noise.", at_least=0)
    # --- where and how
    checkpoint_every: str = _f(
        "15m",
        "Checkpoint the whole run every N env steps ('50000'), every N minutes ('15m'), or "
        "'none'; checkpoints are also written at every fork. Resume with --resume.",
    )
    save_every: int = _f(
        0,
        "Save the parent's agent file every N env steps as model_weights/.../parent_step{N}.pt "
        "(to study paths between checkpoints of one run); 0: never.",
        at_least=0,
    )
    experiment_name: str = _f("base", "Name of the results folder grouping runs.")
    output_dir: str = _f(
        ".", "Folder under which results/ and model_weights/ are written.", affects_results=False
    )
    device: str = _f(
        "auto",
        "Torch device: auto (MPS > CUDA > CPU), cpu, cuda, cuda:N or mps.",
        affects_results=False,
    )
    threads: int = _f(
        0,
        "CPU threads of torch's maths (torch.set_num_threads; 0: torch's default, one per core). "
        "A different count may change the last bits of results; the count used is recorded in "
        "config.json.",
        affects_results=False,
        at_least=0,
    )
    cpu_matmul: str = _f(
        "auto",
        "fp32 matmul library of CPU gradient updates: auto (oneDNN's AVX-512 kernels where a "
        "start-up probe shows they compute exact fp32 and every layer is large enough to keep "
        "members independent; about 2x MKL on AMD CPUs; else MKL) or mkl.",
    )

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def results_identity(self) -> RunConfig:
        """What decides a run's results: this config with every field that only says where and
        how fast it runs (``affects_results=False``) set to its default."""
        return self.replace(
            **{f.name: f.default for f in dataclasses.fields(self) if f.name in PLACEMENT_FIELDS}
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, ForkNoise):
        return str(value)
    return list(value) if isinstance(value, tuple) else value


# Fields that say where and how fast a run executes, not what it computes.
PLACEMENT_FIELDS = tuple(
    f.name for f in dataclasses.fields(RunConfig) if f.metadata.get("affects_results") is False
)
# Other names of a field, as YAML keys (the prototype's ``alpha`` for ``ent_coef``).
KEY_ALIASES = {
    alias.lstrip("-"): f.name
    for f in dataclasses.fields(RunConfig)
    for alias in f.metadata.get("aliases", ())
}


def learning_rate_of(config: RunConfig) -> float:
    """The run's Adam step size: --learning_rate, else its algorithm's default."""
    if config.learning_rate is not None:
        return config.learning_rate
    return DEFAULT_LEARNING_RATES[config.algo.upper()]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------------------------
# parsing: one converter per field type, shared by YAML and CLI


def _parse_scalar(kind: type, name: str, raw: Any) -> Any:
    text = str(raw).strip()
    try:
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError
            try:
                return int(text)
            except ValueError:
                value = float(text)  # accepts 1e4 and 200000.0
                if not value.is_integer():
                    raise
                return int(value)
        if kind is float:
            if isinstance(raw, bool):
                raise ValueError
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if kind is str:
            return text
    except ValueError:
        kind_name = "an integer" if kind is int else "a number"
        raise UserError(f"--{name}: expected {kind_name}, got {raw!r}") from None
    raise TypeError(f"unsupported config type {kind}")


def parse_value(name: str, raw: Any) -> Any:
    """Convert a YAML or command-line value for field ``name`` to its typed form."""
    hint = _field_types()[name]
    if hint is ForkNoise:
        return ForkNoise.parse(raw)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # X | None
        inner = next(a for a in args if a is not type(None))
        word = _FIELDS[name].metadata.get("none_means", "none")
        if raw is None or str(raw).strip().lower() in ("none", "null", "", word):
            return None
        try:
            return _parse_scalar(inner, name, raw)
        except UserError:
            if " " in word or word == "none":
                raise
            raise UserError(f"--{name}: expected {word!r} or a number, got {raw!r}") from None
    if origin is tuple:
        inner = args[0]
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "")):
            return ()
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        return tuple(_parse_scalar(inner, name, item) for item in items if str(item).strip())
    return _parse_scalar(hint, name, raw)


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(RunConfig)


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(RunConfig)]


# keys of ``lmc-rl run`` that choose which runs to make rather than set one run's fields
RUN_GROUP_KEYS = ("seeds",)


def load_yaml_overrides(path: str | Path) -> dict[str, Any]:
    """Read a YAML file of config overrides; every key must be a config field (or one of
    ``RUN_GROUP_KEYS``, which ``lmc-rl run`` takes out before building configs)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"--config: cannot read {path}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        raise UserError(f"--config: {path} is not valid YAML ({first})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"--config: {path} must hold a mapping of config keys, not {type(data).__name__}"
        )
    known = [*field_names(), *KEY_ALIASES, *RUN_GROUP_KEYS]
    for key in data:
        if key not in known:
            raise UserError(
                f"--config: {path} has unknown key {key!r}{did_you_mean(str(key), known)}"
            )
    return {KEY_ALIASES.get(k, k): v for k, v in data.items()}


def build_config(overrides: dict[str, Any]) -> RunConfig:
    """Apply raw overrides (YAML or CLI strings) to the defaults, then validate and resolve."""
    typed = {name: parse_value(name, raw) for name, raw in overrides.items()}
    config = RunConfig(**typed)
    return resolve(validate(config))


def check_at_least(name: str, value: Any) -> Any:
    """``value`` of field ``name``, refused (UserError) below the field's least allowed value."""
    least = {f.name: f for f in dataclasses.fields(RunConfig)}[name].metadata.get("at_least")
    if least is not None and value < least:
        raise UserError(f"--{name}: must be >= {least}, got {value}")
    return value


def validate(config: RunConfig) -> RunConfig:
    """Check every value; raise UserError naming the first bad one."""
    algo = config.algo.upper()
    if algo not in ALGOS:
        raise UserError(
            f"--algo: unknown algorithm {config.algo!r} (choose from {', '.join(ALGOS)})"
        )
    config = config.replace(algo=algo)
    for f in dataclasses.fields(config):
        check_at_least(f.name, getattr(config, f.name))
    if not config.hidden_dims or min(config.hidden_dims) < 1:
        raise UserError(
            f"--hidden_dims: need one or more positive widths, got {config.hidden_dims}"
        )
    if config.learning_rate is not None and config.learning_rate <= 0:
        raise UserError(f"--learning_rate: must be > 0, got {config.learning_rate}")
    if not 0.0 <= config.gamma <= 1.0:
        raise UserError(f"--gamma: must lie in [0, 1], got {config.gamma}")
    if not 0.0 < config.tau <= 1.0:
        raise UserError(f"--tau: must lie in (0, 1], got {config.tau}")
    if config.ent_coef is not None and config.ent_coef <= 0:
        raise UserError(
            f"--ent_coef/--alpha: expected 'auto' or a number > 0, got {config.ent_coef!r}"
        )
    if config.eval_stopping not in EVAL_STOPPING:
        raise UserError(
            f"--eval_stopping: unknown choice {config.eval_stopping!r} "
            f"(choose from {', '.join(EVAL_STOPPING)})"
        )
    if config.solved_return is not None and not math.isfinite(config.solved_return):
        raise UserError(f"--solved_return: must be a finite number, got {config.solved_return}")
    if config.fork_buffer_strategy not in BUFFER_STRATEGIES:
        raise UserError(
            f"--fork_buffer_strategy: unknown strategy {config.fork_buffer_strategy!r} "
            f"(choose from {', '.join(BUFFER_STRATEGIES)})"
        )
    _validate_fork_points(config)
    _validate_piece(config)
    checkpoint_schedule(config)
    if config.seed is not None and not 0 <= config.seed < 2**63:
        raise UserError(f"--seed: must be a non-negative integer, got {config.seed}")
    _validate_device(config.device)
    if config.cpu_matmul not in CPU_MATMUL_CHOICES:
        raise UserError(
            f"--cpu_matmul: unknown choice {config.cpu_matmul!r} "
            f"(choose from {', '.join(CPU_MATMUL_CHOICES)})"
        )
    check_task(config.env)
    return config


def _validate_fork_points(config: RunConfig) -> None:
    points = config.fork_points
    for p in points:
        if not 0.0 < p < 1.0:
            raise UserError(f"--fork_points: {p} is not strictly between 0 and 1")
    steps = [fork_step(p, config.total_steps) for p in sorted(points)]
    if len(set(steps)) != len(steps) or (steps and steps[0] < 1):
        raise UserError(
            f"--fork_points: {','.join(map(str, points))} do not map to distinct steps "
            f">= 1 of total_steps={config.total_steps}"
        )


def _validate_piece(config: RunConfig) -> None:
    n = len(config.fork_points)
    if len(set(config.forks)) != len(config.forks):
        raise UserError(f"--forks: each fork id once, got {','.join(map(str, config.forks))}")
    for fork_id in config.forks:
        if not 1 <= fork_id <= n:
            raise UserError(
                f"--forks: fork id {fork_id} is not in the schedule (ids 1..{n} of "
                f"--fork_points {','.join(map(str, sorted(config.fork_points))) or 'none'})"
            )


def run_identity(config: RunConfig) -> str:
    """The run a config computes, whichever piece of it: a digest of every setting that decides
    results (the seed included, the piece's forks not). Pieces with one identity merge."""
    import hashlib
    import json

    settings = config.results_identity().replace(forks=()).to_dict()
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_schedule(config: RunConfig) -> tuple[int, float]:
    """(every N env steps, every S seconds) from --checkpoint_every; 0 means never."""
    text = config.checkpoint_every.strip().lower()
    if text == "none":
        return 0, 0.0
    try:
        if text.endswith("m"):
            minutes = float(text[:-1])
            if minutes > 0:
                return 0, minutes * 60.0
        elif int(text) > 0:
            return int(text), 0.0
    except ValueError:
        pass
    raise UserError(
        f"--checkpoint_every: expected N (steps), Nm (minutes) or none, got "
        f"{config.checkpoint_every!r}"
    )


def evaluation_due(config: RunConfig, step: int) -> bool:
    """Whether every member is evaluated after env step ``step``: every eval_freq steps, and at
    the final step so that every run records its final returns."""
    return step % config.eval_freq == 0 or step == config.total_steps


def fork_step(point: float, total_steps: int) -> int:
    """The env step at which fraction ``point`` of training forks."""
    return round(point * total_steps)


def _validate_device(device: str) -> None:
    import torch

    if device == "auto" or device == "cpu":
        return
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise UserError("--device: mps was asked for but is not available on this machine")
        return
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device: {device} was asked for but CUDA is not available")
        return
    raise UserError(f"--device: unknown device {device!r} (auto, cpu, cuda, cuda:N or mps)")


def resolve(config: RunConfig) -> RunConfig:
    """Fill in values chosen at run time (a random seed), sort fork points."""
    seed = config.seed if config.seed is not None else secrets.randbelow(1_000_000) + 1
    return config.replace(
        seed=seed,
        fork_points=tuple(sorted(config.fork_points)),
        forks=tuple(sorted(config.forks)),
    )


def resolve_device(name: str) -> str:
    """Map 'auto' to the best available device: MPS, then CUDA, then CPU."""
    import torch

    if name != "auto":
        return name
    if torch.backends.mps.is_available():
        return "mps"
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"
