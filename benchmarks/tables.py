"""The tables every benchmark writes: markdown and CSV, into ``benchmarks/out/`` by default.

Why one module: a dozen scripts print a markdown table and keep a copy of it; one writer gives
them one format and one place (``OUT``, ignored by git) so that a table is found where the
others are.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table of already formatted cells, ending in a newline."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: Sequence[dict], fieldnames: Sequence[str] | None = None) -> None:
    """``rows`` as CSV with the first row's keys as columns (or ``fieldnames``); nothing is
    written for no rows unless the columns are given."""
    if not rows and fieldnames is None:
        return
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fieldnames or rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_lines(name: str, lines: Sequence[str], out: Path = OUT) -> Path:
    """Keep a printed table as ``out/name`` (one line each, a final newline); its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text("\n".join(lines) + "\n")
    return path
