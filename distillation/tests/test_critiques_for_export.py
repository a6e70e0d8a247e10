"""The contract exports rely on: only critiques that passed the three filters and a curator accepted."""

import pytest
from django.core.exceptions import ValidationError

from annotation.tests.factories import VideoPairFactory
from distillation import services
from distillation.models import CritiqueRevision
from distillation.selectors import critiques_for_export
from distillation.tests.factories import accepted_critique_create, clean_text_for, item_create, uniform_labels

pytestmark = pytest.mark.django_db


def test_an_accepted_clean_critique_is_exported_by_pair_id(campaign, curator):
    pair = VideoPairFactory(campaign=campaign)
    critique = accepted_critique_create(pair=pair, curator=curator)

    exported = critiques_for_export(campaign=campaign)

    assert exported == {pair.id: critique.text}
    assert exported[pair.id].startswith("<think>") and exported[pair.id].endswith(
        "<answer>VA: 1, VF: 1, VP: 1</answer>"
    )


def test_pending_and_rejected_critiques_are_not_exported(campaign, curator):
    pending = item_create(pair=VideoPairFactory(campaign=campaign))
    services.critique_record(item=pending, sample_index=0, text=clean_text_for(campaign.rubric, pending.labels))
    rejected_item = item_create(pair=VideoPairFactory(campaign=campaign))
    rejected = services.critique_record(
        item=rejected_item, sample_index=0, text=clean_text_for(campaign.rubric, rejected_item.labels)
    )
    services.critique_reject(critique=rejected, curator=curator, note="bland")

    assert critiques_for_export(campaign=campaign) == {}


def test_an_edited_critique_is_exported_with_the_edit_and_the_history_kept(campaign, curator):
    pair = VideoPairFactory(campaign=campaign)
    item = item_create(pair=pair)
    original = clean_text_for(campaign.rubric, item.labels)
    critique = services.critique_record(item=item, sample_index=0, text=original)
    edited = original.replace("deliberate choices", "deliberate, motivated choices", 1)

    services.critique_accept(critique=critique, curator=curator, text=edited)

    assert critiques_for_export(campaign=campaign) == {pair.id: edited}
    critique.refresh_from_db()
    assert critique.raw_text == original and critique.edited
    assert list(critique.revisions.values_list("action", flat=True)) == [
        CritiqueRevision.Action.EDIT,
        CritiqueRevision.Action.ACCEPT,
    ]


def test_a_critique_that_fails_a_filter_cannot_be_accepted(campaign, curator):
    item = item_create(pair=VideoPairFactory(campaign=campaign))
    leaky = clean_text_for(campaign.rubric, item.labels).replace("A: The frame", "A: As the experts said, the frame", 1)
    critique = services.critique_record(item=item, sample_index=0, text=leaky)

    with pytest.raises(ValidationError):
        services.critique_accept(critique=critique, curator=curator)
    assert critiques_for_export(campaign=campaign) == {}


def test_export_reads_in_one_query_whatever_the_number_of_pairs(campaign, curator, django_assert_num_queries):
    pairs = [VideoPairFactory(campaign=campaign) for _ in range(4)]
    for pair in pairs:
        accepted_critique_create(pair=pair, curator=curator, labels=uniform_labels(campaign.rubric, -1))

    with django_assert_num_queries(1):
        exported = critiques_for_export(campaign=campaign)

    assert sorted(exported) == sorted(pair.id for pair in pairs)
    assert all(text.endswith("<answer>VA: -1, VF: -1, VP: -1</answer>") for text in exported.values())
