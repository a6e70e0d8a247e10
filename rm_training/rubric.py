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
