"""Evaluation artefacts: confusion-matrix plots and a Markdown report."""

from __future__ import annotations

from pathlib import Path

from rm_training.evaluation import LABELS


def plot_confusion_matrices(metrics: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dimensions = list(metrics["dimensions"])
    figure, axes = plt.subplots(1, len(dimensions), figsize=(3.2 * len(dimensions), 3.2), squeeze=False)
    for axis, dimension in zip(axes[0], dimensions, strict=True):
        matrix = metrics["dimensions"][dimension]["confusion_matrix"]
        axis.imshow(matrix, cmap="Blues")
        for row in range(3):
            for column in range(3):
                axis.text(column, row, str(matrix[row][column]), ha="center", va="center")
        axis.set_xticks(range(3), LABELS)
        axis.set_yticks(range(3), LABELS)
        axis.set_xlabel("predicted")
        axis.set_ylabel("gold")
        axis.set_title(dimension)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _cell(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_report(metrics: dict, title: str, plot_name: str | None = None) -> str:
    lines = [f"# {title}", "", f"Pairs evaluated: {metrics.get('num_pairs', 0)}", ""]
    columns = [
        ("accuracy_without_ties", "acc. w/o ties"),
        ("accuracy_with_ties", "acc. with ties (calibrated)"),
        ("tie_epsilon", "tie epsilon"),
        ("swap_consistency", "swap consistency"),
        ("left_preference_rate", "left-preference rate"),
    ]
    lines.append("| dimension | " + " | ".join(label for _, label in columns) + " |")
    lines.append("|---|" + "---|" * len(columns))
    for dimension, entry in metrics["dimensions"].items():
        lines.append(f"| {dimension} | " + " | ".join(_cell(entry.get(key)) for key, _ in columns) + " |")
    if metrics.get("criteria_accuracy"):
        lines += ["", "## Per-criterion accuracy", "", "| criterion | accuracy |", "|---|---|"]
        lines += [f"| {code} | {_cell(value)} |" for code, value in metrics["criteria_accuracy"].items()]
    if plot_name:
        lines += ["", "## Confusion matrices (tie-calibrated verdicts)", "", f"![confusion matrices]({plot_name})"]
    return "\n".join(lines) + "\n"
