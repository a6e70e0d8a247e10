"""Reads: consensus labels (with adjudications applied), the adjudication queue, gold answers, rating arrays
and the agreement report of a campaign.

Consensus, the one rule everything else follows
- The vote: each submitted judgment counts once; the label of a pair for a criterion or dimension is the verdict
  (+1 A better, 0 comparable, -1 B better) most raters gave.
- Tie rule: when two or more verdicts share the top count ({+1, -1}, or {+1, 0, -1} with three raters) the
  vote is 0, "comparable": the raters did not establish a preference. `tie` is set and `agreement` is the share
  of raters who actually chose 0, so a tie always falls below the campaign's threshold and goes to adjudication.
- Agreement: the share of the pair's raters who gave the vote's verdict. A pair needs adjudication when any code
  has agreement below `campaign.agreement_threshold` and no curator has adjudicated that code yet.
- Adjudication overrides: for an adjudicated code, `label` is the curator's verdict (the latest adjudication of
  that code wins) while `vote` keeps the experts' majority. Everything downstream (exports, distillation) reads
  `label`.
Gold answers do not change consensus: they measure experts (see report.py), they do not replace their votes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from agreement import metrics
from agreement.models import Adjudication, DashboardReport, GoldLabel
from agreement.report import (
    CHECKLIST_DOMAIN,
    DEFAULT_LEVELS,
    VERDICT_DOMAIN,
    VERDICT_TIE_CODE,
    AgreementReport,
    RatingBlock,
    levels_key,
    report_build,
    verdict_indexes,
)
from annotation.models import (
    Campaign,
    ChecklistAnswer,
    ChecklistQuestion,
    Criterion,
    PairFlag,
    PairJudgment,
    VideoPair,
)
from annotation.selectors import (
    CURATE,
    READ_AGREEMENT,
    access_campaign,
    campaigns_for,
    check_role_somewhere,
    checklist_answer_sets,
    holds_role,
    user_has_role,
)

# --- Permissions ----------------------------------------------------------------------------------


def user_can_view_agreement(*, user, campaign_id: int | None = None) -> bool:
    """Curators and ML engineers of the campaign (of some campaign, when none is given) read agreement numbers;
    experts never see how they compare to others."""
    return user_has_role(user=user, roles=READ_AGREEMENT, campaign_id=campaign_id)


def user_can_adjudicate(*, user, campaign_id: int | None = None) -> bool:
    return user_has_role(user=user, roles=CURATE, campaign_id=campaign_id)


def campaigns_for_agreement(*, user) -> QuerySet[Campaign]:
    check_role_somewhere(user=user, roles=READ_AGREEMENT, action="see agreement")
    return campaigns_for(user=user, roles=READ_AGREEMENT).annotate(can_adjudicate=holds_role(user=user, roles=CURATE))


def access_campaign_for_agreement(*, user, campaign_id: int, adjudicate: bool = False) -> Campaign:
    if adjudicate:
        return access_campaign(user=user, campaign_id=campaign_id, roles=CURATE, action="adjudicate or set gold")
    return access_campaign(user=user, campaign_id=campaign_id, roles=READ_AGREEMENT, action="see its agreement")


def access_pair_for_adjudication(*, user, campaign_id: int, pair_id: int) -> VideoPair:
    campaign = access_campaign_for_agreement(user=user, campaign_id=campaign_id, adjudicate=True)
    return get_object_or_404(
        VideoPair.objects.select_related("campaign__rubric", "video_a", "video_b"), pk=pair_id, campaign=campaign
    )


# --- Consensus ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelConsensus:
    """One pair, one criterion or dimension.

    label:      the final canonical verdict: the adjudicated one if any, else the vote (None: neither exists)
    vote:       the experts' majority verdict under the tie rule (None: nobody judged the pair)
    agreement:  share of raters who gave `vote` (None: nobody judged the pair)
    n_raters:   how many judgments were counted
    votes:      {+1: n, 0: n, -1: n}
    tie:        the top count was shared and the tie rule set the vote to 0
    adjudicated: a curator set `label`
    """

    label: int | None
    vote: int | None
    agreement: float | None
    n_raters: int
    votes: dict[int, int]
    tie: bool
    adjudicated: bool


@dataclass(frozen=True, slots=True)
class PairConsensus:
    pair_id: int
    external_id: str
    criteria: dict[str, LabelConsensus]
    dimensions: dict[str, LabelConsensus]
    n_raters: int
    min_agreement: float | None
    needs_adjudication: bool
    adjudicated: bool

    def labels(self) -> dict[str, dict[str, int | None]]:
        """{"criteria": {"VA1": 1, ...}, "dimensions": {"VA": 0, ...}}: the final labels, as exports want them."""
        return {
            "criteria": {code: value.label for code, value in self.criteria.items()},
            "dimensions": {code: value.label for code, value in self.dimensions.items()},
        }


def needs_adjudication(votes: metrics.Votes, *, adjudicated: np.ndarray, threshold: float) -> np.ndarray:
    """(pairs, codes) votes -> (pairs,) True where some code's agreement is below the threshold and no curator has
    adjudicated that code. The one place the queue rule lives (consensus and the dashboard both use it)."""
    below = (votes.n_raters > 0) & (np.nan_to_num(votes.agreement, nan=1.0) < threshold)
    return (below & ~adjudicated).any(axis=-1)


def _vote_counts(judgment_rows: list, *, row_of: dict[int, int], codes: dict[str, dict[str, None]]):
    """(pairs, codes, 3) votes per verdict (-1, 0, +1) and each judgment's pair row.

    One row of value indices per judgment (-1: code missing), then counted per pair in one numpy call."""
    value_index = {verdict: index for index, verdict in enumerate(VERDICT_DOMAIN)}
    n_codes = len(codes["criteria"]) + len(codes["dimensions"])
    given = np.array(
        [
            [value_index.get(criteria.get(code), -1) for code in codes["criteria"]]
            + [value_index.get(dimensions.get(code), -1) for code in codes["dimensions"]]
            for _, _, criteria, dimensions in judgment_rows
        ],
        dtype=np.int64,
    ).reshape(len(judgment_rows), n_codes)
    judgment_row = np.array([row_of[row[0]] for row in judgment_rows], dtype=np.int64)
    counts = np.zeros((len(row_of), n_codes, len(VERDICT_DOMAIN)), dtype=np.int64)
    present = given >= 0
    pair_rows = np.broadcast_to(judgment_row[:, np.newaxis], given.shape)
    columns = np.broadcast_to(np.arange(n_codes), given.shape)
    np.add.at(counts, (pair_rows[present], columns[present], given[present]), 1)
    return counts, judgment_row


def _consensus(judgment_rows, adjudication_rows, *, threshold: float) -> dict[int, PairConsensus]:
    """judgment_rows: (pair_id, external_id, criteria, dimensions); adjudication_rows: the same, oldest first."""
    judgment_rows = list(judgment_rows)
    codes: dict[str, dict[str, None]] = {"criteria": {}, "dimensions": {}}
    pairs: dict[int, str] = {}
    for pair_id, external_id, criteria, dimensions in judgment_rows:
        pairs[pair_id] = external_id
        codes["criteria"].update(dict.fromkeys(criteria))
        codes["dimensions"].update(dict.fromkeys(dimensions))
    overrides: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: {"criteria": {}, "dimensions": {}})
    for pair_id, external_id, criteria, dimensions in adjudication_rows:
        pairs.setdefault(pair_id, external_id)
        overrides[pair_id]["criteria"].update(criteria)
        overrides[pair_id]["dimensions"].update(dimensions)
        codes["criteria"].update(dict.fromkeys(criteria))
        codes["dimensions"].update(dict.fromkeys(dimensions))

    pair_ids = list(pairs)
    row_of = {pair_id: row for row, pair_id in enumerate(pair_ids)}
    all_codes = [("criteria", code) for code in codes["criteria"]] + [("dimensions", c) for c in codes["dimensions"]]
    counts, judgment_row = _vote_counts(judgment_rows, row_of=row_of, codes=codes)
    votes = metrics.majority_vote(counts, tie_code=VERDICT_TIE_CODE)
    adjudicated_codes = np.array(
        [
            [code in overrides[pair_id][field] if pair_id in overrides else False for field, code in all_codes]
            for pair_id in pair_ids
        ],
        dtype=bool,
    ).reshape(len(pair_ids), len(all_codes))
    waiting = needs_adjudication(votes, adjudicated=adjudicated_codes, threshold=threshold).tolist()
    raters_per_pair = np.bincount(judgment_row, minlength=len(pair_ids)).tolist()
    # Plain lists: element access on numpy arrays costs more than the whole vote when done 45,000 times.
    labels, agreements, ties = votes.label.tolist(), votes.agreement.tolist(), votes.tie.tolist()
    n_raters_of, count_list = votes.n_raters.tolist(), counts.tolist()

    result = {}
    no_overrides: dict[str, dict[str, int]] = {"criteria": {}, "dimensions": {}}
    for row, pair_id in enumerate(pair_ids):
        fields: dict[str, dict[str, LabelConsensus]] = {"criteria": {}, "dimensions": {}}
        pair_overrides = overrides.get(pair_id, no_overrides)
        lowest = None
        for column_index, (field, code) in enumerate(all_codes):
            n_raters = n_raters_of[row][column_index]
            vote = VERDICT_DOMAIN[labels[row][column_index]] if n_raters else None
            agreement = agreements[row][column_index] if n_raters else None
            adjudicated = code in pair_overrides[field]
            if agreement is not None:
                lowest = agreement if lowest is None else min(lowest, agreement)
            b_better, comparable, a_better = count_list[row][column_index]
            fields[field][code] = LabelConsensus(
                label=pair_overrides[field][code] if adjudicated else vote,
                vote=vote,
                agreement=agreement,
                n_raters=n_raters,
                votes={1: a_better, 0: comparable, -1: b_better},
                tie=ties[row][column_index],
                adjudicated=adjudicated,
            )
        result[pair_id] = PairConsensus(
            pair_id=pair_id,
            external_id=pairs[pair_id],
            criteria=fields["criteria"],
            dimensions=fields["dimensions"],
            n_raters=raters_per_pair[row],
            min_agreement=lowest,
            needs_adjudication=waiting[row],
            adjudicated=pair_id in overrides,
        )
    return result


def _judgment_rows(**filters):
    return (
        PairJudgment.objects.filter(**filters)
        .order_by("assignment__pair_id", "assignment__expert_id")
        .values_list("assignment__pair_id", "assignment__pair__external_id", "criteria", "dimensions")
    )


def _adjudication_rows(**filters):
    return (
        Adjudication.objects.filter(**filters)
        .order_by("created_at", "id")
        .values_list("pair_id", "pair__external_id", "criteria", "dimensions")
    )


def consensus_for_campaign(*, campaign: Campaign) -> dict[int, PairConsensus]:
    """Consensus of every pair of the campaign that has a judgment or an adjudication, keyed by pair id (judged
    pairs in id order, then pairs only adjudicated).

    Two queries whatever the campaign's size. See the module docstring for the vote, the tie rule and how
    adjudication overrides the vote; read `PairConsensus.labels()` for the final labels."""
    return _consensus(
        _judgment_rows(assignment__campaign_id=campaign.pk),
        _adjudication_rows(pair__campaign_id=campaign.pk),
        threshold=campaign.agreement_threshold,
    )


def consensus_for_pair(*, pair: VideoPair) -> PairConsensus | None:
    """The consensus of one pair (None: no judgment and no adjudication yet). Same rules as the campaign's."""
    threshold = Campaign.objects.values_list("agreement_threshold", flat=True).get(pk=pair.campaign_id)
    return _consensus(
        _judgment_rows(assignment__pair_id=pair.pk), _adjudication_rows(pair_id=pair.pk), threshold=threshold
    ).get(pair.pk)


def adjudication_queue_for(*, campaign: Campaign) -> list[PairConsensus]:
    """Pairs waiting for a curator, least agreed first."""
    waiting = [pair for pair in consensus_for_campaign(campaign=campaign).values() if pair.needs_adjudication]
    return sorted(waiting, key=lambda pair: (pair.min_agreement, pair.pair_id))


def adjudication_queue_next(*, campaign: Campaign, after: PairConsensus | None) -> int | None:
    """The id of the pair a curator reviews after `after` (its consensus as it was when they opened it): the first
    waiting pair that comes after it in the queue's order, else the first waiting pair but it (None: no other)."""
    queue = adjudication_queue_for(campaign=campaign)
    others = [pair for pair in queue if after is None or pair.pair_id != after.pair_id]
    if after is not None and after.min_agreement is not None:
        position = (after.min_agreement, after.pair_id)
        later = [pair for pair in others if (pair.min_agreement, pair.pair_id) > position]
        if later:
            return later[0].pair_id
    return others[0].pair_id if others else None


def adjudication_queue_size(*, campaign: Campaign, verdicts: RatingBlock) -> int:
    """len(adjudication_queue_for(campaign=...)) from rating arrays already loaded: one query, no objects per pair."""
    item_index = {pair_id: index for index, pair_id in enumerate(verdicts.item_ids)}
    variable_index = {code: index for index, code in enumerate(verdicts.variables)}
    adjudicated = np.zeros((len(verdicts.item_ids), len(verdicts.variables)), dtype=bool)
    for pair_id, criteria, dimensions in Adjudication.objects.filter(pair__campaign_id=campaign.pk).values_list(
        "pair_id", "criteria", "dimensions"
    ):
        for code in {**criteria, **dimensions}:
            if pair_id in item_index and code in variable_index:
                adjudicated[item_index[pair_id], variable_index[code]] = True
    votes = metrics.majority_vote(verdicts.value_counts(), tie_code=VERDICT_TIE_CODE)
    return int(needs_adjudication(votes, adjudicated=adjudicated, threshold=campaign.agreement_threshold).sum())


def adjudications_for_pair(*, pair: VideoPair) -> QuerySet[Adjudication]:
    return Adjudication.objects.filter(pair=pair).select_related("adjudicated_by").order_by("-created_at", "-id")


def judgments_for_pair(*, pair: VideoPair) -> QuerySet[PairJudgment]:
    return (
        PairJudgment.objects.filter(assignment__pair=pair)
        .select_related("assignment__expert")
        .order_by("assignment__expert__username")
    )


def gold_labels_for(*, campaign: Campaign) -> QuerySet[GoldLabel]:
    return GoldLabel.objects.filter(pair__campaign=campaign).select_related("pair", "set_by").order_by("pair_id")


# --- Rating arrays and the report -----------------------------------------------------------------


@dataclass
class CampaignRatings:
    """The campaign's judgments as arrays (see report.RatingBlock); rows of `swapped`/`seconds` are experts,
    columns pairs, NaN where the expert did not judge the pair; `gold` is pairs x verdict variables."""

    verdicts: RatingBlock
    checklist: RatingBlock | None
    swapped: np.ndarray
    seconds: np.ndarray
    gold: np.ndarray


def _verdict_variables(campaign: Campaign) -> tuple[list[str], list[str], dict[str, list[int]]]:
    rows = list(
        Criterion.objects.filter(dimension__rubric_id=campaign.rubric_id)
        .order_by("dimension__order", "dimension__code", "order", "code")
        .values_list("code", "name", "dimension__code", "dimension__name")
    )
    criteria = [(code, name) for code, name, _, _ in rows]
    dimensions = list(dict.fromkeys((dimension, name) for _, _, dimension, name in rows))
    keys = [code for code, _ in criteria] + [code for code, _ in dimensions]
    labels = [name for _, name in criteria] + [name for _, name in dimensions]
    groups = {"criteria": list(range(len(criteria))), "dimensions": list(range(len(criteria), len(keys)))}
    return keys, labels, groups


def verdict_columns(criterion_codes: list[str], dimension_codes: list[str]) -> dict[str, KeyTextTransform]:
    """One SQL column per code, `verdict_<i>` in the order given (criteria, then dimensions), holding a judgment's
    verdict taken out of its JSON in SQL; report.verdict_indexes reads them. Decoding every judgment's JSON in
    Python instead took a second per 30,000 judgments."""
    fields = [(code, "criteria") for code in criterion_codes] + [(code, "dimensions") for code in dimension_codes]
    return {f"verdict_{index}": KeyTextTransform(code, field) for index, (code, field) in enumerate(fields)}


def campaign_ratings(*, campaign: Campaign, levels: dict[str, str] | None = None) -> CampaignRatings:
    """Every submitted judgment and checklist answer of the campaign, as arrays. A handful of queries."""
    levels = {**DEFAULT_LEVELS, **(levels or {})}
    keys, labels, groups = _verdict_variables(campaign)
    columns = verdict_columns(
        [keys[index] for index in groups["criteria"]], [keys[index] for index in groups["dimensions"]]
    )
    rows = list(
        PairJudgment.objects.filter(assignment__campaign_id=campaign.pk)
        .order_by("assignment__pair_id", "assignment__expert_id")
        .annotate(**columns)
        .values_list(
            "assignment__pair_id",
            "assignment__expert_id",
            "assignment__swapped",
            "assignment__time_spent_seconds",
            *columns,
        )
    )
    pair_ids = sorted({row[0] for row in rows})
    expert_ids = sorted({row[1] for row in rows})
    names = dict(get_user_model().objects.filter(pk__in=expert_ids).values_list("pk", "username"))
    expert_index = {expert_id: index for index, expert_id in enumerate(expert_ids)}
    pair_index = {pair_id: index for index, pair_id in enumerate(pair_ids)}
    verdict_code = {verdict: float(code) for code, verdict in enumerate(VERDICT_DOMAIN)}

    shape = (len(expert_ids), len(pair_ids))
    ratings = np.full(shape + (len(keys),), np.nan)
    swapped, seconds = np.full(shape, np.nan), np.full(shape, np.nan)
    if rows:
        raters = np.array([expert_index[row[1]] for row in rows])
        items = np.array([pair_index[row[0]] for row in rows])
        indexes = verdict_indexes(np.array([row[4:] for row in rows], dtype=object).reshape(len(rows), len(keys)))
        ratings[raters, items] = np.where(indexes >= 0, indexes, np.nan)
        swapped[raters, items] = [float(row[2]) for row in rows]
        seconds[raters, items] = [row[3] for row in rows]

    gold = np.full((len(pair_ids), len(keys)), np.nan)
    for pair_id, criteria, dimensions in GoldLabel.objects.filter(pair__campaign_id=campaign.pk).values_list(
        "pair_id", "criteria", "dimensions"
    ):
        if pair_id not in pair_index:
            continue  # nobody judged it yet
        merged = {**criteria, **dimensions}
        gold[pair_index[pair_id]] = [verdict_code.get(merged.get(key), np.nan) for key in keys]

    rater_names = [names[expert_id] for expert_id in expert_ids]
    verdicts = RatingBlock(
        ratings=ratings,
        variables=keys,
        labels=labels,
        item_ids=pair_ids,
        rater_ids=expert_ids,
        rater_names=rater_names,
        value_domain=VERDICT_DOMAIN,
        level=metrics.check_level(levels["verdicts"]),
        groups=groups,
    )
    return CampaignRatings(
        verdicts=verdicts,
        checklist=_checklist_block(campaign, expert_ids, rater_names, level=metrics.check_level(levels["checklist"])),
        swapped=swapped,
        seconds=seconds,
        gold=gold,
    )


def _checklist_block(campaign: Campaign, expert_ids: list[int], rater_names: list[str], *, level: str):
    if campaign.checklist_id is None:
        return None
    questions = list(
        ChecklistQuestion.objects.filter(checklist_id=campaign.checklist_id).order_by("order").values_list("id", "text")
    )
    sets = checklist_answer_sets(campaign=campaign)
    column_of = {question_id: column for column, question_id in enumerate(sets.question_ids)}
    codes = sets.codes(CHECKLIST_DOMAIN)[:, [column_of[question_id] for question_id, _ in questions]]
    rater_index = {expert_id: index for index, expert_id in enumerate(expert_ids)}
    kept = np.array([annotator in rater_index for annotator in sets.annotator_ids.tolist()], dtype=bool)
    video_ids = np.unique(sets.video_ids[kept])
    ratings = np.full((len(expert_ids), len(video_ids), len(questions)), np.nan)
    raters = np.array([rater_index[annotator] for annotator in sets.annotator_ids[kept].tolist()], dtype=np.int64)
    kept_codes = codes[kept]
    ratings[raters, np.searchsorted(video_ids, sets.video_ids[kept])] = np.where(kept_codes >= 0, kept_codes, np.nan)
    return RatingBlock(
        ratings=ratings,
        variables=[str(question_id) for question_id, _ in questions],
        labels=[text for _, text in questions],
        item_ids=video_ids.tolist(),
        rater_ids=expert_ids,
        rater_names=rater_names,
        value_domain=CHECKLIST_DOMAIN,
        level=level,
        groups={"checklist": list(range(len(questions)))},
    )


def agreement_report_for(
    *,
    campaign: Campaign,
    n_resamples: int = metrics.DEFAULT_RESAMPLES,
    seed: int | None = metrics.DEFAULT_SEED,
    levels: dict[str, str] | None = None,
    ratings: CampaignRatings | None = None,
) -> AgreementReport:
    """The full agreement report: alphas with bootstrap intervals, kappas, per-expert numbers.

    levels overrides the level of measurement: {"verdicts": "ordinal", "checklist": "nominal"} by default."""
    ratings = ratings or campaign_ratings(campaign=campaign, levels=levels)
    return report_build(
        verdicts=ratings.verdicts,
        checklist=ratings.checklist,
        swapped=ratings.swapped,
        seconds=ratings.seconds,
        gold=ratings.gold,
        n_resamples=n_resamples,
        seed=seed,
    )


# --- The dashboard's stored report ----------------------------------------------------------------


def dashboard_report_for(*, campaign: Campaign, levels: dict[str, str] | None = None) -> DashboardReport | None:
    """The stored dashboard of the campaign at these levels (None: never asked for). See services for its life."""
    return DashboardReport.objects.filter(campaign=campaign, levels=levels_key(levels)).first()


def agreement_fingerprint(*, campaign: Campaign) -> str:
    """Changes whenever anything the report or the queue reads changes: a judgment submitted or revised (its
    checklist answers are written in the same transaction), a gold answer or an adjudication recorded."""
    judgments = PairJudgment.objects.filter(assignment__campaign_id=campaign.pk).aggregate(
        count=Count("id"), revisions=Sum("revision"), latest=Max("updated_at")
    )
    gold = GoldLabel.objects.filter(pair__campaign_id=campaign.pk).aggregate(count=Count("id"), latest=Max("set_at"))
    adjudications = Adjudication.objects.filter(pair__campaign_id=campaign.pk).aggregate(
        count=Count("id"), latest=Max("created_at")
    )
    state = (campaign.pk, campaign.rubric_id, campaign.checklist_id, campaign.agreement_threshold)
    return hashlib.sha256(repr((state, judgments, gold, adjudications)).encode()).hexdigest()


# --- One pair, for the curator ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRow:
    code: str
    kind: str  # "criteria" or "dimensions"
    given: list[int | None]  # one verdict per judgment, in `PairReview.judgments` order
    consensus: LabelConsensus | None
    gold: int | None


@dataclass(frozen=True)
class JudgmentCard:
    """One expert's judgment as the curator reads it beside the player."""

    judgment: PairJudgment
    severe: list[str]  # "A · VA": the videos and dimensions the expert flagged as severely wrong


@dataclass(frozen=True)
class ChecklistComparison:
    """One checklist question for both videos: each expert's answer (in `PairReview.judgments` order; None where
    they gave none) and whether the experts differ on either video."""

    question: ChecklistQuestion
    text: str  # the question as experts read it, with the pair's prompt in place
    answers_a: list[str | None]
    answers_b: list[str | None]
    differs: bool


@dataclass
class PairReview:
    pair: VideoPair
    judgments: list[PairJudgment]
    rows: list[ReviewRow]
    consensus: PairConsensus | None
    gold: GoldLabel | None
    history: list[Adjudication]
    cards: list[JudgmentCard]
    checklist: list[ChecklistComparison]

    @property
    def checklist_differences(self) -> list[ChecklistComparison]:
        return [row for row in self.checklist if row.differs]

    def adjudication_changes(
        self, *, criteria: dict[str, int], dimensions: dict[str, int]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Of the labels a curator submitted (the form comes prefilled with the current ones), the codes to record:
        the disputed ones (below the threshold) and any the curator changed. Agreed codes left as they were stay
        votes, so "adjudicated" keeps meaning that a curator decided."""
        threshold = self.pair.campaign.agreement_threshold
        current = {row.code: row.consensus for row in self.rows}

        def needed(code: str, label: int) -> bool:
            consensus = current.get(code)
            if consensus is None or consensus.label != label:
                return True
            return consensus.agreement is not None and consensus.agreement < threshold

        return (
            {code: label for code, label in criteria.items() if needed(code, label)},
            {code: label for code, label in dimensions.items() if needed(code, label)},
        )

    def initial_labels(self) -> dict[str, int]:
        """The current final label of each code, to prefill the curator's form."""
        return {row.code: row.consensus.label for row in self.rows if row.consensus and row.consensus.label is not None}


def pair_review_for(*, pair: VideoPair) -> PairReview:
    """Everything the adjudication page shows: each expert's verdict per code side by side, the vote, gold, history."""
    structure = list(pair.campaign.rubric.dimensions.prefetch_related("criteria").order_by("order"))
    codes = [("criteria", criterion.code) for dimension in structure for criterion in dimension.criteria.all()]
    codes += [("dimensions", dimension.code) for dimension in structure]
    judgments = list(judgments_for_pair(pair=pair))
    consensus = consensus_for_pair(pair=pair)
    gold = GoldLabel.objects.filter(pair=pair).first()
    rows = [
        ReviewRow(
            code=code,
            kind=kind,
            given=[getattr(judgment, kind).get(code) for judgment in judgments],
            consensus=getattr(consensus, kind).get(code) if consensus else None,
            gold=getattr(gold, kind).get(code) if gold else None,
        )
        for kind, code in codes
    ]
    return PairReview(
        pair=pair,
        judgments=judgments,
        rows=rows,
        consensus=consensus,
        gold=gold,
        history=list(adjudications_for_pair(pair=pair)),
        cards=[JudgmentCard(judgment=judgment, severe=_severe_flags(judgment)) for judgment in judgments],
        checklist=_checklist_comparison(pair, judgments),
    )


def _severe_flags(judgment: PairJudgment) -> list[str]:
    return [
        f"{side} · {dimension}"
        for side in ("A", "B")
        for dimension, flagged in (judgment.severe or {}).get(side, {}).items()
        if flagged
    ]


def _checklist_comparison(pair: VideoPair, judgments: list[PairJudgment]) -> list[ChecklistComparison]:
    """Each question of the campaign's checklist with every expert's answers for video A and B: two queries."""
    if pair.campaign.checklist_id is None or not judgments:
        return []
    given = {
        (assignment_id, video_id, question_id): answer
        for assignment_id, video_id, question_id, answer in ChecklistAnswer.objects.filter(
            assignment_id__in=[judgment.assignment_id for judgment in judgments]
        ).values_list("assignment_id", "video_id", "question_id", "answer")
    }
    comparison = []
    for question in ChecklistQuestion.objects.filter(checklist_id=pair.campaign.checklist_id).order_by("order"):
        answers_a = [given.get((judgment.assignment_id, pair.video_a_id, question.pk)) for judgment in judgments]
        answers_b = [given.get((judgment.assignment_id, pair.video_b_id, question.pk)) for judgment in judgments]
        comparison.append(
            ChecklistComparison(
                question=question,
                text=question.text_for(pair.prompt),
                answers_a=answers_a,
                answers_b=answers_b,
                differs=len(set(answers_a)) > 1 or len(set(answers_b)) > 1,
            )
        )
    return comparison


# --- The pair browser --------------------------------------------------------------------------------

PAIR_BROWSER_PAGE_SIZE = 50


@dataclass(frozen=True)
class PairFilters:
    """What a curator narrows a campaign's pairs to; blank means "any". Values are the form's choices
    (agreement.forms.PairFilterForm)."""

    text: str = ""  # in the prompt or the pair id
    source: str = ""  # the source model of either video
    status: str = ""  # unjudged | in_progress | judged (submitted judgments against the campaign's overlap)
    agreement: str = ""  # agreed | disagreed | awaiting (disagreed and not yet settled by a curator)
    flags: str = ""  # flagged | unflagged
    adjudication: str = ""  # gold | not_gold | adjudicated | not_adjudicated


@dataclass
class PairBrowserRow:
    pair: VideoPair  # annotated with judgment_count, flag_count, has_gold, is_adjudicated
    consensus: PairConsensus | None


@dataclass
class PairBrowserPage:
    rows: list[PairBrowserRow]
    next_after: int | None  # pass as `after` for the next page (None: this is the last)
    previous_before: int | None  # pass as `before` for the previous page (None: this is the first)


def consensus_for_pairs(*, campaign: Campaign, pair_ids: list[int]) -> dict[int, PairConsensus]:
    """The consensus of some pairs of the campaign (those with a judgment or an adjudication). Two queries,
    whatever the number of pairs; the same rules as consensus_for_campaign."""
    if not pair_ids:
        return {}
    return _consensus(
        _judgment_rows(assignment__campaign_id=campaign.pk, assignment__pair_id__in=pair_ids),
        _adjudication_rows(pair__campaign_id=campaign.pk, pair_id__in=pair_ids),
        threshold=campaign.agreement_threshold,
    )


PAIR_BROWSER_CACHE_SECONDS = 600  # a safety net: the keys change with the data they summarise


def pair_ids_by_agreement(*, campaign: Campaign) -> dict[str, list[int]]:
    """{"agreed": [...], "disagreed": [...], "awaiting": [...]} pair ids of the judged pairs, by the consensus
    rules above: agreed when every code's agreement reaches the campaign's threshold, disagreed when some code's
    does not, awaiting when disagreed and a curator has not settled every disputed code (the adjudication queue).
    Cached until a judgment, gold answer or adjudication of the campaign changes."""
    key = f"pair-ids-by-agreement:{agreement_fingerprint(campaign=campaign)}"
    groups = cache.get(key)
    if groups is None:
        groups = {"agreed": [], "disagreed": [], "awaiting": []}
        for pair in consensus_for_campaign(campaign=campaign).values():
            if pair.min_agreement is None:
                continue
            groups["agreed" if pair.min_agreement >= campaign.agreement_threshold else "disagreed"].append(pair.pair_id)
            if pair.needs_adjudication:
                groups["awaiting"].append(pair.pair_id)
        cache.set(key, groups, PAIR_BROWSER_CACHE_SECONDS)
    return groups


def pair_sources_for(*, campaign: Campaign) -> list[str]:
    """The source models named by the campaign's videos, for the browser's source filter. Reading them takes
    seconds at a million pairs, so they are cached until a pair is added or removed."""
    pairs = VideoPair.objects.filter(campaign=campaign).order_by()
    state = pairs.aggregate(count=Count("pk"), latest=Max("pk"))
    key = f"pair-sources:{campaign.pk}:{state['count']}:{state['latest']}"
    sources = cache.get(key)
    if sources is None:
        named = pairs.values_list("video_a__source_model", flat=True).union(
            pairs.values_list("video_b__source_model", flat=True)
        )
        sources = sorted(source for source in named if source)
        cache.set(key, sources, PAIR_BROWSER_CACHE_SECONDS)
    return sources


def _submitted_judgment_count() -> Subquery:
    return Subquery(
        PairJudgment.objects.filter(assignment__pair=OuterRef("pk"))
        .order_by()
        .values("assignment__pair")
        .annotate(count=Count("pk"))
        .values("count"),
        output_field=IntegerField(),
    )


def pairs_filtered(*, campaign: Campaign, filters: PairFilters) -> QuerySet[VideoPair]:
    """The campaign's pairs matching the filters, annotated for the browser's rows, in id order."""
    pairs = (
        VideoPair.objects.filter(campaign=campaign)
        .select_related("video_a", "video_b")
        .annotate(
            judgment_count=Coalesce(_submitted_judgment_count(), 0),
            flag_count=Coalesce(
                Subquery(
                    PairFlag.objects.filter(pair=OuterRef("pk"))
                    .order_by()
                    .values("pair")
                    .annotate(count=Count("pk"))
                    .values("count"),
                    output_field=IntegerField(),
                ),
                0,
            ),
            has_gold=Exists(GoldLabel.objects.filter(pair=OuterRef("pk"))),
            is_adjudicated=Exists(Adjudication.objects.filter(pair=OuterRef("pk"))),
        )
    )
    if filters.text:
        pairs = pairs.filter(Q(prompt__icontains=filters.text) | Q(external_id__icontains=filters.text))
    if filters.source:
        pairs = pairs.filter(Q(video_a__source_model=filters.source) | Q(video_b__source_model=filters.source))
    if filters.status == "unjudged":
        pairs = pairs.filter(judgment_count=0)
    elif filters.status == "in_progress":
        pairs = pairs.filter(judgment_count__gt=0, judgment_count__lt=campaign.overlap)
    elif filters.status == "judged":
        pairs = pairs.filter(judgment_count__gte=campaign.overlap)
    if filters.agreement:
        pairs = pairs.filter(pk__in=pair_ids_by_agreement(campaign=campaign)[filters.agreement])
    if filters.flags:
        pairs = pairs.filter(flag_count__gt=0) if filters.flags == "flagged" else pairs.filter(flag_count=0)
    if filters.adjudication in ("gold", "not_gold"):
        pairs = pairs.filter(has_gold=filters.adjudication == "gold")
    elif filters.adjudication in ("adjudicated", "not_adjudicated"):
        pairs = pairs.filter(is_adjudicated=filters.adjudication == "adjudicated")
    return pairs.order_by("pk")


def pair_browser_page(
    *,
    campaign: Campaign,
    filters: PairFilters,
    after: int | None = None,
    before: int | None = None,
    page_size: int = PAIR_BROWSER_PAGE_SIZE,
) -> PairBrowserPage:
    """One page of the campaign's filtered pairs, in id order, after the pair id `after` or before `before`.

    Keyset pages: the database walks the (campaign, id) order from the last row shown, so page 20,000 of a
    million pairs costs what page 1 does, and the number of queries does not depend on the page size."""
    pairs = pairs_filtered(campaign=campaign, filters=filters)
    if before is not None:
        window = list(pairs.filter(pk__lt=before).order_by("-pk")[: page_size + 1])
        more_before = len(window) > page_size
        shown = list(reversed(window[:page_size]))
        more_after = True
    else:
        window = list((pairs.filter(pk__gt=after) if after is not None else pairs)[: page_size + 1])
        more_after = len(window) > page_size
        shown = window[:page_size]
        more_before = after is not None and pairs.filter(pk__lte=after).exists()
    consensus = consensus_for_pairs(campaign=campaign, pair_ids=[pair.pk for pair in shown])
    return PairBrowserPage(
        rows=[PairBrowserRow(pair=pair, consensus=consensus.get(pair.pk)) for pair in shown],
        next_after=shown[-1].pk if shown and more_after else None,
        previous_before=shown[0].pk if shown and more_before else None,
    )
