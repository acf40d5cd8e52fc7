"""Our training loop is Stable-Baselines3's: what it collects, stores, samples and when it updates.

Why: tests/test_sb3_parity.py shows one update is SB3's; a whole run can still differ in the loop
around it (warm-up length, when updates start, episode resets and time limits, what a transition
stores, how a minibatch is drawn). Here SB3's ``learn`` runs on our parent's random streams from
the same weights at the sizes users run (Hopper-v5, 256 x 256; SAC and TD3), and so does our
Trainer (``benchmarks/loop_parity.py``, which also runs it for thousands of steps).

- The uniform-random warm-up involves no float arithmetic of the learners, so both replay
  buffers must be bit for bit the same there, resets, terminations and truncations included.
- From the first policy action on, the two compute in different orders and MuJoCo amplifies the
  difference; so ours is held against a control, our own loop started from weights moved by one
  float step: ours must stay within a few times the control's distance from SB3. A loop that
  updates every other step is caught.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import loop_parity  # noqa: E402

WARM_UP, STEPS = 300, 340
CONTROL_FACTOR, FLOOR = 4.0, 1e-4
# (algorithm, time limit): Hopper's own limit, and one short enough that many episodes end by
# truncation, whose transitions must be bootstrapped and keep their true final observation
CASES = [("SAC", 1000), ("TD3", 1000), ("SAC", 20)]


@dataclass
class Loops:
    time_limit: int
    sb3: loop_parity.Side
    ours: loop_parity.Side
    nudged: loop_parity.Side  # the control
    every_other: loop_parity.Side  # ours, updating every other step
    initial: dict


@pytest.fixture(scope="module", params=CASES, ids=[f"{a}-limit{n}" for a, n in CASES])
def loops(request, tmp_path_factory) -> Loops:
    import torch

    algo, time_limit = request.param
    config = loop_parity.loop_config(
        algo, STEPS, WARM_UP, 1, "Hopper-v5", tmp_path_factory.mktemp("loops"), time_limit
    )
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        sb3, initial = loop_parity.sb3_side(config)
        return Loops(
            time_limit,
            sb3,
            loop_parity.our_side(config, initial),
            loop_parity.our_side(config, initial, nudge=True),
            loop_parity.our_side(config.replace(train_freq=2), initial),
            initial,
        )
    finally:
        torch.set_num_threads(threads)


def test_the_warm_up_stores_sb3s_transitions_bit_for_bit_and_the_policy_takes_over_alike(loops):
    gaps = loop_parity.transition_gaps(loops.ours, loops.sb3)
    for key, gap in gaps.items():
        assert not gap[:WARM_UP].any(), key
    assert gaps["action"][WARM_UP] < 1e-6  # the first policy action, before any update
    stored = {k: v[:WARM_UP] for k, v in loops.ours.transitions.items()}
    episode_ends = (stored["next_obs"][:-1] != stored["obs"][1:]).any(axis=1)
    truncations = episode_ends & (stored["terminated"][:-1] == 0)
    assert episode_ends.sum() >= 5  # the comparison covers resets
    if loops.time_limit < WARM_UP:
        assert truncations.sum() >= 3  # and time limits (SB3 stores the true final obs)


def test_after_the_warm_up_ours_is_as_close_to_sb3_as_rounding_allows(loops):
    gaps = loop_parity.network_gaps(loops.ours, loops.sb3, loops.initial)
    control = loop_parity.network_gaps(loops.nudged, loops.ours, loops.initial)
    for name, gap in gaps.items():
        assert gap <= CONTROL_FACTOR * control[name] + FLOOR, (name, gap, control[name])
    data = loop_parity.transition_gaps(loops.ours, loops.sb3)
    data_control = loop_parity.transition_gaps(loops.ours, loops.nudged)
    for key in data:
        assert data[key].max() <= CONTROL_FACTOR * data_control[key].max() + FLOOR, key


def test_the_comparison_catches_a_loop_that_updates_every_other_step(loops):
    gaps = loop_parity.network_gaps(loops.every_other, loops.sb3, loops.initial)
    control = loop_parity.network_gaps(loops.nudged, loops.ours, loops.initial)
    assert all(gaps[n] > CONTROL_FACTOR * control[n] + FLOOR for n in gaps), (gaps, control)
    if "log_ent_coef" in gaps:
        assert np.isclose(gaps["log_ent_coef"], 0.5, atol=0.1)  # half the temperature steps
