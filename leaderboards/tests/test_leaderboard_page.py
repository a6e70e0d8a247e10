"""The leaderboard page, its CSV and JSON downloads and the reliability page: what curators and ML engineers read,
and that experts (who judge blind) never see generator names."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from agreement.services import adjudication_record
from agreement.tests.factories import expert_make, judge
from annotation.services import campaign_member_add
from leaderboards.tests.factories import generator_campaign, generator_pair, judged_generator_campaign

pytestmark = pytest.mark.django_db

ORDER = ["sora-ckpt-3", "veo-nightly", "base-v1"]


def ranked_generators(html: str) -> list[str]:
    return [name for _, name in sorted((html.index(f'data-generator="{name}"'), name) for name in ORDER)]


@pytest.fixture
def judged(curator, ml_engineer):
    return judged_generator_campaign(members={curator: "curator", ml_engineer: "ml_engineer"})


def test_curator_reads_generators_ranked_by_the_expert_consensus_with_intervals_and_a_chart(client, curator, judged):
    client.force_login(curator)

    response = client.get(reverse("leaderboard", args=[judged.pk]), {"resamples": 50})

    html = response.content.decode()
    assert response.status_code == 200
    assert ranked_generators(html) == ORDER
    assert "Davidson" in html and "tie parameter" in html.lower()
    assert "data-scores-chart" in html and 'src="data:image/svg+xml;base64,' in html
    assert "data-win-rate" in html


def test_ml_engineer_reads_the_leaderboard_of_each_dimension_and_criterion(client, ml_engineer, judged):
    client.force_login(ml_engineer)

    for target in ("VA", "VF", "VP", "VA1", "VP3"):
        response = client.get(reverse("leaderboard", args=[judged.pk]), {"target": target, "resamples": 0})
        assert response.status_code == 200
        assert ranked_generators(response.content.decode()) == ORDER


@pytest.mark.parametrize(
    "url_name, extra",
    [("leaderboard", []), ("leaderboard-json", []), ("leaderboard-csv", ["leaderboard"]),
     ("leaderboard-reliability", [])],
)  # fmt: skip
def test_an_expert_of_the_campaign_is_refused_every_leaderboard_page(client, judged, url_name, extra):
    expert = judged.memberships.filter(role="expert").first().user
    client.force_login(expert)

    response = client.get(reverse(url_name, args=[judged.pk, *extra]))

    assert response.status_code == 403
    assert b"sora-ckpt-3" not in response.content


def test_a_curator_of_another_campaign_is_refused(client, judged, django_user_model):
    stranger = django_user_model.objects.create_user(username="other-curator", password="x")
    other = generator_campaign(name="elsewhere", matchups=[])
    campaign_member_add(campaign=other, user=stranger, role="curator")
    client.force_login(stranger)

    assert client.get(reverse("leaderboard", args=[judged.pk])).status_code == 403


def test_csv_download_lists_rank_generator_score_interval_and_n(client, curator, judged):
    client.force_login(curator)

    response = client.get(reverse("leaderboard-csv", args=[judged.pk, "leaderboard"]), {"resamples": 30})

    assert response["Content-Disposition"] == 'attachment; filename="checkpoints-leaderboard-overall.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["rank", "generator", "score", "ci_low", "ci_high", "n"]
    assert [row[1] for row in rows[1:]] == ORDER
    sora = rows[1]
    assert float(sora[3]) <= float(sora[2]) <= float(sora[4])
    assert float(sora[5]) == 7  # sora-ckpt-3 is in 4 pairs with veo-nightly and 3 with base-v1


def test_win_rate_csv_counts_the_comparisons_behind_each_cell(client, curator, judged):
    client.force_login(curator)

    response = client.get(reverse("leaderboard-csv", args=[judged.pk, "win-rate"]), {"resamples": 0})

    rows = {(row[0], row[1]): row for row in csv.reader(io.StringIO(response.content.decode()))}
    assert rows[("sora-ckpt-3", "veo-nightly")][2:] == ["0.75", "4.0"]  # the upset m4 is one of four
    # m5 has two votes for veo-nightly and one "comparable": the majority still picks veo-nightly.
    assert rows[("veo-nightly", "base-v1")][2:] == ["1.0", "3.0"]


def test_json_download_has_the_model_the_rows_and_the_tie_parameter(client, curator, judged):
    client.force_login(curator)

    response = client.get(reverse("leaderboard-json", args=[judged.pk]), {"target": "VA", "resamples": 20, "seed": 3})

    data = json.loads(response.content)
    assert data["target"] == "VA" and data["source"] == "consensus" and data["seed"] == 3
    assert data["model"].startswith("Davidson")
    assert [row["generator"] for row in data["generators"]] == ORDER
    assert data["comparisons"] == 10 and data["resamples"] == 20


def test_the_curators_adjudication_wins_over_the_experts_vote(client, curator):
    """Three experts prefer gen-a in both pairs; the curator adjudicates both for gen-b on every dimension."""
    campaign = generator_campaign(
        name="overruled", matchups=[("gen-a", "gen-b"), ("gen-a", "gen-b")], members={curator: "curator"}
    )
    experts = [expert_make(f"overruled-{index}", campaign) for index in range(3)]
    for pair in campaign.pairs.all():
        for expert in experts:
            judge(pair, expert, default=1)
    client.force_login(curator)
    before = client.get(reverse("leaderboard-json", args=[campaign.pk]), {"resamples": 0}).json()

    for pair in campaign.pairs.all():
        adjudication_record(
            pair=pair, adjudicated_by=curator, criteria={}, dimensions={"VA": -1, "VF": -1, "VP": -1}, reason="B"
        )
    after = client.get(reverse("leaderboard-json", args=[campaign.pk]), {"resamples": 0}).json()

    assert [row["generator"] for row in before["generators"]] == ["gen-a", "gen-b"]
    assert [row["generator"] for row in after["generators"]] == ["gen-b", "gen-a"]


def test_weighted_option_gives_an_adversarial_expert_no_weight(client, curator):
    """Two experts prefer gen-a on every dimension (and on every criterion, but for two pairs they call comparable
    on criteria); a third always answers the opposite. The reliability-weighted leaderboard ranks gen-a first and
    the adversary's judgments count for nothing."""
    campaign = generator_campaign(name="adversary", matchups=[("gen-a", "gen-b")] * 8, members={curator: "curator"})
    honest = [expert_make(f"honest-{index}", campaign) for index in range(2)]
    adversary = expert_make("adversary", campaign)
    for index, pair in enumerate(campaign.pairs.order_by("id")):
        criteria_verdict = 1 if index < 6 else 0
        for expert in honest:
            judge(pair, expert, default=criteria_verdict, VA=1, VF=1, VP=1)
        judge(pair, adversary, default=-1 if criteria_verdict else 1, VA=-1, VF=-1, VP=-1)
    client.force_login(curator)

    weighted = client.get(reverse("leaderboard-json", args=[campaign.pk]), {"source": "weighted", "resamples": 0})
    reliability = client.get(reverse("leaderboard-reliability", args=[campaign.pk])).content.decode()

    data = weighted.json()
    assert data["source"] == "weighted"
    assert [row["generator"] for row in data["generators"]] == ["gen-a", "gen-b"]
    assert data["comparisons"] == 16  # the adversary's eight judgments, weighted 0, are left out
    assert data["win_rate"][0]["win_rate"] == 1.0
    assert 'data-expert="adversary"' in reliability and 'data-expert="honest-0"' in reliability


def test_pairs_without_two_different_generators_are_left_out_and_counted(client, curator):
    campaign = generator_campaign(
        name="patchy-sources", matchups=[("gen-a", "gen-b"), ("gen-a", "gen-a"), ("", "gen-b")],
        members={curator: "curator"},
    )  # fmt: skip
    expert = expert_make("patchy-judge", campaign)
    for pair in campaign.pairs.all():
        judge(pair, expert, default=1)
    client.force_login(curator)

    data = client.get(reverse("leaderboard-json", args=[campaign.pk]), {"resamples": 0}).json()

    assert data["pairs_without_generators"] == 2
    assert data["comparisons"] == 1


def test_campaigns_on_the_same_rubric_version_can_be_pooled(client, curator, judged):
    second = judged_generator_campaign(name="checkpoints-again", members={curator: "curator"})
    client.force_login(curator)

    alone = client.get(reverse("leaderboard-json", args=[judged.pk]), {"resamples": 0}).json()
    pooled = client.get(reverse("leaderboard-json", args=[judged.pk]), {"resamples": 0, "also": second.pk}).json()
    page = client.get(reverse("leaderboard", args=[judged.pk])).content.decode()

    assert pooled["campaigns"] == ["checkpoints", "checkpoints-again"]
    assert pooled["comparisons"] == 2 * alone["comparisons"]
    assert "checkpoints-again" in page  # offered as a campaign to pool with


def test_each_prompt_category_gets_its_own_ranking(client, curator):
    """gen-a wins every landscape pair, gen-b every portrait pair; pairs without a category only count overall."""
    campaign = generator_campaign(name="categories", matchups=[], members={curator: "curator"})
    for index in range(3):
        generator_pair(campaign, "gen-a", "gen-b", external_id=f"land-{index}", category="landscape")
        generator_pair(campaign, "gen-b", "gen-a", external_id=f"face-{index}", category="portrait")
    generator_pair(campaign, "gen-a", "gen-b", external_id="plain")
    expert = expert_make("category-judge", campaign)
    for pair in campaign.pairs.all():
        judge(pair, expert, default=1)  # video A wins every pair
    client.force_login(curator)

    data = client.get(reverse("leaderboard-json", args=[campaign.pk]), {"resamples": 10}).json()
    page = client.get(reverse("leaderboard", args=[campaign.pk]), {"resamples": 0}).content.decode()

    assert data["comparisons"] == 7
    assert sorted(data["by_category"]) == ["landscape", "portrait"]
    assert [row["generator"] for row in data["by_category"]["landscape"]["generators"]] == ["gen-a", "gen-b"]
    assert [row["generator"] for row in data["by_category"]["portrait"]["generators"]] == ["gen-b", "gen-a"]
    assert data["by_category"]["portrait"]["comparisons"] == 3
    assert 'data-category="landscape"' in page and 'data-category="portrait"' in page


def test_a_campaign_without_judgments_says_there_is_not_enough_data(client, curator):
    campaign = generator_campaign(name="fresh", matchups=[("gen-a", "gen-b")], members={curator: "curator"})
    client.force_login(curator)

    response = client.get(reverse("leaderboard", args=[campaign.pk]))

    assert response.status_code == 200
    assert "Not enough data" in response.content.decode()


def test_the_campaign_page_and_the_agreement_index_link_to_the_leaderboard(client, curator, judged):
    client.force_login(curator)
    url = reverse("leaderboard", args=[judged.pk])

    assert url in client.get(reverse("campaign-detail", args=[judged.pk])).content.decode()
    assert url in client.get(reverse("agreement-index")).content.decode()


def test_an_unknown_target_is_refused_with_the_form_error(client, curator, judged):
    client.force_login(curator)

    response = client.get(reverse("leaderboard", args=[judged.pk]), {"target": "XX9"})

    assert response.status_code == 400
    assert "XX9" in response.content.decode()


def test_generator_names_that_look_like_formulas_are_quoted_in_the_csv(client, curator):
    campaign = generator_campaign(name="formula", matchups=[("=cmd()", "gen-b")], members={curator: "curator"})
    generator_pair(campaign, "=cmd()", "gen-b", external_id="again")
    expert = expert_make("formula-judge", campaign)
    for pair in campaign.pairs.all():
        judge(pair, expert, default=1)
    client.force_login(curator)

    content = client.get(reverse("leaderboard-csv", args=[campaign.pk, "leaderboard"]), {"resamples": 0}).content

    assert b"'=cmd()" in content
