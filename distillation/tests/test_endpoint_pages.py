"""Endpoint pages: curators and ML engineers of any campaign (and staff) add, edit and test endpoints; experts may
not. The key is write-only: shown back as its last four characters, a blank field keeps it."""

import pytest
from django.urls import reverse

from annotation.services import campaign_member_add
from distillation import services
from distillation.models import Endpoint
from distillation.selectors import endpoint_api_key
from distillation.tests import fake_llm as script

pytestmark = pytest.mark.django_db

KEY = "sk-live-abcdefghijklmnop-WXYZ"


def _form(**overrides) -> dict:
    form = {
        "name": "qwen-local", "base_url": "http://127.0.0.1:8000/v1", "model": "Qwen/Qwen2.5-VL-7B-Instruct",
        "api_key": "", "api_key_env": "", "max_concurrency": 4, "requests_per_minute": 60, "timeout_seconds": 120,
        "max_tokens": 4096, "temperature": 0.7, "max_retries": 5, "backoff_base_seconds": 2,
        "price_prompt_per_1k": "0", "price_completion_per_1k": "0",
    }  # fmt: skip
    return {**form, **overrides}


@pytest.fixture
def endpoint():
    return services.endpoint_create(name="qwen-local", base_url="http://127.0.0.1:8000/v1", model="m", api_key=KEY)


def test_a_curator_adds_an_endpoint_whose_key_is_stored_encrypted(client, curator, campaign):
    client.force_login(curator)
    response = client.post(reverse("distillation-endpoint-add"), _form(api_key=KEY))
    endpoint = Endpoint.objects.get(name="qwen-local")
    assert response.status_code == 302 and response.url == reverse("distillation-endpoint", args=[endpoint.pk])
    assert KEY not in endpoint.api_key_encrypted and endpoint_api_key(endpoint=endpoint) == KEY


def test_the_key_is_shown_back_only_as_its_last_four_characters(client, ml_engineer, campaign, endpoint):
    client.force_login(ml_engineer)
    for url in (reverse("distillation-endpoints"), reverse("distillation-endpoint", args=[endpoint.pk])):
        page = client.get(url).content.decode()
        assert "ending in …WXYZ" in page
        assert KEY not in page and KEY[:-4] not in page and endpoint.api_key_encrypted not in page


def test_a_blank_key_keeps_the_stored_one_a_new_one_replaces_it_and_remove_clears_it(
    client, curator, campaign, endpoint
):
    client.force_login(curator)
    url = reverse("distillation-endpoint", args=[endpoint.pk])
    assert client.post(url, _form(model="qwen-72b")).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.model == "qwen-72b" and endpoint_api_key(endpoint=endpoint) == KEY

    client.post(url, _form(api_key="sk-another-key-0000-1111"))
    endpoint.refresh_from_db()
    assert endpoint_api_key(endpoint=endpoint) == "sk-another-key-0000-1111"

    client.post(url, _form(clear_api_key="on"))
    endpoint.refresh_from_db()
    assert endpoint.api_key_encrypted == "" and endpoint.api_key_status == "not set"


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("ftp://models.example.com/v1", "Give an http:// or https:// URL"),
        ("127.0.0.1:8000/v1", "Give an http:// or https:// URL"),
        ("http:///v1", "Give an http:// or https:// URL"),
        ("http://gpu1:eighty/v1", "This URL cannot be read"),
        ("http://127.0.0.1:8000/v1/chat/completions", "not the /chat/completions route"),
    ],
)
def test_a_base_url_that_is_not_an_http_root_is_refused_next_to_the_field(client, curator, campaign, base_url, message):
    client.force_login(curator)
    response = client.post(reverse("distillation-endpoint-add"), _form(base_url=base_url, api_key=KEY))
    assert response.status_code == 200 and not Endpoint.objects.exists()
    page = response.content.decode()
    assert message in page and 'data-field="base_url"' in page
    assert KEY not in page  # the password field is not rendered back


@pytest.mark.parametrize("base_url", ["http://vllm:8000/v1", "http://gpu1.lan:8000/v1", "https://api.openai.com/v1"])
def test_a_compose_service_or_a_lan_host_without_a_dot_is_a_valid_base_url(client, curator, campaign, base_url):
    client.force_login(curator)
    assert client.post(reverse("distillation-endpoint-add"), _form(base_url=base_url)).status_code == 302
    assert Endpoint.objects.get().base_url == base_url


def test_a_trailing_slash_is_dropped_from_the_base_url(client, curator, campaign):
    client.force_login(curator)
    client.post(reverse("distillation-endpoint-add"), _form(base_url="http://vllm:8000/v1/"))
    assert Endpoint.objects.get().base_url == "http://vllm:8000/v1"


def test_a_refused_edit_leaves_the_saved_endpoint_unchanged(client, curator, campaign, endpoint):
    client.force_login(curator)
    response = client.post(
        reverse("distillation-endpoint", args=[endpoint.pk]), _form(base_url="gopher://x", model="z")
    )
    assert response.status_code == 200
    saved = Endpoint.objects.get(pk=endpoint.pk)
    assert (saved.base_url, saved.model) == ("http://127.0.0.1:8000/v1", "m")
    assert endpoint_api_key(endpoint=saved) == KEY


def test_a_taken_name_is_refused(client, curator, campaign, endpoint):
    client.force_login(curator)
    response = client.post(reverse("distillation-endpoint-add"), _form(name="qwen-local"))
    assert response.status_code == 200 and Endpoint.objects.count() == 1
    assert "already exists" in response.content.decode()


def test_the_test_button_answers_inside_the_page_through_htmx(client, curator, campaign, fake_llm):
    endpoint = services.endpoint_create(name="fake", base_url=fake_llm.url, model="m")
    fake_llm.answers["unknown"] = "A test card with colour bars."
    client.force_login(curator)
    url = reverse("distillation-endpoint-test", args=[endpoint.pk])
    partial = client.post(url, {"question": "What is this?"}, headers={"HX-Request": "true"}).content.decode()
    assert "A test card with colour bars." in partial and "data-latency-ms" in partial
    assert "<html" not in partial
    full = client.post(url, {"question": "What is this?"}).content.decode()
    assert "A test card with colour bars." in full and "data-endpoint-form" in full  # without JavaScript


def test_a_failed_test_shows_the_error_and_saves_nothing(client, ml_engineer, campaign, fake_llm):
    endpoint = services.endpoint_create(name="fake", base_url=fake_llm.url, model="m", api_key=KEY)
    before = dict(Endpoint.objects.filter(pk=endpoint.pk).values().get())
    fake_llm.script("unknown", script.status(500))
    client.force_login(ml_engineer)
    url = reverse("distillation-endpoint-test", args=[endpoint.pk])
    page = client.post(url, {"question": "What is this?"}, headers={"HX-Request": "true"}).content.decode()
    assert 'data-probe-result="error"' in page and "HTTP 500" in page and "failed while answering" in page
    assert dict(Endpoint.objects.filter(pk=endpoint.pk).values().get()) == before


def test_an_empty_question_is_not_sent(client, curator, campaign, fake_llm):
    endpoint = services.endpoint_create(name="fake", base_url=fake_llm.url, model="m")
    client.force_login(curator)
    url = reverse("distillation-endpoint-test", args=[endpoint.pk])
    page = client.post(url, {"question": ""}, headers={"HX-Request": "true"}).content.decode()
    assert "This field is required" in page and fake_llm.count() == 0


def test_an_expert_is_refused_every_endpoint_page(client, expert, campaign, endpoint):
    campaign_member_add(campaign=campaign, user=expert, role="expert")
    client.force_login(expert)
    for url in (
        reverse("distillation-endpoints"),
        reverse("distillation-endpoint-add"),
        reverse("distillation-endpoint", args=[endpoint.pk]),
        reverse("distillation-endpoint-test-card"),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("distillation-endpoint-add"), _form(name="sneaky")).status_code == 403
    assert client.post(reverse("distillation-endpoint", args=[endpoint.pk]), _form(model="x")).status_code == 403
    assert client.post(reverse("distillation-endpoint-test", args=[endpoint.pk]), {"question": "q"}).status_code == 403
    assert list(Endpoint.objects.values_list("name", "model")) == [("qwen-local", "m")]


def test_staff_without_a_campaign_manage_endpoints(admin_client, endpoint):
    assert admin_client.get(reverse("distillation-endpoints")).status_code == 200
    assert admin_client.get(reverse("distillation-endpoint", args=[endpoint.pk])).status_code == 200


def test_the_test_card_is_a_jpeg(client, curator, campaign):
    client.force_login(curator)
    response = client.get(reverse("distillation-endpoint-test-card"))
    assert response["Content-Type"] == "image/jpeg" and response.content[:2] == b"\xff\xd8"


def test_the_jobs_page_links_to_the_endpoints_page_instead_of_the_admin(client, curator, campaign):
    client.force_login(curator)
    page = client.get(reverse("distillation-index")).content.decode()
    assert reverse("distillation-endpoints") in page and reverse("distillation-endpoint-add") in page
    assert "in the admin" not in page
