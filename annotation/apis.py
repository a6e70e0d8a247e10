"""The annotation API: a campaign's queue settings for its curators, and "next pair" for experts."""

from __future__ import annotations

from django.core.exceptions import ValidationError as ModelValidationError
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import selectors, services
from annotation.models import Campaign


class CampaignQueueSerializer(serializers.Serializer):
    queue_model = serializers.IntegerField(
        allow_null=True,
        help_text="The registered reward model ordering the queue (annotation.model_queue); null: none. Only models "
        "with a scoring run on this campaign are accepted.",
    )
    queue_model_name = serializers.CharField(read_only=True, allow_null=True)
    prioritised = serializers.IntegerField(read_only=True, help_text="Pairs the model puts first (priority > 0).")
    uncertain = serializers.IntegerField(read_only=True, help_text="Pairs the model judged comparable or unreadably.")
    disputed = serializers.IntegerField(read_only=True, help_text="Pairs where it goes against the experts' majority.")


def _queue_json(campaign: Campaign) -> dict:
    counts = selectors.campaign_pairs_by_model_priority(campaign=campaign)
    return {
        "queue_model": campaign.queue_model_id,
        "queue_model_name": campaign.queue_model.name if campaign.queue_model_id else None,
        **counts,
    }


class CampaignQueueApi(APIView):
    """The campaign's model-in-the-loop queue: which reward model orders it and how many pairs it puts first.
    Curators of the campaign only."""

    @extend_schema(responses={200: CampaignQueueSerializer})
    def get(self, request, campaign_id: int):
        campaign = selectors.access_campaign(
            user=request.user, campaign_id=campaign_id, roles=selectors.CURATE, action="see its queue"
        )
        return Response(_queue_json(campaign))

    @extend_schema(request=CampaignQueueSerializer, responses={200: CampaignQueueSerializer})
    def put(self, request, campaign_id: int):
        campaign = selectors.access_campaign(
            user=request.user, campaign_id=campaign_id, roles=selectors.CURATE, action="choose its queue model"
        )
        body = CampaignQueueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        model_id = body.validated_data["queue_model"]
        model = None
        if model_id is not None:
            model = selectors.queue_model_choices(campaign=campaign).filter(pk=model_id).first()
            if model is None:
                raise ValidationError({"queue_model": ["No registered model with a scoring run on this campaign."]})
        try:
            services.campaign_queue_model_set(campaign=campaign, model=model)
        except ModelValidationError as invalid:
            raise ValidationError(invalid.message_dict) from invalid
        campaign.refresh_from_db()
        return Response(_queue_json(campaign))


class NextAssignmentSerializer(serializers.Serializer):
    assignment = serializers.IntegerField()
    campaign = serializers.IntegerField()
    url = serializers.CharField(help_text="The workbench page of the assignment.")


class NextAssignmentApi(APIView):
    """The expert's open assignment, or a new one from the queue (services.assignment_next_for): fewest slots left
    first, then the campaign's queue model's priority, then the order pairs were added. Blind: names no pair."""

    @extend_schema(
        request=None,
        responses={
            200: NextAssignmentSerializer,
            204: OpenApiResponse(description="No pair is waiting for this expert right now."),
        },
    )
    def post(self, request):
        try:
            assignment = services.assignment_next_for(expert=request.user)
        except services.NoPairAvailable:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {
                "assignment": assignment.pk,
                "campaign": assignment.campaign_id,
                "url": reverse("workbench", kwargs={"assignment_id": assignment.pk}),
            }
        )
