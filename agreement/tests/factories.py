"""Hand-built campaigns for agreement tests: database rows only, no media files are read."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model

from annotation.models import Campaign, ChecklistQuestion, Criterion, VideoPair
from annotation.services import assignment_create, campaign_create, campaign_member_add, pair_judgment_submit
from annotation.tests.factories import VideoPairFactory

CRITERIA = ["VA1", "VA2", "VA3", "VA4", "VA5", "VA6", "VA7", "VF1", "VF2", "VF3", "VF4", "VF5", "VP1", "VP2", "VP3"]
DIMENSIONS = ["VA", "VF", "VP"]


def campaign_make(
    *, name: str, pairs: int, overlap: int = 3, checklist: bool = False, members: dict | None = None
) -> Campaign:
    """A campaign with `pairs` pairs named p1, p2, ...; without a checklist unless asked (judgments stay short).
    `members`: {user: role} (rights are per campaign), e.g. {curator: "curator"}."""
    campaign = campaign_create(name=name, overlap=overlap)
    for user, role in (members or {}).items():
        campaign_member_add(campaign=campaign, user=user, role=role)
    if not checklist:
        Campaign.objects.filter(pk=campaign.pk).update(checklist=None)
        campaign.refresh_from_db()
    for index in range(1, pairs + 1):
        VideoPairFactory(campaign=campaign, external_id=f"p{index}", prompt=f"prompt {index}")
    return campaign


def expert_make(username: str, campaign: Campaign | None = None):
    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    if campaign is not None:
        campaign_member_add(campaign=campaign, user=user, role="expert")
    return user


def verdicts(default: int = 0, **overrides: int) -> tuple[dict[str, int], dict[str, int]]:
    """(criteria, dimensions) with every code set to `default` except the ones given."""
    criteria = {code: overrides.get(code, default) for code in CRITERIA}
    dimensions = {code: overrides.get(code, default) for code in DIMENSIONS}
    return criteria, dimensions


def judge(pair: VideoPair, expert, *, swapped: bool = False, seconds: float | None = None, **overrides: int):
    """Submit a judgment through the real service: every code 0 unless overridden (e.g. VA1=1, VP=-1)."""
    assignment = assignment_create(pair=pair, expert=expert, swapped=swapped)
    criteria, dimensions = verdicts(**overrides)
    return pair_judgment_submit(assignment=assignment, criteria=criteria, dimensions=dimensions, checklist={})


def checklist_complete(campaign: Campaign, **answers: str) -> dict[int, str]:
    """A complete checklist for one video: the lowest option of every sub-dimension "no" (which answers the rest
    by the progressive rules), except sub-dimensions whose top question is given in `answers` as
    q<id>="yes"|"no": there the lower options are "yes" and the top one as given."""
    questions = list(ChecklistQuestion.objects.filter(checklist_id=campaign.checklist_id))
    by_sub: dict[str, list[ChecklistQuestion]] = {}
    for question in questions:
        by_sub.setdefault(question.sub_dimension, []).append(question)
    explicit = {int(key[1:]): value for key, value in answers.items()}
    result = {}
    for members in by_sub.values():
        members.sort(key=lambda question: question.level)
        top = members[-1]
        if top.id in explicit:
            result.update({question.id: "yes" for question in members[:-1]})
            result[top.id] = explicit[top.id]
        else:
            result[members[0].id] = "no"
    return result


def two_level_question(campaign: Campaign) -> ChecklistQuestion:
    """The top question of the first ungated sub-dimension with two options (e.g. Composition: good/bad)."""
    questions = ChecklistQuestion.objects.filter(checklist_id=campaign.checklist_id)
    for sub_dimension in questions.values_list("sub_dimension", flat=True).distinct():
        members = list(questions.filter(sub_dimension=sub_dimension).order_by("level"))
        if len(members) == 2 and all(q.not_applicable_when_id is None for q in members):
            return members[-1]
    raise AssertionError("the default checklist has a two-option sub-dimension")


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def criterion_codes(campaign: Campaign) -> list[str]:
    return list(Criterion.objects.filter(dimension__rubric=campaign.rubric).values_list("code", flat=True))
