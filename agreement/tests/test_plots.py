"""The dashboard's charts are legible at the size the page shows them: every text at least 11 CSS px (the SVG
is shown at its own size, 1 pt = 4/3 px), both axes labelled, and the threshold's label clear of every bar."""

from __future__ import annotations

import re

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from agreement import plots
from agreement.report import ExpertAgreement, VariableAgreement

KEYS = ["VA1", "VA2", "VA3", "VA4", "VA5", "VA6", "VA7", "VF1", "VF2", "VF3", "VF4", "VF5", "VP1", "VP2", "VP3"]
KEYS += ["VA", "VF", "VP"]
SMALLEST_PX = 11


def variables() -> list[VariableAgreement]:
    """Alphas climbing through the 0.667 threshold, where a label drawn on the plot would sit on a bar."""
    return [
        VariableAgreement(
            key=key, label=key, group="criteria" if len(key) == 3 else "dimensions", level="ordinal",
            alpha=0.45 + 0.03 * index, ci_low=0.4, ci_high=0.98, n_items=40, n_raters=3, fleiss_kappa=None,
            percent_agreement=0.7,
        )
        for index, key in enumerate(KEYS)
    ]  # fmt: skip


def experts() -> list[ExpertAgreement]:
    return [
        ExpertAgreement(
            expert_id=index, username=f"expert-{index}", n_judged=40, consensus_agreement=0.7,
            consensus_agreement_by_variable={key: (0.3 * index + 0.05 * k) % 1 for k, key in enumerate(KEYS)},
            left_rate=0.4 + 0.1 * index, n_decisive=30, comparable_rate=0.2, median_seconds=60.0,
            gold_accuracy=None, n_gold_verdicts=0,
        )
        for index in range(3)
    ]  # fmt: skip


def font_sizes_px(svg: str) -> list[float]:
    """Font sizes of every text of the SVG as displayed at its own size: user units are points."""
    return [float(size) * 4 / 3 for size in re.findall(r"font-size: ([\d.]+)px", svg)]


@pytest.mark.parametrize(
    "chart",
    [
        lambda: plots.alpha_bar_chart(variables()),
        lambda: plots.consensus_heatmap(experts(), KEYS),
        lambda: plots.position_bias_chart(experts()),
    ],
    ids=["alpha", "heatmap", "position"],
)
def test_every_text_of_every_chart_is_at_least_11_px(chart):
    sizes = font_sizes_px(chart())

    assert sizes and min(sizes) >= SMALLEST_PX


def test_every_heatmap_cell_shows_its_number():
    svg = plots.consensus_heatmap(experts(), KEYS)

    assert len(re.findall(r">(0\.\d\d|1\.00)<", svg)) >= len(KEYS) * 3


@pytest.mark.parametrize(
    ("figure", "x_label", "y_label"),
    [
        (lambda: plots.alpha_bar_figure(variables()), "criterion or dimension", "Krippendorff's alpha"),
        (lambda: plots.consensus_heatmap_figure(experts(), KEYS), "criterion or dimension", "expert"),
        (lambda: plots.position_bias_figure(experts()), "left video", "expert"),
    ],
    ids=["alpha", "heatmap", "position"],
)
def test_both_axes_are_labelled(figure, x_label, y_label):
    axes = figure().axes[0]

    assert x_label in axes.get_xlabel() and y_label in axes.get_ylabel()


def test_the_threshold_label_covers_no_bar():
    figure = plots.alpha_bar_figure(variables())
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    axes = figure.axes[0]
    label = next(text for text in figure.legends[0].get_texts() if "0.667" in text.get_text())
    label_box = label.get_window_extent(renderer)

    assert all(not label_box.overlaps(bar.get_window_extent(renderer)) for bar in axes.patches)
    assert label_box.y0 >= axes.get_window_extent(renderer).y1  # above the plot, not on it
