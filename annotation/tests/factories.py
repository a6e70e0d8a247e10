"""Factories for annotation rows that need no real media (videos are marked ready)."""

from collections import defaultdict

import factory

from annotation.checklist import checklist_pack
from annotation.models import ChecklistAnswer, PairJudgment, Video, VideoPair
from annotation.selectors import checklist_question_ids


class VideoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Video

    original_name = factory.Sequence(lambda n: f"clip-{n}.mp4")
    file = factory.LazyAttribute(lambda video: f"videos/original/{video.original_name}")
    proxy = factory.LazyAttribute(lambda video: f"videos/proxy/{video.original_name}")
    poster = factory.LazyAttribute(lambda video: f"videos/poster/{video.original_name}.jpg")
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size_bytes = 1000
    duration_seconds = 2.0
    fps = 24.0
    width = 320
    height = 180
    codec = "h264"
    frame_count = 48
    status = Video.Status.READY


class VideoPairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VideoPair

    external_id = factory.Sequence(lambda n: f"pair-{n}")
    prompt = "a lighthouse at dusk"
    video_a = factory.SubFactory(VideoFactory)
    video_b = factory.SubFactory(VideoFactory)


def all_verdicts(campaign, value: int = 1) -> tuple[dict, dict]:
    criteria = {c.code: value for d in campaign.rubric.dimensions.all() for c in d.criteria.all()}
    dimensions = {d.code: value for d in campaign.rubric.dimensions.all()}
    return criteria, dimensions


def all_checklist_yes(campaign, pair) -> dict[int, dict[int, str]]:
    """The strongest option of every sub-dimension answered yes: progressive rules fill the rest."""
    strongest = {}
    for question in campaign.checklist.questions.all():
        if question.sub_dimension not in strongest or question.level > strongest[question.sub_dimension].level:
            strongest[question.sub_dimension] = question
    answers = {question.id: "yes" for question in strongest.values()}
    return {pair.video_a_id: dict(answers), pair.video_b_id: dict(answers)}


def workbench_form(campaign, *, verdict: str = "left", criterion_verdict: str | None = None, **extra) -> dict:
    """Every verdict and checklist question answered, in display terms, as the browser posts the workbench form."""
    data = {"base_revision": "0", "notes": "", "then": "home"}
    for dimension in campaign.rubric.dimensions.all():
        data[f"dimension-{dimension.code}"] = verdict
        for criterion in dimension.criteria.all():
            data[f"criterion-{criterion.code}"] = criterion_verdict or verdict
    for side in ("left", "right"):
        for question in campaign.checklist.questions.all():
            data[f"checklist-{side}-{question.id}"] = "yes"
    data.update(extra)
    return data


def checklist_answers_overwrite(answers, answer: str) -> None:
    """Give the ChecklistAnswer rows `answers` (a queryset) another answer, and re-pack their judgments' answers to
    match, as a revision would: for tests that plant a checklist fact."""
    assignment_ids = set(answers.values_list("assignment_id", flat=True))
    answers.update(answer=answer)
    for judgment in PairJudgment.objects.filter(assignment_id__in=assignment_ids).select_related(
        "assignment__pair", "assignment__campaign"
    ):
        assignment = judgment.assignment
        question_ids = checklist_question_ids(checklist=assignment.campaign.checklist)
        given = defaultdict(dict)
        for video_id, question_id, value in ChecklistAnswer.objects.filter(assignment=assignment).values_list(
            "video_id", "question_id", "answer"
        ):
            given[video_id][question_id] = value
        judgment.checklist_a = checklist_pack(question_ids, given[assignment.pair.video_a_id])
        judgment.checklist_b = checklist_pack(question_ids, given[assignment.pair.video_b_id])
        judgment.save(update_fields=["checklist_a", "checklist_b"])
