"""A campaign's guidelines page: its curators' Markdown rendered and sanitised, with example pairs shown blind,
readable by every member of the campaign, and opened first on an expert's first visit to its workbench."""

import pytest
from django.urls import reverse

from annotation.models import CampaignMembership
from annotation.services import assignment_create, campaign_create, campaign_guidelines_set, campaign_member_add
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert_in_campaign(campaign, expert):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    return expert


def _guidelines_page(client, campaign, **query) -> str:
    response = client.get(reverse("campaign-guidelines", args=[campaign.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def test_markdown_is_rendered_for_the_experts(client, campaign, expert_in_campaign):
    campaign_guidelines_set(campaign=campaign, guidelines="# Motion first\n\nJudge *motion* before **colour**.")
    client.force_login(expert_in_campaign)
    page = _guidelines_page(client, campaign)
    assert "<h1>Motion first</h1>" in page
    assert "Judge <em>motion</em> before <strong>colour</strong>." in page


def test_scripts_handlers_and_javascript_links_do_not_survive(client, campaign, expert_in_campaign):
    campaign_guidelines_set(
        campaign=campaign,
        guidelines=(
            "Read this.\n\n<script>document.title = 'owned'</script>\n\n"
            '[a trap](javascript:alert(1)) and <a href="JavaScript:alert(2)" onclick="alert(3)">another</a>\n\n'
            '<img src="x.png" onerror="alert(4)"> <iframe src="https://example.com"></iframe>\n\n'
            "[[pair:nothing | <script>alert(5)</script>]]\n\n[the handbook](https://example.com/handbook)"
        ),
    )
    client.force_login(expert_in_campaign)
    body = _guidelines_page(client, campaign).split("data-guidelines-body>")[1].split("</div>")[0]
    assert "<script" not in body.lower() and "owned" not in body
    assert "javascript:" not in body.lower()
    assert "onclick" not in body and "onerror" not in body and "<iframe" not in body
    assert '<a href="https://example.com/handbook" rel="noopener noreferrer nofollow">the handbook</a>' in body
    assert "Read this." in body


def test_an_example_pair_shows_its_videos_and_prompt_but_never_its_id(client, campaign, expert_in_campaign):
    pair = VideoPairFactory(campaign=campaign, external_id="veo-vs-sora-0042", prompt="a heron lands on a pier")
    campaign_guidelines_set(
        campaign=campaign,
        guidelines="Compare the landing:\n\n[[pair:veo-vs-sora-0042 | Judge the wings, not the water.]]\n\nThat's it.",
    )
    client.force_login(expert_in_campaign)
    page = _guidelines_page(client, campaign)
    assert page.count("data-example-pair") == 1
    assert "a heron lands on a pier" in page and "Judge the wings, not the water." in page
    assert pair.video_a.proxy.url in page and pair.video_b.poster.url in page
    assert "veo-vs-sora-0042" not in page  # blind judging: a pair id often names the generators


def test_an_example_pair_of_another_campaign_is_not_shown(client, campaign, expert_in_campaign):
    elsewhere = VideoPairFactory(campaign=campaign_create(name="elsewhere"), prompt="a secret prompt")
    campaign_guidelines_set(campaign=campaign, guidelines=f"[[pair:{elsewhere.external_id}]]")
    client.force_login(expert_in_campaign)
    page = _guidelines_page(client, campaign)
    assert "a secret prompt" not in page and "data-example-missing" in page


def test_members_read_the_guidelines_and_others_may_not(client, campaign, expert_in_campaign, other_expert, curator):
    campaign_guidelines_set(campaign=campaign, guidelines="Be kind to the videos.")
    url = reverse("campaign-guidelines", args=[campaign.pk])
    client.force_login(other_expert)
    assert client.get(url).status_code == 403
    client.force_login(curator)
    page = _guidelines_page(client, campaign)
    assert "Be kind to the videos." in page and "data-edit-guidelines" in page
    client.force_login(expert_in_campaign)
    assert "data-edit-guidelines" not in _guidelines_page(client, campaign)
    assert client.get(reverse("campaign-guidelines", args=[campaign.pk + 999])).status_code == 404


def test_the_first_visit_to_the_workbench_opens_the_guidelines_and_the_second_does_not(
    client, campaign, expert_in_campaign
):
    campaign_guidelines_set(campaign=campaign, guidelines="Judge motion first.")
    assignment = assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert_in_campaign)
    workbench = reverse("workbench", args=[assignment.pk])
    client.force_login(expert_in_campaign)

    first = client.get(workbench)

    guidelines = reverse("campaign-guidelines", args=[campaign.pk])
    assert first.status_code == 302 and first.url == f"{guidelines}?next=%2Fwork%2Fassignments%2F{assignment.pk}%2F"
    page = client.get(first.url).content.decode()
    assert f'href="{workbench}" data-start-judging' in page
    assert client.get(workbench).status_code == 200
    assert CampaignMembership.objects.get(user=expert_in_campaign, role="expert").guidelines_seen_at is not None


def test_no_guidelines_means_no_detour(client, campaign, expert_in_campaign):
    assignment = assignment_create(pair=VideoPairFactory(campaign=campaign), expert=expert_in_campaign)
    client.force_login(expert_in_campaign)
    assert client.get(reverse("workbench", args=[assignment.pk])).status_code == 200


def test_start_judging_only_leads_inside_the_app(client, campaign, expert_in_campaign):
    campaign_guidelines_set(campaign=campaign, guidelines="Judge motion first.")
    client.force_login(expert_in_campaign)
    page = _guidelines_page(client, campaign, next="https://evil.example/phish")
    assert "evil.example" not in page and "data-start-judging" not in page


def test_curators_still_save_the_guidelines_from_the_campaign_page(client, campaign, curator):
    client.force_login(curator)
    response = client.post(reverse("campaign-guidelines", args=[campaign.pk]), {"guidelines": "# New rules"})
    assert response.status_code == 302 and response.url == reverse("campaign-detail", args=[campaign.pk])
    campaign.refresh_from_db()
    assert campaign.guidelines == "# New rules"
    assert "<h1>New rules</h1>" in _guidelines_page(client, campaign)
