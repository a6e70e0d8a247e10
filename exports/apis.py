from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Campaign
from exports.models import FORMATS, ExportSnapshot
from exports.selectors import access_campaign_for_export, access_snapshot, snapshots_for, user_can_export
from exports.services import ExportError, ExportNotCancellable, export_cancel, export_request
from exports.views import tar_response
from webapp.api_schema import QUEUE_UNREACHABLE_RESPONSE, ErrorSerializer


class CanExport(permissions.BasePermission):
    message = "Only ML engineers and curators of a campaign make and read exports."

    def has_permission(self, request, view) -> bool:
        return user_can_export(user=request.user)


class SnapshotSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ExportSnapshot
        fields = [
            "id",
            "campaign",
            "format",
            "options",
            "status",
            "progress",
            "progress_message",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "cancel_requested_at",
            "manifest",
        ]


class SnapshotCreateSerializer(serializers.Serializer):
    campaign = serializers.CharField(help_text="Campaign name.")
    format = serializers.ChoiceField(choices=FORMATS)
    options = serializers.DictField(
        required=False,
        help_text="split, seed, min_agreement, swap_augment, gold, awaiting_adjudication, video_scores, "
        "video_score_model, consensus (majority or reliability-weighted)",
    )


class SnapshotListCreateApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanExport]
    pagination_class = generics.GenericAPIView.pagination_class  # documents the list as paginated

    @extend_schema(responses=SnapshotSerializer(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(snapshots_for(user=request.user), request, view=self)
        return paginator.get_paginated_response(SnapshotSerializer(page, many=True).data)

    @extend_schema(
        request=SnapshotCreateSerializer, responses={202: SnapshotSerializer, 503: QUEUE_UNREACHABLE_RESPONSE}
    )
    def post(self, request):
        payload = SnapshotCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        campaign = Campaign.objects.filter(name=data["campaign"]).first()
        if campaign is None:
            return Response({"detail": f"unknown campaign {data['campaign']!r}"}, status=status.HTTP_400_BAD_REQUEST)
        access_campaign_for_export(user=request.user, campaign_id=campaign.pk)
        options = dict(data.get("options") or {})
        options.pop("media", None)  # the server decides how media reach the folder
        try:
            snapshot = export_request(
                campaign=campaign, export_format=data["format"], options=options, created_by=request.user
            )
        except ExportError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(SnapshotSerializer(snapshot).data, status=status.HTTP_202_ACCEPTED)


class SnapshotDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanExport]

    @extend_schema(responses=SnapshotSerializer)
    def get(self, request, snapshot_id: int):
        return Response(SnapshotSerializer(access_snapshot(user=request.user, snapshot_id=snapshot_id)).data)


class SnapshotDownloadApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanExport]

    @extend_schema(responses={(200, "application/x-tar"): bytes})
    def get(self, request, snapshot_id: int):
        return tar_response(access_snapshot(user=request.user, snapshot_id=snapshot_id))


class SnapshotCancelApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanExport]

    @extend_schema(
        request=None,
        responses={
            202: SnapshotSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="The export has already finished (succeeded, failed or cancelled)."
            ),
        },
        description=(
            "Cancel a queued export at once (status cancelled), or ask a running build to stop: it stays running "
            "with cancel_requested_at set until its builder stops at its next beat, removes its partial folder and "
            "ends cancelled. Who made the export, the campaign's curators and staff may cancel; 409 when the export "
            "has already finished."
        ),
    )
    def post(self, request, snapshot_id: int):
        snapshot = access_snapshot(user=request.user, snapshot_id=snapshot_id)
        try:
            snapshot = export_cancel(snapshot=snapshot, user=request.user)
        except ExportNotCancellable as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(SnapshotSerializer(snapshot).data, status=status.HTTP_202_ACCEPTED)
