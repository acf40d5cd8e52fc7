"""Our whole training loop against Stable-Baselines3's, step by step, on the same randomness.

Why: the update is SB3's (tests/test_sb3_parity.py), yet a loop can still differ in what it
collects, stores, samples or when it updates. Here SB3's ``learn`` runs on our run's random
streams: its initial weights are copied into our parent, its env is reset with our reset seeds,
its minibatch indices and its update noise (SAC's reparameterisation, TD3's target smoothing)
are our draws, and its action choice (``_sample_action``) is replaced by SB3's formula on our
draws: uniform in the warm-up, then ``tanh(mean + std * eps)`` (SAC) or
``clip(actor(s) + noise_std * eps)`` (TD3). That replacement skips SB3's float32 rescaling to
the action bounds, which is the identity up to rounding on Hopper's [-1, 1] and would otherwise
part the two in the last bit from the first step. Everything else is SB3's: when it acts
randomly and when it updates, its episode handling, its buffer, its update.

Both replay buffers must then hold the same transitions and both agents the same weights, up
to rounding: from the first policy action on, the two compute in different orders and MuJoCo
amplifies the last bits, so ours is held against a control, our own loop from weights one float
step away. A loop difference shows up as a gap well beyond the control's. Not exercised: a
buffer that wraps around (SB3 gets one the size of the run).

    python benchmarks/loop_parity.py --steps 3000 --learning_starts 1000            # SAC
    python benchmarks/loop_parity.py --algo TD3 --steps 3000 --learning_starts 1000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from lmc_rl import RunConfig, build_config
from lmc_rl.records.layout import RunPaths
from lmc_rl.training.envs import ActionScaler
from lmc_rl.training.lockstep import Lockstep
from lmc_rl.training.seeding import parent_streams
from lmc_rl.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from sb3_models import sb3_model  # noqa: E402
from sb3_side_by_side import (  # noqa: E402
    DrawQueue,
    Network,
    copy_into_ours,
    our_networks,
    relative_gap,
    sb3_networks,
)


class OurResets(gym.Wrapper):
    """Resets the env with our parent's episode seeds, whatever seed SB3 asks for."""

    def __init__(self, env: gym.Env, rng: np.random.Generator) -> None:
        super().__init__(env)
        self.rng = rng

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=int(self.rng.integers(2**31 - 1)))


@dataclass
class Side:
    """What one implementation's loop left: its replay buffer in insertion order, its networks
    in our layout, SAC's temperature and its wall time."""

    transitions: dict[str, np.ndarray]
    networks: dict[str, Network]
    log_ent_coef: float | None
    seconds: float


def loop_config(
    algo: str,
    steps: int,
    learning_starts: int,
    seed: int,
    env_id: str,
    workdir: Path,
    max_episode_steps: int = 1000,
) -> RunConfig:
    """Our run's settings: one update per env step, no forks or checkpoints, and (what no
    comparison reads) one evaluation at the end."""
    settings = {
        "max_episode_steps": max_episode_steps,
        "env": env_id,
        "algo": algo,
        "seed": seed,
        "total_steps": steps,
        "learning_starts": learning_starts,
        "train_freq": 1,
        "gradient_steps": 1,
        "eval_freq": 10 * steps,
        "fork_points": "",
        "checkpoint_every": "none",
        "output_dir": str(workdir),
    }
    return build_config(settings)


def sb3_side(config: RunConfig) -> tuple[Side, dict[str, Network]]:
    """SB3's ``learn`` (SAC or TD3) with every random choice taken from our parent's streams;
    also returns SB3's initial networks (the weights both sides start from)."""
    from stable_baselines3.common.monitor import Monitor

    algo = config.algo
    streams = parent_streams(config.seed)  # a copy of the streams our parent will use
    env = OurResets(
        Monitor(gym.make(config.env, max_episode_steps=config.max_episode_steps)), streams.env
    )
    model = sb3_model(
        algo,
        env,
        hidden_dims=tuple(config.hidden_dims),
        seed=config.seed,
        buffer_size=config.total_steps,
        learning_starts=config.learning_starts,
        batch_size=config.batch_size,
        train_freq=1,
        gradient_steps=1,
    )
    action_dim = env.action_space.shape[0]
    scaler = ActionScaler(env.action_space.low, env.action_space.high)
    queue = DrawQueue()

    def sample_action(learning_starts, action_noise=None, n_envs=1):
        """Our parent's action: uniform during warm-up, else the policy with our noise."""
        if model.num_timesteps < learning_starts:
            action = streams.action.uniform(-1.0, 1.0, action_dim).astype(np.float32)
        else:
            eps = torch.from_numpy(streams.action.standard_normal(action_dim, dtype=np.float32))
            obs = torch.as_tensor(model._last_obs, dtype=torch.float32)
            with torch.no_grad():
                if algo == "SAC":
                    mean, log_std, _ = model.actor.get_action_dist_params(obs)
                    action = torch.tanh(mean + log_std.exp() * eps)
                else:
                    action = (model.actor(obs) + config.noise_std * eps).clamp(-1.0, 1.0)
            action = action[0].numpy()
        return scaler.to_env(action)[None], action[None]

    def sample_batch(batch_size, env=None):
        """Our minibatch rows and update noise, drawn in our order."""
        buffer = model.replay_buffer
        rows = streams.batch.integers(0, buffer.size(), size=batch_size)
        if algo == "SAC":
            noise = streams.batch.standard_normal((2, batch_size, action_dim), dtype=np.float32)
            eps_next, eps_pi = torch.from_numpy(noise)
            queue.refill([eps_pi, eps_next])  # SB3 draws for the current state first
        else:
            noise = streams.batch.standard_normal((batch_size, action_dim), dtype=np.float32)
            queue.refill([torch.from_numpy(noise)])
        return buffer._get_samples(rows)

    model._sample_action = sample_action
    model.replay_buffer.sample = sample_batch
    initial = sb3_networks(model, algo)
    started = time.perf_counter()
    with queue.installed():
        model.learn(total_timesteps=config.total_steps, progress_bar=False)
    seconds = time.perf_counter() - started
    buffer, n = model.replay_buffer, config.total_steps
    transitions = {
        "obs": buffer.observations[:n, 0].astype(np.float32),
        "action": buffer.actions[:n, 0],
        "reward": buffer.rewards[:n, 0],
        "next_obs": buffer.next_observations[:n, 0].astype(np.float32),
        "terminated": buffer.dones[:n, 0] * (1 - buffer.timeouts[:n, 0]),
    }
    log_ent_coef = float(model.log_ent_coef.detach()[0]) if algo == "SAC" else None
    return Side(transitions, sb3_networks(model, algo), log_ent_coef, seconds), initial


def our_side(config: RunConfig, initial: dict[str, Network], nudge: bool = False) -> Side:
    """Our Trainer from the given initial networks (``nudge``: each weight moved by one float
    step, the size of a rounding difference)."""
    paths = RunPaths.create(config)
    trainer = Trainer(config, paths, progress=False)
    if nudge:
        initial = {
            name: [
                tuple(torch.nextafter(t, torch.full_like(t, np.inf)) for t in layer)
                for layer in net
            ]
            for name, net in initial.items()
        }
    copy_into_ours(initial, trainer.agent, config.algo)
    try:
        started = time.perf_counter()
        trainer.start()
        while trainer.step < config.total_steps:
            Lockstep([trainer]).advance()
        seconds = time.perf_counter() - started
        transitions = trainer.store.gather(trainer.members[0].view.rows())
        networks = {
            name: [(w.clone(), b.clone()) for w, b in net]
            for name, net in our_networks(trainer.agent, config.algo).items()
        }
        agent = trainer.agent
        log_ent_coef = float(agent.log_ent_coef.detach()[0]) if config.algo == "SAC" else None
    finally:
        trainer.close()
    return Side(transitions, networks, log_ent_coef, seconds)


def transition_gaps(a: Side, b: Side) -> dict[str, np.ndarray]:
    """Per stored transition, the largest ``|a - b|`` of each field."""
    n = len(a.transitions["obs"])
    return {
        key: np.abs(a.transitions[key].reshape(n, -1) - b.transitions[key].reshape(n, -1)).max(1)
        for key in a.transitions
    }


def network_gaps(a: Side, b: Side, initial: dict[str, Network]) -> dict[str, float]:
    """Per network, ``|a - b| / |b - initial|``; and the temperature's ``|a - b| / |b|``."""
    gaps = {
        name: relative_gap(a.networks[name], b.networks[name], initial[name]) for name in initial
    }
    if a.log_ent_coef is not None:
        gaps["log_ent_coef"] = abs(a.log_ent_coef - b.log_ent_coef) / abs(b.log_ent_coef)
    return gaps


def compare(config: RunConfig) -> dict[str, dict]:
    """Ours against SB3, and ours against ours nudged by one float step (the control: how far
    rounding alone parts two runs of the same loop over the same steps)."""
    torch.set_num_threads(1)
    sb3, initial = sb3_side(config)
    ours = our_side(config, initial)
    nudged = our_side(config, initial, nudge=True)
    return {
        "seconds": {"sb3": sb3.seconds, "ours": ours.seconds},
        "transitions": transition_gaps(ours, sb3),
        "networks": network_gaps(ours, sb3, initial),
        "control_transitions": transition_gaps(ours, nudged),
        "control_networks": network_gaps(nudged, ours, initial),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="Env steps of each loop.")
    parser.add_argument(
        "--learning_starts", type=int, default=1000, help="Uniform random steps before updates."
    )
    parser.add_argument("--seed", type=int, default=1, help="Our run seed (streams).")
    parser.add_argument("--env", default="Hopper-v5", help="Gymnasium task.")
    parser.add_argument("--algo", default="SAC", choices=("SAC", "TD3"), help="Algorithm.")
    parser.add_argument(
        "--max_episode_steps",
        type=int,
        default=1000,
        help="Time limit; a short one makes episodes end by truncation (bootstrapped).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = loop_config(
            args.algo,
            args.steps,
            args.learning_starts,
            args.seed,
            args.env,
            Path(tmp),
            args.max_episode_steps,
        )
        report = compare(config)
    seconds = report["seconds"]
    print(
        f"{args.env} {args.algo}, {args.steps} steps ({args.learning_starts} uniform random "
        f"first), 256x256: SB3 {seconds['sb3']:.1f} s, ours {seconds['ours']:.1f} s"
    )
    print("\nlargest |difference| of a stored transition, per window of env steps:")
    print("  ours - SB3: obs, action, reward, terminated | control, ours - ours nudged: same")
    window = max(args.steps // 20, 1)
    keys = ("obs", "action", "reward", "terminated")
    for start in range(0, args.steps, window):
        cells = [
            report[part][k][start : start + window].max()
            for part in ("transitions", "control_transitions")
            for k in keys
        ]
        print(
            f"{start:7d}-{start + window - 1:<7d}",
            " ".join(f"{c:8.1e}" for c in cells[:4]),
            "|",
            " ".join(f"{c:8.1e}" for c in cells[4:]),
        )
    print(
        "\nnetworks at the end, |ours - SB3| / |SB3 - initial|  (control: |nudged - ours| / "
        "|ours - initial|):"
    )
    for name, gap in report["networks"].items():
        print(f"  {name:16s} {gap:9.2e}   control {report['control_networks'][name]:9.2e}")


if __name__ == "__main__":
    main()
