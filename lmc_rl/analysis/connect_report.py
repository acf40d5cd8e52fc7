"""Figures and report.md of ``lmc-rl connect``: each path, and the barrier matrix of runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from lmc_rl.analysis.plots import draw_interpolation, save_figure
from lmc_rl.analysis.report import _number, _table
from lmc_rl.measuring.fork_result import ForkResult
from lmc_rl.records.atomic_files import atomic_write_bytes
from lmc_rl.records.number_text import estimate_with_interval

ALIGN_COLORS = {"none": "tab:red", "weight_matching": "tab:blue"}
ALIGN_TITLES = {"none": "no alignment", "weight_matching": "weight matching"}


def _title(result: dict[str, Any]) -> str:
    return f"{result['env']} {result['algo']}"


def path_figure(result: dict[str, Any]) -> Figure:
    """One path: mean return against alpha with its 95% CI band; title states the barrier."""
    fig = Figure(figsize=(7, 4.6), layout="constrained")
    ax = fig.subplots()
    color = ALIGN_COLORS.get(result["align"], "tab:gray")
    path = ForkResult.from_json(result)
    draw_interpolation(ax, path, color=color, label="mean return", band_label="95% CI")
    ax.axhline(result["endpoint_mean_reward"], color="0.3", ls="--", lw=1, label="endpoints' mean")
    ax.plot(result["min_alpha"], result["min_reward"], "v", color="crimson", ms=9, label="minimum")
    ax.set_xlabel(f"α  (0 = {result['a_label']}, 1 = {result['b_label']})")
    ax.set_ylabel(f"mean return ({result['num_eval_episodes']} episodes)")
    ax.set_title(
        f"{ALIGN_TITLES.get(result['align'], result['align'])}: verdict {result.get('verdict')}\n"
        "linear barrier "
        + estimate_with_interval(
            result.get("linear_barrier_crossfit"), result.get("linear_barrier_ci")
        )
        + " (limit "
        f"{_number(result.get('barrier_limit'), 3)}) · prototype's naive instability "
        f"{_number(result.get('instability'), 3)}",
        fontsize="small",
    )
    fig.suptitle(_title(result))
    fig.legend(loc="outside lower center", ncols=4, fontsize="small")
    return fig


VERDICT_SHORT = {"connected": "conn.", "barrier": "barrier", "inconclusive": "incon."}


def barrier_matrix_figure(results: Sequence[dict[str, Any]], labels: Sequence[str]) -> Figure:
    """The cross-fitted linear barrier of every pair of runs (the number the verdict judges,
    not the naive instability, which an endpoint gap fills), one panel per alignment, on one
    colour scale; each cell also names its verdict."""
    aligns = list(dict.fromkeys(r["align"] for r in results))
    n = len(labels)
    index = {label: i for i, label in enumerate(labels)}
    matrices = {a: np.full((n, n), np.nan) for a in aligns}
    verdicts = {a: np.full((n, n), "", dtype=object) for a in aligns}
    for r in results:
        i, j = index[r["a_label"]], index[r["b_label"]]
        value = r.get("linear_barrier_crossfit")
        matrices[r["align"]][i, j] = matrices[r["align"]][j, i] = np.nan if value is None else value
        short = VERDICT_SHORT.get(r.get("verdict") or "", r.get("verdict") or "")
        verdicts[r["align"]][i, j] = verdicts[r["align"]][j, i] = short
    for m in matrices.values():
        np.fill_diagonal(m, 0.0)
    vmax = max(float(np.nanmax(m)) for m in matrices.values())
    vmax = vmax if np.isfinite(vmax) and vmax > 0 else 1.0
    fig = Figure(figsize=(3.2 * len(aligns) + 1.2, 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(aligns)))
    image = None
    for ax, align in zip(axes, aligns, strict=True):
        image = ax.imshow(matrices[align], cmap=colormaps["magma_r"], vmin=0.0, vmax=vmax)
        for i in range(n):
            for j in range(n):
                value = matrices[align][i, j]
                dark = value > 0.6 * vmax
                ax.text(
                    j,
                    i,
                    f"{value:.0f}\n{verdicts[align][i, j]}" if i != j else "",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if dark else "black",
                )
        ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize="small")
        ax.set_yticks(range(n), labels, fontsize="small")
        ax.set_title(ALIGN_TITLES.get(align, align), fontsize="medium")
    fig.colorbar(image, ax=list(axes), label="linear barrier (cross-fitted, return)", shrink=0.9)
    fig.suptitle(f"{_title(results[0])}: barrier between final agents of runs")
    return fig


def _path_rows(results: Sequence[dict[str, Any]]) -> list[str]:
    header = [
        "path",
        "A",
        "B",
        "alignment",
        "R(0)",
        "R(1)",
        "min on path",
        "at α",
        "95% CI of R at min",
        "linear barrier [95% CI]",
        "limit",
        "naive instability (prototype)",
        "normalized",
        "naive stable (prototype)",
    ]
    rows = []
    for r in results:
        at_min = next(p for p in r["interpolation"] if p["alpha"] == r["min_alpha"])
        rows.append(
            [
                f"[{r['key']}](interp_{r['key']}.png)",
                r["a_label"],
                r["b_label"],
                r["align"],
                _number(r["fork1_reward"]),
                _number(r["fork2_reward"]),
                _number(r["min_reward"]),
                _number(r["min_alpha"], 2),
                f"{_number(at_min['ci95_low'])} … {_number(at_min['ci95_high'])}",
                estimate_with_interval(
                    r.get("linear_barrier_crossfit"), r.get("linear_barrier_ci")
                ),
                _number(r.get("barrier_limit")),
                _number(r["instability"]),
                _number(r["normalized_instability"], 3),
                "yes" if r["is_stable"] else "no",
                f"**{r.get('verdict')}**",
            ]
        )
    header.append("verdict")
    for row in [header, *rows]:  # the verdict leads, after the path's identity
        row.insert(1, row.pop())
    return _table(header, rows)


def write_connect_report(out: Path, results: list[dict[str, Any]], mode: dict[str, Any]) -> None:
    """interp_{key}.png per path, barrier_matrix.png for --runs, and report.md."""
    figures = []
    for r in results:
        name = f"interp_{r['key']}.png"
        save_figure(path_figure(r), out / name)
        figures.append(name)
    lines = [f"# lmc-rl connect: {_title(results[0])}", ""]
    if mode["mode"] == "runs":
        save_figure(barrier_matrix_figure(results, mode["labels"]), out / "barrier_matrix.png")
        pairs = zip(mode["labels"], mode["runs"], strict=True)
        lines += ["Runs (final agents):", "", *(f"- {label}: `{d}`" for label, d in pairs), ""]
        lines += ["![barrier matrix](barrier_matrix.png)", ""]
    elif "labels" in mode:
        ends = zip("AB", mode["labels"], (mode["a"], mode["b"]), strict=True)
        lines += [*(f"- {end}: {label}, `{file}`" for end, label, file in ends), ""]
    r0 = results[0]
    lines += [
        f"Every path evaluated on the same {r0['num_eval_episodes']} episodes (evaluation seed "
        f"{r0['seed']}) at {r0['alpha_points']} values of α. The verdict judges the cross-fitted "
        "linear barrier (the largest drop below the straight line between A and B) with its 95% "
        f"interval against the limit {r0['stability_threshold']} × "
        f"{r0.get('barrier_scale_kind') or '|endpoint mean|'}: `connected` below, `barrier` "
        "above, `inconclusive` across. The prototype's naive instability = mean(R(0), R(1)) − "
        "min_α R(α), normalized by |mean(R(0), R(1))|, naive stable if ≤ the threshold: no "
        "interval, and an endpoint gap counts. Weight matching permutes B's hidden units to "
        "match A (Ainsworth et al. 2023, Algorithm 1) before interpolating.",
        "",
        *_path_rows(results),
        "",
        "Figures: " + ", ".join(f"[{f}]({f})" for f in figures),
    ]
    atomic_write_bytes(out / "report.md", ("\n".join(lines) + "\n").encode())
