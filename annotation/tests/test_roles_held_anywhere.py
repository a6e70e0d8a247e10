"""Rights checked for "some campaign" (the menu's four links, pages listing many campaigns) read the user's roles
once per user object, so once per request, and a membership given through the service is seen at once."""

import pytest

from annotation.selectors import CURATE, user_has_role
from annotation.services import campaign_member_add

pytestmark = pytest.mark.django_db


def test_the_roles_are_read_once_for_every_check_on_the_same_user(campaign, expert, django_assert_num_queries):
    campaign_member_add(campaign=campaign, user=expert, role="curator")
    with django_assert_num_queries(1):
        answers = [user_has_role(user=expert, roles=CURATE) for _ in range(4)]
    assert answers == [True] * 4


def test_a_role_given_after_a_check_is_seen_by_the_next_check(campaign, expert):
    assert not user_has_role(user=expert, roles=CURATE)
    campaign_member_add(campaign=campaign, user=expert, role="curator")
    assert user_has_role(user=expert, roles=CURATE)


def test_a_role_in_one_campaign_is_still_checked_against_that_campaign(campaign, expert):
    from annotation.services import campaign_create

    other = campaign_create(name="other-campaign", overlap=2)
    campaign_member_add(campaign=other, user=expert, role="curator")
    assert user_has_role(user=expert, roles=CURATE)
    assert user_has_role(user=expert, roles=CURATE, campaign_id=other.pk)
    assert not user_has_role(user=expert, roles=CURATE, campaign_id=campaign.pk)
