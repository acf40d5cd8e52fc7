"""The benchmarks' timing in alternation: every candidate goes first in turn, and a ratio is
summarised over paired repeats, not as a ratio of medians."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from paired_timing import in_alternation, medians, paired_ratio  # noqa: E402


def test_each_candidate_leads_in_turn_so_a_steady_drift_biases_none():
    calls = []

    def measure(name):
        def record():
            calls.append(name)
            return float(len(calls))  # a steady drift: every call slower than the last

        return record

    samples = in_alternation({name: measure(name) for name in "abc"}, repeats=3)
    assert calls == list("abcbcacab")
    assert {name: sum(values) for name, values in samples.items()} == {"a": 15, "b": 15, "c": 15}


def test_two_candidates_swap_places_every_repeat():
    calls = []
    in_alternation(
        {
            "ours": lambda: calls.append("ours") or 1.0,
            "floor": lambda: calls.append("floor") or 1.0,
        },
        4,
    )
    assert calls == ["ours", "floor", "floor", "ours", "ours", "floor", "floor", "ours"]


def test_a_paired_ratio_is_the_median_of_each_repeats_ratio():
    times, reference = [2.0, 4.0, 9.0], [1.0, 4.0, 3.0]  # ratios 2, 1, 3
    ratio = paired_ratio(times, reference)
    assert (ratio.median, ratio.low, ratio.high) == (2.0, 1.0, 3.0)
    assert medians({"t": times})["t"] / medians({"r": reference})["r"] != ratio.median  # 4 / 3
    assert str(ratio) == "2.00 [1.00, 3.00]"
