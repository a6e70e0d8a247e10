"""The agreement dashboard, its CSV downloads and charts, and who may see them."""

from __future__ import annotations

import base64
import csv
import io
import re

import pytest
from django.urls import reverse

from agreement.models import DashboardReport
from agreement.services import dashboard_report_compute, dashboard_reports_mark_stale, gold_label_set
from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.services import campaign_member_add

pytestmark = pytest.mark.django_db


def reports_computed(campaign) -> None:
    """What the worker does after judgments change (see test_dashboard_report.py for the worker itself)."""
    dashboard_reports_mark_stale(campaign_id=campaign.pk)
    for report_id in DashboardReport.objects.filter(campaign=campaign).values_list("pk", flat=True):
        dashboard_report_compute(report_id=report_id)


def dashboard(client, campaign, **params):
    """The dashboard showing a report computed from the current judgments (the first visit asks for it)."""
    url = reverse("agreement-dashboard", args=[campaign.pk])
    first_visit = client.get(url, params)
    if first_visit.status_code != 200:
        return first_visit
    reports_computed(campaign)
    return client.get(url, params)


def csv_table(client, campaign, table: str):
    dashboard(client, campaign)
    return client.get(reverse("agreement-csv", args=[campaign.pk, table]))


def charts(html: str) -> list[str]:
    return [base64.b64decode(data).decode() for data in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)]


@pytest.fixture
def patchy_campaign(curator):
    """Three experts, four pairs: p1 judged by all, p2 by two, p3 by one, p4 by nobody; p1 is gold."""
    campaign = campaign_make(name="patchy", pairs=4, overlap=3, members={curator: "curator"})
    ann, ben, cal = (expert_make(name, campaign) for name in ("ann", "ben", "cal"))
    p1, p2, p3, _ = campaign.pairs.order_by("external_id")
    judge(p1, ann, swapped=True, VA1=1, VA=1, VF3=-1)
    judge(p1, ben, VA1=1, VA=0, VF3=-1)
    judge(p1, cal, VA1=-1, VA=-1, VF3=1)
    judge(p2, ann, VA1=-1, VP=1)
    judge(p2, ben, VA1=-1, VP=1)
    judge(p3, cal, VA1=1)
    gold_label_set(pair=p1, set_by=curator, criteria={"VA1": 1}, dimensions={})
    return campaign


def test_dashboard_of_a_campaign_without_judgments_says_there_is_not_enough_data(client, curator):
    campaign = campaign_make(name="empty", pairs=2, members={curator: "curator"})
    client.force_login(curator)

    response = dashboard(client, campaign)

    assert response.status_code == 200
    assert "Not enough data: no judgments yet" in response.content.decode()
    assert charts(response.content.decode()) == []


def test_dashboard_with_one_expert_names_them_and_draws_no_agreement(client, curator):
    campaign = campaign_make(name="one-expert", pairs=2, members={curator: "curator"})
    solo = expert_make("solo", campaign)
    for pair in campaign.pairs.all():
        judge(pair, solo, VA1=1)
    client.force_login(curator)

    html = dashboard(client, campaign).content.decode()

    assert "only one expert (solo)" in html
    assert "Cohen&#x27;s kappa needs two experts" in html or "Cohen's kappa needs two experts" in html
    assert "a confusion matrix needs two experts" in html


def test_dashboard_with_missing_data_shows_alphas_charts_and_expert_numbers(client, curator, patchy_campaign):
    client.force_login(curator)

    response = dashboard(client, patchy_campaign)
    html = response.content.decode()

    assert response.status_code == 200
    assert "Shot composition" in html and "not enough data" in html  # VA2..: everyone said 0
    svgs = charts(html)
    assert len(svgs) == 3 and all("<svg" in svg for svg in svgs)
    assert "ann" in html and "Gold accuracy" in html


def test_the_alpha_table_sorts_by_a_column_with_undefined_values_last(client, curator, patchy_campaign):
    client.force_login(curator)

    variables = dashboard(client, patchy_campaign, sort="alpha", dir="desc").context["variables"]

    alphas = [variable.alpha for variable in variables]
    defined = [alpha for alpha in alphas if alpha is not None]
    assert defined == sorted(defined, reverse=True)
    assert alphas[: len(defined)] == defined


def test_confusion_matrix_between_two_chosen_experts_on_one_criterion(client, curator, patchy_campaign):
    client.force_login(curator)
    names = dashboard(client, patchy_campaign).context["report"].experts
    ann, cal = [e.username for e in names].index("ann"), [e.username for e in names].index("cal")

    confusion = dashboard(client, patchy_campaign, first=ann, second=cal, variable="VA1").context["confusion"]

    # Only p1 was judged by both: ann said A better, cal B better.
    assert confusion.header[0] == "ann \\ cal"
    assert confusion.rows == [["B better", 0, 0, 0], ["comparable", 0, 0, 0], ["A better", 1, 0, 0]]


@pytest.mark.parametrize(
    "table", ["alpha", "checklist", "experts", "heatmap", "kappa", "confusion", "consensus", "gold"]
)
def test_every_table_downloads_as_csv(client, curator, patchy_campaign, table):
    client.force_login(curator)

    response = csv_table(client, patchy_campaign, table)
    rows = list(csv.reader(io.StringIO(response.content.decode())))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"patchy-{table}.csv" in response["Content-Disposition"]
    assert rows[0] and rows[0] != ["message"]  # a header, not "the report is being computed"


def test_consensus_csv_has_one_row_per_judged_pair_and_code(client, curator, patchy_campaign):
    client.force_login(curator)

    rows = list(
        csv.DictReader(
            io.StringIO(client.get(reverse("agreement-csv", args=[patchy_campaign.pk, "consensus"])).content.decode())
        )
    )

    assert len(rows) == 3 * 18
    va1 = next(row for row in rows if row["pair_id"] == "p1" and row["code"] == "VA1")
    assert (va1["label"], va1["votes_a_better"], va1["votes_b_better"]) == ("1", "2", "1")


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_quoted(client, curator, patchy_campaign):
    patchy_campaign.pairs.filter(external_id="p1").update(external_id='=HYPERLINK("http://evil")')
    client.force_login(curator)

    content = client.get(reverse("agreement-csv", args=[patchy_campaign.pk, "consensus"])).content.decode()
    pair_ids = {row["pair_id"] for row in csv.DictReader(io.StringIO(content))}

    assert '\'=HYPERLINK("http://evil")' in pair_ids and "p2" in pair_ids
    assert not any(pair_id.startswith("=") for pair_id in pair_ids)


def test_experts_cannot_see_agreement_or_adjudicate(client, patchy_campaign):
    ann = patchy_campaign.memberships.get(user__username="ann").user
    pair = patchy_campaign.pairs.get(external_id="p1")
    client.force_login(ann)

    assert client.get(reverse("agreement-index")).status_code == 403
    assert dashboard(client, patchy_campaign).status_code == 403
    assert client.get(reverse("agreement-csv", args=[patchy_campaign.pk, "experts"])).status_code == 403
    assert client.get(reverse("agreement-queue", args=[patchy_campaign.pk])).status_code == 403
    assert client.get(reverse("agreement-pair", args=[patchy_campaign.pk, pair.pk])).status_code == 403
    assert "Agreement</a>" not in client.get(reverse("home")).content.decode()


def test_ml_engineers_read_agreement_but_do_not_adjudicate(client, ml_engineer, patchy_campaign):
    campaign_member_add(campaign=patchy_campaign, user=ml_engineer, role="ml_engineer")
    client.force_login(ml_engineer)

    assert dashboard(client, patchy_campaign).status_code == 200
    assert client.get(reverse("agreement-queue", args=[patchy_campaign.pk])).status_code == 403


def test_curators_reach_the_dashboard_from_the_navigation(client, curator, patchy_campaign):
    client.force_login(curator)

    index = client.get(reverse("agreement-index")).content.decode()

    assert reverse("agreement-dashboard", args=[patchy_campaign.pk]) in index
    assert 'href="/agreement/"' in client.get(reverse("home")).content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client, patchy_campaign):
    response = dashboard(client, patchy_campaign)

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_level_of_measurement_can_be_overridden_from_the_address(client, curator, patchy_campaign):
    client.force_login(curator)

    ordinal = {v.key: v.alpha for v in dashboard(client, patchy_campaign).context["variables"]}
    response = dashboard(client, patchy_campaign, verdict_level="nominal")
    nominal = {v.key: v.alpha for v in response.context["variables"]}

    assert "verdicts at the nominal level" in response.content.decode()
    assert ordinal["VA"] != pytest.approx(nominal["VA"])


def test_dashboard_lists_checklist_questions_for_a_campaign_with_a_checklist(client, curator):
    from agreement.tests.factories import checklist_complete
    from annotation.services import assignment_create, pair_judgment_submit

    campaign = campaign_make(name="with-checklist", pairs=2, overlap=2, checklist=True, members={curator: "curator"})
    for expert in (expert_make("ann", campaign), expert_make("ben", campaign)):
        for pair in campaign.pairs.all():
            assignment = assignment_create(pair=pair, expert=expert, swapped=False)
            criteria = {code: 0 for code in ("VA1", "VA2", "VA3", "VA4", "VA5", "VA6", "VA7")}
            criteria |= {code: 1 for code in ("VF1", "VF2", "VF3", "VF4", "VF5", "VP1", "VP2", "VP3")}
            pair_judgment_submit(
                assignment=assignment,
                criteria=criteria,
                dimensions={"VA": 0, "VF": 1, "VP": 1},
                checklist={
                    pair.video_a_id: checklist_complete(campaign),
                    pair.video_b_id: checklist_complete(campaign),
                },
            )
    client.force_login(curator)

    response = dashboard(client, campaign)

    assert response.status_code == 200
    assert len(response.context["checklist_variables"]) == 64
    assert "64 questions" in response.content.decode()


def test_gold_csv_lists_each_known_answer(client, curator, patchy_campaign):
    client.force_login(curator)

    response = client.get(reverse("agreement-csv", args=[patchy_campaign.pk, "gold"]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))

    assert [(row["pair_id"], row["code"], row["gold_label"], row["set_by"]) for row in rows] == [
        ("p1", "VA1", "1", "curator-cy")
    ]


def test_experts_show_their_dawid_skene_accuracy_beside_the_leave_one_out_figures(client, curator, patchy_campaign):
    """The Experts table carries each expert's Dawid-Skene accuracy and weight over all codes (the leaderboards app's
    model, computed with the report in the background), linked to the reliability page."""
    from leaderboards.selectors import expert_reliability_for

    client.force_login(curator)
    html = dashboard(client, patchy_campaign).content.decode()

    expected = expert_reliability_for(campaigns=[patchy_campaign]).overall
    assert set(expected) == {"ann", "ben", "cal"}
    assert reverse("leaderboard-reliability", args=[patchy_campaign.pk]) in html
    assert "Dawid-Skene accuracy" in html
    for name, reliability in expected.items():
        row = re.search(rf"<tr><td>{name}</td>(.*?)</tr>", html, flags=re.S).group(1)
        assert f"{100 * reliability.accuracy:.0f}%" in row and f"weight {reliability.weight:.2f}" in row, (name, row)
