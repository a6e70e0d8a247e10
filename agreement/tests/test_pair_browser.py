"""The pair browser: a campaign's pairs filtered by prompt, source, status, agreement, flags and curator labels,
a keyset page at a time, each row opening the pair's review page. Curators only."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agreement.selectors import PairFilters, adjudication_queue_for, pair_browser_page
from agreement.services import adjudication_record, gold_label_set
from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.models import Video
from annotation.services import assignment_create, campaign_member_add, pair_flag
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browsed(curator):
    """Six pairs of a campaign judged by two experts each, each in a different state:
    p1 agreed, p2 disputed (awaiting a curator), p3 half judged, p4 flagged, p5 gold, p6 disputed and adjudicated."""
    campaign = campaign_make(name="browse", pairs=6, overlap=2, members={curator: "curator"})
    pairs = {pair.external_id: pair for pair in campaign.pairs.all()}
    ann, ben, cal = (expert_make(name, campaign) for name in ("ann", "ben", "cal"))
    judge(pairs["p1"], ann), judge(pairs["p1"], ben)
    judge(pairs["p2"], ann, VP2=1), judge(pairs["p2"], ben, VP2=-1)
    judge(pairs["p3"], ann)
    pair_flag(assignment=assignment_create(pair=pairs["p4"], expert=cal, swapped=False), reason="broken_video")
    gold_label_set(pair=pairs["p5"], set_by=curator, criteria={"VP2": 1}, dimensions={})
    judge(pairs["p6"], ann, VA1=1), judge(pairs["p6"], ben, VA1=-1)
    adjudication_record(pair=pairs["p6"], adjudicated_by=curator, criteria={"VA1": 1}, dimensions={}, reason="A")
    pairs["p2"].prompt = "a red fox crossing fresh snow"
    pairs["p2"].save(update_fields=["prompt"])
    Video.objects.filter(pk=pairs["p3"].video_b_id).update(source_model="veo-3")
    return campaign


def listed(campaign, **filters) -> list[str]:
    return [row.pair.external_id for row in pair_browser_page(campaign=campaign, filters=PairFilters(**filters)).rows]


def browser_url(campaign) -> str:
    return reverse("agreement-pair-browser", args=[campaign.pk])


def test_without_filters_every_pair_is_listed_in_id_order(browsed):
    assert listed(browsed) == ["p1", "p2", "p3", "p4", "p5", "p6"]


def test_text_search_finds_words_of_the_prompt_and_the_pair_id_in_any_case(browsed):
    assert listed(browsed, text="Red FOX") == ["p2"]
    assert listed(browsed, text="p5") == ["p5"]


def test_the_source_filter_matches_either_video_of_the_pair(browsed):
    assert listed(browsed, source="veo-3") == ["p3"]


def test_status_counts_submitted_judgments_against_the_campaigns_overlap(browsed):
    assert listed(browsed, status="unjudged") == ["p4", "p5"]  # a flag is no judgment
    assert listed(browsed, status="in_progress") == ["p3"]
    assert listed(browsed, status="judged") == ["p1", "p2", "p6"]


def test_agreement_follows_the_consensus_rules_and_the_campaigns_threshold(browsed):
    assert listed(browsed, agreement="agreed") == ["p1", "p3"]
    assert listed(browsed, agreement="disagreed") == ["p2", "p6"]
    awaiting = listed(browsed, agreement="awaiting")
    assert awaiting == ["p2"]
    assert awaiting == [pair.external_id for pair in adjudication_queue_for(campaign=browsed)]


def test_flagged_pairs_and_the_others(browsed):
    assert listed(browsed, flags="flagged") == ["p4"]
    assert "p4" not in listed(browsed, flags="unflagged")


def test_gold_and_adjudicated_pairs(browsed):
    assert listed(browsed, adjudication="gold") == ["p5"]
    assert listed(browsed, adjudication="not_gold") == ["p1", "p2", "p3", "p4", "p6"]
    assert listed(browsed, adjudication="adjudicated") == ["p6"]
    assert "p6" not in listed(browsed, adjudication="not_adjudicated")


def test_filters_combine(browsed):
    assert listed(browsed, status="judged", agreement="disagreed", adjudication="not_adjudicated") == ["p2"]


def test_keyset_pages_walk_every_pair_once_forwards_and_back(browsed):
    filters, seen, after = PairFilters(), [], None
    while True:
        page = pair_browser_page(campaign=browsed, filters=filters, after=after, page_size=4)
        seen.append([row.pair.external_id for row in page.rows])
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [["p1", "p2", "p3", "p4"], ["p5", "p6"]]

    back = pair_browser_page(campaign=browsed, filters=filters, before=page.previous_before, page_size=4)
    assert [row.pair.external_id for row in back.rows] == ["p1", "p2", "p3", "p4"]
    assert back.previous_before is None and back.next_after is not None


def test_the_number_of_queries_does_not_depend_on_the_page_size(browsed):
    for filters in (PairFilters(), PairFilters(agreement="disagreed", flags="unflagged", adjudication="not_gold")):
        pair_browser_page(campaign=browsed, filters=filters)  # the agreement groups are cached from here on
        counts = []
        for page_size in (1, 6):
            with CaptureQueriesContext(connection) as queries:
                pair_browser_page(campaign=browsed, filters=filters, page_size=page_size)
            counts.append(len(queries))
        assert counts[0] == counts[1], filters


def test_the_page_with_every_filter_costs_a_fixed_handful_of_queries(
    client, curator, browsed, django_assert_max_num_queries
):
    client.force_login(curator)
    query = "?text=p&source=veo-3&status=judged&agreement=disagreed&flags=unflagged&adjudication=not_gold"

    with django_assert_max_num_queries(16):
        response = client.get(browser_url(browsed) + query)

    assert response.status_code == 200


def test_rows_show_judgments_agreement_flags_and_curator_labels(client, curator, browsed):
    client.force_login(curator)

    rows = {row.pair.external_id: row for row in client.get(browser_url(browsed)).context["page"].rows}

    assert (rows["p3"].pair.judgment_count, rows["p4"].pair.flag_count) == (1, 1)
    assert rows["p2"].consensus.min_agreement < browsed.agreement_threshold
    assert rows["p5"].pair.has_gold and rows["p6"].pair.is_adjudicated
    assert rows["p4"].consensus is None  # nobody judged it


def test_each_row_opens_the_review_page_remembering_the_filters(client, curator, browsed):
    client.force_login(curator)
    p2 = browsed.pairs.get(external_id="p2")

    html = client.get(browser_url(browsed) + "?agreement=awaiting&flags=&bogus=1").content.decode()

    review = reverse("agreement-pair", args=[browsed.pk, p2.pk])
    assert f'href="{review}?browser=agreement%3Dawaiting"' in html


def test_an_htmx_request_gets_only_the_results(client, curator, browsed):
    client.force_login(curator)

    response = client.get(browser_url(browsed) + "?status=unjudged", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert html.startswith('<section id="pair-results"') and "<html" not in html
    assert 'data-pair="p4"' in html and 'data-pair="p1"' not in html


def test_unknown_filter_values_are_ignored_not_an_error(client, curator, browsed):
    client.force_login(curator)

    response = client.get(browser_url(browsed) + "?status=bogus&agreement=x&after=abc")

    assert response.status_code == 200
    assert len(response.context["page"].rows) == 6


@pytest.mark.parametrize("role", ["expert", "ml_engineer"])
def test_only_curators_of_the_campaign_open_the_browser(client, browsed, role):
    user = expert_make(f"someone-{role}")
    campaign_member_add(campaign=browsed, user=user, role=role)
    client.force_login(user)

    assert client.get(browser_url(browsed)).status_code == 403


def test_a_curator_of_another_campaign_is_refused(client, browsed):
    other_curator = expert_make("dot")
    campaign_make(name="elsewhere", pairs=1, members={other_curator: "curator"})
    client.force_login(other_curator)

    assert client.get(browser_url(browsed)).status_code == 403


def test_the_campaign_page_links_to_the_browser(client, curator, browsed):
    client.force_login(curator)

    assert browser_url(browsed) in client.get(reverse("campaign-detail", args=[browsed.pk])).content.decode()


def test_one_video_in_two_pairs_and_two_campaigns_is_counted_per_pair(curator):
    spring = campaign_make(name="spring", pairs=0, overlap=2, members={curator: "curator"})
    summer = campaign_make(name="summer", pairs=0, overlap=2, members={curator: "curator"})
    shared = VideoPairFactory(campaign=spring, external_id="s1", prompt="a kite").video_a
    Video.objects.filter(pk=shared.pk).update(source_model="sora")
    VideoPairFactory(campaign=spring, external_id="s2", prompt="a kite", video_a=shared)
    VideoPairFactory(campaign=summer, external_id="u1", prompt="a kite", video_a=shared)
    ann = expert_make("ann", spring)
    campaign_member_add(campaign=summer, user=ann, role="expert")
    judge(spring.pairs.get(external_id="s1"), ann)
    judge(summer.pairs.get(external_id="u1"), ann, VA1=1)

    spring_rows = pair_browser_page(campaign=spring, filters=PairFilters(source="sora")).rows
    summer_rows = pair_browser_page(campaign=summer, filters=PairFilters(source="sora")).rows

    assert [(row.pair.external_id, row.pair.judgment_count) for row in spring_rows] == [("s1", 1), ("s2", 0)]
    assert [(row.pair.external_id, row.pair.judgment_count) for row in summer_rows] == [("u1", 1)]
    assert spring_rows[0].consensus.criteria["VA1"].vote == 0
    assert summer_rows[0].consensus.criteria["VA1"].vote == 1
