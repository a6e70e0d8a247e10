"""An ML engineer, in real Chromium: signs in, makes an export from the form, watches it finish on the detail
page and downloads the .tar; the archive holds exactly the snapshot folder."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotation.tests.conftest import screenshot
from exports.models import ExportSnapshot
from exports.tests.factories import experts_make, judge, pair_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_export_made_in_the_browser_downloads_as_a_tar(chromium, app_url, ml_engineer, export_campaign, tmp_path):
    (rater,) = experts_make(1, export_campaign)
    for index in range(10):
        judge(pair_make(export_campaign, prompt=f"prompt {index}"), rater, value=1 if index % 2 else -1)
    context = chromium.new_context(accept_downloads=True)
    page = context.new_page()

    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", ml_engineer.username)
    page.fill("input[name=password]", "pw-" + ml_engineer.username)
    page.click("button[type=submit]")
    page.click("nav >> text=Exports")
    page.select_option("select[name=campaign]", label=export_campaign.name)
    page.select_option("select[name=format]", "aesrm-pairwise")
    page.fill("input[name=seed]", "11")
    page.check("input[name=swap_augment]")
    page.click("[data-export-form] button[type=submit]")

    expect(page.locator("[data-export-progress]")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.locator("[data-manifest]")).to_contain_text("train 16")
    screenshot(page, "export-detail.png")
    with page.expect_download() as download_info:
        page.click("[data-download]")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    context.close()

    snapshot = ExportSnapshot.objects.get()
    folder = Path(snapshot.path)
    assert download.suggested_filename == f"{folder.name}.tar"
    with tarfile.open(saved) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    unpacked = tmp_path / "unpacked" / folder.name
    on_disk = {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}
    assert {p.relative_to(unpacked) for p in unpacked.rglob("*") if p.is_file()} == on_disk
    assert all((unpacked / name).read_bytes() == (folder / name).read_bytes() for name in on_disk)
    manifest = json.loads((unpacked / "manifest.json").read_text())
    assert manifest["created_by"] == ml_engineer.username and manifest["filters"]["seed"] == 11
    assert sum(manifest["splits"].values()) == 20
