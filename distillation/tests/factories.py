"""Test data for distillation, usable from other apps' tests too.

`accepted_critique_create(pair=..., curator=...)` makes a critique of `pair` that passed the three filters and
was accepted by `curator` (through distillation.services.critique_accept), so that
`distillation.selectors.critiques_for_export(campaign=pair.campaign)` returns it.
`cot_text(criteria, dimensions)` writes a clean AesRM-CoT text with the given verdicts.
"""

from __future__ import annotations

from decimal import Decimal

from annotation.models import Criterion, VideoPair
from distillation import services
from distillation.models import Critique, DistillationItem, DistillationJob, Endpoint
from distillation.scripted_teacher import cot_text


def rubric_criteria(rubric) -> list[tuple[str, str]]:
    return list(
        Criterion.objects.filter(dimension__rubric=rubric)
        .order_by("dimension__order", "dimension__code", "order", "code")
        .values_list("code", "name")
    )


def uniform_labels(rubric, value: int = 1) -> dict:
    criteria = {code: value for code, _ in rubric_criteria(rubric)}
    dimensions = {code: value for code in rubric.dimensions.order_by("order").values_list("code", flat=True)}
    return {"criteria": criteria, "dimensions": dimensions}


def clean_text_for(rubric, labels: dict) -> str:
    names = dict(rubric_criteria(rubric))
    return cot_text(labels["criteria"], labels["dimensions"], names=names)


def endpoint_create(name: str = "test-endpoint", base_url: str = "http://127.0.0.1:9/v1", **options) -> Endpoint:
    options.setdefault("model", "test-model")
    options.setdefault("price_prompt_per_1k", Decimal("0.01"))
    options.setdefault("price_completion_per_1k", Decimal("0.03"))
    return services.endpoint_create(name=name, base_url=base_url, **options)


def item_create(*, pair: VideoPair, labels: dict | None = None, job: DistillationJob | None = None) -> DistillationItem:
    """An item of a job (made here when not given) with the given labels, bypassing consensus."""
    if job is None:
        endpoint = Endpoint.objects.filter(name="factory-endpoint").first() or endpoint_create(name="factory-endpoint")
        job = DistillationJob.objects.create(
            campaign=pair.campaign, endpoint=endpoint, prompt_version="factory", total_items=1
        )
    labels = labels or uniform_labels(pair.campaign.rubric)
    return DistillationItem.objects.create(
        job=job, pair=pair, labels=labels, tone="clear", item_key=f"pair:{pair.pk}:factory-{job.pk}"
    )


def accepted_critique_create(*, pair: VideoPair, curator, text: str | None = None, labels: dict | None = None):
    """A critique of `pair` that passed all three filters and was accepted by `curator`."""
    item = item_create(pair=pair, labels=labels)
    text = text or clean_text_for(pair.campaign.rubric, item.labels)
    critique = services.critique_record(item=item, sample_index=0, text=text)
    return services.critique_accept(critique=critique, curator=curator)


__all__ = ["Critique", "accepted_critique_create", "clean_text_for", "cot_text", "item_create", "uniform_labels"]
