"""The workbench at scale: "next pair" and submit read a handful of index entries, never a whole table, so they cost
the same at 10,000 pairs as at 1,000,000; and each workbench request runs a fixed number of queries, however many
verdicts and checklist answers it carries. Speed itself is measured by benchmarks/workbench.py, never here."""

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation import selectors
from annotation.model_queue import DISPUTED, UNCERTAIN
from annotation.models import Assignment, ChecklistAnswer, PairJudgment, Video, VideoPair
from annotation.services import (
    assignment_next_for,
    campaign_create,
    campaign_member_add,
    campaign_overlap_set,
    campaign_queue_model_set,
    pair_judgment_submit,
)
from annotation.tests.factories import all_checklist_yes, all_verdicts, workbench_form

pytestmark = pytest.mark.django_db

PAIRS = 20_000
FULL_SHARE = 0.9  # a campaign well under way: most pairs already have their full overlap
EXPERT_HISTORY = 4_000  # submitted assignments of the measured expert, on full pairs
ANNOTATION_TABLES = ("annotation_", "auth_user")


def _campaign_fill(*, campaign, pairs: int, full_share: float) -> list[VideoPair]:
    """`pairs` pairs of ready videos; the first `full_share` of every ten have their full overlap handed out."""
    videos = Video.objects.bulk_create(
        (
            Video(
                file=f"videos/original/scale-{index}.mp4",
                proxy=f"videos/proxy/scale-{index}.mp4",
                original_name=f"scale-{index}.mp4",
                sha256=hashlib.sha256(f"scale-{index}".encode()).hexdigest(),
                size_bytes=1,
                duration_seconds=5.0,
                fps=24.0,
                width=64,
                height=64,
                codec="h264",
                frame_count=120,
                status=Video.Status.READY,
            )
            for index in range(2 * pairs)
        ),
        batch_size=5000,
    )
    full_per_ten = round(full_share * 10)
    return VideoPair.objects.bulk_create(
        (
            VideoPair(
                campaign=campaign,
                external_id=f"pair-{index}",
                prompt=f"prompt {index}",
                video_a=videos[2 * index],
                video_b=videos[2 * index + 1],
                assigned_count=campaign.overlap if index % 10 < full_per_ten else 0,
            )
            for index in range(pairs)
        ),
        batch_size=5000,
    )


@pytest.fixture
def large_campaign(expert, other_expert):
    """20,000 pairs, 90% of them full, and an expert with 4,000 submitted judgments: big enough that a plan reading
    a whole table would read thousands of rows. Statistics are fresh (ANALYZE), as autovacuum keeps them."""
    assert connection.vendor == "postgresql", "plans are what this file pins; run it on PostgreSQL"
    campaign = campaign_create(name="large", overlap=3)
    for user in (expert, other_expert):
        campaign_member_add(campaign=campaign, user=user, role="expert")
    pairs = _campaign_fill(campaign=campaign, pairs=PAIRS, full_share=FULL_SHARE)
    full_pairs = [pair for pair in pairs if pair.assigned_count == campaign.overlap]
    assignments = Assignment.objects.bulk_create(
        Assignment(campaign=campaign, pair=pair, expert=expert, swapped=False, status=Assignment.Status.SUBMITTED)
        for pair in full_pairs[:EXPERT_HISTORY]
    )
    criteria, dimensions = all_verdicts(campaign)
    PairJudgment.objects.bulk_create(
        PairJudgment(assignment=assignment, criteria=criteria, dimensions=dimensions, severe={"A": {}, "B": {}})
        for assignment in assignments
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return campaign


def _plan(sql: str, params=None, *, analyze: bool = False) -> dict:
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({options}) {sql}", params)
        return cursor.fetchone()[0][0]["Plan"]


def _nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(_nodes(child))
    return nodes


def _full_scans_in(queries: list[dict]) -> list[str]:
    """Every sequential scan of a table in the plans of `queries`, planned with sequential scans disabled: one
    shows up only where no index fits the query, whatever the table's size."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    try:
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT", "WITH")):
                continue  # SAVEPOINT and friends
            for node in _nodes(_plan(sql)):
                if node["Node Type"] == "Seq Scan" and node["Relation Name"].startswith(ANNOTATION_TABLES):
                    found.append(f"{node['Relation Name']} in: {sql[:160]}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = on")
    return found


def test_next_pair_candidates_are_read_along_the_queue_index_not_the_whole_campaign(large_campaign, other_expert):
    queryset = selectors.pair_candidates_queryset(
        expert=other_expert, campaign_id=large_campaign.pk, overlap=large_campaign.overlap, limit=20
    )
    sql, params = queryset.query.sql_with_params()
    nodes = _nodes(_plan(sql, params, analyze=True))

    pair_scans = [node for node in nodes if node.get("Relation Name") == VideoPair._meta.db_table]
    assert [node["Node Type"] for node in pair_scans] == ["Index Scan"]
    assert pair_scans[0]["Index Name"] == "pair_queue_next"
    assert "assigned_count" in pair_scans[0]["Index Cond"], "full pairs must be outside the index range read"
    assert "Sort" not in {node["Node Type"] for node in nodes}, "the index gives the queue's order"
    assert not [node for node in nodes if node["Node Type"] == "Seq Scan"]
    # 20,000 pairs, 40,000 videos: the plan stops after the 20 candidates, each a probe of its two videos and of
    # the expert's assignments.
    rows_read = sum(
        node["Actual Rows"] * node["Actual Loops"] + node.get("Rows Removed by Filter", 0) for node in nodes
    )
    assert rows_read <= 200, f"{rows_read} rows read for 20 candidates"


def test_under_adaptive_overlap_raised_pairs_come_first_along_the_same_index(large_campaign, other_expert):
    """The campaign made adaptive (overlap 3, maximum 5) with 500 of its full pairs raised to 4 experts: the
    candidates are still one range of pair_queue_next, read in order, and the raised pairs (one slot left) lead."""
    campaign_overlap_set(campaign=large_campaign, overlap=3, max_overlap=5)
    full = VideoPair.objects.filter(campaign=large_campaign, assigned_count=3).order_by("-id")
    raised = list(full.values_list("id", flat=True)[:500])
    VideoPair.objects.filter(pk__in=raised).update(extra_overlap=1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_videopair")
    queryset = selectors.pair_candidates_queryset(
        expert=other_expert, campaign_id=large_campaign.pk, overlap=3, max_overlap=5, limit=20
    )
    sql, params = queryset.query.sql_with_params()
    nodes = _nodes(_plan(sql, params, analyze=True))

    pair_scans = [node for node in nodes if node.get("Relation Name") == VideoPair._meta.db_table]
    assert [(node["Node Type"], node["Index Name"]) for node in pair_scans] == [("Index Scan", "pair_queue_next")]
    assert "assigned_count - extra_overlap" in pair_scans[0]["Index Cond"]
    assert "Sort" not in {node["Node Type"] for node in nodes}
    rows_read = sum(
        node["Actual Rows"] * node["Actual Loops"] + node.get("Rows Removed by Filter", 0) for node in nodes
    )
    assert rows_read <= 200, f"{rows_read} rows read for 20 candidates"
    assert [pair_id for pair_id, _, _ in queryset] == sorted(raised)[:20]


def _queue_model_on(campaign, run_dir, *, doubted: list[int]) -> None:
    """A queue model for the campaign whose stored verdicts call the `doubted` pairs comparable (the rest: A)."""
    from leaderboards.models import ModelJudgmentRun, ModelPairVerdict
    from leaderboards.tests.factories import registered_model_make

    model = registered_model_make(campaign, run_dir)
    run = ModelJudgmentRun.objects.create(model=model, campaign=campaign, status=ModelJudgmentRun.Status.SUCCEEDED)
    ModelPairVerdict.objects.bulk_create(
        (ModelPairVerdict(run=run, pair_id=pair_id, overall=0) for pair_id in doubted), batch_size=5000
    )
    campaign_queue_model_set(campaign=campaign, model=model)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def test_with_a_queue_model_the_doubted_open_pairs_lead_along_the_same_index(large_campaign, other_expert, tmp_path):
    """200 open pairs, spread through the campaign, doubted by the queue model: they are the first candidates,
    read from one range of pair_queue_next in order, no Sort, no full pair read."""
    open_pairs = list(
        VideoPair.objects.filter(campaign=large_campaign, assigned_count=0).order_by("id").values_list("id", flat=True)
    )
    doubted = open_pairs[::10][:200]
    _queue_model_on(large_campaign, tmp_path / "run", doubted=doubted)
    queryset = selectors.pair_candidates_queryset(
        expert=other_expert, campaign_id=large_campaign.pk, overlap=large_campaign.overlap, limit=20
    )
    sql, params = queryset.query.sql_with_params()
    nodes = _nodes(_plan(sql, params, analyze=True))

    pair_scans = [node for node in nodes if node.get("Relation Name") == VideoPair._meta.db_table]
    assert [(node["Node Type"], node["Index Name"]) for node in pair_scans] == [("Index Scan", "pair_queue_next")]
    assert "assigned_count" in pair_scans[0]["Index Cond"], "full pairs must be outside the index range read"
    assert "Sort" not in {node["Node Type"] for node in nodes}
    rows_read = sum(
        node["Actual Rows"] * node["Actual Loops"] + node.get("Rows Removed by Filter", 0) for node in nodes
    )
    assert rows_read <= 200, f"{rows_read} rows read for 20 candidates"
    assert list(queryset) == [(pair_id, 0, UNCERTAIN) for pair_id in doubted[:20]]


def test_with_a_queue_model_next_pair_and_submit_still_use_an_index_for_every_query(
    large_campaign, other_expert, tmp_path
):
    open_pairs = VideoPair.objects.filter(campaign=large_campaign, assigned_count=0).order_by("-id")
    _queue_model_on(large_campaign, tmp_path / "run", doubted=list(open_pairs.values_list("id", flat=True)[:5]))
    with CaptureQueriesContext(connection) as next_queries:
        assignment = assignment_next_for(expert=other_expert)
    assert assignment.pair.model_priority == UNCERTAIN
    criteria, dimensions = all_verdicts(large_campaign, -1)
    with CaptureQueriesContext(connection) as submit_queries:
        pair_judgment_submit(
            assignment=assignment,
            criteria=criteria,
            dimensions=dimensions,
            checklist=all_checklist_yes(large_campaign, assignment.pair),
        )
    assert VideoPair.objects.get(pk=assignment.pair_id).model_priority == UNCERTAIN + DISPUTED
    assert _full_scans_in(next_queries.captured_queries) == []
    assert _full_scans_in(submit_queries.captured_queries) == []


def test_the_candidates_skip_pairs_the_expert_already_holds_without_reading_their_history(large_campaign, expert):
    """The expert with 4,000 judgments: their assignments are probed pair by pair, never read in full."""
    queryset = selectors.pair_candidates_queryset(
        expert=expert, campaign_id=large_campaign.pk, overlap=large_campaign.overlap, limit=20
    )
    sql, params = queryset.query.sql_with_params()
    nodes = _nodes(_plan(sql, params, analyze=True))
    assignment_scans = [node for node in nodes if node.get("Relation Name") == Assignment._meta.db_table]
    assert assignment_scans and all(node["Node Type"].startswith("Index") for node in assignment_scans)
    assert max(node["Actual Rows"] * node["Actual Loops"] for node in assignment_scans) <= 20
    assert len(queryset) == 20


def test_next_pair_and_submit_use_an_index_for_every_query(large_campaign, other_expert):
    with CaptureQueriesContext(connection) as next_queries:
        assignment = assignment_next_for(expert=other_expert)
    assert assignment.pair.assigned_count == 0, "an open pair, not one of the full ones"
    criteria, dimensions = all_verdicts(large_campaign)
    with CaptureQueriesContext(connection) as submit_queries:
        pair_judgment_submit(
            assignment=assignment,
            criteria=criteria,
            dimensions=dimensions,
            checklist=all_checklist_yes(large_campaign, assignment.pair),
        )
    assert ChecklistAnswer.objects.filter(assignment=assignment).count() == 2 * 64
    assert _full_scans_in(next_queries.captured_queries) == []
    assert _full_scans_in(submit_queries.captured_queries) == []


def _rows_read(queries: list[dict]) -> int:
    """Rows every plan node of `queries` produced or filtered out, from EXPLAIN ANALYZE."""
    total = 0
    for query in queries:
        for node in _nodes(_plan(query["sql"], analyze=True)):
            total += node["Actual Rows"] * node["Actual Loops"] + node.get("Rows Removed by Filter", 0)
    return total


def test_the_progress_line_reads_a_bounded_number_of_index_entries(large_campaign, expert):
    """The expert with 4,000 judgments, 2,000 pairs still open: with the counts stopped at 100, two queries read about
    a thousand rows, summed over every plan node (101 judgments counted, 101 open pairs each with a probe of its
    two videos and of the expert's assignments, the latest 50 active times). Reading the expert's history or the
    open pairs in full would be over 4,000 and 8,000."""
    assignment = assignment_next_for(expert=expert)
    assert assignment.campaign.overlap == 3  # read before: the page has its campaign already
    with CaptureQueriesContext(connection) as progress_queries:
        progress = selectors.assignment_progress(assignment=assignment, count_limit=100)
    assert progress["remaining_over_limit"] and progress["position"] is None
    assert len(progress_queries) == 2
    assert _full_scans_in(progress_queries.captured_queries) == []
    rows_read = _rows_read(progress_queries.captured_queries)
    assert rows_read <= 1_500, f"{rows_read} rows read for counts stopped at 100"


def test_the_pace_is_read_from_the_judgments_index_alone_latest_first(large_campaign, expert):
    """Planned without sequential scans (the expert here owns the whole small table, where one is cheapest): an
    index-only scan of assignment_submitted_by_expert, already in the order wanted, no Sort of the history."""
    assignment = assignment_next_for(expert=expert)
    assert assignment.campaign.overlap == 3
    with CaptureQueriesContext(connection) as progress_queries:
        selectors.assignment_progress(assignment=assignment, count_limit=100)
    pace_query = progress_queries.captured_queries[1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    nodes = _nodes(_plan(pace_query))
    assert [(node["Node Type"], node.get("Index Name")) for node in nodes if "Relation Name" in node] == [
        ("Index Only Scan", "assignment_submitted_by_expert")
    ]
    assert "Sort" not in {node["Node Type"] for node in nodes}


def test_queries_per_workbench_request_do_not_grow_with_verdicts_or_checklist_answers(
    client, large_campaign, other_expert, django_assert_max_num_queries
):
    """18 verdicts and 128 checklist answers (64 per video) are written in bulk, the rubric and checklist come from
    the definition cache, and nothing in a request depends on the campaign's size. In a test each view's own
    transaction is a savepoint: 2 of the queries counted are SAVEPOINT and RELEASE, which live requests do not send.
    """
    client.force_login(other_expert)
    warm_up = assignment_next_for(expert=other_expert)
    assert client.get(reverse("workbench", args=[warm_up.pk])).status_code == 200  # the definition cache filled
    form = workbench_form(large_campaign, verdict="left", then="next")
    client.post(reverse("judgment-submit", args=[warm_up.pk]), form)

    with django_assert_max_num_queries(14):  # 1 of them: the expert's last task number
        response = client.post(reverse("assignment-next"))
    assignment = Assignment.objects.get(expert=other_expert, status=Assignment.Status.ASSIGNED)
    with django_assert_max_num_queries(14):  # 2 of them: the progress line, counts stopped at 200
        assert client.get(response.url).status_code == 200
    with django_assert_max_num_queries(9):
        assert client.post(reverse("draft-save", args=[assignment.pk]), form).status_code == 204
    with django_assert_max_num_queries(26):  # the submit, then the next pair in the same request
        response = client.post(reverse("judgment-submit", args=[assignment.pk]), form)
    assert response.status_code == 302
    assert ChecklistAnswer.objects.filter(assignment=assignment).count() == 2 * 64
