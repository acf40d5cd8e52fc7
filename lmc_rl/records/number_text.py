"""Numbers as the reports and messages print them: an estimate and its interval to the same
decimals, counts with the right plural, yes/no for flags. One place, so every table reads alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 pair``, ``3 pairs``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def yes_no(flag: bool | None, missing: str = "–") -> str:
    return missing if flag is None else ("yes" if flag else "no")


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def estimate_with_interval(
    value: float | None, interval: Sequence[float | None] | None, missing: str = "–"
) -> str:
    """``-4.81 [-8.07, 3.92]``: the estimate and both ends to one number of decimals, enough to
    show three significant digits of the interval's width."""
    ends = list(interval or [])
    numbers = [v for v in (value, *ends) if _finite(v)]
    if len(ends) == 2 and all(_finite(e) for e in ends) and ends[1] != ends[0]:
        decimals = max(0, 2 - math.floor(math.log10(abs(ends[1] - ends[0]))))
    elif numbers and max(abs(v) for v in numbers) > 0:
        decimals = max(0, 3 - math.floor(math.log10(max(abs(v) for v in numbers))))
    else:
        decimals = 0

    def text(v: float | None) -> str:
        return f"{v:.{decimals}f}" if _finite(v) else missing

    shown = f"[{text(ends[0])}, {text(ends[1])}]" if len(ends) == 2 else f"[{missing}]"
    return f"{text(value)} {shown}"
