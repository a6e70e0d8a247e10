"""Export options of the wrong type or value are a 400 naming the option, from the API and the form, and no
snapshot is made (a list as split was a TypeError, "nan" a NaN that jsonb refused: both 500s; "false" was read
as true and a seed of 1.7 as 1)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.services import campaign_member_add
from exports.models import ExportSnapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def engineer(campaign, ml_engineer):
    campaign_member_add(campaign=campaign, user=ml_engineer, role="ml_engineer")
    return ml_engineer


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"split": [[1]], "gold": ["x"]}, "split must be three ratios"),
        ({"split": 5}, "split must be three ratios"),
        ({"split": [True, 0.5, 0.5]}, "split must be three ratios"),
        ({"split": "nan/0.5/0.5"}, "split ratios must be finite numbers"),
        ({"gold": ["x"]}, "gold must be one of test, split, exclude"),
        ({"awaiting_adjudication": {"a": 1}}, "awaiting_adjudication must be one of exclude, include"),
        ({"seed": 1.7}, "seed must be a whole number"),
        ({"seed": -1}, "seed must be a whole number"),
        ({"min_agreement": "nan"}, "min_agreement must be a number between 0 and 1"),
        ({"min_agreement": [0.5]}, "min_agreement must be a number between 0 and 1"),
        ({"swap_augment": "false"}, "swap_augment must be true or false"),
    ],
)
def test_the_api_refuses_export_options_of_the_wrong_type_or_value(client, engineer, campaign, options, message):
    client.force_login(engineer)

    response = client.post(
        "/api/exports/",
        {"campaign": campaign.name, "format": "preference-pairs", "options": options},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not ExportSnapshot.objects.exists()


def test_the_form_refuses_a_split_that_is_not_three_finite_ratios(client, engineer, campaign):
    client.force_login(engineer)
    form = {
        "campaign": campaign.pk,
        "format": "preference-pairs",
        "split": "nan/0.5/0.5",
        "seed": 0,
        "min_agreement": 0.0,
        "gold": "test",
        "awaiting_adjudication": "exclude",
    }

    response = client.post(reverse("export-index"), form)

    assert response.status_code == 400
    assert response.context["form"].errors["split"] == ["split ratios must be finite numbers, got 'nan/0.5/0.5'"]
    assert not ExportSnapshot.objects.exists()
