from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboards import ranking
from leaderboards.forms import MAX_RESAMPLES
from leaderboards.selectors import (
    OVERALL,
    SOURCES,
    access_campaign_for_leaderboard,
    campaigns_comparable_with,
    leaderboard_for,
    targets_for,
)


class LeaderboardQuerySerializer(serializers.Serializer):
    target = serializers.CharField(required=False, default=OVERALL)
    source = serializers.ChoiceField(choices=SOURCES, required=False, default="consensus")
    resamples = serializers.IntegerField(
        required=False, default=ranking.DEFAULT_RESAMPLES, min_value=0, max_value=MAX_RESAMPLES
    )
    seed = serializers.IntegerField(required=False, default=ranking.DEFAULT_SEED, min_value=0)
    also = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)


class GeneratorRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    generator = serializers.CharField()
    score = serializers.FloatField(help_text="Log-strength under the Davidson model, centred to mean 0.")
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    n = serializers.FloatField(help_text="Comparisons the generator took part in (weighted in the weighted source).")


class WinRateCellSerializer(serializers.Serializer):
    generator = serializers.CharField()
    opponent = serializers.CharField()
    win_rate = serializers.FloatField(help_text="Share of comparisons won, a tie counting half.")
    n = serializers.FloatField()


class CategoryLeaderboardSerializer(serializers.Serializer):
    comparisons = serializers.IntegerField()
    generators = GeneratorRowSerializer(many=True)


class LeaderboardSerializer(serializers.Serializer):
    campaigns = serializers.ListField(child=serializers.CharField())
    target = serializers.CharField()
    source = serializers.CharField()
    model = serializers.CharField()
    resamples = serializers.IntegerField()
    seed = serializers.IntegerField()
    confidence = serializers.FloatField()
    pairs_without_generators = serializers.IntegerField()
    comparisons = serializers.IntegerField()
    tie_parameter = serializers.FloatField(allow_null=True)
    tie_parameter_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    generators = GeneratorRowSerializer(many=True)
    win_rate = WinRateCellSerializer(many=True)
    by_category = serializers.DictField(
        child=CategoryLeaderboardSerializer(), help_text="The same fit within each prompt category (pair metadata)."
    )


class LeaderboardApi(APIView):
    """The generator leaderboard of a campaign: curators and ML engineers of it only (experts judge blind)."""

    @extend_schema(
        responses=LeaderboardSerializer,
        parameters=[
            OpenApiParameter("target", str, description='"overall" (default), a dimension code or a criterion code.'),
            OpenApiParameter("source", str, enum=list(SOURCES), description="consensus (default) or weighted."),
            OpenApiParameter("resamples", int, description=f"Bootstrap resamples, 0 to {MAX_RESAMPLES} (200)."),
            OpenApiParameter("seed", int, description="Bootstrap seed (0)."),
            OpenApiParameter(
                "also", int, many=True, description="Ids of campaigns on the same rubric version to pool with it."
            ),
        ],
    )
    def get(self, request, campaign_id: int):
        campaign = access_campaign_for_leaderboard(user=request.user, campaign_id=campaign_id)
        query = LeaderboardQuerySerializer(
            data={**request.query_params.dict(), "also": request.query_params.getlist("also")}
        )
        query.is_valid(raise_exception=True)
        options = query.validated_data
        if options["target"] not in dict(targets_for(campaign=campaign)):
            raise ValidationError({"target": [f"Not a code of rubric {campaign.rubric.label}, nor overall."]})
        comparable = {other.pk: other for other in campaigns_comparable_with(user=request.user, campaign=campaign)}
        unknown = [pk for pk in options["also"] if pk not in comparable]
        if unknown:
            raise ValidationError({"also": [f"Not a campaign on the same rubric version you may read: {unknown}."]})
        leaderboard = leaderboard_for(
            campaigns=[campaign, *(comparable[pk] for pk in options["also"])],
            target=options["target"],
            source=options["source"],
            n_resamples=options["resamples"],
            seed=options["seed"],
        )
        return Response(LeaderboardSerializer(leaderboard.as_json()).data)
