import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agreement.services import judgments_import
from annotation.models import Campaign, Role
from annotation.services import campaign_create, campaign_member_add, user_ensure
from fixtures.demo_clips import generate_demo_set
from fixtures.demo_judgments import simulated_judgments
from pipelines.ingest import manifest_import

DEMO_CAMPAIGN = "demo"
JUDGED_CAMPAIGN = "demo-judged"
DEMO_MODEL_TAG = "demo"
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

    def handle(self, *args, scenes: int, **options):
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
        self._demo_model(judged, engineer=User.objects.get(username="mlengineer"))
        self.stdout.write("Demo logins:")
        for username, password, role, _ in DEMO_USERS:
            self.stdout.write(f"  {username:<11} {password:<15} {role or 'staff admin'}")

    def _demo_model(self, campaign: Campaign, *, engineer) -> None:
        """A checklist-linear reward model trained on the judged campaign, so the registry and the playground have
        a model to show (a VLM recipe needs a base model folder; see TRAINING_MODEL_DIRS)."""
        from exports.services import export_request
        from training.models import RegisteredModel
        from training.services import training_job_request

        if RegisteredModel.objects.filter(snapshot__campaign=campaign).exists():
            return
        snapshot = export_request(campaign=campaign, export_format="aesrm-pairwise", options={}, created_by=engineer)
        snapshot.refresh_from_db()  # built in this process: Celery runs eagerly in the demo
        job = training_job_request(snapshot=snapshot, recipe="checklist-linear", created_by=engineer)
        job.refresh_from_db()
        registered = RegisteredModel.objects.filter(job=job).first()
        if registered is None:
            self.stderr.write(f"Demo model: training job #{job.pk} {job.status}: {job.error[-500:]}")
            return
        registered.tags = [DEMO_MODEL_TAG]
        registered.save(update_fields=["tags"])
        self.stdout.write(f"Demo model: {registered.name} (try it at /playground/).")

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
