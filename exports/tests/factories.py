"""Campaigns with judgments for export tests, made through the real services; proxies are small files on disk."""

from __future__ import annotations

import itertools
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from annotation.models import Campaign, ChecklistQuestion, PairJudgment, VideoPair
from annotation.services import assignment_create, campaign_member_add, pair_judgment_submit
from annotation.tests.factories import VideoFactory

_serial = itertools.count(1)


def video_with_proxy(*, prompt: str = ""):
    video = VideoFactory(prompt=prompt)
    proxy = Path(settings.MEDIA_ROOT) / video.proxy.name
    proxy.parent.mkdir(parents=True, exist_ok=True)
    proxy.write_bytes(f"proxy of {video.sha256}".encode())
    return video


def pair_make(campaign: Campaign, *, prompt: str = "a lighthouse at dusk", external_id: str | None = None) -> VideoPair:
    return VideoPair.objects.create(
        campaign=campaign,
        external_id=external_id or f"p{next(_serial):05d}",
        prompt=prompt,
        video_a=video_with_proxy(prompt=prompt),
        video_b=video_with_proxy(prompt=prompt),
    )


def experts_make(count: int, campaign: Campaign | None = None) -> list:
    users = []
    for _ in range(count):
        user = get_user_model().objects.create_user(username=f"rater-{next(_serial)}", password="pw")
        if campaign is not None:
            campaign_member_add(campaign=campaign, user=user, role="expert")
        users.append(user)
    return users


def judge(
    pair: VideoPair,
    expert,
    *,
    value: int = 1,
    swapped: bool = False,
    severe: dict | None = None,
    checklist: dict | None = None,
    **overrides: int,
) -> PairJudgment:
    """Every criterion and dimension `value` except the codes given (VA=-1, VP1=0); canonical A/B."""
    rubric = pair.campaign.rubric
    criteria = {c.code: overrides.get(c.code, value) for d in rubric.dimensions.all() for c in d.criteria.all()}
    dimensions = {d.code: overrides.get(d.code, value) for d in rubric.dimensions.all()}
    assignment = assignment_create(pair=pair, expert=expert, swapped=swapped)
    return pair_judgment_submit(
        assignment=assignment, criteria=criteria, dimensions=dimensions, severe=severe, checklist=checklist or {}
    )


def pairs_judged_by_one_expert(campaign: Campaign, count: int) -> Campaign:
    """`count` pairs with distinct prompts, each judged "A better" throughout by one expert."""
    (rater,) = experts_make(1, campaign)
    for index in range(count):
        judge(pair_make(campaign, prompt=f"prompt {index}"), rater, value=1)
    return campaign


def checklist_answers(campaign: Campaign, *, yes: bool) -> dict[int, str]:
    """A complete checklist for one video: the strongest option of every sub-dimension "yes" (yes=True), or the
    weakest "no" (yes=False); the progressive rules fill in the rest."""
    chosen: dict[str, ChecklistQuestion] = {}
    for question in ChecklistQuestion.objects.filter(checklist_id=campaign.checklist_id):
        current = chosen.get(question.sub_dimension)
        if current is None or (question.level > current.level if yes else question.level < current.level):
            chosen[question.sub_dimension] = question
    return {question.id: "yes" if yes else "no" for question in chosen.values()}
