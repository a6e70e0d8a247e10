import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_are_in_step():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def _videos(model, count: int) -> list:
    """`count` videos made with a migration state's Video model (`model(name)` gives its models)."""
    return [
        model("Video").objects.create(
            file=f"v{n}.mp4", original_name=f"v{n}.mp4", sha256=f"{n:064x}", size_bytes=1, duration_seconds=1,
            fps=24, width=16, height=16, codec="h264", frame_count=24,
        )
        for n in range(1, count + 1)
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_moving_checklist_answers_onto_assignments_keeps_what_exists(capsys):
    """0003/0004: answers keep their assignment; an answer without one goes to its expert's latest submitted
    assignment showing the video, or is deleted (and counted) if there is none; the latest revision of each
    judgment gets its assignment's answers."""
    from datetime import timedelta

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    before = [("annotation", "0002_default_rubric_checklist_roles")]
    after = [("annotation", "0004_checklist_answer_assignment_required")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        model = lambda name: old.get_model("annotation", name)  # noqa: E731
        checklist = model("Checklist").objects.get()
        q1, q2 = model("ChecklistQuestion").objects.filter(checklist=checklist).order_by("order")[:2]
        campaign = model("Campaign").objects.create(
            name="before", rubric=model("Rubric").objects.get(), checklist=checklist
        )
        v1, v2, v3, v4 = _videos(model, 4)
        pairs = model("VideoPair").objects
        pair1 = pairs.create(campaign=campaign, external_id="p1", prompt="x", video_a=v1, video_b=v2)
        pair2 = pairs.create(campaign=campaign, external_id="p2", prompt="x", video_a=v3, video_b=v1)
        User = old.get_model("auth", "User")
        ada, bo = User.objects.create(username="ada"), User.objects.create(username="bo")
        now = timezone.now()

        def judged(pair, expert, submitted_at, revisions=1):
            assignment = model("Assignment").objects.create(
                campaign=campaign, pair=pair, expert=expert, swapped=False, status="submitted",
                submitted_at=submitted_at,
            )  # fmt: skip
            judgment = model("PairJudgment").objects.create(
                assignment=assignment, criteria={}, dimensions={}, revision=revisions
            )
            for number in range(1, revisions + 1):
                model("PairJudgmentRevision").objects.create(
                    judgment=judgment, revision=number, criteria={}, dimensions={}
                )
            return assignment

        first = judged(pair1, ada, now - timedelta(hours=2), revisions=2)
        latest = judged(pair2, ada, now - timedelta(hours=1))
        Answer = model("ChecklistAnswer")
        Answer.objects.create(video=v2, question=q1, annotator=ada, assignment=first, answer="yes")
        Answer.objects.create(video=v1, question=q1, annotator=ada, assignment=None, answer="no")  # assignment gone
        Answer.objects.create(video=v4, question=q2, annotator=bo, assignment=None, answer="yes")  # no assignment left

        executor.loader.build_graph()
        executor.migrate(after)

        new = executor.loader.project_state(after).apps
        answers = new.get_model("annotation", "ChecklistAnswer").objects
        assert sorted(answers.values_list("video_id", "assignment_id", "answer")) == [
            (v1.pk, latest.pk, "no"),
            (v2.pk, first.pk, "yes"),
        ]
        revisions = new.get_model("annotation", "PairJudgmentRevision").objects.order_by("judgment_id", "revision")
        assert [(r.judgment.assignment_id, r.revision, r.checklist) for r in revisions] == [
            (first.pk, 1, {}),  # an earlier revision's answers were never kept: left empty
            (first.pk, 2, {str(v2.pk): {str(q1.pk): "yes"}}),
            (latest.pk, 1, {str(v1.pk): {str(q1.pk): "no"}}),
        ]
        assert "1 attached to their expert's latest submitted assignment of the video, 1 deleted" in (
            capsys.readouterr().out
        )
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_packing_judgments_checklists_copies_what_their_answer_rows_say():
    """0014: each judgment gets its answers for video A and B packed, one character per question (ids ascending),
    "-" for a question it has no row for; a judgment without answers packs to empty texts."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("annotation", "0013_model_in_the_loop_queue")]
    after = [("annotation", "0014_judgment_packed_checklist")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        model = lambda name: old.get_model("annotation", name)  # noqa: E731
        checklist = model("Checklist").objects.get()
        questions = list(model("ChecklistQuestion").objects.filter(checklist=checklist).order_by("id"))
        campaign = model("Campaign").objects.create(
            name="before", rubric=model("Rubric").objects.get(), checklist=checklist
        )
        v1, v2, v3 = _videos(model, 3)
        pairs = model("VideoPair").objects
        answered = pairs.create(campaign=campaign, external_id="p1", prompt="x", video_a=v1, video_b=v2)
        unanswered = pairs.create(campaign=campaign, external_id="p2", prompt="x", video_a=v3, video_b=v1)
        ada = old.get_model("auth", "User").objects.create(username="ada")

        def judged(pair):
            assignment = model("Assignment").objects.create(
                campaign=campaign, pair=pair, expert=ada, swapped=False, status="submitted"
            )
            return assignment, model("PairJudgment").objects.create(assignment=assignment, criteria={}, dimensions={})

        assignment, judgment = judged(answered)
        given = {v1.pk: ["yes", "no", "na"] * 30, v2.pk: ["no"] * (len(questions) - 1)}  # v2's last one missing
        for video_id, answers in given.items():
            model("ChecklistAnswer").objects.bulk_create(
                model("ChecklistAnswer")(
                    assignment=assignment, video_id=video_id, question=question, annotator=ada, answer=answer
                )
                for question, answer in zip(questions, answers, strict=False)
            )
        _, empty = judged(unanswered)

        executor.loader.build_graph()
        executor.migrate(after)

        judgments = executor.loader.project_state(after).apps.get_model("annotation", "PairJudgment").objects
        packed = judgments.get(pk=judgment.pk)
        assert packed.checklist_a == ("yna" * 30)[: len(questions)]
        assert packed.checklist_b == "n" * (len(questions) - 1) + "-"
        assert (judgments.get(pk=empty.pk).checklist_a, judgments.get(pk=empty.pk).checklist_b) == ("", "")
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
