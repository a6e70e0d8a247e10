"""Evaluation artefacts: confusion-matrix plots and a Markdown report."""

from __future__ import annotations

from pathlib import Path

from rm_training.evaluation import LABELS


def plot_confusion_matrices(metrics: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dimensions = [name for name, entry in metrics["dimensions"].items() if "confusion_matrix" in entry]
    if not dimensions:
        return path
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


def plot_calibration(metrics: dict, path: Path) -> Path:
    """Reliability diagram per dimension: mean sigmoid(margin) against the observed share of A wins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(3.8, 3.6))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
    for dimension, entry in metrics["dimensions"].items():
        table = entry.get("calibration") or []
        axis.plot([b["mean_predicted"] for b in table], [b["observed"] for b in table], marker="o", label=dimension)
    axis.set_xlabel("predicted P(A better)")
    axis.set_ylabel("observed share A better")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _cell(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_report(
    metrics: dict, title: str, plot_name: str | None = None, calibration_plot: str | None = None
) -> str:
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
        if "not_evaluated" in entry:
            lines.append(f"| {dimension} | not evaluated: {entry['not_evaluated']} |" + " |" * (len(columns) - 1))
            continue
        lines.append(f"| {dimension} | " + " | ".join(_cell(entry.get(key)) for key, _ in columns) + " |")
    if metrics.get("criteria_accuracy"):
        lines += ["", "## Per-criterion accuracy", "", "| criterion | accuracy |", "|---|---|"]
        lines += [f"| {code} | {_cell(value)} |" for code, value in metrics["criteria_accuracy"].items()]
    if plot_name:
        lines += ["", "## Confusion matrices (tie-calibrated verdicts)", "", f"![confusion matrices]({plot_name})"]
    if calibration_plot:
        lines += ["", "## Calibration (decided pairs)", "", f"![calibration]({calibration_plot})"]
    return "\n".join(lines) + "\n"


def plot_scores(predicted: list[float | None], targets: list[float], path: Path) -> Path:
    """Predicted against ground-truth scores (calibration at a glance); unreadable answers (None) are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    readable = [(target, score) for score, target in zip(predicted, targets, strict=True) if score is not None]
    figure, axis = plt.subplots(figsize=(3.6, 3.6))
    axis.scatter([target for target, _ in readable], [score for _, score in readable], s=12)
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axis.set_xlabel("ground truth")
    axis.set_ylabel("predicted")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def score_report(metrics: dict, title: str, plot_name: str | None = None) -> str:
    lines = [
        f"# {title}", "",
        f"Videos: {metrics.get('num_videos', 0)}; unreadable answers: {_cell(metrics.get('parse_failure_rate'))}", "",
        "| PLCC | SRCC |", "|---|---|", f"| {_cell(metrics.get('plcc'))} | {_cell(metrics.get('srcc'))} |",
    ]
    if plot_name:
        lines += ["", f"![predicted vs ground truth]({plot_name})"]
    return "\n".join(lines) + "\n"
