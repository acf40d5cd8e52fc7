"""Calibration of the barrier estimators on synthetic returns (the numbers in the README).

y[alpha, j] = mu(alpha) + u_j + e[alpha, j]: u_j ~ N(0, 1) a start effect shared by every alpha
(paired episodes, as under common random numbers), e ~ N(0, 1); 21 alphas, 100 episodes, 500
repetitions per case, fixed seeds. The same cases as tests/test_barrier_stats.py.

    python benchmarks/barrier_calibration.py
"""

from __future__ import annotations

import numpy as np

from lmc_rl.measuring import barrier_stats as bs

REPS, N_EPISODES = 500, 100
ALPHAS = np.linspace(0.0, 1.0, 21)


def synthetic(mean_curve: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    start = rng.normal(0.0, 1.0, (REPS, 1, N_EPISODES))
    return mean_curve[None, :, None] + start + rng.normal(0.0, 1.0, (REPS, len(ALPHAS), N_EPISODES))


def main() -> None:
    dip = np.exp(-0.5 * ((ALPHAS - 0.5) / 0.12) ** 2)
    cases = {
        "(a) no barrier": (np.full(len(ALPHAS), 10.0), 1),
        "(b) interior dip, depth 1": (10.0 - dip, 2),
        "(c) straight path 10 -> 12": (10.0 + 2.0 * ALPHAS, 3),
    }
    print(
        f"{REPS} repetitions, {len(ALPHAS)} alphas, {N_EPISODES} episodes, per-episode noise sd 1"
    )
    header = (
        f"{'case':<28}{'true LB':>8}{'plug-in LB':>11}{'cross-fit':>10}{'coverage':>9}"
        f"{'naive B':>9}{'min at end':>11}"
    )
    print(header)
    for name, (curve, seed) in cases.items():
        returns = synthetic(curve, seed)
        truth = float(np.max((1 - ALPHAS) * curve[0] + ALPHAS * curve[-1] - curve))
        gaps = np.stack([bs.linear_gaps(r, ALPHAS) for r in returns])
        fits = bs.crossfit_max_batch(gaps)
        covered = np.mean((fits[:, 1] <= truth + 1e-12) & (truth - 1e-12 <= fits[:, 2]))
        plug_in = gaps.mean(axis=2).max(axis=1).mean()
        means = returns.mean(axis=2)
        naive = ((means[:, 0] + means[:, -1]) / 2 - means.min(axis=1)).mean()
        at_end = bs.min_at_endpoint_batch(returns).mean()
        print(
            f"{name:<28}{truth:>8.3f}{plug_in:>11.3f}{fits[:, 0].mean():>10.3f}{covered:>9.1%}"
            f"{naive:>9.3f}{at_end:>11.1%}"
        )
    print(
        "standard error of one alpha's mean return: "
        f"{np.sqrt(2.0 / N_EPISODES):.3f} (sd of a return sqrt(2) / sqrt({N_EPISODES}))"
    )


if __name__ == "__main__":
    main()
