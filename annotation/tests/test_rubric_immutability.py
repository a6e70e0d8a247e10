import pytest

from annotation.models import Assignment, Criterion, PairJudgment, RubricLockedError
from annotation.services import rubric_default, rubric_new_version
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db


def _judgment_on(campaign, expert) -> PairJudgment:
    pair = VideoPairFactory(campaign=campaign)
    assignment = Assignment.objects.create(campaign=campaign, pair=pair, expert=expert, swapped=False)
    codes = Criterion.objects.filter(dimension__rubric=campaign.rubric).values_list("code", flat=True)
    return PairJudgment.objects.create(
        assignment=assignment, criteria={code: 0 for code in codes}, dimensions={"VA": 1, "VF": 0, "VP": -1}
    )


def test_rubric_without_judgments_can_be_edited(campaign):
    criterion = Criterion.objects.get(dimension__rubric=campaign.rubric, code="VA1")
    criterion.guidance = "Look at the thirds."
    criterion.save()
    criterion.refresh_from_db()
    assert criterion.guidance == "Look at the thirds."


def test_editing_a_criterion_of_a_judged_rubric_raises_a_clear_error(campaign, expert):
    _judgment_on(campaign, expert)
    criterion = Criterion.objects.get(dimension__rubric=campaign.rubric, code="VA1")
    criterion.definition = "Changed after judging"
    with pytest.raises(RubricLockedError, match="create a new version"):
        criterion.save()
    criterion.refresh_from_db()
    assert criterion.definition != "Changed after judging"


def test_a_judged_rubric_cannot_be_renamed_have_dimensions_added_or_criteria_deleted(campaign, expert):
    _judgment_on(campaign, expert)
    rubric = campaign.rubric
    rubric.title = "Renamed"
    with pytest.raises(RubricLockedError):
        rubric.save()
    with pytest.raises(RubricLockedError):
        rubric.dimensions.create(code="VX", name="Extra")
    with pytest.raises(RubricLockedError):
        Criterion.objects.get(dimension__rubric=rubric, code="VP3").delete()
    assert Criterion.objects.filter(dimension__rubric=rubric).count() == 15


def test_new_version_copies_every_criterion_and_is_editable(campaign, expert):
    _judgment_on(campaign, expert)
    new = rubric_new_version(rubric=campaign.rubric)
    assert (new.slug, new.version) == ("aesrm-video", 2)
    assert sorted(Criterion.objects.filter(dimension__rubric=new).values_list("code", flat=True)) == sorted(
        Criterion.objects.filter(dimension__rubric=campaign.rubric).values_list("code", flat=True)
    )
    criterion = Criterion.objects.get(dimension__rubric=new, code="VA1")
    criterion.definition = "Edited in v2"
    criterion.save()
    assert Criterion.objects.get(dimension__rubric=rubric_default(), code="VA1").definition != "Edited in v2"


def test_judgment_verdicts_are_validated_against_the_rubric(campaign, expert):
    from django.core.exceptions import ValidationError

    judgment = _judgment_on(campaign, expert)
    judgment.criteria = {"VA1": 2}
    with pytest.raises(ValidationError) as error:
        judgment.full_clean()
    assert "missing" in str(error.value) and "1, 0 or -1" in str(error.value)
