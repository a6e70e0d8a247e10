import pytest

from annotation.checklist import ChecklistContradiction, QuestionSpec, checklist_apply_progressive, checklist_missing

# Clarity: very clear (4) > clear (3) > not blurry (2) > not completely blurry (1).
# Letters: all correct (3) > no obvious errors (2) > letters present (1, gates 30 and 31).
CLEAR = [QuestionSpec(id=level, sub_dimension="Clear", level=level) for level in (4, 3, 2, 1)]
LETTERS = [
    QuestionSpec(id=30, sub_dimension="Letters", level=3, gated_by=10),
    QuestionSpec(id=31, sub_dimension="Letters", level=2, gated_by=10),
    QuestionSpec(id=10, sub_dimension="Letters", level=1),
]
QUESTIONS = CLEAR + LETTERS


def test_yes_to_a_stronger_option_fills_the_weaker_ones_with_yes():
    assert checklist_apply_progressive(QUESTIONS, {3: "yes"}) == {3: "yes", 2: "yes", 1: "yes"}


def test_no_to_a_weaker_option_fills_the_stronger_ones_with_no():
    assert checklist_apply_progressive(QUESTIONS, {2: "no"}) == {2: "no", 3: "no", 4: "no"}


def test_yes_and_no_together_pin_a_sub_dimension_completely():
    assert checklist_apply_progressive(QUESTIONS, {2: "yes", 3: "no"}) == {1: "yes", 2: "yes", 3: "no", 4: "no"}


def test_absent_letters_make_letter_questions_not_applicable_rather_than_no():
    assert checklist_apply_progressive(QUESTIONS, {10: "no"}) == {10: "no", 30: "na", 31: "na"}


def test_letters_all_correct_implies_letters_are_present():
    assert checklist_apply_progressive(QUESTIONS, {30: "yes"}) == {30: "yes", 31: "yes", 10: "yes"}


def test_contradictory_answers_are_refused():
    with pytest.raises(ChecklistContradiction, match="contradicts"):
        checklist_apply_progressive(QUESTIONS, {3: "yes", 1: "no"})
    with pytest.raises(ChecklistContradiction, match="not applicable"):
        checklist_apply_progressive(QUESTIONS, {10: "no", 30: "yes"})


def test_unknown_questions_and_answers_are_refused():
    with pytest.raises(ChecklistContradiction, match="unknown question"):
        checklist_apply_progressive(QUESTIONS, {999: "yes"})
    with pytest.raises(ChecklistContradiction, match="yes, no or na"):
        checklist_apply_progressive(QUESTIONS, {4: "maybe"})


def test_missing_lists_what_no_answer_or_rule_covers():
    assert checklist_missing(QUESTIONS, {4: "yes", 10: "no"}) == []
    assert checklist_missing(QUESTIONS, {2: "yes"}) == [4, 3, 30, 31, 10]
