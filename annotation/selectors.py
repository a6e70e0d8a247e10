"""Reads of the annotation data, with permission checks where a user may not own the object."""

from __future__ import annotations

from django.db.models import QuerySet

from annotation.models import Campaign, Role


def user_has_role(*, user, role: str) -> bool:
    if not user.is_authenticated:
        return False
    return user.is_staff or user.groups.filter(name=role).exists()


def user_can_ingest(*, user) -> bool:
    return user_has_role(user=user, role=Role.CURATOR) or user_has_role(user=user, role=Role.ML_ENGINEER)


def campaigns_for(*, user) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.select_related("rubric", "checklist").order_by("name")
    if user_can_ingest(user=user):
        return campaigns
    return campaigns.filter(memberships__user=user).distinct()
