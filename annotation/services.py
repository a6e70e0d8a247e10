"""Writes to the annotation data: rubric versions, checklists, campaigns and their members."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from annotation import defaults
from annotation.models import (
    Campaign,
    CampaignMembership,
    Checklist,
    ChecklistQuestion,
    Criterion,
    Dimension,
    Role,
    Rubric,
)


@transaction.atomic
def rubric_import(*, path: Path) -> Rubric:
    return defaults.rubric_build(
        defaults.load_json(path), rubric_model=Rubric, dimension_model=Dimension, criterion_model=Criterion
    )


@transaction.atomic
def checklist_import(*, path: Path) -> Checklist:
    return defaults.checklist_build(
        defaults.load_json(path), checklist_model=Checklist, question_model=ChecklistQuestion
    )


@transaction.atomic
def rubric_new_version(*, rubric: Rubric) -> Rubric:
    """Copy a rubric into the next free version number, ready to be edited."""
    next_version = (
        Rubric.objects.filter(slug=rubric.slug).order_by("-version").values_list("version", flat=True).first()
    ) + 1
    copy = Rubric.objects.create(
        slug=rubric.slug, version=next_version, title=rubric.title, description=rubric.description
    )
    for dimension in rubric.dimensions.prefetch_related("criteria"):
        dimension_copy = Dimension.objects.create(
            rubric=copy,
            code=dimension.code,
            name=dimension.name,
            description=dimension.description,
            order=dimension.order,
        )
        Criterion.objects.bulk_create(
            Criterion(
                dimension=dimension_copy,
                code=criterion.code,
                name=criterion.name,
                definition=criterion.definition,
                guidance=criterion.guidance,
                order=criterion.order,
            )
            for criterion in dimension.criteria.all()
        )
    return copy


def rubric_default() -> Rubric:
    data = defaults.load_json(defaults.DEFAULT_RUBRIC_FILE)
    return Rubric.objects.get(slug=data["slug"], version=data["version"])


def checklist_default() -> Checklist:
    data = defaults.load_json(defaults.DEFAULT_CHECKLIST_FILE)
    return Checklist.objects.get(slug=data["slug"], version=data["version"])


@transaction.atomic
def campaign_create(
    *,
    name: str,
    rubric: Rubric | None = None,
    checklist: Checklist | None = None,
    overlap: int = 3,
    description: str = "",
    created_by=None,
) -> Campaign:
    campaign = Campaign(
        name=name,
        rubric=rubric or rubric_default(),
        checklist=checklist if checklist is not None else checklist_default(),
        overlap=overlap,
        description=description,
        created_by=created_by,
    )
    campaign.full_clean()
    campaign.save()
    return campaign


def campaign_member_add(*, campaign: Campaign, user, role: str) -> CampaignMembership:
    membership, _ = CampaignMembership.objects.get_or_create(campaign=campaign, user=user, role=Role(role))
    user.groups.add(Group.objects.get(name=role))
    return membership


def user_ensure(*, username: str, password: str, role: str | None = None, is_superuser: bool = False):
    """Create a user (or reset its password) and put it in its role's group."""
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = user.is_superuser = is_superuser
    user.save()
    if role:
        user.groups.add(Group.objects.get(name=Role(role)))
    return user
