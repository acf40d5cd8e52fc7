"""Our training loop is Stable-Baselines3's: what it collects, stores, samples and when it updates.

Why: tests/test_sb3_parity.py shows one update is SB3's; a whole run can still differ in the loop
around it (warm-up length, when updates start, episode resets, what a transition stores, how a
minibatch is drawn). Here SB3's own ``learn`` runs on our parent's random streams from the same
weights at the sizes users run (Hopper-v5, 256 x 256; SAC and TD3), and so does our Trainer
(``benchmarks/loop_parity.py``, which also runs it for thousands of steps).

- The uniform-random warm-up involves no float arithmetic of the learners, so both replay
  buffers must be bit for bit the same there, resets and terminations included.
- From the first policy action on, the two compute matmuls in different orders and MuJoCo
  amplifies the difference; so ours is held against a control, our own loop started from weights
  moved by one float step: ours must stay as close to SB3 as to that control. A loop that
  updates every other step is caught.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import loop_parity  # noqa: E402

WARM_UP, STEPS = 300, 340
CONTROL_FACTOR, FLOOR = 4.0, 1e-4


@pytest.fixture(scope="module", params=["SAC", "TD3"])
def loops(request, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    workdir = tmp_path_factory.mktemp("loops")
    config = loop_parity.loop_config(
        request.param, STEPS, WARM_UP, seed=1, env_id="Hopper-v5", workdir=workdir
    )
    try:
        torch.set_num_threads(1)
        sb3, initial = loop_parity.sb3_side(config)
        ours = loop_parity.our_side(config, initial)
        nudged = loop_parity.our_side(config, initial, nudge=True)
        every_other = loop_parity.our_side(config.replace(train_freq=2), initial)
    finally:
        torch.set_num_threads(threads)
    return sb3, ours, nudged, every_other, initial


def test_the_warm_up_stores_sb3s_transitions_bit_for_bit_and_the_policy_takes_over_alike(loops):
    sb3, ours, *_ = loops
    gaps = loop_parity.transition_gaps(ours, sb3)
    assert sum(ours.transitions["terminated"][:WARM_UP]) >= 5  # resets happened in the warm-up
    for key, gap in gaps.items():
        assert not gap[:WARM_UP].any(), key
    assert gaps["action"][WARM_UP] < 1e-6  # the first policy action, before any update


def test_after_the_warm_up_ours_is_as_close_to_sb3_as_rounding_allows(loops):
    sb3, ours, nudged, _, initial = loops
    gaps = loop_parity.network_gaps(ours, sb3, initial)
    control = loop_parity.network_gaps(nudged, ours, initial)
    for name, gap in gaps.items():
        assert gap <= CONTROL_FACTOR * control[name] + FLOOR, (name, gap, control[name])
    data = loop_parity.transition_gaps(ours, sb3)
    data_control = loop_parity.transition_gaps(ours, nudged)
    for key in data:
        assert data[key].max() <= CONTROL_FACTOR * data_control[key].max() + FLOOR, key


def test_the_comparison_catches_a_loop_that_updates_every_other_step(loops):
    sb3, ours, nudged, every_other, initial = loops
    gaps = loop_parity.network_gaps(every_other, sb3, initial)
    control = loop_parity.network_gaps(nudged, ours, initial)
    assert all(gaps[n] > CONTROL_FACTOR * control[n] + FLOOR for n in gaps), (gaps, control)
    if "log_ent_coef" in gaps:
        assert np.isclose(gaps["log_ent_coef"], 0.5, atol=0.1)  # half the temperature steps
