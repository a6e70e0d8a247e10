"""Writes: gold answers, adjudications, judgments imported from other tools, and the dashboard's stored report."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agreement.dashboard import CONTENT_VERSION, dashboard_content_build
from agreement.models import Adjudication, DashboardReport, GoldLabel
from agreement.report import levels_from_key, levels_key
from annotation.models import (
    Assignment,
    Campaign,
    ChecklistAnswer,
    ChecklistQuestion,
    PairJudgment,
    Role,
    VideoPair,
)
from annotation.services import (
    CampaignLocked,
    assignment_create,
    campaign_member_add,
    campaign_share_lock,
    checklist_answers_normalise,
    pair_judgment_submit,
)
from webapp.nul_characters import MESSAGE as NUL_MESSAGE
from webapp.nul_characters import contains_nul
from webapp.queue import QueueUnavailable, enqueue

logger = logging.getLogger(__name__)

# --- Gold answers and adjudication ----------------------------------------------------------------


@transaction.atomic
def gold_label_set(
    *, pair: VideoPair, set_by, criteria: dict[str, int], dimensions: dict[str, int], note: str = ""
) -> GoldLabel:
    """Mark `pair` as gold with its known answer (or replace the answer). Experts are not told."""
    gold = GoldLabel.objects.select_for_update().filter(pair=pair).first() or GoldLabel(pair=pair)
    gold.criteria, gold.dimensions, gold.note = criteria, dimensions, note
    gold.set_by, gold.set_at = set_by, timezone.now()
    gold.full_clean(exclude=["pair"])
    gold.save()
    dashboard_reports_mark_stale_on_commit(campaign_id=pair.campaign_id)
    return gold


def gold_label_remove(*, pair: VideoPair) -> None:
    GoldLabel.objects.filter(pair=pair).delete()
    dashboard_reports_mark_stale_on_commit(campaign_id=pair.campaign_id)


def adjudication_record(
    *, pair: VideoPair, adjudicated_by, criteria: dict[str, int], dimensions: dict[str, int], reason: str
) -> Adjudication:
    """Record a curator's final label for some codes of `pair`, and why; it overrides the vote from now on."""
    adjudication = Adjudication(
        pair=pair,
        criteria=criteria,
        dimensions=dimensions,
        reason=reason.strip(),
        adjudicated_by=adjudicated_by,
        created_at=timezone.now(),
    )
    adjudication.full_clean()
    adjudication.save()
    dashboard_reports_mark_stale_on_commit(campaign_id=pair.campaign_id)
    return adjudication


# --- Importing judgments --------------------------------------------------------------------------


class ImportLineError(ValueError):
    """A line that cannot be imported; nothing of it was written."""


@dataclass
class ImportReport:
    created: int = 0
    revised: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _expert_ensure(*, username: str, campaign: Campaign):
    if not isinstance(username, str) or not username.strip():
        raise ImportLineError('"annotator" must be a non-empty username.')
    user, created = get_user_model().objects.get_or_create(username=username.strip())
    if created:
        # An imported expert cannot sign in until someone sets a password.
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=Role.EXPERT))
    campaign_member_add(campaign=campaign, user=user, role=Role.EXPERT)
    return user


def _checklist_by_video(*, pair: VideoPair, checklist) -> dict[int, dict[int, str]]:
    """{"A": {question: answer}, "B": {...}} (canonical sides) -> {video id: {question id: answer}}.

    A question is named by its id in this AesLab or by its exact text (ids differ between installations, the
    text of a checklist version does not)."""
    if checklist in (None, {}):
        return {}
    if not isinstance(checklist, dict) or not set(checklist) <= {"A", "B"}:
        raise ImportLineError('"checklist" must be {"A": {question: "yes"|"no"|"na"}, "B": {...}}.')
    if pair.campaign.checklist_id is None and any(checklist.values()):
        raise ImportLineError(
            f'campaign {pair.campaign.name} has no checklist: leave "checklist" out (rubric verdicts only).'
        )
    questions = dict(
        ChecklistQuestion.objects.filter(checklist_id=pair.campaign.checklist_id).values_list("text", "id")
    )
    known_ids = set(questions.values())
    result = {}
    for side, answers in checklist.items():
        if not isinstance(answers, dict):
            raise ImportLineError(f'"checklist.{side}" must map questions to "yes", "no" or "na".')
        by_id = {}
        for question, answer in answers.items():
            question_id = questions.get(question)
            if question_id is None and str(question).isdigit() and int(question) in known_ids:
                question_id = int(question)
            if question_id is None:
                raise ImportLineError(f'"checklist.{side}": no question {question!r} in the campaign\'s checklist.')
            by_id[question_id] = answer
        result[pair.video_a_id if side == "A" else pair.video_b_id] = by_id
    return result


def _unchanged(*, judgment: PairJudgment, record: dict, checklist: dict[int, dict[int, str]]) -> bool:
    """Whether importing the line would leave the judgment and its assignment's checklist answers as they are."""
    if (judgment.criteria, judgment.dimensions) != (record["criteria"], record["dimensions"]):
        return False
    if "severe" in record and judgment.severe != record["severe"]:
        return False
    if "notes" in record and judgment.notes != record["notes"]:
        return False
    assignment = judgment.assignment
    campaign = assignment.campaign
    if campaign.checklist_id is not None:
        pair = assignment.pair
        checklist = {video_id: checklist.get(video_id, {}) for video_id in (pair.video_a_id, pair.video_b_id)}
    try:
        given = checklist_answers_normalise(campaign=campaign, answers_by_video=checklist)
    except ValidationError:
        return False  # the submit will say what is wrong with the line
    stored: dict[int, dict[int, str]] = {}
    for video_id, question_id, answer in ChecklistAnswer.objects.filter(assignment=assignment).values_list(
        "video_id", "question_id", "answer"
    ):
        stored.setdefault(video_id, {})[question_id] = answer
    return stored == {video_id: answers for video_id, answers in given.items() if answers}


def _annotator_name(record: dict) -> str:
    username = record["annotator"]
    if not isinstance(username, str) or not username.strip():
        raise ImportLineError('"annotator" must be a non-empty username.')
    return username.strip()


@transaction.atomic
def judgment_import(*, campaign: Campaign, record: dict) -> str:
    """Import one expert's judgment of one pair: "created", "revised" or "unchanged". All or nothing.

    record: {"pair_id", "annotator", "criteria", "dimensions", "checklist": {"A": {...}, "B": {...}},
             optional "severe", "notes", "swapped" (B was shown on the left), "time_spent_seconds"}.
    The same line imported twice changes nothing, even in a locked campaign; a changed line becomes a new revision
    of the judgment, and is refused in a locked campaign."""
    if not isinstance(record, dict):
        raise ImportLineError("each line must be a JSON object.")
    if contains_nul(record):
        raise ImportLineError(NUL_MESSAGE)
    missing = [key for key in ("pair_id", "annotator", "criteria", "dimensions") if key not in record]
    if missing:
        raise ImportLineError(f"missing keys: {', '.join(missing)}.")
    # Lock order of annotation.services ("Row locks"): the campaign FOR SHARE, then the pair, then the assignment.
    campaign = campaign_share_lock(campaign_id=campaign.pk)
    pair = (
        VideoPair.objects.select_for_update(of=("self",), no_key=True)
        .select_related("campaign")
        .filter(campaign=campaign, external_id=str(record["pair_id"]))
        .first()
    )
    if pair is None:
        raise ImportLineError(f"no pair {record['pair_id']!r} in campaign {campaign.name}.")
    username = _annotator_name(record)
    checklist = _checklist_by_video(pair=pair, checklist=record.get("checklist"))
    spent = record.get("time_spent_seconds")
    if spent is not None and (not isinstance(spent, int | float) or isinstance(spent, bool) or spent < 0):
        raise ImportLineError('"time_spent_seconds" must be a non-negative number.')
    swapped = record.get("swapped", False)
    if not isinstance(swapped, bool):
        raise ImportLineError('"swapped" must be true or false.')

    existing = (
        PairJudgment.objects.filter(assignment__pair=pair, assignment__expert__username=username)
        .select_related("assignment__campaign", "assignment__pair")
        .first()
    )
    if existing is not None and _unchanged(judgment=existing, record=record, checklist=checklist):
        return "unchanged"
    if campaign.status == Campaign.Status.LOCKED:
        change = "revise the judgment" if existing else "add a judgment"
        raise ImportLineError(
            f"campaign {campaign.name} is locked; this line would {change} of pair {pair.external_id} by {username}"
            " and was not imported (only lines identical to the stored judgments are accepted)."
        )
    expert = _expert_ensure(username=username, campaign=campaign)
    assignment = Assignment.objects.filter(pair=pair, expert=expert).first()
    if assignment is None:
        assignment = assignment_create(pair=pair, expert=expert, swapped=swapped)
    try:
        pair_judgment_submit(
            assignment=assignment,
            criteria=record["criteria"],
            dimensions=record["dimensions"],
            severe=record.get("severe"),
            notes=record.get("notes", ""),
            checklist=checklist,
            base_revision=existing.revision if existing else 0,
        )
    except ValidationError as invalid:
        raise ImportLineError("; ".join(invalid.messages)) from invalid
    except CampaignLocked as locked:
        raise ImportLineError(str(locked)) from locked
    if spent is not None:
        # The submit measured the seconds since the assignment was created here; the source tool knows better.
        Assignment.objects.filter(pk=assignment.pk).update(time_spent_seconds=float(spent))
    return "revised" if existing else "created"


def judgments_import(*, campaign: Campaign, lines: Iterable[str]) -> ImportReport:
    """Import JSONL lines, one transaction per line: a bad line is reported by number and leaves nothing behind,
    the good lines are imported."""
    report = ImportReport()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            report.errors.append((number, f"not valid JSON: {error.msg} (column {error.colno})"))
            continue
        try:
            outcome = judgment_import(campaign=campaign, record=record)
        except ImportLineError as error:
            report.errors.append((number, str(error)))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


# --- The dashboard's stored report ----------------------------------------------------------------

# A burst of submits (twenty experts, one campaign) makes one recompute: the first change enqueues it to run this
# many seconds later, and the changes until it starts find it requested already.
RECOMPUTE_DELAY_SECONDS = 3
# A request still waiting, or a recompute still running, after this long was lost (the broker was down, the
# worker died mid-way): the next visit asks again. Far above the 5 s a 10,000-pair report takes.
RECOMPUTE_LOST_AFTER = timedelta(minutes=5)


def _recompute_enqueue_on_commit(report_id: int, *, delay_seconds: int) -> None:
    from agreement.tasks import dashboard_report_compute_task

    def unsent(reason: str) -> None:
        DashboardReport.objects.filter(pk=report_id).update(error=f"the recompute could not be started: {reason}")

    def send() -> None:
        # The change itself is committed and must not fail because the queue is down: the page keeps showing the
        # last report, and asks again once the request looks lost.
        with contextlib.suppress(QueueUnavailable):
            enqueue(dashboard_report_compute_task.s(report_id).set(countdown=delay_seconds), undo=unsent)

    transaction.on_commit(send)


def _tasks_run_in_process() -> bool:
    """No broker (the embedded default): a task would run inside the request or command that sent it."""
    from webapp.celery import app

    return bool(app.conf.task_always_eager)


def dashboard_reports_mark_stale(*, campaign_id: int) -> None:
    """The campaign's judgments, gold answers or adjudications changed: every stored dashboard of it is out of
    date. Only the change that finds a report not yet requested enqueues its recompute (a conditional update, so
    two submits at once cannot both), which runs RECOMPUTE_DELAY_SECONDS later: one recompute per burst.

    Without a broker nothing is enqueued: the recompute would run inside the expert's submit (or once per line of
    an import); the next visit of the dashboard computes it instead."""
    now = timezone.now()
    stale = DashboardReport.objects.filter(campaign_id=campaign_id, requested_at__isnull=True)
    for report_id in stale.values_list("pk", flat=True):
        marked = DashboardReport.objects.filter(pk=report_id, requested_at__isnull=True).update(requested_at=now)
        if marked and not _tasks_run_in_process():
            _recompute_enqueue_on_commit(report_id, delay_seconds=RECOMPUTE_DELAY_SECONDS)


def dashboard_reports_mark_stale_on_commit(*, campaign_id: int) -> None:
    transaction.on_commit(lambda: dashboard_reports_mark_stale(campaign_id=campaign_id))


def _recompute_lost(report: DashboardReport, *, now) -> bool:
    if report.started_at is not None:
        return report.started_at < now - RECOMPUTE_LOST_AFTER
    return report.requested_at is not None and report.requested_at < now - RECOMPUTE_LOST_AFTER


def dashboard_report_get_or_request(*, campaign: Campaign, levels: dict[str, str] | None = None) -> DashboardReport:
    """The stored dashboard of `campaign` at these levels of measurement, as last computed (its content is None
    before the first computation ends). Asks for a recompute when there is none yet (a first visit), when the
    stored one predates the current content format, or when an earlier request was lost."""
    now = timezone.now()
    report, created = DashboardReport.objects.get_or_create(
        campaign=campaign, levels=levels_key(levels), defaults={"requested_at": now}
    )
    outdated = (report.content or {}).get("version") != CONTENT_VERSION and not report.recomputing
    # Without a broker a change only marked the report (see dashboard_reports_mark_stale): compute it now.
    waiting_here = report.requested_at is not None and report.started_at is None and _tasks_run_in_process()
    asked = created or waiting_here
    if not asked and (outdated or _recompute_lost(report, now=now)):
        # Conditional: of two visits finding the same lost request, one asks again.
        asked = DashboardReport.objects.filter(
            pk=report.pk, requested_at=report.requested_at, started_at=report.started_at
        ).update(requested_at=now, started_at=None)
    if asked:
        _recompute_enqueue_on_commit(report.pk, delay_seconds=0)
        # Without a broker the task has just run here (outside a transaction, on_commit runs at once): show it.
        report.refresh_from_db()
    return report


def dashboard_report_compute(*, report_id: int) -> bool:
    """Recompute a requested dashboard report and store it. False when there was no request to serve: the task
    was delivered twice, or another worker took the request.

    The request is cleared before the data is read, so a change committed during the computation requests (and
    enqueues) the next one; a computation that finishes after a newer one never overwrites it."""
    started = timezone.now()
    claimed = DashboardReport.objects.filter(pk=report_id, requested_at__isnull=False).update(
        requested_at=None, started_at=started
    )
    if not claimed:
        return False
    report = DashboardReport.objects.select_related("campaign").get(pk=report_id)
    try:
        content = dashboard_content_build(campaign=report.campaign, levels=levels_from_key(report.levels))
    except Exception as error:
        # Kept on the row and shown on the page; not raised, since without a broker this runs inside the
        # request that submitted a judgment, which is committed and must not fail for it.
        logger.exception("agreement dashboard %s of campaign %s failed", report_id, report.campaign_id)
        DashboardReport.objects.filter(pk=report_id, started_at=started).update(
            started_at=None, error=f"{type(error).__name__}: {error}"
        )
        return False
    DashboardReport.objects.filter(Q(computed_at__isnull=True) | Q(computed_at__lt=started), pk=report_id).update(
        content=content.as_stored(), computed_at=started, error=""
    )
    DashboardReport.objects.filter(pk=report_id, started_at=started).update(started_at=None)
    return True
