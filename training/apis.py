from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from training import selectors, services
from training.models import RegisteredModel, TrainingJob
from webapp.api_schema import QUEUE_UNREACHABLE_RESPONSE


class CanTrain(permissions.BasePermission):
    message = "Only ML engineers train models."

    def has_permission(self, request, view) -> bool:
        return selectors.user_can_train(user=request.user)


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingJob
        fields = [
            "id", "kind", "status", "recipe", "model_path", "overrides", "num_processes", "snapshot", "run_dir",
            "step", "total_steps", "loss", "samples_per_second", "eta_seconds", "error", "metrics",
            "created_at", "started_at", "heartbeat_at", "finished_at",
        ]  # fmt: skip


class JobCreateSerializer(serializers.Serializer):
    snapshot = serializers.IntegerField()
    recipe = serializers.CharField()
    model_path = serializers.CharField(required=False, allow_blank=True, default="")
    overrides = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
    num_processes = serializers.IntegerField(required=False, default=1)

    def validate_overrides(self, overrides: dict[str, str]) -> dict[str, str]:
        try:
            return services.check_override_keys(overrides)
        except services.TrainingError as error:
            raise serializers.ValidationError(str(error)) from error


class JobCreateApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanTrain]

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer, 503: QUEUE_UNREACHABLE_RESPONSE})
    def post(self, request):
        incoming = JobCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        snapshot = selectors.access_trainable_snapshot(user=request.user, snapshot_id=data["snapshot"])
        try:
            job = services.training_job_request(
                snapshot=snapshot,
                recipe=data["recipe"],
                model_path=data["model_path"],
                overrides=data["overrides"],
                num_processes=data["num_processes"],
                created_by=request.user,
            )
        except services.TrainingError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanTrain]

    @extend_schema(responses=JobSerializer)
    def get(self, request, job_id: int):
        return Response(JobSerializer(selectors.access_job(user=request.user, job_id=job_id)).data)


class ModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = RegisteredModel
        fields = [
            "id", "name", "recipe", "model_path", "snapshot", "rubric_version", "metrics", "run_dir",
            "checkpoint_path", "tags", "promoted", "files_deleted_at", "created_at", "job",
        ]  # fmt: skip


class ModelListApi(generics.ListAPIView):
    permission_classes = [permissions.IsAuthenticated, CanTrain]
    serializer_class = ModelSerializer

    def get_queryset(self):
        return selectors.models_for(user=self.request.user)
