"""With media on S3, an export built by a real worker copies each proxy out of the bucket into its media folder,
and a training job reads that export like any other."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.db import transaction

from annotation.services import campaign_create
from exports.models import ExportSnapshot
from exports.services import export_request
from exports.tests.factories import checklist_answers, experts_make, judge
from pipelines.ingest import IncomingVideo, pair_ingest
from training.models import RegisteredModel, TrainingJob
from training.services import training_job_create, training_job_run
from webapp.testing import campaign_staff_add, media_files, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Six pairs of the six demo clips (by index), so every split of the export has pairs.
PAIRS = [(0, 1), (2, 3), (4, 5), (0, 2), (1, 3), (4, 0)]


@pytest.fixture
def judged_campaign_on_s3(s3_media, demo_set, request):
    """Real clips ingested into the bucket (processed in this process), each pair judged by three experts; the
    better video's checklist is all yes, the worse one's all no."""
    clips = sorted((demo_set.manifest_path.parent / "clips").iterdir())
    campaign = campaign_staff_add(request, campaign_create(name="s3-campaign", overlap=3))
    experts = experts_make(3, campaign)
    for index, (a, b) in enumerate(PAIRS):
        pair, _ = pair_ingest(
            campaign=campaign,
            prompt=f"scene {index}",
            video_a=IncomingVideo(path=clips[a], original_name=clips[a].name),
            video_b=IncomingVideo(path=clips[b], original_name=clips[b].name),
        )
        a_better = index % 2 == 0
        checklist = {
            pair.video_a_id: checklist_answers(campaign, yes=a_better),
            pair.video_b_id: checklist_answers(campaign, yes=not a_better),
        }
        for expert in experts:
            judge(pair, expert, value=1 if a_better else -1, checklist=checklist)
    return campaign


def _bucket_sha256(bucket, key: str) -> str:
    return hashlib.sha256(bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()).hexdigest()


def test_a_worker_exports_media_from_the_bucket_and_a_training_job_reads_the_export(
    s3_media, start_worker, judged_campaign_on_s3, ml_engineer, media_root
):
    campaign = judged_campaign_on_s3
    start_worker()
    with transaction.atomic():
        snapshot = export_request(
            campaign=campaign,
            export_format="aesrm-pairwise",
            options={"split": [0.5, 0.25, 0.25], "seed": 3},
            created_by=ml_engineer,
        )

    def finished():
        current = ExportSnapshot.objects.get(pk=snapshot.pk)
        return current if current.is_finished else None

    done = wait_until(finished, timeout=90, message="the export to finish on the worker")
    assert done.status == ExportSnapshot.Status.SUCCEEDED, done.error

    folder = Path(done.path)
    proxies = {
        video.sha256: video.proxy.name for pair in campaign.pairs.all() for video in (pair.video_a, pair.video_b)
    }
    assert len(proxies) == 6
    exported = {path.name: path for path in (folder / "media").iterdir()}
    assert set(exported) == {f"{sha256}.mp4" for sha256 in proxies}
    for sha256, proxy_name in proxies.items():
        assert hashlib.sha256(exported[f"{sha256}.mp4"].read_bytes()).hexdigest() == _bucket_sha256(
            s3_media, proxy_name
        )
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) >= {f"media/{name}" for name in exported}
    assert media_files(media_root) == [], "media stay in the bucket; only the export folder holds copies"

    job = training_job_create(snapshot=done, recipe="checklist-linear", created_by=ml_engineer)
    job = training_job_run(job_id=job.pk)
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert set(job.metrics["dimensions"]) == {"VA", "VF", "VP"}
    assert RegisteredModel.objects.get(job=job).snapshot == done
