"""Dashboard charts, drawn server-side with matplotlib (Agg backend, no pyplot state) and returned as SVG text.

Sizes are in points and the page shows each SVG at its own size (1 pt = 4/3 CSS px) unless the window is narrower,
so TEXT_SIZE 9 reads as 12 px: every label, tick and number in a heatmap cell stays at least 11 px."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from agreement.report import ExpertAgreement, VariableAgreement  # noqa: E402

TEXT, MUTED, GRID, ACCENT, DIMENSION, BAD = "#e6e9ee", "#8b95a3", "#2b323c", "#5aa9ff", "#a371f7", "#f85149"
TEXT_SIZE = 9
KRIPPENDORFF_LOWEST_ACCEPTABLE = 0.667


def _figure(width: float, height: float) -> tuple[Figure, object]:
    figure = Figure(figsize=(width, height), facecolor="none", layout="constrained")
    axes = figure.add_subplot()
    axes.set_facecolor("none")
    for spine in axes.spines.values():
        spine.set_color(GRID)
    axes.tick_params(colors=MUTED, labelsize=TEXT_SIZE)
    return figure, axes


def _axis_labels(axes, *, x: str, y: str) -> None:
    axes.set_xlabel(x, color=MUTED, fontsize=TEXT_SIZE)
    axes.set_ylabel(y, color=MUTED, fontsize=TEXT_SIZE)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    # Text stays text (not glyph paths): several times smaller and faster, and the browser's font is fine.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", transparent=True)
    return buffer.getvalue()


def alpha_bar_figure(variables: list[VariableAgreement]) -> Figure | None:
    drawn = [variable for variable in variables if variable.alpha is not None]
    if not drawn:
        return None
    figure, axes = _figure(max(5.0, 0.42 * len(drawn) + 1.6), 3.6)
    positions = np.arange(len(drawn))
    alphas = np.array([variable.alpha for variable in drawn])
    low = np.array(
        [variable.alpha - (variable.ci_low if variable.ci_low is not None else variable.alpha) for variable in drawn]
    )
    high = np.array(
        [(variable.ci_high if variable.ci_high is not None else variable.alpha) - variable.alpha for variable in drawn]
    )
    colours = [ACCENT if variable.group == "criteria" else DIMENSION for variable in drawn]
    axes.bar(positions, alphas, color=colours, yerr=np.vstack([low, high]), ecolor=TEXT, capsize=2)
    axes.axhline(KRIPPENDORFF_LOWEST_ACCEPTABLE, color=BAD, linewidth=0.8, linestyle="--")
    axes.axhline(0.0, color=GRID, linewidth=0.8)
    axes.set_xticks(positions, [variable.key for variable in drawn], rotation=90)
    _axis_labels(axes, x="criterion or dimension (error bars: 95% bootstrap interval)", y="Krippendorff's alpha")
    axes.set_ylim(min(-0.2, float(np.min(alphas - low)) - 0.05), 1.0)
    # The key sits above the plot, so the threshold's label can never cover a bar.
    figure.legend(
        handles=[
            Patch(color=ACCENT, label="criterion"),
            Patch(color=DIMENSION, label="dimension"),
            Line2D([], [], color=BAD, linewidth=0.8, linestyle="--", label="0.667: lowest acceptable alpha"),
        ],
        loc="outside upper right",
        ncols=3,
        frameon=False,
        fontsize=TEXT_SIZE,
        labelcolor=MUTED,
    )
    return figure


def alpha_bar_chart(variables: list[VariableAgreement]) -> str | None:
    """Alpha per criterion/dimension with its bootstrap 95% interval as error bars. None: nothing to draw."""
    figure = alpha_bar_figure(variables)
    return None if figure is None else _svg(figure)


def consensus_heatmap_figure(experts: list[ExpertAgreement], keys: list[str]) -> Figure | None:
    if not experts or not keys:
        return None
    values = np.array(
        [
            [
                np.nan if e.consensus_agreement_by_variable.get(k) is None else e.consensus_agreement_by_variable[k]
                for k in keys
            ]
            for e in experts
        ]
    )
    if np.isnan(values).all():
        return None
    figure, axes = _figure(max(5.0, 0.45 * len(keys) + 2.6), max(2.2, 0.4 * len(experts) + 1.6))
    image = axes.imshow(np.ma.masked_invalid(values), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(keys)), keys, rotation=90)
    axes.set_yticks(range(len(experts)), [expert.username for expert in experts])
    _axis_labels(axes, x="criterion or dimension", y="expert")
    if values.size <= 400:
        for (row, column), value in np.ndenumerate(values):
            if not np.isnan(value):
                # viridis is dark below about 0.55: light figures there, dark ones on the yellow-green end
                colour = "#06121f" if value >= 0.55 else "#ffffff"
                axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=TEXT_SIZE, color=colour)
    colourbar = figure.colorbar(image, ax=axes, fraction=0.04)
    colourbar.ax.tick_params(colors=MUTED, labelsize=TEXT_SIZE)
    colourbar.set_label("share agreeing with the others", color=MUTED, fontsize=TEXT_SIZE)
    return figure


def consensus_heatmap(experts: list[ExpertAgreement], keys: list[str]) -> str | None:
    """Expert x criterion share of verdicts matching the other experts' consensus."""
    figure = consensus_heatmap_figure(experts, keys)
    return None if figure is None else _svg(figure)


def position_bias_figure(experts: list[ExpertAgreement]) -> Figure | None:
    drawn = [expert for expert in experts if expert.left_rate is not None]
    if not drawn:
        return None
    figure, axes = _figure(5.5, max(1.9, 0.4 * len(drawn) + 1.1))
    positions = np.arange(len(drawn))
    axes.barh(positions, [expert.left_rate for expert in drawn], color=ACCENT)
    axes.axvline(0.5, color=BAD, linewidth=0.8, linestyle="--")
    axes.set_xlim(0, 1)
    axes.set_yticks(positions, [expert.username for expert in drawn])
    _axis_labels(axes, x="share of decisive verdicts choosing the left video (0.5: no bias)", y="expert")
    return figure


def position_bias_chart(experts: list[ExpertAgreement]) -> str | None:
    """Share of decisive verdicts that chose the left-displayed video, per expert (0.5 = no bias)."""
    figure = position_bias_figure(experts)
    return None if figure is None else _svg(figure)
