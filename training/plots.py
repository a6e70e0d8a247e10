"""Loss curves overlaid as SVG (matplotlib, no display)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def loss_curves_svg(*, curves: dict[str, list[tuple[int, float]]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.5))
    for label, points in curves.items():
        if points:
            axes.plot([step for step, _ in points], [loss for _, loss in points], label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    if any(curves.values()):
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "no per-step losses logged", ha="center", va="center", transform=axes.transAxes)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]
