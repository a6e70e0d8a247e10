"""The rubric and checklist markup of a campaign is built once per version of its definitions and cached (Django's
cache, keys holding the version and when the definition last changed): later pages read none of the definition
tables, each pair still gets its own prompt, and an edit to a definition shows on the next page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import ChecklistQuestion, Criterion
from annotation.services import assignment_create, campaign_member_add
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db

DEFINITION_TABLES = ("annotation_dimension", "annotation_criterion", "annotation_checklistquestion")


@pytest.fixture
def judging(client, campaign, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    client.force_login(expert)
    return campaign, expert


def _page(client, campaign, expert, prompt: str = "a lighthouse at dusk") -> tuple[str, list[str]]:
    assignment = assignment_create(pair=VideoPairFactory(campaign=campaign, prompt=prompt), expert=expert)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("workbench", args=[assignment.pk]))
    assert response.status_code == 200
    return response.content.decode(), [query["sql"] for query in queries.captured_queries]


def test_later_pages_of_the_campaign_read_no_rubric_or_checklist_rows(client, judging):
    campaign, expert = judging
    first_page, _ = _page(client, campaign, expert)
    second_page, queries = _page(client, campaign, expert)
    assert not [sql for sql in queries if any(f'"{table}"' in sql for table in DEFINITION_TABLES)]
    assert second_page.count('name="checklist-left-') == first_page.count('name="checklist-left-') == 64 * 3
    assert second_page.count('data-row="verdict"') == first_page.count('data-row="verdict"') == 18


def test_each_pair_shows_its_own_prompt_in_the_checklist_escaped(client, judging):
    campaign, expert = judging
    first_page, _ = _page(client, campaign, expert, prompt="a red kite over <b>moors</b>")
    second_page, _ = _page(client, campaign, expert, prompt="a tram in fog")
    assert "requirements stated in the text “a red kite over &lt;b&gt;moors&lt;/b&gt;”" in first_page
    assert "<b>moors</b>" not in first_page
    assert "requirements stated in the text “a tram in fog”" in second_page
    assert "kite" not in second_page and "[[prompt]]" not in second_page


def test_an_edited_question_or_criterion_shows_on_the_next_page(client, judging):
    campaign, expert = judging
    _page(client, campaign, expert)  # builds and caches the markup
    question = ChecklistQuestion.objects.filter(checklist=campaign.checklist).order_by("order").first()
    question.text = "Is the horizon level?"
    question.save(update_fields=["text"])
    criterion = Criterion.objects.get(dimension__rubric=campaign.rubric, code="VA1")
    criterion.name = "Renamed criterion"
    criterion.save(update_fields=["name"])
    page, _ = _page(client, campaign, expert)
    assert "Is the horizon level?" in page
    assert "Renamed criterion" in page
