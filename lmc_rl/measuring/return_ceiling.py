"""The ceiling warning: children whose returns already sit at the most the task pays.

A return cannot rise above the task's maximum, and near it many different policies earn the same
return: the interpolated policies between two such children can differ widely as functions and
still all score the maximum, so a flat return path (a ``connected`` verdict) owes as much to the
ceiling as to the path. The warning says so and points to the critic barrier, which still sees
the functions. A child is at a ceiling C when C lies within the episode noise of its mean return
(C - R <= 2 standard errors of the mean over episodes), or within CEILING_TOLERANCE of C (the
task's maximum assumes a perfect start; reset noise costs InvertedDoublePendulum a few units of
its 9360). The ceilings: the task's known maximum (``config.tasks.solved_return``), and the
best periodic evaluation the run saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CEILING_TOLERANCE = 0.001  # of |C|
NOISE_STANDARD_ERRORS = 2.0


@dataclass(frozen=True)
class Saturation:
    """Whether every child sits at a ceiling, which one, and a sentence saying so."""

    saturated: bool
    ceiling: float | None
    reason: str | None


def at_ceiling(mean: float, standard_error: float, ceiling: float) -> bool:
    """True where ``ceiling`` is within the episode noise of a mean return (or just above it)."""
    slack = max(NOISE_STANDARD_ERRORS * standard_error, CEILING_TOLERANCE * abs(ceiling))
    return ceiling - mean <= slack


def saturation(
    children_means: Sequence[float],
    children_standard_errors: Sequence[float],
    task_ceiling: float | None,
    best_return: float | None,
) -> Saturation:
    """Are all children at the task's maximum, or else at the best return the run saw?"""
    children = list(zip(children_means, children_standard_errors, strict=True))
    for ceiling, name in ((task_ceiling, "the task's maximum"), (best_return, "the run's best")):
        if ceiling is None or not children:
            continue
        if all(at_ceiling(m, se, ceiling) for m, se in children):
            returns = ", ".join(f"{m:.5g}" for m, _ in children)
            reason = (
                f"saturated: every child's return ({returns}) is within episode noise of "
                f"{name} {ceiling:.5g}; a flat return path cannot tell the policies apart: "
                "read the critic verdict"
            )
            return Saturation(True, float(ceiling), reason)
    return Saturation(False, None, None)
