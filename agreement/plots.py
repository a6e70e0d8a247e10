"""Dashboard charts, drawn server-side with matplotlib (Agg backend, no pyplot state) and returned as SVG text."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from agreement.report import ExpertAgreement, VariableAgreement  # noqa: E402

TEXT, MUTED, GRID, ACCENT, BAD = "#e6e9ee", "#8b95a3", "#2b323c", "#5aa9ff", "#f85149"


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
    # Text stays text (not glyph paths): several times smaller and faster, and the browser's font is fine.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.tight_layout()
        figure.savefig(buffer, format="svg", transparent=True)
    return buffer.getvalue()


def alpha_bar_chart(variables: list[VariableAgreement]) -> str | None:
    """Alpha per criterion/dimension with its bootstrap 95% interval as error bars. None: nothing to draw."""
    drawn = [variable for variable in variables if variable.alpha is not None]
    if not drawn:
        return None
    figure, axes = _figure(max(4.0, 0.42 * len(drawn) + 1.2), 3.0)
    positions = np.arange(len(drawn))
    alphas = np.array([variable.alpha for variable in drawn])
    low = np.array(
        [variable.alpha - (variable.ci_low if variable.ci_low is not None else variable.alpha) for variable in drawn]
    )
    high = np.array(
        [(variable.ci_high if variable.ci_high is not None else variable.alpha) - variable.alpha for variable in drawn]
    )
    colours = [ACCENT if variable.group == "criteria" else "#a371f7" for variable in drawn]
    axes.bar(positions, alphas, color=colours, yerr=np.vstack([low, high]), ecolor=TEXT, capsize=2)
    axes.axhline(0.667, color=BAD, linewidth=0.8, linestyle="--")
    axes.text(len(drawn) - 0.5, 0.68, "0.667: Krippendorff's lowest acceptable", color=BAD, fontsize=7, ha="right")
    axes.axhline(0.0, color=GRID, linewidth=0.8)
    axes.set_xticks(positions, [variable.key for variable in drawn], rotation=90)
    axes.set_ylabel("Krippendorff's alpha", color=MUTED, fontsize=8)
    axes.set_ylim(min(-0.2, float(np.min(alphas - low)) - 0.05), 1.0)
    return _svg(figure)


def consensus_heatmap(experts: list[ExpertAgreement], keys: list[str]) -> str | None:
    """Expert x criterion share of verdicts matching the other experts' consensus."""
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
    figure, axes = _figure(max(4.0, 0.4 * len(keys) + 2.0), max(1.6, 0.35 * len(experts) + 1.0))
    image = axes.imshow(np.ma.masked_invalid(values), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(keys)), keys, rotation=90)
    axes.set_yticks(range(len(experts)), [expert.username for expert in experts])
    if values.size <= 400:
        for (row, column), value in np.ndenumerate(values):
            if not np.isnan(value):
                axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=6, color="#06121f")
    colourbar = figure.colorbar(image, ax=axes, fraction=0.04)
    colourbar.ax.tick_params(colors=MUTED, labelsize=7)
    return _svg(figure)


def position_bias_chart(experts: list[ExpertAgreement]) -> str | None:
    """Share of decisive verdicts that chose the left-displayed video, per expert (0.5 = no bias)."""
    drawn = [expert for expert in experts if expert.left_rate is not None]
    if not drawn:
        return None
    figure, axes = _figure(5.0, max(1.5, 0.35 * len(drawn) + 0.8))
    positions = np.arange(len(drawn))
    axes.barh(positions, [expert.left_rate for expert in drawn], color=ACCENT)
    axes.axvline(0.5, color=BAD, linewidth=0.8, linestyle="--")
    axes.set_xlim(0, 1)
    axes.set_yticks(positions, [expert.username for expert in drawn])
    axes.set_xlabel("share choosing the left video", color=MUTED, fontsize=8)
    return _svg(figure)
