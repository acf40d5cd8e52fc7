"""Timing on a shared machine: several candidates timed in alternation, summarised by the ratios
of their paired repeats.

Why: the neighbours' load on a shared machine drifts within minutes, and it slows elementwise
work far more than compute-bound matmuls. Timing one candidate after the other compares two
states of the machine; timing them in alternation, each repeat in a rotated order, compares
them under the same one, and the ratio of each repeat's pair says how stable that is.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


def time_ms(step: Callable[[], object], iters: int, repeats: int, warmup: int) -> float:
    """Median over ``repeats`` of the mean wall time of one ``step()`` over ``iters`` calls.

    The median of several repeats resists a neighbour's burst on a shared machine; warm-up
    calls let allocator caches and lazy initialisation settle first.
    """
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(iters):
            step()
        samples.append((time.perf_counter() - started) * 1e3 / iters)
    return statistics.median(samples)


def in_alternation(
    measures: Mapping[str, Callable[[], float]], repeats: int
) -> dict[str, list[float]]:
    """Each measurement once per repeat, the order rotated by one every repeat (for two: first
    in even repeats, last in odd ones), so that a steady drift biases none of them."""
    names = list(measures)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(measures[name]())
    return samples


def medians(samples: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Each candidate's median over its repeats."""
    return {name: statistics.median(values) for name, values in samples.items()}


@dataclass(frozen=True)
class PairedRatio:
    """``times / reference`` repeat by repeat: their median and range (the median of the ratios
    is not the ratio of the medians)."""

    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.2f} [{self.low:.2f}, {self.high:.2f}]"


def paired_ratio(times: Sequence[float], reference: Sequence[float]) -> PairedRatio:
    """The per-repeat ratios of two candidates timed in alternation, summarised."""
    ratios = [t / r for t, r in zip(times, reference, strict=True)]
    return PairedRatio(statistics.median(ratios), min(ratios), max(ratios))
