from __future__ import annotations

import json

from django.core.exceptions import ValidationError as ModelValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.selectors import INGEST, access_campaign
from leaderboards import ranking
from leaderboards.forms import MAX_RESAMPLES
from leaderboards.generations import GenerationRejected, generation_ingest_uploaded
from leaderboards.models import Generation, ModelJudgmentRun
from leaderboards.pairing import (
    DEFAULT_ROUND_SIZE,
    MAX_ROUND_SIZE,
    STRATEGIES,
    PairingPlan,
    pairing_apply,
    pairing_plan,
)
from leaderboards.selectors import (
    OVERALL,
    SOURCES,
    Leaderboard,
    access_campaign_for_leaderboard,
    access_model_for_scoring,
    campaigns_comparable_with,
    leaderboard_result_json,
    model_comparison_for,
    model_judgment_run_json,
    model_judgment_runs_for,
    model_targets_for,
    targets_for,
)
from leaderboards.services import (
    RESULT_CONTENT_VERSION,
    ScoringRefused,
    leaderboard_result_get_or_request,
    model_judgment_run_start,
)
from pipelines.apis import VideoSerializer
from pipelines.ingest import PairRejected
from pipelines.media import VideoRejected
from webapp.api_schema import QUEUE_UNREACHABLE_RESPONSE


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
    # The experts' leaderboard only (a model comparison is fitted in the request, neither is set there).
    computed_at = serializers.DateTimeField(required=False, help_text="When the background fit read the judgments.")
    recomputing = serializers.BooleanField(
        required=False, help_text="A newer fit is on its way (the judgments changed since)."
    )


class LeaderboardComputingSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"computing": ask again shortly.')
    detail = serializers.CharField()


class LeaderboardApi(APIView):
    """The generator leaderboard of a campaign: curators and ML engineers of it only (experts judge blind). Answered
    from the fit last computed in the background; 202 while the first one for these options is running."""

    @extend_schema(
        responses={200: LeaderboardSerializer, 202: LeaderboardComputingSerializer},
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
        campaigns = [campaign, *(comparable[pk] for pk in options["also"])]
        result = leaderboard_result_get_or_request(
            campaigns=campaigns,
            target=options["target"],
            source=options["source"],
            n_resamples=options["resamples"],
            seed=options["seed"],
        )
        content = result.content or {}
        if content.get("version") != RESULT_CONTENT_VERSION:
            computing = {"status": "computing", "detail": "the leaderboard is being computed: ask again shortly"}
            return Response(LeaderboardComputingSerializer(computing).data, status=status.HTTP_202_ACCEPTED)
        leaderboard = Leaderboard.from_stored(content["leaderboard"], campaigns=campaigns)
        return Response(LeaderboardSerializer(leaderboard_result_json(leaderboard=leaderboard, result=result)).data)


class GenerationSerializer(serializers.ModelSerializer):
    video = VideoSerializer(read_only=True)

    class Meta:
        model = Generation
        fields = ["id", "prompt", "generator", "seed", "metadata", "video", "created_at"]


class GenerationUploadSerializer(serializers.Serializer):
    video = serializers.FileField()
    prompt = serializers.CharField()
    generator = serializers.CharField(max_length=200)
    seed = serializers.IntegerField(required=False, allow_null=True, default=None)
    metadata = serializers.JSONField(
        required=False, default=dict, help_text='A JSON object, e.g. {"category": "landscape"} (a string in a form).'
    )

    def validate_metadata(self, value):
        if isinstance(value, str):  # multipart forms carry JSON as text
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise serializers.ValidationError(f"not JSON: {error.msg}") from error
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value


class GenerationListCreateApi(APIView):
    """A campaign's generations (single videos with prompt, generator, seed, metadata): curators and ML engineers of
    it only. POST ingests one, validated and deduplicated as pair uploads are; the worker makes its proxy."""

    pagination_class = generics.GenericAPIView.pagination_class

    @extend_schema(responses=GenerationSerializer(many=True))
    def get(self, request, campaign_id: int):
        campaign = access_campaign(
            user=request.user, campaign_id=campaign_id, roles=INGEST, action="read its generations"
        )
        generations = Generation.objects.filter(campaign=campaign).select_related("video").order_by("id")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(generations, request, view=self)
        data = GenerationSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request={"multipart/form-data": GenerationUploadSerializer},
        responses={
            201: GenerationSerializer,
            200: OpenApiResponse(GenerationSerializer, description="The campaign already had this generation."),
            503: QUEUE_UNREACHABLE_RESPONSE,
        },
    )
    def post(self, request, campaign_id: int):
        campaign = access_campaign(
            user=request.user, campaign_id=campaign_id, roles=INGEST, action="upload generations to it"
        )
        upload = GenerationUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        try:
            generation, created = generation_ingest_uploaded(
                campaign=campaign,
                video=data["video"],
                prompt=data["prompt"],
                generator=data["generator"],
                seed=data["seed"],
                metadata=data["metadata"],
            )
        except (GenerationRejected, PairRejected, VideoRejected) as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        except ModelValidationError as error:
            return Response({"detail": "; ".join(error.messages)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            GenerationSerializer(generation, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PairingRequestSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=list(STRATEGIES.items()))
    apply = serializers.BooleanField(
        required=False, default=False, help_text="false (default): preview only; true: create the new pairs."
    )
    opponents = serializers.IntegerField(
        required=False, default=2, min_value=1, max_value=50, help_text="random_opponents: opponents per video."
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)
    round_size = serializers.IntegerField(
        required=False,
        default=DEFAULT_ROUND_SIZE,
        min_value=1,
        max_value=MAX_ROUND_SIZE,
        help_text="active: new pairs in this round.",
    )
    target = serializers.CharField(
        required=False, default=OVERALL, help_text='active: "overall" (default), a dimension or a criterion code.'
    )


class PlannedPairSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    prompt = serializers.CharField(source="generation_a.prompt")
    generation_a = serializers.IntegerField(source="generation_a.pk")
    generator_a = serializers.CharField(source="generation_a.generator")
    generation_b = serializers.IntegerField(source="generation_b.pk")
    generator_b = serializers.CharField(source="generation_b.generator")


class ActiveChoiceSerializer(serializers.Serializer):
    generator_a = serializers.CharField()
    generator_b = serializers.CharField()
    order_uncertainty = serializers.FloatField(
        help_text="Probability that the fitted order of the two is wrong: Phi(-|d| / sd(d)), d their score difference."
    )
    comparisons = serializers.FloatField(help_text="Judged comparisons of the two so far.")
    pairs = serializers.IntegerField(help_text="New pairs of the two in this round.")
    cold_start = serializers.BooleanField(help_text="Chosen because one of them had no comparison yet.")


class PairingPreviewSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    opponents = serializers.IntegerField()
    seed = serializers.IntegerField()
    round_size = serializers.IntegerField()
    target = serializers.CharField()
    generations = serializers.IntegerField()
    prompts = serializers.IntegerField()
    generators = serializers.IntegerField()
    new_pairs = serializers.IntegerField(source="new_count")
    existing_pairs = serializers.IntegerField(source="existing_count")
    scored_videos = serializers.IntegerField(allow_null=True, help_text="dominance: videos with checklist scores.")
    judged_comparisons = serializers.IntegerField(allow_null=True, help_text="active: consensus labels used.")
    awaiting_judgment = serializers.IntegerField(
        allow_null=True, help_text="active: campaign pairs without a consensus label for the target yet."
    )
    preview = PlannedPairSerializer(many=True, help_text="The first 20 new pairs.")
    active_choices = ActiveChoiceSerializer(many=True, allow_null=True)


class PairingAppliedSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    created = serializers.IntegerField()


class PairingApi(APIView):
    """Build a campaign's pairs from its generations by a strategy (leaderboards.pairing): preview, or apply.
    Curators and ML engineers of the campaign only: the answer names generators, which experts judge blind."""

    @extend_schema(
        request=PairingRequestSerializer,
        responses={
            200: OpenApiResponse(PairingPreviewSerializer, description="The preview (apply false); nothing is made."),
            201: OpenApiResponse(
                PairingAppliedSerializer,
                description="apply true: the new pairs were made; created is 0 when the campaign had them all.",
            ),
        },
    )
    def post(self, request, campaign_id: int):
        campaign = access_campaign(user=request.user, campaign_id=campaign_id, roles=INGEST, action="build its pairs")
        query = PairingRequestSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        options = dict(query.validated_data)
        apply = options.pop("apply")
        if options["target"] not in dict(targets_for(campaign=campaign)):
            raise ValidationError({"target": [f"Not a code of rubric {campaign.rubric.label}, nor overall."]})
        if apply:
            created = pairing_apply(campaign=campaign, **options)
            return Response(
                PairingAppliedSerializer({"strategy": options["strategy"], "created": created}).data,
                status=status.HTTP_201_CREATED,
            )
        plan: PairingPlan = pairing_plan(campaign=campaign, **options)
        return Response(PairingPreviewSerializer(plan).data)


# --- A registered reward model's leaderboard ---------------------------------------------------------


class ModelJudgmentRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.IntegerField(help_text="The registered model's id.")
    status = serializers.ChoiceField(choices=ModelJudgmentRun.Status.choices)
    pairs_total = serializers.IntegerField(help_text="Pairs of the campaign comparing two generators.")
    pairs_judged = serializers.IntegerField()
    pairs_unparsable = serializers.IntegerField(help_text="Judged, but the answer could not be read.")
    error = serializers.CharField(allow_blank=True)
    requested_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ScoringRequestSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="Id or name of a registered model.")


class ConcordanceSerializer(serializers.Serializer):
    kendall_tau = serializers.FloatField(allow_null=True)
    kendall_tau_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    spearman = serializers.FloatField(allow_null=True)
    spearman_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    order_agreement = serializers.FloatField(
        allow_null=True, help_text="Share of generator pairs both leaderboards order the same way."
    )
    order_agreement_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    verdict_agreement = serializers.FloatField(
        allow_null=True, help_text="Share of pairs judged by both where the model's verdict equals the consensus."
    )
    verdict_agreement_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    generators_compared = serializers.IntegerField()
    pairs_judged_by_both = serializers.IntegerField()
    resamples = serializers.IntegerField()
    seed = serializers.IntegerField()
    confidence = serializers.FloatField()


class RegisteredModelBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    recipe = serializers.CharField()


class ModelLeaderboardSerializer(serializers.Serializer):
    campaign = serializers.CharField()
    model = RegisteredModelBriefSerializer()
    run = ModelJudgmentRunSerializer()
    target = serializers.CharField()
    experts = LeaderboardSerializer(allow_null=True, help_text="Null until the model judged a pair.")
    reward_model = LeaderboardSerializer(allow_null=True)
    agreement = ConcordanceSerializer(allow_null=True)


class ModelLeaderboardQuerySerializer(serializers.Serializer):
    target = serializers.CharField(required=False, default=OVERALL)
    resamples = serializers.IntegerField(
        required=False, default=ranking.DEFAULT_RESAMPLES, min_value=0, max_value=MAX_RESAMPLES
    )
    seed = serializers.IntegerField(required=False, default=ranking.DEFAULT_SEED, min_value=0)


class ModelScoringListCreateApi(APIView):
    """Registered reward models scoring this campaign's pairs: curators and ML engineers of it only."""

    @extend_schema(responses=ModelJudgmentRunSerializer(many=True))
    def get(self, request, campaign_id: int):
        campaign = access_campaign_for_leaderboard(user=request.user, campaign_id=campaign_id)
        runs = model_judgment_runs_for(campaign=campaign)
        return Response(ModelJudgmentRunSerializer([model_judgment_run_json(run) for run in runs], many=True).data)

    @extend_schema(
        request=ScoringRequestSerializer,
        responses={
            202: OpenApiResponse(ModelJudgmentRunSerializer, description="Scoring was started in the background."),
            200: OpenApiResponse(ModelJudgmentRunSerializer, description="The model is already scoring it."),
            503: QUEUE_UNREACHABLE_RESPONSE,
        },
    )
    def post(self, request, campaign_id: int):
        campaign = access_campaign_for_leaderboard(user=request.user, campaign_id=campaign_id)
        body = ScoringRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        model = access_model_for_scoring(user=request.user, model_ref=body.validated_data["model"])
        try:
            run, sent = model_judgment_run_start(model=model, campaign=campaign, requested_by=request.user)
        except ScoringRefused as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            ModelJudgmentRunSerializer(model_judgment_run_json(run)).data,
            status=status.HTTP_202_ACCEPTED if sent else status.HTTP_200_OK,
        )


class ModelLeaderboardApi(APIView):
    """A registered model's leaderboard of this campaign beside the experts', and their agreement with intervals
    (null until the model judged a pair): curators and ML engineers of the campaign only."""

    @extend_schema(
        responses=ModelLeaderboardSerializer,
        parameters=[
            OpenApiParameter("target", str, description='"overall" (default) or a dimension code.'),
            OpenApiParameter("resamples", int, description=f"Bootstrap resamples, 0 to {MAX_RESAMPLES} (200)."),
            OpenApiParameter("seed", int, description="Bootstrap seed (0)."),
        ],
    )
    def get(self, request, campaign_id: int, model_id: int):
        campaign = access_campaign_for_leaderboard(user=request.user, campaign_id=campaign_id)
        model = access_model_for_scoring(user=request.user, model_ref=model_id)
        run = model_judgment_runs_for(campaign=campaign).filter(model=model).first()
        if run is None:
            raise NotFound("This model has not scored this campaign: POST to start it.")
        query = ModelLeaderboardQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        options = query.validated_data
        if options["target"] not in dict(model_targets_for(campaign=campaign)):
            raise ValidationError({"target": ["overall or a dimension code: models give no per-criterion verdicts."]})
        if not run.pairs_judged:
            data = {
                "campaign": campaign.name,
                "model": {"id": model.pk, "name": model.name, "recipe": model.recipe},
                "run": model_judgment_run_json(run),
                "target": options["target"],
                "experts": None,
                "reward_model": None,
                "agreement": None,
            }
        else:
            data = model_comparison_for(
                run=run, target=options["target"], n_resamples=options["resamples"], seed=options["seed"]
            ).as_json()
        return Response(ModelLeaderboardSerializer(data).data)
