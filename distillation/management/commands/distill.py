from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Campaign
from distillation import services
from distillation.models import DistillationJob, Endpoint
from distillation.selectors import job_progress
from webapp.queue import QueueUnavailable


class Command(BaseCommand):
    help = (
        "Start an AesCoT distillation job over a campaign's consensus-labelled pairs on a configured endpoint. "
        "With a Celery broker the items run on the workers (follow the job page or GET /api/distillation/jobs/ID/); "
        "without one they run here, eagerly, waiting out rate limits (Retry-After, backoff) as a worker would."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="Campaign name.")
        parser.add_argument("--endpoint", required=True, help="Endpoint name (see /distillation/endpoints/).")
        parser.add_argument("--samples", type=int, default=1, help="K samples per item (self-consistency).")
        parser.add_argument("--judge-endpoint", default=None, help="Optional endpoint for the LLM-judge passes.")
        parser.add_argument("--fps", type=float, default=1.0, help="Frames sampled per second.")
        parser.add_argument("--max-frames", type=int, default=8, help="At most this many frames per video.")
        parser.add_argument("--short-side", type=int, default=256, help="Frames scaled to this short side (px).")
        parser.add_argument(
            "--alignment",
            default=DistillationJob.AlignmentMode.DIMENSIONS,
            choices=DistillationJob.AlignmentMode.values,
        )
        parser.add_argument("--min-criteria-share", type=float, default=0.8)
        parser.add_argument(
            "--scores",
            default=None,
            help='Scored data instead of pairs: a JSON Lines file of {"video_id": ID, "score": 0.62} records.',
        )

    def handle(self, *args, **options):
        campaign = Campaign.objects.filter(name=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"Campaign '{options['campaign']}' does not exist.")
        endpoint = Endpoint.objects.filter(name=options["endpoint"]).first()
        if endpoint is None:
            raise CommandError(f"Endpoint '{options['endpoint']}' does not exist.")
        judge = None
        if options["judge_endpoint"]:
            judge = Endpoint.objects.filter(name=options["judge_endpoint"]).first()
            if judge is None:
                raise CommandError(f"Endpoint '{options['judge_endpoint']}' does not exist.")
        if not 1 <= options["samples"] <= 16:
            raise CommandError("--samples must be between 1 and 16.")
        try:
            scores = _read_scores(options["scores"]) if options["scores"] else None
            job = self._start(campaign, endpoint, judge, scores, options)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        except QueueUnavailable as error:
            raise CommandError(f"{error} (the job was cancelled; resume it once the queue is back)") from error
        job.refresh_from_db()
        progress = job_progress(job=job)
        self.stdout.write(
            f"job {job.pk}: {job.status}, {progress.finished}/{progress.total} items, {progress.passed} critiques "
            f"passed all filters, {progress.prompt_tokens + progress.completion_tokens} tokens, "
            f"cost ${progress.cost:.4f}"
        )

    def _start(self, campaign, endpoint, judge, scores, options) -> DistillationJob:
        return services.job_start(
            campaign=campaign,
            endpoint=endpoint,
            judge_endpoint=judge,
            samples=options["samples"],
            frames_fps=options["fps"],
            frames_max=options["max_frames"],
            frames_short_side=options["short_side"],
            alignment_mode=options["alignment"],
            min_criteria_share=options["min_criteria_share"],
            scores=scores,
        )


def _read_scores(path: str) -> dict[int, float]:
    try:
        with open(path, encoding="utf-8") as lines:
            return services.scores_parse(lines=lines, source=path)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error}") from error
