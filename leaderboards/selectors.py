"""Reads: the generator leaderboard of one or more campaigns and the reliability of their experts.

Where generators come from: each video's `source_model` (the `source_a` / `source_b` of its manifest line or
upload). A pair whose two videos share a generator, or where either has none, compares no generators and is left
out (and counted).

Labels, two sources:
- "consensus" (default): one comparison per pair, its final label (agreement.selectors: majority of the experts,
  the curator's adjudication wins). The bootstrap resamples pairs.
- "weighted": every raw judgment is a comparison, weighted by its expert's Dawid-Skene reliability for that code
  (leaderboards.reliability; adjudications are not used). The bootstrap resamples judgments.

Prompt categories: a pair's `metadata["category"]` (from its manifest line). When some pairs carry one, the
leaderboard is also fitted within each category (pairs without one are in the overall fit only).

A registered reward model's leaderboard: the same fit on the verdicts it stored for the campaign's pairs
(leaderboards.services judges them in the background), beside the experts' and compared with it
(leaderboards.concordance).

Targets: "overall", a dimension code (VA, VF, VP) or a criterion code (VA1...). A pair's overall verdict is the
sign of the sum of its dimension verdicts: the video better on more dimensions wins, a balance is a tie.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.http import Http404

from agreement.selectors import agreement_fingerprint, consensus_for_campaign
from annotation.model_queue import overall_vote
from annotation.models import Campaign, Criterion, PairJudgment, VideoPair
from annotation.selectors import READ_AGREEMENT, access_campaign, campaigns_for
from leaderboards import concordance, ranking, reliability
from leaderboards.models import LeaderboardResult, ModelJudgmentRun, ModelPairVerdict
from leaderboards.reliability import AnnotatorReliability
from training.models import RegisteredModel

OVERALL = "overall"
SOURCES = ("consensus", "weighted")
LEADERBOARD_CACHE_SECONDS = 600
# Who reads leaderboards: they name generators, so experts (who judge blind) never do.
READ_LEADERBOARD = READ_AGREEMENT


# --- Rights ------------------------------------------------------------------------------------------


def access_campaign_for_leaderboard(*, user, campaign_id: int) -> Campaign:
    return access_campaign(
        user=user, campaign_id=campaign_id, roles=READ_LEADERBOARD, action="see its generator leaderboard"
    )


def campaigns_comparable_with(*, user, campaign: Campaign) -> QuerySet[Campaign]:
    """Other campaigns on the same rubric version the user may read leaderboards of: they can be pooled."""
    return campaigns_for(user=user, roles=READ_LEADERBOARD).filter(rubric_id=campaign.rubric_id).exclude(pk=campaign.pk)


# --- Targets -----------------------------------------------------------------------------------------


def targets_for(*, campaign: Campaign) -> list[tuple[str, str]]:
    """(code, label) of everything a leaderboard can rank: overall, then each dimension, then each criterion."""
    dimensions = [(d.code, f"{d.code} {d.name}") for d in campaign.rubric.dimensions.order_by("order", "code")]
    criteria = [
        (c.code, f"{c.code} {c.name}")
        for c in Criterion.objects.filter(dimension__rubric_id=campaign.rubric_id).order_by(
            "dimension__order", "order", "code"
        )
    ]
    return [(OVERALL, "Overall")] + dimensions + criteria


# --- Comparisons -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairGenerators:
    generator_a: str
    generator_b: str
    category: str  # the prompt category from the pair's metadata; "" when it has none


def _pair_generators(campaigns: list[Campaign]) -> tuple[dict[int, PairGenerators], int]:
    """{pair id: its two generators} for pairs that compare two different generators, and how many pairs do not."""
    rows = VideoPair.objects.filter(campaign__in=campaigns).values_list(
        "pk", "video_a__source_model", "video_b__source_model", "metadata"
    )
    generators, left_out = {}, 0
    for pair_id, source_a, source_b, metadata in rows:
        source_a, source_b = source_a.strip(), source_b.strip()
        if not source_a or not source_b or source_a == source_b:
            left_out += 1
            continue
        category = metadata.get("category") if isinstance(metadata, dict) else None
        generators[pair_id] = PairGenerators(
            generator_a=source_a, generator_b=source_b, category=str(category).strip() if category else ""
        )
    return generators, left_out


def _verdict_of(*, target: str, criteria: dict, dimensions: dict) -> int | None:
    if target == OVERALL:
        return overall_vote(dimensions)
    if target in dimensions:
        return dimensions[target]
    return criteria.get(target)


@dataclass(frozen=True, slots=True)
class LabelledComparison:
    """One comparison of two generators, before they are numbered: outcome +1 when generator_a won."""

    pair_id: int
    generator_a: str
    generator_b: str
    outcome: int
    weight: float
    category: str


def comparisons_from_consensus(*, campaigns: list[Campaign], target: str) -> tuple[list[LabelledComparison], int]:
    generators, left_out = _pair_generators(campaigns)
    comparisons = []
    for campaign in campaigns:
        for pair_id, consensus in consensus_for_campaign(campaign=campaign).items():
            if pair_id not in generators:
                continue
            labels = consensus.labels()
            verdict = _verdict_of(target=target, criteria=labels["criteria"], dimensions=labels["dimensions"])
            if verdict is not None:
                pair = generators[pair_id]
                comparisons.append(
                    LabelledComparison(pair_id, pair.generator_a, pair.generator_b, verdict, 1.0, pair.category)
                )
    return comparisons, left_out


def _judgment_rows(campaigns: list[Campaign]):
    return (
        PairJudgment.objects.filter(assignment__campaign__in=campaigns)
        .order_by("assignment__pair_id", "assignment__expert_id")
        .values_list("assignment__pair_id", "assignment__expert__username", "criteria", "dimensions")
    )


def comparisons_from_weighted_judgments(
    *, campaigns: list[Campaign], target: str
) -> tuple[list[LabelledComparison], int]:
    generators, left_out = _pair_generators(campaigns)
    weights = annotator_reliability_for(campaigns=campaigns, code=None if target == OVERALL else target)
    comparisons = []
    for pair_id, expert, criteria, dimensions in _judgment_rows(campaigns):
        if pair_id not in generators:
            continue
        verdict = _verdict_of(target=target, criteria=criteria, dimensions=dimensions)
        weight = weights[expert].weight if expert in weights else 0.0
        if verdict is not None and weight > 0:
            pair = generators[pair_id]
            comparisons.append(
                LabelledComparison(pair_id, pair.generator_a, pair.generator_b, verdict, weight, pair.category)
            )
    return comparisons, left_out


# --- Reliability -------------------------------------------------------------------------------------


@dataclass
class ExpertReliability:
    """overall: Dawid-Skene over every verdict of every code; by_code: one model per criterion and dimension."""

    overall: dict[str, AnnotatorReliability]
    by_code: dict[str, dict[str, AnnotatorReliability]]
    codes: list[str]

    def experts(self) -> list[str]:
        return sorted(self.overall, key=lambda name: (-self.overall[name].accuracy, name))

    def as_stored(self) -> dict:
        def experts(reliabilities: dict[str, AnnotatorReliability]) -> dict:
            return {
                str(name): {"accuracy": float(r.accuracy), "weight": float(r.weight), "n_labels": int(r.n_labels)}
                for name, r in reliabilities.items()
            }

        return {
            "overall": experts(self.overall),
            "by_code": {code: experts(reliabilities) for code, reliabilities in self.by_code.items()},
            "codes": list(self.codes),
        }

    @classmethod
    def from_stored(cls, data: dict) -> ExpertReliability:
        def experts(stored: dict) -> dict[str, AnnotatorReliability]:
            return {name: AnnotatorReliability(annotator=name, **values) for name, values in stored.items()}

        return cls(
            overall=experts(data["overall"]),
            by_code={code: experts(stored) for code, stored in data["by_code"].items()},
            codes=list(data["codes"]),
        )


def leaderboard_fingerprint(*, campaigns: list[Campaign]) -> str:
    """Changes whenever a judgment, gold answer or adjudication of any of the campaigns changes."""
    return _fingerprint(campaigns)


def _fingerprint(campaigns: list[Campaign]) -> str:
    parts = sorted(agreement_fingerprint(campaign=campaign) for campaign in campaigns)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def annotator_reliability_for(*, campaigns: list[Campaign], code: str | None) -> dict[str, AnnotatorReliability]:
    """Dawid-Skene reliability of each expert who judged in the campaigns: over every verdict of every code (items
    are (pair, code)) when `code` is None, else over that code's verdicts. Cached until a judgment changes."""
    key = f"leaderboard-reliability:{_fingerprint(campaigns)}:{code or ''}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    labels = []
    for pair_id, expert, criteria, dimensions in _judgment_rows(campaigns):
        for verdict_code, verdict in {**dimensions, **criteria}.items():
            if code is None:
                labels.append(((pair_id, verdict_code), expert, verdict))
            elif verdict_code == code:
                labels.append((pair_id, expert, verdict))
    result = reliability.dawid_skene(labels).annotators
    cache.set(key, result, LEADERBOARD_CACHE_SECONDS)
    return result


def expert_reliability_for(*, campaigns: list[Campaign]) -> ExpertReliability:
    """Every expert's reliability over all codes and per code (one Dawid-Skene model each: the reliability page)."""
    campaign = campaigns[0]
    codes = [code for code, _ in targets_for(campaign=campaign) if code != OVERALL]
    return ExpertReliability(
        overall=annotator_reliability_for(campaigns=campaigns, code=None),
        by_code={code: annotator_reliability_for(campaigns=campaigns, code=code) for code in codes},
        codes=codes,
    )


# --- The leaderboard ---------------------------------------------------------------------------------


@dataclass
class Leaderboard:
    campaigns: list[Campaign]
    target: str
    source: str
    ranking: ranking.Ranking | None  # None: no comparison of two generators yet
    pairs_without_generators: int
    n_resamples: int
    seed: int
    by_category: dict[str, ranking.Ranking] = field(default_factory=dict)

    @property
    def campaign_names(self) -> list[str]:
        return [campaign.name for campaign in self.campaigns]

    def as_json(self) -> dict:
        """What the JSON download, the API and `manage.py leaderboard --json` give."""
        fitted = self.ranking
        return {
            "campaigns": self.campaign_names,
            "target": self.target,
            "source": self.source,
            "model": "Davidson (Bradley-Terry with ties), maximum likelihood",
            "resamples": self.n_resamples,
            "seed": self.seed,
            "confidence": ranking.DEFAULT_CONFIDENCE,
            "pairs_without_generators": self.pairs_without_generators,
            "comparisons": fitted.n_comparisons if fitted else 0,
            "tie_parameter": fitted.tie_parameter if fitted else None,
            "tie_parameter_ci": list(fitted.tie_parameter_ci) if fitted else None,
            "generators": fitted.rows() if fitted else [],
            "win_rate": _matrix_json(fitted) if fitted else [],
            "by_category": {
                category: {"comparisons": fit.n_comparisons, "generators": fit.rows()}
                for category, fit in self.by_category.items()
            },
        }

    def as_stored(self) -> dict:
        """Everything the page, the downloads and the API show (models.LeaderboardResult.content)."""
        return {
            "campaign_ids": [campaign.pk for campaign in self.campaigns],
            "target": self.target,
            "source": self.source,
            "ranking": self.ranking.as_stored() if self.ranking else None,
            "pairs_without_generators": self.pairs_without_generators,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "by_category": {category: fit.as_stored() for category, fit in self.by_category.items()},
        }

    @classmethod
    def from_stored(cls, data: dict, *, campaigns: list[Campaign]) -> Leaderboard:
        """Read back with the campaigns it was fitted on (the caller has them: it checked the user may read them)."""
        return cls(
            campaigns=sorted(campaigns, key=lambda campaign: campaign.pk),
            target=data["target"],
            source=data["source"],
            ranking=ranking.Ranking.from_stored(data["ranking"]) if data["ranking"] else None,
            pairs_without_generators=data["pairs_without_generators"],
            n_resamples=data["n_resamples"],
            seed=data["seed"],
            by_category={category: ranking.Ranking.from_stored(fit) for category, fit in data["by_category"].items()},
        )


def _matrix_json(fitted: ranking.Ranking) -> list[dict]:
    """One entry per ordered pair of generators that met: win rate of `generator` against `opponent`, and n."""
    cells = []
    for row in fitted.order:
        for column in fitted.order:
            if row != column and fitted.cell_counts[row, column] > 0:
                cells.append(
                    {
                        "generator": fitted.generators[row],
                        "opponent": fitted.generators[column],
                        "win_rate": float(fitted.win_rate[row, column]),
                        "n": float(fitted.cell_counts[row, column]),
                    }
                )
    return cells


def _fit(comparisons: list[LabelledComparison], *, n_resamples: int, seed: int) -> ranking.Ranking | None:
    names = sorted({c.generator_a for c in comparisons} | {c.generator_b for c in comparisons})
    if len(names) < 2:
        return None
    index = {name: position for position, name in enumerate(names)}
    numbered = [
        ranking.Comparison(index[c.generator_a], index[c.generator_b], c.outcome, c.weight) for c in comparisons
    ]
    return ranking.ranking_fit(names, numbered, n_resamples=n_resamples, seed=seed)


def leaderboard_for(
    *,
    campaigns: list[Campaign],
    target: str = OVERALL,
    source: str = "consensus",
    n_resamples: int = ranking.DEFAULT_RESAMPLES,
    seed: int = ranking.DEFAULT_SEED,
) -> Leaderboard:
    """The leaderboard of the campaigns (pooled when several: same rubric version) for one target, cached until a
    judgment or adjudication of them changes."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    campaigns = sorted(campaigns, key=lambda campaign: campaign.pk)
    key = f"leaderboard:{_fingerprint(campaigns)}:{target}:{source}:{n_resamples}:{seed}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    if source == "consensus":
        comparisons, left_out = comparisons_from_consensus(campaigns=campaigns, target=target)
    else:
        comparisons, left_out = comparisons_from_weighted_judgments(campaigns=campaigns, target=target)
    by_category: dict[str, list[LabelledComparison]] = defaultdict(list)
    for comparison in comparisons:
        if comparison.category:
            by_category[comparison.category].append(comparison)
    category_fits = {
        category: _fit(members, n_resamples=n_resamples, seed=seed) for category, members in sorted(by_category.items())
    }
    result = Leaderboard(
        campaigns=campaigns,
        target=target,
        source=source,
        ranking=_fit(comparisons, n_resamples=n_resamples, seed=seed),
        pairs_without_generators=left_out,
        n_resamples=n_resamples,
        seed=seed,
        by_category={category: fit for category, fit in category_fits.items() if fit is not None},
    )
    cache.set(key, result, LEADERBOARD_CACHE_SECONDS)
    return result


# --- The stored leaderboard (computed in the background: leaderboards.services) ----------------------


def leaderboard_result_key(
    *, kind: str, campaigns: list[Campaign], target: str = "", source: str = "", n_resamples: int = 0, seed: int = 0
) -> str:
    """The options a stored result answers for, spelled out: one row per distinct key (models.LeaderboardResult)."""
    campaign_ids = ",".join(str(pk) for pk in sorted(campaign.pk for campaign in campaigns))
    if kind == LeaderboardResult.Kind.RELIABILITY:
        return f"{kind}|{campaign_ids}"
    return f"{kind}|{campaign_ids}|{target}|{source}|{n_resamples}|{seed}"


def leaderboard_result_for(*, key: str) -> LeaderboardResult | None:
    """The stored result for these options (None: never asked for). See services for its life."""
    return LeaderboardResult.objects.filter(options_key=key).first()


def leaderboard_result_json(*, leaderboard: Leaderboard, result: LeaderboardResult) -> dict:
    """The JSON download and the API: the leaderboard, when it was computed, and whether a newer one is coming."""
    return {
        **leaderboard.as_json(),
        "computed_at": result.computed_at.isoformat() if result.computed_at else None,
        "recomputing": result.recomputing,
    }


def leaderboard_results_reading(*, campaign_id: int) -> QuerySet[LeaderboardResult]:
    """Every stored result fitted on the campaign's judgments, alone or pooled with others."""
    return LeaderboardResult.objects.filter(Q(campaign_id=campaign_id) | Q(pooled__id=campaign_id)).distinct()


def pairs_with_generators(*, campaigns: list[Campaign]) -> tuple[dict[int, PairGenerators], int]:
    """{pair id: its two generators} of the pairs that compare two different generators, and how many do not."""
    return _pair_generators(campaigns)


# --- A registered reward model's leaderboard ---------------------------------------------------------

# Recipes whose models look at the two videos themselves (training.judging: checklist-linear scores the experts'
# checklist answers instead, and a checklist-vlm run needs its checklist-linear weights, checked when it loads).
SCORING_RECIPES = ("aesrm-base", "aesrm-cot", "descore", "checklist-vlm")


def registered_models_for_scoring(*, user) -> QuerySet[RegisteredModel]:
    """Registered models the user may score campaigns with: trained on a snapshot of a campaign where they read
    leaderboards, looking at videos, their run folder still there. Promoted first, then newest."""
    readable = campaigns_for(user=user, roles=READ_LEADERBOARD).values("pk")
    return (
        RegisteredModel.objects.filter(
            snapshot__campaign__in=readable, recipe__in=SCORING_RECIPES, files_deleted_at__isnull=True
        )
        .select_related("snapshot")
        .order_by("-promoted", "-created_at", "-id")
    )


def access_model_for_scoring(*, user, model_ref: str | int) -> RegisteredModel:
    """One of registered_models_for_scoring, by id (or by name, for the command line); 404 otherwise."""
    models = registered_models_for_scoring(user=user)
    found = models.filter(pk=int(model_ref)).first() if str(model_ref).isdigit() else None
    if found is None:
        found = models.filter(name=str(model_ref)).first()
    if found is None:
        raise Http404("No such registered model, or not one you may use.")
    return found


def model_targets_for(*, campaign: Campaign) -> list[tuple[str, str]]:
    """What a model's leaderboard ranks: overall and each dimension (models give no per-criterion verdicts)."""
    return [(OVERALL, "Overall")] + [
        (d.code, f"{d.code} {d.name}") for d in campaign.rubric.dimensions.order_by("order", "code")
    ]


def model_judgment_runs_for(*, campaign: Campaign) -> QuerySet[ModelJudgmentRun]:
    return ModelJudgmentRun.objects.filter(campaign=campaign).select_related("model").order_by("-requested_at", "-id")


def comparisons_from_model(*, run: ModelJudgmentRun, target: str) -> tuple[list[LabelledComparison], int]:
    """One comparison per pair the model judged readably: its overall verdict or that dimension's."""
    generators, left_out = _pair_generators([run.campaign])
    rows = ModelPairVerdict.objects.filter(run=run, parse_error="").values_list("pair_id", "dimensions", "overall")
    comparisons = []
    for pair_id, dimensions, overall in rows.order_by("pair_id"):
        verdict = overall if target == OVERALL else (dimensions or {}).get(target)
        if pair_id in generators and verdict is not None:
            pair = generators[pair_id]
            comparisons.append(
                LabelledComparison(pair_id, pair.generator_a, pair.generator_b, int(verdict), 1.0, pair.category)
            )
    return comparisons, left_out


@dataclass
class ModelComparison:
    """A reward model's leaderboard beside the experts' (consensus labels) on the same campaign and target."""

    run: ModelJudgmentRun
    target: str
    experts: Leaderboard
    model: Leaderboard
    concordance: concordance.Concordance

    def as_json(self) -> dict:
        run = self.run
        return {
            "campaign": run.campaign.name,
            "model": {"id": run.model_id, "name": run.model.name, "recipe": run.model.recipe},
            "run": model_judgment_run_json(run),
            "target": self.target,
            "experts": self.experts.as_json(),
            "reward_model": self.model.as_json(),
            "agreement": self.concordance.as_json(),
        }


def model_judgment_run_json(run: ModelJudgmentRun) -> dict:
    def moment(value):
        return value.isoformat() if value else None

    return {
        "id": run.pk,
        "model": run.model_id,
        "status": run.status,
        "pairs_total": run.pairs_total,
        "pairs_judged": run.pairs_judged,
        "pairs_unparsable": run.pairs_unparsable,
        "error": run.error,
        "requested_at": moment(run.requested_at),
        "started_at": moment(run.started_at),
        "finished_at": moment(run.finished_at),
    }


def _leaderboard_of(comparisons, *, campaign, target, source, left_out, n_resamples, seed) -> Leaderboard:
    return Leaderboard(
        campaigns=[campaign],
        target=target,
        source=source,
        ranking=_fit(comparisons, n_resamples=n_resamples, seed=seed),
        pairs_without_generators=left_out,
        n_resamples=n_resamples,
        seed=seed,
    )


def model_comparison_for(
    *,
    run: ModelJudgmentRun,
    target: str = OVERALL,
    n_resamples: int = ranking.DEFAULT_RESAMPLES,
    seed: int = ranking.DEFAULT_SEED,
) -> ModelComparison:
    """The model's leaderboard (the same Davidson fit on its verdicts), the experts' on consensus labels, and how
    far they agree, with intervals from one bootstrap over pairs (both refitted on each resample). Cached until a
    judgment changes or the model judges more pairs."""
    campaign = run.campaign
    key = (
        f"leaderboard-model:{_fingerprint([campaign])}:{run.pk}:{run.pairs_judged}:"
        f"{run.finished_at.isoformat() if run.finished_at else ''}:{target}:{n_resamples}:{seed}"
    )
    cached = cache.get(key)
    if cached is not None:
        return cached
    expert_comparisons, left_out = comparisons_from_consensus(campaigns=[campaign], target=target)
    model_comparisons, _ = comparisons_from_model(run=run, target=target)
    options = {"campaign": campaign, "target": target, "left_out": left_out, "n_resamples": n_resamples, "seed": seed}
    experts = _leaderboard_of(expert_comparisons, source="consensus", **options)
    model = _leaderboard_of(model_comparisons, source=f"model:{run.model_id}", **options)
    by_pair: dict[int, dict] = defaultdict(dict)
    for side, comparisons in (("expert", expert_comparisons), ("model", model_comparisons)):
        for comparison in comparisons:
            by_pair[comparison.pair_id].update(
                {side: comparison.outcome, "generators": (comparison.generator_a, comparison.generator_b)}
            )
    names = sorted({name for entry in by_pair.values() for name in entry["generators"]})
    index = {name: position for position, name in enumerate(names)}
    joint = [
        concordance.JointPair(
            index[entry["generators"][0]], index[entry["generators"][1]], entry.get("expert"), entry.get("model")
        )
        for _, entry in sorted(by_pair.items())
    ]
    result = ModelComparison(
        run=run,
        target=target,
        experts=experts,
        model=model,
        concordance=concordance.concordance_fit(joint, len(names), n_resamples=n_resamples, seed=seed),
    )
    cache.set(key, result, LEADERBOARD_CACHE_SECONDS)
    return result
