import pytest

from rm_training.rubric import (
    dimension_of_criterion,
    dimension_verdict_from_criteria,
    dimension_verdict_with_severe,
    labels_with_severe,
    severe_decision,
)


def test_a_dimension_follows_the_majority_of_its_criteria():
    """[1, 1, -1, 0]: two for A, one for B -> A (+1). [1, -1, 0]: one each -> comparable (0).
    [-1, 0, 0]: B (-1). No criterion verdict at all -> comparable."""
    assert dimension_verdict_from_criteria([1, 1, -1, 0]) == 1
    assert dimension_verdict_from_criteria([1, -1, 0]) == 0
    assert dimension_verdict_from_criteria([-1, 0, 0]) == -1
    assert dimension_verdict_from_criteria([]) == 0


def test_a_severe_violation_on_one_video_decides_the_dimension_against_it():
    """Every criterion favours A, but A has a severe violation: the dimension goes to B (-1), and the other way
    round for B. Flags on both videos cancel: the criteria's majority decides again."""
    assert dimension_verdict_from_criteria([1, 1, 1], severe_a=True) == -1
    assert dimension_verdict_from_criteria([-1, -1], severe_b=True) == 1
    assert dimension_verdict_from_criteria([1, 1, -1], severe_a=True, severe_b=True) == 1
    assert severe_decision(severe_a=False, severe_b=False) is None


def test_an_experts_label_is_kept_unless_a_severe_flag_decides_the_dimension():
    assert dimension_verdict_with_severe(1, severe_a=False, severe_b=False) == 1
    assert dimension_verdict_with_severe(0, severe_a=False, severe_b=True) == 1
    assert dimension_verdict_with_severe(1, severe_a=True, severe_b=False) == -1


def test_training_labels_apply_an_export_rows_severe_flags():
    """Labels A, tie, A; Video A has a severe violation in VP (only): VP becomes -1, the rest stay.
    Missing or null flags change nothing."""
    labels = {"VA": "A", "VF": "tie", "VP": "A"}
    severe = {"A": {"VA": False, "VF": False, "VP": True}, "B": {"VA": False, "VF": False, "VP": False}}
    assert labels_with_severe(labels, severe) == {"VA": 1, "VF": 0, "VP": -1}
    assert labels_with_severe(labels, None) == {"VA": 1, "VF": 0, "VP": 1}
    assert labels_with_severe({"VA": -1}, {"A": None, "B": {"VA": True}}) == {"VA": 1}


@pytest.mark.parametrize(
    ("code", "rubric", "dimension"),
    [("VP3", None, "VP"), ("VA12", {}, "VA"), ("X1", {"VF": ["X1"]}, "VF")],
)
def test_a_criterion_belongs_to_the_rubrics_dimension_or_its_codes_letters(code, rubric, dimension):
    assert dimension_of_criterion(code, rubric) == dimension
