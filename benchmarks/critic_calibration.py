"""Calibration of the critic barrier (lmc_rl/measuring/critic_barrier.py): the rows in
docs/critic-barrier.md.

Synthetic: squared TD errors with heavy tails (tests/test_critic_barrier.py uses this model too).
The children's TD errors are (s_j z_j)^2, s_j lognormal(0, 0.5), z correlated normals (0.8);
between them, the straight line times a mean-one lognormal factor per transition (no barrier),
plus ``rise`` x the children's mean squared TD error x 4 alpha (1 - alpha), spread over
transitions as exponential weights: the true relative barrier is exactly ``rise``. 21 alphas.

Real (with --returns FILE ...): the per-transition TD errors a run saved (returns_{id}.npz,
``td_errors``) are the population; each repetition draws n transitions from it with
replacement, and the truth is the population's own relative barrier.

    python benchmarks/critic_calibration.py [--reps 200] [--returns forks/returns_1.npz ...]
"""

from __future__ import annotations

import argparse

import numpy as np

from lmc_rl.measuring import barrier_stats as bs
from lmc_rl.measuring.critic_barrier import relative_gaps

ALPHAS = np.linspace(0.0, 1.0, 21)
THRESHOLD = 0.1  # RunConfig.critic_threshold's default
TRANSITIONS = (256, 512, 1024, 2048)
BATCH = 25  # repetitions per crossfit_max_batch call (bounds memory)


def synthetic_td_errors(rise: float, n: int, reps: int, seed: int) -> np.ndarray:
    """``[rep, alpha, transition]`` squared TD errors with heavy tails, true relative barrier
    exactly ``rise`` at alpha 0.5 (model in the module docstring)."""
    rng = np.random.default_rng(seed)
    scale = rng.lognormal(0.0, 0.5, (reps, 1, n))
    z0 = rng.standard_normal((reps, 1, n))
    z1 = 0.8 * z0 + 0.6 * rng.standard_normal((reps, 1, n))
    e0, e1 = np.square(scale * z0), np.square(scale * z1)
    a = ALPHAS[None, :, None]
    bump = 4.0 * a * (1.0 - a)
    line = (1.0 - a) * e0 + a * e1
    spread = 0.5 * bump  # sd of the log factor: mean one, whatever alpha
    wobble = spread * rng.standard_normal((reps, 1, n))
    children_mean = np.exp(2 * 0.5**2)  # E[s^2] E[z^2] for s lognormal(0, 0.5)
    planted = rise * children_mean * bump * rng.exponential(1.0, (reps, 1, n))
    return line * np.exp(wobble - spread**2 / 2) + planted


def calibration_row(td_errors: np.ndarray, truth: float) -> dict[str, float]:
    """Coverage, mean estimate and width, and verdict rates over repetitions."""
    fits = np.concatenate(
        [
            bs.crossfit_max_batch(np.stack([relative_gaps(t, ALPHAS) for t in chunk]))
            for chunk in np.array_split(td_errors, max(1, len(td_errors) // BATCH))
        ]
    )
    estimate, low, high = fits.T
    return {
        "estimate": float(estimate.mean()),
        "coverage": float(np.mean((low <= truth + 1e-12) & (truth - 1e-12 <= high))),
        "width": float(np.mean(high - low)),
        "connected": float(np.mean(high < THRESHOLD)),
        "barrier": float(np.mean(low > THRESHOLD)),
    }


def print_row(case: str, n: int, truth: float, row: dict[str, float]) -> None:
    print(
        f"| {case} | {n} | {truth:.3g} | {row['estimate']:.3f} | {row['coverage']:.1%} | "
        f"{row['width']:.3f} | {row['connected']:.0%} | {row['barrier']:.0%} |"
    )


HEADER = (
    "| case | transitions | true barrier | mean estimate | coverage | mean CI width | "
    "connected | barrier |\n|---|---|---|---|---|---|---|---|"
)


def synthetic_rows(reps: int) -> None:
    print(f"synthetic: {reps} repetitions, {len(ALPHAS)} alphas, threshold {THRESHOLD}")
    print(HEADER)
    identical = synthetic_td_errors(0.0, 1024, reps, seed=10)[:, :1]
    print_row(
        "identical critics", 1024, 0.0, calibration_row(np.repeat(identical, 21, axis=1), 0.0)
    )
    for k, rise in enumerate((0.0, 0.1, 0.3, 1.0)):
        for n in TRANSITIONS:
            td = synthetic_td_errors(rise, n, reps, seed=100 * k + n)
            print_row(f"rise {rise:g}", n, rise, calibration_row(td, rise))


def real_rows(files: list[str], reps: int) -> None:
    print(f"resampled from a run's transitions: {reps} repetitions, threshold {THRESHOLD}")
    print(HEADER)
    rng = np.random.default_rng(0)
    for file in files:
        with np.load(file) as data:
            population = data["td_errors"]
        truth = float(relative_gaps(population, ALPHAS).mean(axis=1).max())
        for n in TRANSITIONS:
            rows = rng.integers(0, population.shape[1], (reps, n))
            draws = np.stack([population[:, r] for r in rows])
            print_row(file, n, truth, calibration_row(draws, truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--returns", nargs="*", default=[], help="returns_{id}.npz files")
    parser.add_argument("--no_synthetic", action="store_true")
    args = parser.parse_args()
    if not args.no_synthetic:
        synthetic_rows(args.reps)
    if args.returns:
        real_rows(args.returns, args.reps)


if __name__ == "__main__":
    main()
