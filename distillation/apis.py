"""REST: start a distillation job (ML engineers of its campaign), read its status (its curators and ML engineers)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Campaign
from distillation import services
from distillation.models import DistillationJob, Endpoint
from distillation.selectors import access_campaign_for_job, access_job, job_progress, user_can_distill
from webapp.api_schema import QUEUE_UNREACHABLE_RESPONSE


class CanDistill(permissions.BasePermission):
    message = "Only curators and ML engineers of a campaign see distillation jobs."

    def has_permission(self, request, view):
        return user_can_distill(user=request.user)


class JobStartSerializer(serializers.Serializer):
    campaign = serializers.SlugRelatedField(slug_field="name", queryset=Campaign.objects.all())
    endpoint = serializers.SlugRelatedField(slug_field="name", queryset=Endpoint.objects.all())
    judge_endpoint = serializers.SlugRelatedField(
        slug_field="name", queryset=Endpoint.objects.all(), required=False, allow_null=True
    )
    samples = serializers.IntegerField(min_value=1, max_value=16, default=1)
    frames_fps = serializers.FloatField(min_value=0.01, default=1.0)
    frames_max = serializers.IntegerField(min_value=1, max_value=64, default=8)
    frames_short_side = serializers.IntegerField(min_value=16, default=256)
    alignment_mode = serializers.ChoiceField(
        choices=DistillationJob.AlignmentMode.choices, default=DistillationJob.AlignmentMode.DIMENSIONS
    )
    min_criteria_share = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.8)
    scores = serializers.DictField(
        child=serializers.FloatField(min_value=0.0, max_value=1.0),
        required=False,
        help_text="Scored data instead of pairs: {video id: score in [0, 1]}.",
    )

    def validate_scores(self, value: dict) -> dict[int, float]:
        try:
            return {int(video_id): score for video_id, score in value.items()}
        except ValueError as error:
            raise serializers.ValidationError("keys must be video ids") from error


class JobStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    campaign = serializers.CharField()
    endpoint = serializers.CharField()
    endpoint_api_key = serializers.CharField(help_text='"set" or "not set"; the key itself is never returned.')
    kind = serializers.CharField()
    samples = serializers.IntegerField()
    prompt_version = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    passed = serializers.IntegerField()
    rejected_by = serializers.DictField(child=serializers.IntegerField())
    unparseable = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=8)
    eta_seconds = serializers.FloatField(allow_null=True)


def _status(job: DistillationJob) -> dict:
    progress = job_progress(job=job)
    return {
        "id": job.pk,
        "status": job.status,
        "campaign": job.campaign.name,
        "endpoint": job.endpoint.name,
        "endpoint_api_key": job.endpoint.api_key_status,
        "kind": job.kind,
        "samples": job.samples,
        "prompt_version": job.prompt_version,
        "total": progress.total,
        "done": progress.done,
        "failed": progress.failed,
        "cancelled": progress.cancelled,
        "passed": progress.passed,
        "rejected_by": progress.rejected_by,
        "unparseable": progress.unparseable,
        "prompt_tokens": progress.prompt_tokens,
        "completion_tokens": progress.completion_tokens,
        "cost": progress.cost,
        "eta_seconds": progress.eta_seconds,
    }


class JobStartApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanDistill]

    @extend_schema(request=JobStartSerializer, responses={201: JobStatusSerializer, 503: QUEUE_UNREACHABLE_RESPONSE})
    def post(self, request):
        serializer = JobStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        options = dict(serializer.validated_data)
        access_campaign_for_job(user=request.user, campaign_id=options["campaign"].pk)
        try:
            job = services.job_start(
                campaign=options.pop("campaign"), endpoint=options.pop("endpoint"), created_by=request.user, **options
            )
        except ValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return Response(JobStatusSerializer(_status(job)).data, status=status.HTTP_201_CREATED)


class JobStatusApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanDistill]

    @extend_schema(responses={200: JobStatusSerializer})
    def get(self, request, job_id: int):
        job = access_job(user=request.user, job_id=job_id)
        return Response(JobStatusSerializer(_status(job)).data)
