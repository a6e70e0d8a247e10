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


# --- The dimension rule (seed 000's scoring and severe-violation rules, RUBRIC.md) -----------------------
#
# A dimension verdict (+1 Video A better, -1 Video B better, 0 comparable) follows the majority of its
# criterion verdicts (the sign of their sum: more criteria for A than for B -> +1), unless a severe violation
# decides it: a severe flag on one video only decides the dimension against that video. Flags on both videos
# cancel out and the criteria decide (the seed's rule is cut off there; see the README's AesRM decisions).


def severe_decision(*, severe_a: bool, severe_b: bool) -> int | None:
    """-1 when only Video A has a severe violation, +1 when only Video B has one, else None (no decision)."""
    if severe_a and not severe_b:
        return -1
    if severe_b and not severe_a:
        return 1
    return None


def dimension_verdict_from_criteria(criteria: list[int], *, severe_a: bool = False, severe_b: bool = False) -> int:
    """The verdict a dimension's criterion verdicts and severe flags imply (the rule above)."""
    decided = severe_decision(severe_a=severe_a, severe_b=severe_b)
    if decided is not None:
        return decided
    total = sum(int(verdict) for verdict in criteria)
    return (total > 0) - (total < 0)


def severe_flags(severe: dict | None, dimension: str) -> tuple[bool, bool]:
    """(Video A flagged, Video B flagged) in ``dimension`` from an export row's ``severe``
    (``{"A": {"VP": true}, "B": {...}}``; missing or null means no flag)."""
    severe = severe or {}
    return bool((severe.get("A") or {}).get(dimension)), bool((severe.get("B") or {}).get(dimension))


def dimension_verdict_with_severe(verdict: int, *, severe_a: bool, severe_b: bool) -> int:
    """The experts' dimension verdict unless a severe violation decides the dimension."""
    decided = severe_decision(severe_a=severe_a, severe_b=severe_b)
    return int(verdict) if decided is None else decided


LABEL_VERDICTS = {"A": 1, "B": -1, "tie": 0}
LABEL_OF_VERDICT = {1: "A", -1: "B", 0: "tie"}


def labels_with_severe(labels: dict, severe: dict | None) -> dict[str, int]:
    """The verdict per dimension a model is trained towards: an export row's ``labels`` ("A"/"B"/"tie" or
    +1/-1/0, the experts' consensus) with each dimension a severe flag decides set by the rule above."""
    verdicts = {}
    for dimension, label in labels.items():
        verdict = LABEL_VERDICTS[label] if isinstance(label, str) else int(label)
        severe_a, severe_b = severe_flags(severe, dimension)
        verdicts[dimension] = dimension_verdict_with_severe(verdict, severe_a=severe_a, severe_b=severe_b)
    return verdicts


def dimension_of_criterion(code: str, dimension_criteria: dict[str, list[str]] | None = None) -> str:
    """The dimension a criterion belongs to: from the rubric's mapping when given, else the code's letters
    ("VP3" -> "VP")."""
    for dimension, codes in (dimension_criteria or {}).items():
        if code in codes:
            return dimension
    return code.rstrip("0123456789")


def overall_label(labels: dict[str, str], severe: dict[str, dict[str, bool]] | None = None) -> str:
    """The overall preference of a pair, "A", "B" or "tie". Each dimension's label is first set by the dimension
    rule above (a severe violation on one video decides that dimension against it); then the side that wins more
    dimensions wins, unless it lost a dimension in which it has a severe violation (then "tie"); equal counts are a
    tie.

    ``labels``: dimension code -> "A" / "B" / "tie"; ``severe``: {"A": {code: bool}, "B": {...}} as the export rows
    carry it (None: no flags). The export's preference-pairs overall rows and checklist-linear use this one rule."""
    labels = {code: LABEL_OF_VERDICT[verdict] for code, verdict in labels_with_severe(labels, severe).items()}
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
