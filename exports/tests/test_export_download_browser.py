"""An ML engineer, in real Chromium: signs in, makes an export from the form, watches it finish on the detail
page, reads its options in plain words, downloads the .tar (the archive holds exactly the snapshot folder) and goes
on to train from the export's Train button; a curator, who may export but not train, sees no Train button."""

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
    options = page.locator("[data-options]")
    expect(options).to_contain_text("80% / 10% / 10%, by prompt, seed 11")
    expect(options).to_contain_text("each pair also exported with A and B swapped")
    expect(options).to_contain_text("left out until a curator adjudicates them")
    assert "{'" not in page.inner_text("main") and "/export-snapshots/" not in page.inner_text("main")
    screenshot(page, "export-detail.png")
    with page.expect_download() as download_info:
        page.click("[data-download]")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    page.click("[data-train]")
    expect(page).to_have_title(f"Train on export #{ExportSnapshot.objects.get().pk} · AesLab")
    expect(page.locator("select[name=recipe]")).to_be_visible()
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


def test_a_curator_who_may_export_but_not_train_sees_no_train_button(chromium, app_url, curator, export_campaign):
    (rater,) = experts_make(1, export_campaign)
    for index in range(4):
        judge(pair_make(export_campaign, prompt=f"prompt {index}"), rater, value=1)
    page = chromium.new_page()
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", curator.username)
    page.fill("input[name=password]", "pw-" + curator.username)
    page.click("button[type=submit]")
    page.click("nav >> text=Exports")
    page.select_option("select[name=campaign]", label=export_campaign.name)
    page.select_option("select[name=format]", "aesrm-pairwise")
    page.click("[data-export-form] button[type=submit]")

    expect(page.locator("[data-export-progress]")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.locator("[data-options]")).to_contain_text("every pair, whatever its agreement")
    assert page.locator("[data-train]").count() == 0
    page.close()
