"""Annotation's signals: a change to a campaign's judgments, which the apps built on annotation listen to (agreement
recomputes its dashboard) so annotation need not import them; and a change to a rubric's dimensions or criteria, or
to a checklist's questions, which moves its `changed_at`: the workbench caches what it builds from a definition
under keys holding its version and `changed_at` (annotation.selectors.definition_cached), so no machine serves
markup of an edited definition."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver
from django.utils import timezone

from annotation.models import Checklist, ChecklistQuestion, Criterion, Dimension, Rubric

# Sent once a change to a campaign's judgments is committed: a judgment submitted or revised, the campaign locked.
# Keyword argument: campaign_id.
judgments_changed = Signal()


@receiver([post_save, post_delete], sender=Dimension)
def rubric_touch_for_dimension(sender, instance: Dimension, **kwargs) -> None:
    Rubric.objects.filter(pk=instance.rubric_id).update(changed_at=timezone.now())


@receiver([post_save, post_delete], sender=Criterion)
def rubric_touch_for_criterion(sender, instance: Criterion, **kwargs) -> None:
    # By the dimension's id: when a dimension is deleted its criteria go first, while the dimension still exists.
    Rubric.objects.filter(dimensions__id=instance.dimension_id).update(changed_at=timezone.now())


@receiver([post_save, post_delete], sender=ChecklistQuestion)
def checklist_touch_for_question(sender, instance: ChecklistQuestion, **kwargs) -> None:
    Checklist.objects.filter(pk=instance.checklist_id).update(changed_at=timezone.now())
