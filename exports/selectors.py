"""Reads for exports: snapshots, and a campaign's pairs with their consensus, in bounded batches.

Consensus is agreement's rule (agreement.selectors): the vote with its tie rule, adjudications winning. The
export reads it batch by batch (a few thousand pairs at a time, keyset-paginated in external_id order) so
memory stays flat however large the campaign is; `consensus_for_campaign` would hold every pair at once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from agreement.models import GoldLabel
from agreement.selectors import PairConsensus, _adjudication_rows, _consensus
from annotation.models import Campaign, ChecklistAnswer, ChecklistQuestion, Criterion, PairJudgment, Role, VideoPair
from annotation.selectors import campaigns_for, user_has_role
from exports.models import ExportSnapshot

# --- Permissions and snapshots ------------------------------------------------------------------------


def user_can_export(*, user) -> bool:
    """ML engineers and curators make and download exports; experts never see other experts' labels."""
    return user_has_role(user=user, role=Role.ML_ENGINEER) or user_has_role(user=user, role=Role.CURATOR)


def campaigns_for_export(*, user) -> QuerySet[Campaign]:
    if not user_can_export(user=user):
        return Campaign.objects.none()
    return campaigns_for(user=user).order_by("name")


def snapshots_for(*, user) -> QuerySet[ExportSnapshot]:
    campaign_ids = campaigns_for_export(user=user).values("id")
    return ExportSnapshot.objects.filter(campaign_id__in=campaign_ids).select_related("campaign", "created_by")


def access_snapshot(*, user, snapshot_id: int) -> ExportSnapshot:
    if not user_can_export(user=user):
        raise PermissionDenied("Only ML engineers and curators see exports.")
    return get_object_or_404(snapshots_for(user=user), pk=snapshot_id)


# --- Campaign structure -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignStructure:
    dimensions: dict[str, list[str]]  # dimension code -> criterion codes, rubric order
    questions: list[dict]  # checklist questions in order: id, dimension, sub_dimension, level, text, gated_by

    @property
    def dimension_codes(self) -> list[str]:
        return list(self.dimensions)

    @property
    def criterion_codes(self) -> list[str]:
        return [code for codes in self.dimensions.values() for code in codes]


def campaign_structure(*, campaign: Campaign) -> CampaignStructure:
    dimensions: dict[str, list[str]] = {}
    for code, dimension in (
        Criterion.objects.filter(dimension__rubric_id=campaign.rubric_id)
        .order_by("dimension__order", "dimension__code", "order", "code")
        .values_list("code", "dimension__code")
    ):
        dimensions.setdefault(dimension, []).append(code)
    questions = []
    if campaign.checklist_id is not None:
        questions = list(
            ChecklistQuestion.objects.filter(checklist_id=campaign.checklist_id)
            .order_by("order", "id")
            .values("id", "dimension", "sub_dimension", "level", "text", "not_applicable_when_id")
        )
    return CampaignStructure(dimensions=dimensions, questions=questions)


# --- Pairs with consensus, in batches -----------------------------------------------------------------


@dataclass(frozen=True)
class PairForExport:
    pair_id: int
    external_id: str
    prompt: str
    video_a: dict  # id, sha256, proxy, prompt
    video_b: dict
    consensus: PairConsensus | None
    severe: dict[str, dict[str, bool]]  # any rater flagged it
    checklist: dict[int, dict[int, str | None]]  # video id -> question id -> consensus answer
    gold: bool


def checklist_consensus(counts: dict[str, int]) -> str | None:
    """The answer most annotators gave ("yes", "no" or "na"); None when the top count is shared."""
    ranked = Counter(counts).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _judgment_rows_with_severe(pair_ids: list[int]) -> list[tuple]:
    return list(
        PairJudgment.objects.filter(assignment__pair_id__in=pair_ids).values_list(
            "assignment__pair_id", "assignment__pair__external_id", "criteria", "dimensions", "severe"
        )
    )


def _checklist_for(campaign: Campaign, video_ids: list[int]) -> dict[int, dict[int, str | None]]:
    counts: dict[int, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    if campaign.checklist_id is None or not video_ids:
        return {}
    for video_id, question_id, answer, n in (
        ChecklistAnswer.objects.filter(assignment__campaign_id=campaign.pk, video_id__in=video_ids)
        .values("video_id", "question_id", "answer")
        .annotate(n=Count("id"))
        .values_list("video_id", "question_id", "answer", "n")
    ):
        counts[video_id][question_id][answer] = n
    return {
        video_id: {question_id: checklist_consensus(by_answer) for question_id, by_answer in questions.items()}
        for video_id, questions in counts.items()
    }


def pairs_for_export(*, campaign: Campaign, batch_size: int = 2000) -> Iterator[list[PairForExport]]:
    """Every pair of the campaign in external_id order, `batch_size` at a time, with its consensus (None when
    nobody judged or adjudicated it), severe flags, consensus checklist answers and whether it has gold.
    Four queries per batch."""
    last = None
    fields = (
        "id",
        "external_id",
        "prompt",
        "video_a_id",
        "video_a__sha256",
        "video_a__proxy",
        "video_a__prompt",
        "video_b_id",
        "video_b__sha256",
        "video_b__proxy",
        "video_b__prompt",
    )
    while True:
        pairs = VideoPair.objects.filter(campaign_id=campaign.pk).order_by("external_id")
        if last is not None:
            pairs = pairs.filter(external_id__gt=last)
        rows = list(pairs.values_list(*fields)[:batch_size])
        if not rows:
            return
        last = rows[-1][1]
        pair_ids = [row[0] for row in rows]
        judgments = _judgment_rows_with_severe(pair_ids)
        consensus = _consensus(
            [row[:4] for row in judgments],
            _adjudication_rows(pair_id__in=pair_ids),
            threshold=campaign.agreement_threshold,
        )
        severe: dict[int, dict[str, dict[str, bool]]] = defaultdict(lambda: {"A": {}, "B": {}})
        for pair_id, _, _, _, flags in judgments:
            for side in ("A", "B"):
                for code, flagged in (flags or {}).get(side, {}).items():
                    severe[pair_id][side][code] = severe[pair_id][side].get(code, False) or bool(flagged)
        gold = set(GoldLabel.objects.filter(pair_id__in=pair_ids).values_list("pair_id", flat=True))
        checklist = _checklist_for(campaign, [row[3] for row in rows] + [row[7] for row in rows])
        yield [
            PairForExport(
                pair_id=row[0],
                external_id=row[1],
                prompt=row[2],
                video_a={"id": row[3], "sha256": row[4], "proxy": row[5], "prompt": row[6]},
                video_b={"id": row[7], "sha256": row[8], "proxy": row[9], "prompt": row[10]},
                consensus=consensus.get(row[0]),
                severe=severe[row[0]],
                checklist={video_id: checklist.get(video_id, {}) for video_id in (row[3], row[7])},
                gold=row[0] in gold,
            )
            for row in rows
        ]
