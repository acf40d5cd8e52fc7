"""Calibration of the return verdict on synthetic paths of known truth (docs/calibration.md).

A path of 21 alphas between children returning about 1000, a random policy returning 0, so the
limit is 0.05 x 1000 = 50. Episode j's return at alpha is mu(alpha) + u_j + e_j(alpha): u_j ~
N(0, 50^2) a start effect shared by every alpha and pair (common random numbers), e ~ N(0, 50^2)
independent. Each case is judged as ``measure_path`` judges it (the cross-fitted linear barrier's
interval against the limit, ``barrier_stats.verdict``), and reports per N:

    coverage        P(interval holds the true linear barrier)            should be >= 95 %
    connected, barrier, inconclusive, diverged   how often each verdict was given
    false barrier   P(barrier) where the truth is at or below the limit  should be <= 2.5 %
    false connected P(connected) where the truth is at or above the limit should be <= 2.5 %

It then judges the finite cases again with sequential evaluation (--eval_stopping verdict) and
reports the episodes used, and calibrates the failure-rate verdict.

    python benchmarks/barrier_calibration.py [--reps 1000] [--children_reps 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lmc_rl.measuring import barrier_stats as bs
from lmc_rl.measuring.fork_result import combine_pairs, measure_path

ALPHAS = np.linspace(0.0, 1.0, 21)
THRESHOLD, RETURN, SD = 0.05, 1000.0, 50.0
LIMIT = THRESHOLD * RETURN
NS = (5, 10, 20, 100)


def bump(center: float) -> np.ndarray:
    """A dip of depth 1 below the straight line at ``center`` (0 at both endpoints)."""
    b = np.exp(-0.5 * ((ALPHAS - center) / 0.12) ** 2)
    b = b - ((1 - ALPHAS) * b[0] + ALPHAS * b[-1])
    return b / b.max()


def true_linear_barrier(mu: np.ndarray) -> float:
    return float(np.max((1 - ALPHAS) * mu[0] + ALPHAS * mu[-1] - mu))


@dataclass(frozen=True)
class Case:
    """A path: its mean curve, the random policy's return, and how episodes are drawn."""

    name: str
    mu: np.ndarray
    random_return: float = 0.0
    failure: float = 0.0  # P(an interior episode fails and returns 10 % of its mean)
    spoil: Callable[[np.ndarray], None] | None = None  # changes the returns in place
    truth: float | None = None  # None: the linear barrier of the mean curve


def _catastrophe(y: np.ndarray) -> None:
    y[..., 10, 0] = 0.0  # one episode at alpha 0.5 returns nothing


def _nan(y: np.ndarray) -> None:
    y[..., 10, 0] = np.nan


def _posinf(y: np.ndarray) -> None:
    y[..., 0, 1] = np.inf


def _neginf(y: np.ndarray) -> None:
    y[..., 6, 2] = -np.inf


def cases() -> list[Case]:
    flat = np.full(len(ALPHAS), RETURN)
    out = [
        Case("flat", flat),
        Case("straight 1000 -> 500", RETURN - 500.0 * ALPHAS),
        Case("endpoint mean 0 (+500 -> -500)", 500.0 - 1000.0 * ALPHAS, random_return=-1000.0),
        Case("negative returns (-1000, random -2000)", flat - 2000.0, random_return=-2000.0),
    ]
    for depth in (0.05, 0.20, 0.50):
        for center in (0.5, 0.3):
            label = f"dip {depth:.0%} at alpha {center}" + (" (= limit)" if depth == 0.05 else "")
            out.append(Case(label, flat - depth * RETURN * bump(center)))
    plateau = flat.copy()
    plateau[(ALPHAS >= 0.25) & (ALPHAS <= 0.75)] -= LIMIT  # 11 alphas tied at the limit
    out.append(Case("plateau at the limit, alpha 0.25-0.75", plateau))
    interior_mu = flat.copy()
    for p in (0.02, 0.10):
        mu = interior_mu.copy()
        mu[1:-1] -= p * 0.9 * RETURN
        out.append(Case(f"{p:.0%} interior failures", mu, failure=p))
    out.append(Case("one catastrophic episode", flat, spoil=_catastrophe, truth=0.0))
    for name, spoil in (("NaN", _nan), ("+inf", _posinf), ("-inf", _neginf)):
        out.append(Case(f"{name} return", flat, spoil=spoil, truth=0.0))
    return out


def draw(case: Case, reps: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``[rep, alpha, episode]`` returns of the case."""
    y = case.mu[None, :, None] + rng.normal(0.0, SD, (reps, 1, n))
    y = y + rng.normal(0.0, SD, (reps, len(ALPHAS), n))
    if case.failure:  # mu is the mixture's mean; an episode that does not fail is 0.9 p R above
        fails = rng.random((reps, len(ALPHAS), n)) < case.failure
        fails[:, [0, -1]] = False
        y[:, 1:-1] += case.failure * 0.9 * RETURN
        y = np.where(fails, 0.1 * y, y)
    if case.spoil:
        case.spoil(y)
    return y


def judge_batch(case: Case, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The verdict of every repetition and its interval, as ``measure_path`` gives them (two
    children): the cross-fitted interval against the limit on the learned return."""
    if not np.isfinite(y).all():  # the non-finite cases go through measure_path itself
        results = [measure_path(r, ALPHAS, threshold=THRESHOLD, random_return=0.0) for r in y]
        ci = np.array([r.linear_barrier_ci or [np.nan, np.nan] for r in results], dtype=float)
        return np.array([r.verdict for r in results]), ci
    gaps = np.stack([bs.linear_gaps(r, ALPHAS) for r in y])
    fits = bs.crossfit_max_batch(gaps)
    endpoint = (y[:, 0].mean(axis=1) + y[:, -1].mean(axis=1)) / 2.0
    verdicts = [
        bs.verdict((lo, hi), bs.barrier_limit(THRESHOLD, e, case.random_return))[0]
        for (_, lo, hi), e in zip(fits, endpoint, strict=True)
    ]
    return np.array(verdicts), fits[:, 1:]


def judge_sequential(case: Case, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``--eval_stopping verdict``: look at 10, 20, 40, ... episodes (``bs.stopping_looks``),
    each look's interval at ``bs.look_confidence``; a repetition stops at its first decided
    look. Returns the verdicts, the intervals it stopped with and the episodes it used."""
    reps, _, n = y.shape
    looks = bs.stopping_looks(n)
    confidence = bs.look_confidence(len(looks))
    verdicts = np.full(reps, "", dtype=object)
    ci = np.full((reps, 2), np.nan)
    used = np.zeros(reps, dtype=int)
    gaps = np.stack([bs.linear_gaps(r, ALPHAS) for r in y])
    for look in looks:
        open_ = verdicts == ""
        fits = bs.crossfit_max_batch(gaps[open_][:, :, :look], confidence)
        part = y[open_][:, :, :look]
        endpoint = (part[:, 0].mean(axis=1) + part[:, -1].mean(axis=1)) / 2.0
        rows = np.flatnonzero(open_)
        for row, (_, lo, hi), e in zip(rows, fits, endpoint, strict=True):
            verdict = bs.verdict((lo, hi), bs.barrier_limit(THRESHOLD, e, case.random_return))[0]
            if bs.decided(verdict) or look == looks[-1]:
                verdicts[row], ci[row], used[row] = verdict, (lo, hi), look
    return verdicts.astype(str), ci, used


def judge_children(case: Case, children: int, reps: int, n: int, rng: np.random.Generator):
    """``children`` children per fork, each child's mean 1000 + N(0, 30^2); every pair's path
    is the straight line between its children minus the case's dip; a child's returns are
    the same data in every pair it belongs to (same policy, same episode seeds)."""
    dip = (1 - ALPHAS) * case.mu[0] + ALPHAS * case.mu[-1] - case.mu
    verdicts, intervals = [], []
    pairs = [(a, b) for a in range(1, children + 1) for b in range(a + 1, children + 1)]
    for _ in range(reps):
        means = RETURN + rng.normal(0.0, 30.0, children)
        start = rng.normal(0.0, SD, n)
        ends = {c: means[c - 1] + start + rng.normal(0.0, SD, n) for c in range(1, children + 1)}
        results = {}
        for a, b in pairs:
            line = (1 - ALPHAS) * means[a - 1] + ALPHAS * means[b - 1] - dip
            y = line[:, None] + start[None, :] + rng.normal(0.0, SD, (len(ALPHAS), n))
            y[0], y[-1] = ends[a], ends[b]
            results[(a, b)] = measure_path(y, ALPHAS, threshold=THRESHOLD, random_return=0.0)
        fork = combine_pairs(results[(1, 2)], results, threshold=THRESHOLD, random_return=0.0)
        verdicts.append(fork.verdict)
        intervals.append(fork.barrier_interval)
    return np.array(verdicts), np.array(intervals, dtype=float)


def row(name: str, n: int, children: int, reps: int, truth: float, verdicts, ci) -> str:
    share = {v: float(np.mean(verdicts == v)) for v in bs.VERDICTS}
    covered = float(np.mean((ci[:, 0] <= truth) & (truth <= ci[:, 1])))
    at_or_below, at_or_above = truth <= LIMIT + 1e-9, truth >= LIMIT - 1e-9
    checks = []
    if share["diverged"] == 0:
        checks.append(covered >= 0.95)
    if at_or_below:
        checks.append(share["barrier"] <= 0.025)
    if at_or_above:
        checks.append(share["connected"] <= 0.025)
    ok = "yes" if all(checks) else "NO"
    return (
        f"| {name} | {n} | {children} | {reps} | {truth:.1f} | {covered:.1%} | "
        f"{share['connected']:.1%} | {share['barrier']:.1%} | {share['inconclusive']:.1%} | "
        f"{share['diverged']:.1%} | {ok} |"
    )


def failure_rows(reps: int, rng: np.random.Generator) -> None:
    """The failure-rate verdict: every interior alpha fails with probability p, the children
    never (true failure-rate barrier p), judged against a rise of THRESHOLD."""
    print("\n| interior failure rate | N | reps | coverage | connected | barrier | inconclusive |")
    print("|---|---|---|---|---|---|---|")
    for p in (0.0, 0.02, 0.10, 0.30):
        for n in (20, 100):
            rate = np.full(len(ALPHAS), p)
            rate[[0, -1]] = 0.0
            flags = rng.random((reps, len(ALPHAS), n)) < rate[None, :, None]
            fits = [bs.failure_rate_barrier(f, ALPHAS) for f in flags]
            verdicts = np.array([bs.failure_verdict(f, THRESHOLD)[0] for f in fits])
            covered = np.mean([f.low <= p <= f.high for f in fits])
            shares = " | ".join(
                f"{np.mean(verdicts == v):.1%}" for v in ("connected", "barrier", "inconclusive")
            )
            print(f"| {p:.0%} | {n} | {reps} | {covered:.1%} | {shares} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="Repetitions per case and N.")
    parser.add_argument("--children_reps", type=int, default=200, help="... with 3-4 children.")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.time()
    print(
        f"21 alphas, threshold {THRESHOLD}, children ~{RETURN:g}, random policy 0 (limit "
        f"{LIMIT:g}), start effect and episode noise sd {SD:g} each; seed {args.seed}"
    )
    print(
        "| case | N | children | reps | true LB | coverage | connected | barrier | "
        "inconclusive | diverged | within bounds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in cases():
        truth = true_linear_barrier(case.mu) if case.truth is None else case.truth
        for n in NS:
            finite = case.spoil in (None, _catastrophe)
            reps = args.reps if finite else min(args.reps, 100)  # else a deterministic verdict
            verdicts, ci = judge_batch(case, draw(case, reps, n, rng))
            print(row(case.name, n, 2, reps, truth, verdicts, ci), flush=True)
    shared = ("flat", "dip 5% at alpha 0.5 (= limit)", "dip 20% at alpha 0.5")
    for case in [c for c in cases() if c.name in shared]:
        truth = true_linear_barrier(case.mu)
        for children in (3, 4):
            for n in (20, 100):
                verdicts, ci = judge_children(case, children, args.children_reps, n, rng)
                print(row(case.name, n, children, args.children_reps, truth, verdicts, ci))
    print("\nWith --eval_stopping verdict (looks at 10, 20, 40, 80, 100 episodes; N is the most):")
    print(
        "| case | N | reps | true LB | coverage | connected | barrier | inconclusive | "
        "within bounds | mean episodes |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in cases():
        if case.spoil not in (None, _catastrophe):
            continue  # non-finite: diverged at the first look
        truth = true_linear_barrier(case.mu) if case.truth is None else case.truth
        for n in (20, 100):
            verdicts, ci, used = judge_sequential(case, draw(case, args.reps, n, rng))
            cells = row(case.name, n, 2, args.reps, truth, verdicts, ci).split(" | ")
            cells = [cells[0], cells[1], *cells[3:9], cells[10].rstrip(" |")]
            print(" | ".join(cells) + f" | {used.mean():.1f} |", flush=True)
    failure_rows(min(args.reps, 500), rng)
    print(f"\n{time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
