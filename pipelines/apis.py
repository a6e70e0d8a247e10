from django.core.exceptions import ValidationError
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Campaign, Video, VideoPair
from annotation.selectors import INGEST, access_campaign, campaigns_for, user_has_role
from pipelines.ingest import PairRejected, pair_ingest_uploaded
from pipelines.media import VideoRejected
from webapp.api_schema import QUEUE_UNREACHABLE_RESPONSE


class VideoSerializer(serializers.ModelSerializer):
    class Meta:
        model = Video
        fields = [
            "id",
            "original_name",
            "sha256",
            "status",
            "error",
            "duration_seconds",
            "fps",
            "width",
            "height",
            "codec",
            "frame_count",
            "source_model",
            "proxy",
            "poster",
        ]


class VideoPairSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="name", read_only=True)
    pair_id = serializers.CharField(source="external_id", read_only=True)
    video_a = VideoSerializer(read_only=True)
    video_b = VideoSerializer(read_only=True)

    class Meta:
        model = VideoPair
        fields = ["id", "pair_id", "campaign", "prompt", "video_a", "video_b", "created_at"]


class PairUploadSerializer(serializers.Serializer):
    campaign = serializers.SlugRelatedField(slug_field="name", queryset=Campaign.objects.all())
    prompt = serializers.CharField()
    pair_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    video_a = serializers.FileField()
    video_b = serializers.FileField()
    source_a = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    source_b = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class CanIngest(permissions.BasePermission):
    """Pair and video records name sources and files, so experts (who judge blind) never read them."""

    message = "Only curators and ML engineers of a campaign (and staff) read or upload pairs and videos."

    def has_permission(self, request, view):
        return user_has_role(user=request.user, roles=INGEST)


class PairListCreateApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanIngest]
    pagination_class = generics.GenericAPIView.pagination_class  # documents the list as paginated

    @extend_schema(
        responses=VideoPairSerializer(many=True),
        parameters=[OpenApiParameter("campaign", str, description="Only the pairs of the campaign of this name.")],
    )
    def get(self, request):
        campaigns = campaigns_for(user=request.user, roles=INGEST)
        if name := request.query_params.get("campaign"):
            campaign = Campaign.objects.filter(name=name).first()
            if campaign is not None:
                access_campaign(user=request.user, campaign_id=campaign.pk, roles=INGEST, action="read its pairs")
            campaigns = campaigns.filter(name=name)
        pairs = VideoPair.objects.filter(campaign__in=campaigns).select_related("campaign", "video_a", "video_b")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(pairs.order_by("id"), request, view=self)
        # With the request, media come back as absolute URLs, as the schema documents.
        pairs_data = VideoPairSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(pairs_data)

    @extend_schema(
        request={"multipart/form-data": PairUploadSerializer},
        responses={
            201: VideoPairSerializer,
            200: OpenApiResponse(VideoPairSerializer, description="The campaign already had this pair."),
            503: QUEUE_UNREACHABLE_RESPONSE,
        },
    )
    def post(self, request):
        upload = PairUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        access_campaign(user=request.user, campaign_id=data["campaign"].pk, roles=INGEST, action="upload pairs to it")
        try:
            pair, created = pair_ingest_uploaded(
                campaign=data["campaign"],
                prompt=data["prompt"],
                external_id=data.get("pair_id") or None,
                video_a=data["video_a"],
                video_b=data["video_b"],
                source_a=data["source_a"],
                source_b=data["source_b"],
            )
        except (VideoRejected, PairRejected) as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        except ValidationError as error:
            return Response({"detail": "; ".join(error.messages)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            VideoPairSerializer(pair, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class VideoDetailApi(generics.RetrieveAPIView):
    serializer_class = VideoSerializer

    permission_classes = [permissions.IsAuthenticated, CanIngest]
    queryset = Video.objects.all()

    def get_object(self):
        video = super().get_object()
        campaigns = campaigns_for(user=self.request.user, roles=INGEST)
        if not VideoPair.objects.filter(Q(video_a=video) | Q(video_b=video), campaign__in=campaigns).exists():
            raise PermissionDenied("Only curators and ML engineers of a campaign with this video read its record.")
        return video
