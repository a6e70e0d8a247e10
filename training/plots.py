"""Training curves as SVG (matplotlib, no display): a job's own curves, and several models' losses overlaid."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams["svg.fonttype"] = "none"  # titles and labels stay text: smaller, selectable, readable by tests

MAX_POINTS = 400  # per series: a long run's metrics.jsonl is thinned, keeping its first and last points
MARKER_BELOW = 30  # series with fewer points get markers, so a one-line run still shows its point


def _thinned(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = len(points) / (MAX_POINTS - 1)
    return [points[int(index * stride)] for index in range(MAX_POINTS - 1)] + [points[-1]]


def plot_series(axes, points: list[tuple[int, float]], label: str) -> None:
    points = _thinned(points)
    marker = "o" if len(points) < MARKER_BELOW else None
    axes.plot([step for step, _ in points], [value for _, value in points], label=label, marker=marker,
              markersize=3)


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def curve_series(records: list[dict]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """metrics.jsonl records grouped into panels: loss, reward, accuracy, learning rate; each panel maps a
    metric name to its (step, value) points. A stage's own ``stage/loss`` copies are left out (``loss`` has
    them all)."""
    panels: dict[str, dict[str, list[tuple[int, float]]]] = {
        "loss": {}, "reward": {}, "accuracy": {}, "learning rate": {}}
    for record in records:
        step = record.get("step")
        if not isinstance(step, int):
            continue
        for key, value in record.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or key == "step":
                continue
            if key == "loss":
                panel = "loss"
            elif key == "learning_rate":
                panel = "learning rate"
            elif "reward" in key and key.endswith("mean") or key.endswith("/reward"):
                panel = "reward"
            elif "accuracy" in key:
                panel = "accuracy"
            else:
                continue
            panels[panel].setdefault(key, []).append((step, float(value)))
    return {name: series for name, series in panels.items() if series}


def training_curves_svg(*, records: list[dict]) -> str:
    """One small chart per panel that has data, side by side; a note when nothing is logged yet."""
    panels = curve_series(records)
    if not panels:
        figure, axes = plt.subplots(figsize=(6, 1.2))
        axes.axis("off")
        axes.text(0.5, 0.5, "no training metrics logged yet", ha="center", va="center", transform=axes.transAxes)
        return _svg(figure)
    figure, axes_row = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.6), squeeze=False)
    for axes, (name, series) in zip(axes_row[0], panels.items(), strict=True):
        for key, points in series.items():
            plot_series(axes, points, key)
        axes.set_title(name, fontsize="medium")
        axes.set_xlabel("step")
        if len(series) > 1:
            axes.legend(fontsize="x-small")
    figure.tight_layout()
    return _svg(figure)


def loss_curves_svg(*, curves: dict[str, list[tuple[int, float]]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.5))
    for label, points in curves.items():
        if points:
            plot_series(axes, points, label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    if any(curves.values()):
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "no per-step losses logged", ha="center", va="center", transform=axes.transAxes)
    return _svg(figure)
