"""The OpenAPI schema at /api/schema/ describes what the API answers: schemathesis generates requests for every
operation, valid and invalid, and sends them to the live server (PostgreSQL behind it), signed in as each role
and anonymously. No answer may be a 5xx, and every answer's status code, content type and body must be the ones
the schema documents.

Bounded: a few generated requests per operation and generation mode (derandomized, so a run is repeatable),
and, for operations on one object, a few more with the path pointing at a real object of the role's campaign.
The figures per role (operations, calls, failures) are printed; run with -s to see them."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotation.services import campaign_create, campaign_member_add
from annotation.tests.factories import VideoPairFactory
from distillation.services import endpoint_create, job_create
from exports.services import export_snapshot_create

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 6
ROLES = ("anonymous", "expert", "curator", "ml_engineer")


@dataclass
class Tally:
    operations: int = 0
    calls: int = 0
    failing_calls: int = 0
    failures: Counter = field(default_factory=Counter)  # (operation, failure title) -> calls that failed so
    messages: dict = field(default_factory=dict)  # (operation, failure title) -> the first failure's message
    statuses: Counter = field(default_factory=Counter)  # status code -> calls answered with it

    def line(self, role: str) -> str:
        return (
            f"schemathesis {role}: {self.operations} operations, {self.calls} calls, "
            f"{self.failing_calls} failing calls, {len(self.failures)} distinct failures; answers: "
            + ", ".join(f"{code} x{count}" for code, count in sorted(self.statuses.items()))
        )


@pytest.fixture
def world(django_user_model, tmp_path):
    """One campaign with three pairs, an export snapshot and a distillation job; a member of each role."""
    campaign = campaign_create(name="schema-campaign", overlap=2)
    pairs = [VideoPairFactory(campaign=campaign) for _ in range(3)]
    users = {}
    for role in ("expert", "curator", "ml_engineer"):
        users[role] = django_user_model.objects.create_user(username=f"schema-{role}", password="x")
        campaign_member_add(campaign=campaign, user=users[role], role=role)
    snapshot = export_snapshot_create(
        campaign=campaign, export_format="preference-pairs", created_by=users["ml_engineer"], path=tmp_path / "export"
    )
    endpoint = endpoint_create(name="schema-endpoint", base_url="http://127.0.0.1:9/v1", model="none")
    job = job_create(campaign=campaign, endpoint=endpoint, created_by=users["curator"])
    real_objects = {
        "/api/videos/{id}/": {"id": pairs[0].video_a_id},
        "/api/exports/{snapshot_id}/": {"snapshot_id": snapshot.pk},
        "/api/exports/{snapshot_id}/download/": {"snapshot_id": snapshot.pk},
        "/api/distillation/jobs/{job_id}/": {"job_id": job.pk},
    }
    return users, real_objects


def _session_for(user) -> requests.Session:
    """A browser-like session: Django's session cookie for `user` (none when anonymous) and a CSRF cookie
    echoed in the header, as the API's session authentication expects for writes."""
    session = requests.Session()
    csrf = secrets.token_hex(16)
    session.cookies.set("csrftoken", csrf)
    session.headers["X-CSRFToken"] = csrf
    if user is not None:
        client = Client()
        client.force_login(user)
        session.cookies.set("sessionid", client.cookies["sessionid"].value)
    return session


def _exercise(operation, *, session, base_url: str, tally: Tally, mode, path_parameters=None) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def send(case):
        tally.calls += 1
        response = case.call(base_url=base_url, session=session, timeout=60)
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            tally.failing_calls += 1
            for failure in group.exceptions:
                key = (label, f"{failure.title} ({response.status_code})")
                tally.failures[key] += 1
                tally.messages.setdefault(key, failure.message)

    try:
        send()
    except Unsatisfiable:
        pass  # nothing of this mode can be generated for the operation (an invalid request without parameters)


@pytest.mark.parametrize("role", ROLES)
def test_every_answer_of_the_api_matches_its_schema(role, world, live_server):
    users, real_objects = world
    session = _session_for(users.get(role))
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json", timeout=60)
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        tally.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(operation, session=session, base_url=live_server.url, tally=tally, mode=mode)
        if operation.path in real_objects:
            _exercise(
                operation,
                session=session,
                base_url=live_server.url,
                tally=tally,
                mode=GenerationMode.POSITIVE,
                path_parameters=real_objects[operation.path],
            )

    print(tally.line(role))
    for (label, title), count in sorted(tally.failures.items()):
        print(f"  {label}: {title} x{count}: {tally.messages[(label, title)][:300]}")
    assert tally.operations > 0 and tally.calls > 0
    assert not tally.failures, tally.line(role)
