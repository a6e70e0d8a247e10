"""Criterion names of the default rubric (aesrm-video v1, /work/shared/RUBRIC.md), used to word
atomic questions and per-video critiques. Unknown codes fall back to the code itself."""

CRITERION_NAMES = {
    "VA1": "Shot composition",
    "VA2": "Colour harmony and grading",
    "VA3": "Lighting and light style",
    "VA4": "Camera language",
    "VA5": "Depth and focus",
    "VA6": "Mood and narrative",
    "VA7": "Style coherence",
    "VF1": "Clarity and sharpness",
    "VF2": "Detail and texture",
    "VF3": "Exposure and dynamic range",
    "VF4": "Artifact-free rendering",
    "VF5": "Temporal stability",
    "VP1": "Physical plausibility",
    "VP2": "Motion naturalness",
    "VP3": "Structural integrity",
}


def criterion_name(code: str) -> str:
    return CRITERION_NAMES.get(code, code)


def overall_label(labels: dict[str, str], severe: dict[str, dict[str, bool]] | None = None) -> str:
    """The overall preference of a pair, "A", "B" or "tie": the side that wins more dimensions, unless it lost a
    dimension in which it has a severe violation (then "tie"); equal counts are a tie.

    ``labels``: dimension code -> "A" / "B" / "tie"; ``severe``: {"A": {code: bool}, "B": {...}} as the export rows
    carry it (None: no flags). The export's preference-pairs overall rows and checklist-linear use this one rule."""
    wins = {"A": 0, "B": 0}
    for label in labels.values():
        if label in wins:
            wins[label] += 1
    if wins["A"] == wins["B"]:
        return "tie"
    winner = "A" if wins["A"] > wins["B"] else "B"
    loser = "B" if winner == "A" else "A"
    flags = (severe or {}).get(winner) or {}
    lost_to_severe = any(label == loser and flags.get(code) for code, label in labels.items())
    return "tie" if lost_to_severe else winner
