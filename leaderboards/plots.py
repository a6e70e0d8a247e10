"""Leaderboard charts, drawn server-side with matplotlib as SVG text (the agreement dashboard's look)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from leaderboards.ranking import Ranking  # noqa: E402

TEXT, MUTED, GRID, ACCENT = "#e6e9ee", "#8b95a3", "#2b323c", "#5aa9ff"


def _figure(width: float, height: float) -> tuple[Figure, object]:
    figure = Figure(figsize=(width, height), facecolor="none")
    axes = figure.add_subplot()
    axes.set_facecolor("none")
    for spine in axes.spines.values():
        spine.set_color(GRID)
    axes.tick_params(colors=MUTED, labelsize=8)
    return figure, axes


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.tight_layout()
        figure.savefig(buffer, format="svg", transparent=True)
    return buffer.getvalue()


def scores_chart(fitted: Ranking | None) -> str | None:
    """Each generator's score with its bootstrap interval, best at the top. None: nothing to draw."""
    if fitted is None:
        return None
    order = fitted.order[::-1]  # barh draws bottom-up
    figure, axes = _figure(6.0, max(1.6, 0.4 * len(order) + 0.9))
    positions = np.arange(len(order))
    scores = fitted.scores[order]
    errors = np.vstack([scores - fitted.ci_low[order], fitted.ci_high[order] - scores])
    axes.errorbar(scores, positions, xerr=np.clip(errors, 0, None), fmt="o", color=ACCENT, ecolor=TEXT, capsize=3)
    axes.axvline(0.0, color=MUTED, linewidth=0.8, linestyle="--")
    axes.set_yticks(positions, [fitted.generators[index] for index in order])
    axes.set_xlabel(
        f"score (log-strength, mean 0) with {fitted.confidence:.0%} bootstrap interval", color=MUTED, fontsize=8
    )
    return _svg(figure)


def win_rate_heatmap(fitted: Ranking | None) -> str | None:
    """Row generator's win rate against the column generator (ties count half), with n in each cell."""
    if fitted is None:
        return None
    order = fitted.order
    names = [fitted.generators[index] for index in order]
    rates = fitted.win_rate[np.ix_(order, order)]
    counts = fitted.cell_counts[np.ix_(order, order)]
    size = 0.55 * len(order) + 2.0
    figure, axes = _figure(size + 1.0, size)
    image = axes.imshow(np.ma.masked_invalid(rates), vmin=0, vmax=1, cmap="RdBu", aspect="auto")
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    if rates.size <= 400:
        for (row, column), rate in np.ndenumerate(rates):
            if not np.isnan(rate):
                label = f"{rate:.2f}\nn={counts[row, column]:g}"
                axes.text(column, row, label, ha="center", va="center", fontsize=6, color="#06121f")
    colourbar = figure.colorbar(image, ax=axes, fraction=0.04)
    colourbar.ax.tick_params(colors=MUTED, labelsize=7)
    return _svg(figure)
