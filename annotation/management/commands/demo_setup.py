import json
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agreement.services import judgments_import
from annotation.models import Campaign, Role
from annotation.services import campaign_create, campaign_member_add, user_ensure
from fixtures.demo_clips import generate_demo_set
from fixtures.demo_judgments import simulated_judgments
from pipelines.ingest import manifest_import

if TYPE_CHECKING:
    from exports.models import ExportSnapshot

DEMO_CAMPAIGN = "demo"
JUDGED_CAMPAIGN = "demo-judged"
DEMO_MODEL_TAG = "demo"
DEMO_SIZED_TAG = "demo-sized"
DEMO_BASE_MODEL = "tiny-qwen2.5-vl-demo"  # under .demo/models/, which ./run demo declares in TRAINING_MODEL_DIRS
# A few steps of DeScore's Bradley-Terry stage on a tiny random Qwen2.5-VL: minutes on two cores, curves with a loss
# and a pair accuracy per step, and a model that scores any uploaded video (it has not learnt much).
DEMO_VLM_OVERRIDES = {
    "stages.sft_steps": "20",
    "optim.batch_size": "2",
    "optim.learning_rate": "1e-3",
    "descore.use_cot": "false",
    "descore.eval_cot_tokens": "0",
    "video.fps": "4",
    "video.max_frames": "4",
    "video.max_pixels": "3136",
}
DEMO_AUDIT = {"accept": 4, "reject": 1}  # scripted critiques a curator reviews, so the audit queue has both states
SIMULATED_EXPERTS = ["sim-expert-1", "sim-expert-2", "sim-expert-3"]
DEMO_USERS = [
    # username, password, role, superuser
    ("admin", "aeslab-admin", None, True),
    ("curator", "aeslab-curator", Role.CURATOR, False),
    ("mlengineer", "aeslab-ml", Role.ML_ENGINEER, False),
    ("expert1", "aeslab-expert", Role.EXPERT, False),
    ("expert2", "aeslab-expert", Role.EXPERT, False),
    ("expert3", "aeslab-expert", Role.EXPERT, False),
]


User = get_user_model()


class Command(BaseCommand):
    help = "Generate the demo clips, import them as the 'demo' campaign and create one demo user per role."

    def add_arguments(self, parser):
        parser.add_argument("--scenes", type=int, default=8, help="Scenes to render (3 clips, 3 pairs each).")
        parser.add_argument(
            "--without-vlm",
            action="store_true",
            help="Skip training the demo-sized VLM (the minutes of demo_setup that tests need only once).",
        )

    def handle(self, *args, scenes: int, without_vlm: bool = False, **options):
        demo = generate_demo_set(settings.BASE_DIR / ".demo", scenes=scenes)
        campaign = Campaign.objects.filter(name=DEMO_CAMPAIGN).first() or campaign_create(
            name=DEMO_CAMPAIGN,
            overlap=3,
            description="Lavfi scenes with controlled degradations; the expected preference per dimension is known.",
        )
        report = manifest_import(manifest_path=demo.manifest_path, campaign=campaign)
        for line_number, message in report.errors:
            self.stderr.write(f"manifest line {line_number}: {message}")
        self.stdout.write(f"Demo campaign '{campaign.name}': {report.created} pairs added, {report.skipped} present.")
        judged = self._judged_campaign(demo)
        for username, password, role, superuser in DEMO_USERS:
            user = user_ensure(username=username, password=password, is_superuser=superuser)
            if role:
                campaign_member_add(campaign=campaign, user=user, role=role)
                if role != Role.EXPERT:
                    campaign_member_add(campaign=judged, user=user, role=role)
        engineer = User.objects.get(username="mlengineer")
        self._demo_critiques(judged, curator=User.objects.get(username="curator"))
        snapshot = self._demo_model(judged, engineer=engineer)
        if not without_vlm:
            self._demo_vlm_model(snapshot, engineer=engineer)
        self.stdout.write("Demo logins:")
        for username, password, role, _ in DEMO_USERS:
            self.stdout.write(f"  {username:<11} {password:<15} {role or 'staff admin'}")

    def _demo_model(self, campaign: Campaign, *, engineer) -> "ExportSnapshot":
        """A checklist-linear reward model trained on an aesrm-pairwise export of the judged campaign, so the
        registry and the playground's test-split pairs have a model to show; returns that export."""
        from exports.services import export_request
        from training.models import RegisteredModel
        from training.services import training_job_request

        existing = RegisteredModel.objects.filter(snapshot__campaign=campaign, recipe="checklist-linear").first()
        if existing is not None:
            return existing.snapshot
        snapshot = export_request(campaign=campaign, export_format="aesrm-pairwise", options={}, created_by=engineer)
        snapshot.refresh_from_db()  # built in this process: Celery runs eagerly in the demo
        job = training_job_request(snapshot=snapshot, recipe="checklist-linear", created_by=engineer)
        job.refresh_from_db()
        registered = RegisteredModel.objects.filter(job=job).first()
        if registered is None:
            self.stderr.write(f"Demo model: training job #{job.pk} {job.status}: {job.error[-500:]}")
            return snapshot
        registered.tags = [DEMO_MODEL_TAG]
        registered.save(update_fields=["tags"])
        self.stdout.write(f"Demo model: {registered.name} (try it at /playground/).")
        return snapshot

    def _demo_vlm_model(self, snapshot, *, engineer) -> None:
        """A demo-sized DeScore model: a tiny randomly initialised Qwen2.5-VL (built here, nothing downloaded)
        trained for a few steps, so the job page has curves and the playground a model that judges uploads."""
        from rm_training.tiny import save_tiny_qwen2_5_vl
        from training.models import RegisteredModel
        from training.selectors import model_dirs
        from training.services import registered_model_tag, training_job_request

        if RegisteredModel.objects.filter(snapshot=snapshot, recipe="descore").exists():
            return
        models_folder = settings.BASE_DIR / ".demo" / "models"
        if not any(folder == models_folder.resolve() for folder in model_dirs()):
            self.stderr.write(
                f"Demo VLM skipped: declare its folder as a base-model folder (TRAINING_MODEL_DIRS={models_folder}, "
                "as ./run demo does)."
            )
            return
        base_model = models_folder / DEMO_BASE_MODEL
        if not (base_model / "config.json").is_file():
            save_tiny_qwen2_5_vl(base_model)
        started = time.monotonic()
        job = training_job_request(
            snapshot=snapshot,
            recipe="descore",
            model_path=str(base_model),
            overrides=DEMO_VLM_OVERRIDES,
            created_by=engineer,
        )
        job.refresh_from_db()  # trained in this process: Celery runs eagerly in the demo
        registered = RegisteredModel.objects.filter(job=job).first()
        if registered is None:
            self.stderr.write(f"Demo VLM: training job #{job.pk} {job.status}: {job.error[-500:]}")
            return
        registered = registered_model_tag(model=registered, tags=[DEMO_MODEL_TAG, DEMO_SIZED_TAG], promoted=True)
        registered.name = f"Demo-sized descore (tiny random Qwen2.5-VL, {job.total_steps} steps; job #{job.pk})"
        registered.save(update_fields=["name"])
        self.stdout.write(
            f"Demo VLM: {registered.name} trained in {time.monotonic() - started:.0f} s; it judges uploaded videos "
            "at /playground/ (a demo-sized model: its verdicts show the pipeline, not a judgement to trust)."
        )

    def _demo_critiques(self, campaign: Campaign, *, curator) -> None:
        """Critiques of the judged pairs from the scripted teacher (distillation/scripted_teacher.py), through the
        real distillation job and filters; a curator then accepts and rejects a few in the audit queue."""
        from distillation.models import Critique, DistillationJob, Endpoint
        from distillation.scripted_teacher import SCRIPTED_TEACHER_NAME, ScriptedTeacher
        from distillation.services import critique_accept, critique_reject, endpoint_create, job_start

        if DistillationJob.objects.filter(campaign=campaign, endpoint__name=SCRIPTED_TEACHER_NAME).exists():
            return
        with ScriptedTeacher() as teacher:
            endpoint = Endpoint.objects.filter(name=SCRIPTED_TEACHER_NAME).first()
            if endpoint is None:
                endpoint = endpoint_create(
                    name=SCRIPTED_TEACHER_NAME,
                    base_url=teacher.url,
                    model=SCRIPTED_TEACHER_NAME,
                    requests_per_minute=0,
                    timeout_seconds=30.0,
                    max_retries=1,
                    backoff_base_seconds=0.2,
                )
            else:
                endpoint.base_url = teacher.url  # a new free port each time the demo is set up
                endpoint.save(update_fields=["base_url"])
            job = job_start(
                campaign=campaign,
                endpoint=endpoint,
                created_by=curator,
                frames_fps=1.0,
                frames_max=2,
                frames_short_side=64,
            )
        job.refresh_from_db()  # distilled in this process: Celery runs eagerly in the demo
        critiques = Critique.objects.filter(item__job=job)
        passed = list(critiques.filter(passed=True).order_by("item__pair_id"))
        accepted = passed[: DEMO_AUDIT["accept"]]
        rejected = passed[DEMO_AUDIT["accept"] : DEMO_AUDIT["accept"] + DEMO_AUDIT["reject"]]
        for critique in accepted:
            critique_accept(
                critique=critique,
                curator=curator,
                note="Demo audit: accepted to show an accepted critique (the scripted teacher's stock text).",
            )
        for critique in rejected:
            critique_reject(
                critique=critique,
                curator=curator,
                note="Demo audit: stock sentences that could describe any pair; nothing here is about these videos.",
            )
        self.stdout.write(
            f"Critiques from the {SCRIPTED_TEACHER_NAME} endpoint (job #{job.pk}, {job.status}): "
            f"{len(passed)} of {critiques.count()} passed the filters; the curator accepted {len(accepted)} and "
            f"rejected {len(rejected)} in the audit queue."
        )

    def _judged_campaign(self, demo) -> Campaign:
        """The same pairs judged by three simulated experts, so agreement, exports and distillation have data."""
        campaign = Campaign.objects.filter(name=JUDGED_CAMPAIGN).first() or campaign_create(
            name=JUDGED_CAMPAIGN,
            overlap=3,
            description="The demo pairs judged by three simulated experts (known preferences plus noise).",
        )
        manifest_import(manifest_path=demo.manifest_path, campaign=campaign)
        records = simulated_judgments(demo.expected, experts=SIMULATED_EXPERTS)
        report = judgments_import(campaign=campaign, lines=[json.dumps(record) for record in records])
        for line_number, message in report.errors:
            self.stderr.write(f"simulated judgment {line_number}: {message}")
        self.stdout.write(
            f"Campaign '{campaign.name}': {len(records)} simulated judgments: {report.created} imported, "
            f"{report.revised} revised, {report.unchanged} unchanged."
        )
        return campaign
