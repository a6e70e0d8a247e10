"""`field__any=[...]`: the rows whose field is in the list, the list sent as one array parameter on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import VideoPair
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db


def test_any_matches_the_listed_ids_with_one_parameter_however_long_the_list(campaign):
    pairs = VideoPairFactory.create_batch(4, campaign=campaign)
    wanted = [pairs[0].pk, pairs[2].pk, *range(10**9, 10**9 + 2000)]  # 2,000 ids that match nothing

    with CaptureQueriesContext(connection) as queries:
        found = set(VideoPair.objects.filter(pk__any=wanted).values_list("pk", flat=True))

    assert found == {pairs[0].pk, pairs[2].pk}
    assert connection.vendor != "postgresql" or "= ANY(" in queries[0]["sql"]


def test_any_follows_foreign_keys_and_an_empty_list_matches_nothing(campaign):
    pair = VideoPairFactory(campaign=campaign)

    assert list(VideoPair.objects.filter(video_a_id__any=[pair.video_a_id]).values_list("pk", flat=True)) == [pair.pk]
    assert not VideoPair.objects.filter(video_a_id__any=[]).exists()
