"""The shipped defaults: aesrm-video v1 (RUBRIC.md) and VisionReward's video checklist (seed 003, Tables 17-18)."""

import pytest

from annotation.models import ChecklistQuestion, Criterion
from annotation.services import checklist_default, rubric_default

pytestmark = pytest.mark.django_db


def test_default_rubric_has_three_dimensions_and_fifteen_criteria():
    rubric = rubric_default()
    assert rubric.label == "aesrm-video-v1"
    codes = {d.code: [c.code for c in d.criteria.all()] for d in rubric.dimensions.all()}
    assert codes == {
        "VA": ["VA1", "VA2", "VA3", "VA4", "VA5", "VA6", "VA7"],
        "VF": ["VF1", "VF2", "VF3", "VF4", "VF5"],
        "VP": ["VP1", "VP2", "VP3"],
    }
    assert Criterion.objects.filter(dimension__rubric=rubric).exclude(definition="").count() == 15
    assert Criterion.objects.get(dimension__rubric=rubric, code="VA4").name == "Camera language"


# Sub-dimension -> number of yes/no questions (options above the lowest), as in Tables 17-18.
TABLES_17_18 = {
    ("Alignment", "Alignment"): 4,
    ("Composition", "Composition"): 2,
    ("Quality", "Color"): 4,
    ("Quality", "Lighting Accurate"): 3,
    ("Quality", "Lighting Aes"): 3,
    ("Quality", "Clear"): 4,
    ("Fidelity", "Detail Refinement"): 4,
    ("Fidelity", "Movement Reality"): 2,
    ("Fidelity", "Letters"): 3,
    ("Safety", "Safety"): 4,
    ("Stability", "Movement smoothness"): 2,
    ("Stability", "Image quality stability"): 4,
    ("Stability", "Focus"): 2,
    ("Stability", "Camera movement"): 2,
    ("Stability", "Camera stability"): 2,
    ("Preservation", "Shape at beginning"): 3,
    ("Preservation", "Shape throughout"): 4,
    ("Dynamic", "Object Motion dynamic"): 4,
    ("Dynamic", "Camera motion dynamic"): 4,
    ("Physics", "Physics law"): 4,
}


def test_default_checklist_has_every_question_of_tables_17_and_18():
    questions = checklist_default().questions.all()
    counts: dict[tuple[str, str], int] = {}
    for question in questions:
        counts[(question.dimension, question.sub_dimension)] = (
            counts.get((question.dimension, question.sub_dimension), 0) + 1
        )
    assert counts == TABLES_17_18
    assert len({dimension for dimension, _ in counts}) == 9
    assert questions.count() == 64


def test_checklist_levels_are_progressive_strongest_first():
    stability = list(checklist_default().questions.filter(sub_dimension="Image quality stability"))
    assert [(q.level, q.text) for q in stability] == [
        (4, "Is the image quality very stable?"),
        (3, "Is the image quality stable?"),
        (2, "Is the image quality not unstable?"),
        (1, "Is the image quality free of noticeable instability?"),
    ]


def test_questions_about_absent_things_are_gated_by_a_presence_question():
    checklist = checklist_default()
    letters_present = checklist.questions.get(text="Are there any letters present?")
    gated = set(ChecklistQuestion.objects.filter(not_applicable_when=letters_present).values_list("text", flat=True))
    assert gated == {"Are all the letters correct?", "Do the letters have no obvious errors?"}
    lighting_present = checklist.questions.get(text="Is there any lighting present?")
    assert lighting_present.gated_questions.count() == 2
    assert checklist.questions.filter(not_applicable_when__isnull=False).count() == 4


def test_alignment_questions_render_the_pair_prompt():
    question = checklist_default().questions.get(sub_dimension="Alignment", level=4)
    assert (
        question.text_for("a red fox")
        == "Does the video meet all the requirements stated in the text \u201ca red fox\u201d?"
    )
