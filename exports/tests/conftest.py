from __future__ import annotations

import pytest

from annotation.models import Campaign
from annotation.services import campaign_create
from exports.tests.factories import pairs_judged_by_one_expert
from webapp.testing import campaign_staff_add


@pytest.fixture
def export_campaign(db, request):
    """A campaign without a checklist, so judgments need verdicts only; the test's curator and ML engineer hold
    their roles in it."""
    campaign = campaign_create(name="export-campaign", overlap=3)
    Campaign.objects.filter(pk=campaign.pk).update(checklist=None)
    campaign.refresh_from_db()
    return campaign_staff_add(request, campaign)


@pytest.fixture
def judged_campaign(export_campaign):
    """Ten pairs, each judged by one expert."""
    return pairs_judged_by_one_expert(export_campaign, 10)


@pytest.fixture
def checklist_campaign(db, request):
    """A campaign with the default VisionReward checklist: every judgment answers it for both videos."""
    return campaign_staff_add(request, campaign_create(name="checklist-campaign", overlap=3))


@pytest.fixture
def hf_offline(tmp_path, monkeypatch):
    """datasets without network, caching under the test's folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets

    datasets.disable_progress_bars()
    return tmp_path / "hf-cache"


# Browser fixtures (Debian's Chromium through Playwright, a live server of the real app) from the annotation app.
from annotation.tests.conftest import app_url, chromium, django_orm_beside_playwright  # noqa: E402, F401
