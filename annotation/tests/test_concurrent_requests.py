"""Races over HTTP against a live, threaded server on PostgreSQL: many "next pair" presses at once and a
double submit. The service-level races are in test_assignment_next_for.py and test_pair_judgment_submit.py."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from annotation.models import Assignment, PairJudgment, VideoPair
from annotation.services import campaign_member_add
from annotation.tests.factories import VideoPairFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _signed_in(app_url: str, client, user) -> httpx.Client:
    client.force_login(user)
    http = httpx.Client(base_url=app_url, follow_redirects=False, timeout=30)
    http.cookies.set("sessionid", client.cookies["sessionid"].value)
    http.get("/")  # sets the CSRF cookie
    return http


def _post(http: httpx.Client, url: str, data: dict | None = None) -> httpx.Response:
    return http.post(url, data=data or {}, headers={"X-CSRFToken": http.cookies["csrftoken"]})


def test_experts_pressing_next_pair_at_once_over_http_never_share_a_slot(app_url, campaign, django_user_model):
    assert connection.vendor == "postgresql"
    from django.test import Client

    experts = [django_user_model.objects.create_user(username=f"http-{i}", password="x") for i in range(10)]
    for expert in experts:
        campaign_member_add(campaign=campaign, user=expert, role="expert")
    VideoPairFactory.create_batch(4, campaign=campaign)  # 8 slots at overlap 2 for 10 experts
    sessions = [_signed_in(app_url, Client(), expert) for expert in experts]
    barrier = threading.Barrier(len(sessions))

    def press(http):
        barrier.wait()
        return _post(http, "/work/next/")

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        responses = list(pool.map(press, sessions))

    assert all(response.status_code == 302 for response in responses)
    opened = [
        response.headers["location"] for response in responses if "/work/assignments/" in response.headers["location"]
    ]
    assert len(opened) == 8 == Assignment.objects.count()
    assert all(pair.assignments.count() == 2 for pair in VideoPair.objects.all())


def test_a_double_submit_over_http_stores_one_judgment_and_tells_the_second_request(
    app_url, campaign, expert, django_user_model
):
    from django.test import Client

    campaign_member_add(campaign=campaign, user=expert, role="expert")
    VideoPairFactory(campaign=campaign)
    http = _signed_in(app_url, Client(), expert)
    workbench = _post(http, "/work/next/").headers["location"]
    page = http.get(workbench).text
    form = {"base_revision": "0", "then": "home"}
    for name in set(re.findall(r'name="((?:criterion|dimension|checklist-left|checklist-right)-[\w-]+)"', page)):
        form[name] = "yes" if name.startswith("checklist") else "same"
    barrier = threading.Barrier(2)

    def submit(_):
        barrier.wait()
        return _post(http, workbench + "submit/", form)

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(response.status_code for response in pool.map(submit, range(2)))
    assert statuses == [302, 409]
    assert PairJudgment.objects.count() == 1
