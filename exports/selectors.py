"""Reads for exports: snapshots, and a campaign's pairs with their consensus labels, in bounded batches.

Consensus follows agreement's rule (see agreement/selectors.py): the vote of `agreement.metrics.majority_vote`
with its tie rule, adjudicated codes taking the curator's latest verdict, and `agreement.selectors.
needs_adjudication` deciding what still waits for a curator. Here it is computed with numpy a few thousand pairs
at a time (keyset-paginated in external_id order), so memory stays flat and no per-code objects are built;
`consensus_for_campaign` would hold the whole campaign. A test checks both give the same labels.

Reliability-weighted consensus (the export option `consensus: "reliability-weighted"`): each judgment's verdict
counts for its expert's Dawid-Skene weight for that code (leaderboards.reliability, one model per criterion and
dimension over the campaign's judgments, as the weighted leaderboard fits them) instead of 1. The vote is the
verdict with the most weight, the same tie rule applies (shared top weight, or no weight at all: "comparable"),
and adjudicated codes still take the curator's verdict. What waits for adjudication and each row's `agreement`
stay the experts' unweighted counts, so the curators' queue is the same whichever consensus an export uses.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.shortcuts import get_object_or_404

from agreement import metrics
from agreement.models import Adjudication, GoldLabel
from agreement.report import VERDICT_DOMAIN, VERDICT_TIE_CODE, verdict_indexes
from agreement.selectors import needs_adjudication, verdict_columns
from annotation.models import Campaign, ChecklistQuestion, Criterion, PairJudgment, VideoPair
from annotation.selectors import EXPORT, access_campaign, campaigns_for, checklist_answer_sets, user_has_role
from exports.models import ExportSnapshot
from leaderboards import reliability

# --- Permissions and snapshots ------------------------------------------------------------------------


def user_can_export(*, user, campaign_id: int | None = None) -> bool:
    """ML engineers and curators of the campaign (of some campaign, when none is given) make and download exports;
    experts never see other experts' labels."""
    return user_has_role(user=user, roles=EXPORT, campaign_id=campaign_id)


def campaigns_for_export(*, user) -> QuerySet[Campaign]:
    return campaigns_for(user=user, roles=EXPORT)


def access_campaign_for_export(*, user, campaign_id: int) -> Campaign:
    return access_campaign(user=user, campaign_id=campaign_id, roles=EXPORT, action="export it")


def snapshots_for(*, user, roles=EXPORT) -> QuerySet[ExportSnapshot]:
    """Snapshots of the campaigns where the user holds one of `roles`."""
    campaign_ids = campaigns_for(user=user, roles=roles).values("id")
    return ExportSnapshot.objects.filter(campaign_id__in=campaign_ids).select_related("campaign", "created_by")


def access_snapshot(*, user, snapshot_id: int, roles=EXPORT, action: str = "read its exports") -> ExportSnapshot:
    """A snapshot of a campaign where the user holds one of `roles`: 404 if there is none, else 403 without the role."""
    snapshot = get_object_or_404(ExportSnapshot.objects.select_related("campaign", "created_by"), pk=snapshot_id)
    access_campaign(user=user, campaign_id=snapshot.campaign_id, roles=roles, action=action)
    return snapshot


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

    @cached_property
    def question_keys(self) -> tuple[list[int], list[str]]:
        """The questions' ids in order, and the same as text (the keys of an export's checklist columns)."""
        ids = [question["id"] for question in self.questions]
        return ids, [str(question_id) for question_id in ids]

    @cached_property
    def question_texts(self) -> dict[str, str]:
        """Question id (as text) -> its wording, "[[prompt]]" still in it (formats.checklist_answers fills it)."""
        return {str(question["id"]): question["text"] for question in self.questions}


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
    """One pair with what an export needs. `labels` holds every criterion and dimension code of the rubric: the
    final label (+1/0/-1; the curator's when adjudicated, else the vote; None when neither exists)."""

    pair_id: int
    external_id: str
    prompt: str
    video_a: dict  # id, sha256, proxy, prompt
    video_b: dict
    n_raters: int  # judgments counted
    labels: dict[str, int | None]
    votes: dict[str, tuple[int, int, int]]  # dimension code -> raters giving (-1, 0, +1)
    vote_agreement: dict[str, float | None]  # dimension code -> share of raters giving the vote
    adjudicated: bool  # a curator adjudicated some code
    needs_adjudication: bool
    severe: dict[str, dict[str, bool]]  # flags any rater set (only True entries)
    checklist: dict[int, dict[int, str | None]]  # video id -> question id -> consensus answer
    gold: bool
    reweighted: tuple[str, ...] = ()  # codes whose reliability-weighted vote differs from the majority vote


CONSENSUS_ANSWERS = ("yes", "no", "na")


def checklist_consensus(counts: np.ndarray) -> np.ndarray:
    """Per row of answer counts (last axis: CONSENSUS_ANSWERS), the index of the answer most annotators gave; -1
    when the top count is shared or nobody answered."""
    ranked = np.sort(counts, axis=-1)
    return np.where((ranked[..., -1] > 0) & (ranked[..., -1] > ranked[..., -2]), counts.argmax(axis=-1), -1)


@dataclass(frozen=True)
class _BatchJudgments:
    pair_ids: list[int]
    expert_ids: list[int]
    given: np.ndarray  # (judgments, codes): index into VERDICT_DOMAIN, -1 where the judgment has no verdict
    severe: dict  # pair id -> {"A": {code: True}, "B": {...}} for flags any rater set


def _judgments(pair_ids: list[int], criterion_codes: list[str], dimension_codes: list[str]) -> _BatchJudgments:
    """The judgments of the pairs, one query, their verdicts read as agreement reads them (verdict_columns):
    decoding every judgment's JSON in Python was a quarter of an export. Flags come as text and are decoded only
    when some flag is true: few judgments have one."""
    verdicts = verdict_columns(criterion_codes, dimension_codes)
    rows = list(
        PairJudgment.objects.filter(assignment__pair_id__any=pair_ids)
        .order_by("assignment__pair_id", "assignment__expert_id")
        .annotate(**verdicts)
        .values_list("assignment__pair_id", "assignment__expert_id", Cast("severe", TextField()), *verdicts)
    )
    flags = defaultdict(lambda: {"A": {}, "B": {}})
    for pair_id, _, severe, *_ in rows:
        if severe and "true" in severe:
            for side, codes in json.loads(severe).items():
                for code, flagged in codes.items():
                    if flagged is True:
                        flags[pair_id][side][code] = True
    given = verdict_indexes(np.array([row[3:] for row in rows], dtype=object).reshape(len(rows), len(verdicts)))
    return _BatchJudgments(
        pair_ids=[row[0] for row in rows], expert_ids=[row[1] for row in rows], given=given, severe=flags
    )


def batch_consensus(
    *,
    pair_ids: list[int],
    criterion_codes: list[str],
    dimension_codes: list[str],
    threshold: float,
    weights: ReliabilityWeights | None = None,
) -> dict[int, dict]:
    """Pair id -> {"n_raters", "labels", "votes", "vote_agreement", "adjudicated", "needs_adjudication",
    "reweighted"} for the given pairs, by agreement's rule (module docstring), or with `weights` by the
    reliability-weighted vote. Three queries (judgments with severe flags, and adjudications); the severe flags
    come back under "severe"."""
    codes = criterion_codes + dimension_codes
    column = {code: index for index, code in enumerate(codes)}
    row_of = {pair_id: row for row, pair_id in enumerate(pair_ids)}
    judgments = _judgments(pair_ids, criterion_codes, dimension_codes)
    given, severe = judgments.given, judgments.severe
    judgment_row = np.array([row_of[pair_id] for pair_id in judgments.pair_ids], dtype=np.int64)
    counts = np.zeros((len(pair_ids), len(codes), len(VERDICT_DOMAIN)), dtype=np.int64)
    present = given >= 0
    cells = (np.broadcast_to(judgment_row[:, None], given.shape)[present], np.nonzero(present)[1], given[present])
    np.add.at(counts, cells, 1)
    votes = metrics.majority_vote(counts, tie_code=VERDICT_TIE_CODE)
    vote_label = votes.label
    if weights is not None:
        judgment_weights = np.array(
            [[weights.weight(code=code, expert_id=expert_id) for code in codes] for expert_id in judgments.expert_ids],
            dtype=float,
        ).reshape(len(judgments.expert_ids), len(codes))
        weighted = np.zeros(counts.shape, dtype=float)
        np.add.at(weighted, cells, judgment_weights[present])
        # Rounded, so that weights summing to the same total in a different order still tie.
        weighted_votes = metrics.majority_vote(np.round(weighted, 9), tie_code=VERDICT_TIE_CODE)
        # Judged, but by experts who all weigh nothing: no preference established, "comparable" by the tie rule.
        weightless = (votes.n_raters > 0) & (weighted_votes.n_raters <= 0)
        vote_label = np.where(weightless, VERDICT_TIE_CODE, weighted_votes.label)

    # Adjudications, oldest first: the latest verdict of a code wins.
    override = np.zeros((len(pair_ids), len(codes)), dtype=np.int64)
    overridden = np.zeros((len(pair_ids), len(codes)), dtype=bool)
    adjudicated_pairs = set()
    for pair_id, criteria, dimensions in (
        Adjudication.objects.filter(pair_id__any=pair_ids)
        .order_by("created_at", "id")
        .values_list("pair_id", "criteria", "dimensions")
    ):
        adjudicated_pairs.add(pair_id)
        for code, verdict in {**criteria, **dimensions}.items():
            if code in column:
                override[row_of[pair_id], column[code]] = verdict
                overridden[row_of[pair_id], column[code]] = True
    waiting = needs_adjudication(votes, adjudicated=overridden, threshold=threshold).tolist()

    domain = np.array(VERDICT_DOMAIN, dtype=np.int64)
    vote_value = domain[np.maximum(vote_label, 0)]
    final = np.where(overridden, override, vote_value).tolist()
    reweighted = ((vote_label != votes.label) & ~overridden & (votes.n_raters > 0)).tolist()
    has_label = (overridden | (votes.n_raters > 0)).tolist()
    raters = np.bincount(judgment_row, minlength=len(pair_ids)).tolist()
    dimension_columns = [column[code] for code in dimension_codes]
    dimension_counts = counts[:, dimension_columns, :].tolist()
    agreement = np.where(votes.n_raters > 0, np.nan_to_num(votes.agreement), np.nan)[:, dimension_columns].tolist()

    result = {}
    for row, pair_id in enumerate(pair_ids):
        result[pair_id] = {
            "n_raters": raters[row],
            "labels": {code: final[row][i] if has_label[row][i] else None for i, code in enumerate(codes)},
            "votes": {code: tuple(dimension_counts[row][i]) for i, code in enumerate(dimension_codes)},
            "vote_agreement": {
                code: None if agreement[row][i] != agreement[row][i] else agreement[row][i]
                for i, code in enumerate(dimension_codes)
            },
            "adjudicated": pair_id in adjudicated_pairs,
            "needs_adjudication": waiting[row],
            "severe": severe.get(pair_id, {"A": {}, "B": {}}),
            "reweighted": tuple(code for i, code in enumerate(codes) if reweighted[row][i]),
        }
    return result


# --- Reliability weights ------------------------------------------------------------------------------

CONSENSUS_METHODS = ("majority", "reliability-weighted")


@dataclass(frozen=True)
class ReliabilityWeights:
    """Each expert's Dawid-Skene reliability per criterion and dimension code (leaderboards.reliability): `weight`
    (accuracy above chance, rescaled to [0, 1]) and `accuracy`, keyed code -> expert id."""

    weights: dict[str, dict[int, float]]
    accuracies: dict[str, dict[int, float]]
    usernames: dict[int, str]

    def weight(self, *, code: str, expert_id: int) -> float:
        return self.weights.get(code, {}).get(expert_id, 0.0)

    def manifest_entry(self) -> dict:
        """What the manifest records: the method, and per expert (by username) the weight and accuracy per code."""
        experts = sorted(self.usernames.items(), key=lambda item: item[1])
        codes = list(self.weights)
        return {
            "method": "reliability-weighted",
            "reliability": "Dawid-Skene per code over the campaign's judgments (leaderboards.reliability); weight = "
            "expected accuracy above chance, rescaled to [0, 1]",
            "weights": {
                username: {code: round(self.weight(code=code, expert_id=expert_id), 6) for code in codes}
                for expert_id, username in experts
            },
            "accuracy": {
                username: {code: round(self.accuracies[code].get(expert_id, 0.0), 6) for code in codes}
                for expert_id, username in experts
            },
        }


def reliability_weights_for(*, campaign: Campaign, codes: list[str]) -> ReliabilityWeights:
    """Fit one Dawid-Skene model per code over every judgment of the campaign (the verdicts held in memory at once:
    the model needs them all) and return each expert's weight and accuracy per code. One query."""
    labels: dict[str, list[tuple[int, int, int]]] = {code: [] for code in codes}
    usernames: dict[int, str] = {}
    for pair_id, expert_id, username, criteria, dimensions in (
        PairJudgment.objects.filter(assignment__campaign_id=campaign.pk)
        .order_by("assignment__pair_id", "assignment__expert_id")
        .values_list(
            "assignment__pair_id", "assignment__expert_id", "assignment__expert__username", "criteria", "dimensions"
        )
        .iterator(chunk_size=5000)
    ):
        usernames[expert_id] = username
        for code, verdict in (*dimensions.items(), *criteria.items()):
            if code in labels:
                labels[code].append((pair_id, expert_id, verdict))
    weights, accuracies = {}, {}
    for code, code_labels in labels.items():
        annotators = reliability.dawid_skene(code_labels).annotators
        weights[code] = {expert_id: found.weight for expert_id, found in annotators.items()}
        accuracies[code] = {expert_id: found.accuracy for expert_id, found in annotators.items()}
    return ReliabilityWeights(weights=weights, accuracies=accuracies, usernames=usernames)


def _checklist_for(campaign: Campaign, video_ids: list[int]) -> dict[int, dict[int, str | None]]:
    """Video id -> question id -> the consensus answer (None when the top count is shared) of the questions anybody
    answered for it, from the judgments' packed answers. Two queries."""
    if campaign.checklist_id is None or not video_ids:
        return {}
    sets = checklist_answer_sets(campaign=campaign, video_ids=video_ids)
    videos, row_video = np.unique(sets.video_ids, return_inverse=True)
    codes = sets.codes(CONSENSUS_ANSWERS)
    counts = np.zeros((len(videos), len(sets.question_ids), len(CONSENSUS_ANSWERS)), dtype=np.int64)
    answered = codes >= 0
    rows, columns = np.nonzero(answered)
    np.add.at(counts, (row_video[rows], columns, codes[rows, columns]), 1)
    names = np.array([*CONSENSUS_ANSWERS, None], dtype=object)  # index -1 is None
    consensus = names[checklist_consensus(counts)].tolist()
    asked = counts.sum(axis=-1) > 0
    everything_asked = asked.all(axis=1).tolist()
    asked = asked.tolist()
    question_ids = sets.question_ids
    return {
        # Most videos have every question answered: one dict(zip()) instead of 64 steps of a comprehension.
        video_id: dict(zip(question_ids, consensus[v], strict=True))
        if everything_asked[v]
        else {question_id: consensus[v][q] for q, question_id in enumerate(question_ids) if asked[v][q]}
        for v, video_id in enumerate(videos.tolist())
    }


def pairs_for_export(
    *,
    campaign: Campaign,
    structure: CampaignStructure,
    batch_size: int = 2000,
    weights: ReliabilityWeights | None = None,
) -> Iterator[list[PairForExport]]:
    """Every pair of the campaign in external_id order, `batch_size` at a time, with its consensus labels
    (reliability-weighted with `weights`), severe flags, consensus checklist answers and whether it has gold. Six
    queries per batch."""
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
        consensus = batch_consensus(
            pair_ids=pair_ids,
            criterion_codes=structure.criterion_codes,
            dimension_codes=structure.dimension_codes,
            threshold=campaign.agreement_threshold,
            weights=weights,
        )
        gold = set(GoldLabel.objects.filter(pair_id__any=pair_ids).values_list("pair_id", flat=True))
        checklist = _checklist_for(campaign, [row[3] for row in rows] + [row[7] for row in rows])
        yield [
            PairForExport(
                pair_id=row[0],
                external_id=row[1],
                prompt=row[2],
                video_a={"id": row[3], "sha256": row[4], "proxy": row[5], "prompt": row[6]},
                video_b={"id": row[7], "sha256": row[8], "proxy": row[9], "prompt": row[10]},
                **consensus[row[0]],
                checklist={video_id: checklist.get(video_id, {}) for video_id in (row[3], row[7])},
                gold=row[0] in gold,
            )
            for row in rows
        ]


GOLD_DESCRIPTIONS = {
    "test": "kept for the test split (their prompt groups go to test)",
    "split": "split like any other pair",
    "exclude": "left out",
}
AWAITING_DESCRIPTIONS = {
    "exclude": "left out until a curator adjudicates them",
    "include": "exported with the experts' majority vote",
}
MEDIA_DESCRIPTIONS = {
    "link": "proxy videos hard-linked into the folder (copied across file systems)",
    "copy": "proxy videos copied into the folder",
    "none": "no videos in the folder (rows still name media/<sha256>.mp4)",
}


CONSENSUS_DESCRIPTIONS = {
    "majority": "the experts' majority vote",
    "reliability-weighted": "each expert's vote weighted by their Dawid-Skene reliability for the code",
}


def export_options_summary(*, options: dict) -> list[tuple[str, str]]:
    """The snapshot's options as (label, plain-language value) rows, for people rather than for the builder.
    Options this summary does not know yet are listed as they are, so none is ever hidden."""
    known = {"split", "seed", "min_agreement", "swap_augment", "gold", "awaiting_adjudication", "media", "consensus"}
    split = options.get("split") or [0.8, 0.1, 0.1]
    min_agreement = float(options.get("min_agreement", 0.0))
    rows = [
        (
            "Split (train / validation / test)",
            " / ".join(f"{float(share):.0%}" for share in split) + f", by prompt, seed {options.get('seed', 0)}",
        ),
        (
            "Agreement",
            f"pairs whose experts agree at least {min_agreement:.2f} (adjudicated pairs always)"
            if min_agreement > 0
            else "every pair, whatever its agreement",
        ),
        ("Position swap", "each pair also exported with A and B swapped" if options.get("swap_augment") else "no"),
        ("Gold pairs", GOLD_DESCRIPTIONS.get(options.get("gold", "test"), str(options.get("gold")))),
        (
            "Pairs awaiting adjudication",
            AWAITING_DESCRIPTIONS.get(
                options.get("awaiting_adjudication", "exclude"), str(options.get("awaiting_adjudication"))
            ),
        ),
        ("Videos", MEDIA_DESCRIPTIONS.get(options.get("media", "link"), str(options.get("media")))),
        ("Consensus", CONSENSUS_DESCRIPTIONS.get(options.get("consensus", "majority"), str(options.get("consensus")))),
    ]
    rows += [(key.replace("_", " ").capitalize(), str(value)) for key, value in options.items() if key not in known]
    return rows


# --- A finished snapshot's files: preview and diff ----------------------------------------------------

SPLIT_FILES = ("train", "validation", "test", "ties")
PREVIEW_ROWS = 10
PREVIEW_TEXT_LIMIT = 160
# What the preview shows of each format's rows (docs/export-formats.md); "answer" is the assistant turn's text.
PREVIEW_COLUMNS = {
    "aesrm-pairwise": ("pair_id", "prompt", "labels", "n_raters", "agreement", "adjudicated", "swapped"),
    "cot-sft": ("pair_id", "labels", "answer", "swapped"),
    "aesrm-base-sft": ("pair_id", "labels", "answer", "swapped"),
    "rl-prompts": ("pair_id", "kind", "labels", "score"),
    "checklist-qa": ("video_id", "question_id", "dimension", "question", "answer"),
    "preference-pairs": ("pair_id", "dimension", "prompt", "chosen", "rejected", "chosen_is_a", "agreement"),
}


class SnapshotFilesMissing(Exception):
    """The snapshot has no finished folder to read (not succeeded, or its folder was removed)."""


@dataclass(frozen=True)
class SnapshotPreview:
    file_name: str
    total_rows: int  # rows in that file, from the manifest
    columns: tuple[str, ...]
    rows: list[list[str]]  # cells as text


def _split_path(snapshot: ExportSnapshot, split: str) -> Path:
    folder = Path(snapshot.path)
    if snapshot.status != ExportSnapshot.Status.SUCCEEDED or not folder.is_dir():
        raise SnapshotFilesMissing(f"Export #{snapshot.pk} has no finished folder to read.")
    return folder / f"{split}.jsonl"


def _assistant_text(messages: list[dict] | None) -> str | None:
    for message in reversed(messages or []):
        if message.get("role") == "assistant":
            return " ".join(part.get("text") or "" for part in message.get("content") or [] if part.get("text"))
    return None


def preview_cell(value) -> str:
    """A row value as short readable text: labels as "VA A · VF tie", floats to 3 decimals, long text cut."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return " · ".join(f"{key} {preview_cell(item)}" for key, item in value.items())
    text = str(value)
    return text if len(text) <= PREVIEW_TEXT_LIMIT else text[: PREVIEW_TEXT_LIMIT - 1] + "…"


def snapshot_preview(*, snapshot: ExportSnapshot, limit: int = PREVIEW_ROWS) -> SnapshotPreview:
    """The first ``limit`` rows of the snapshot's main file (its first split with rows, train as a rule), read
    line by line: only those lines are read, whatever the file's size."""
    counts = dict(snapshot.split_counts)
    split = next((name for name in SPLIT_FILES if counts.get(name)), "train")
    path = _split_path(snapshot, split)
    if not path.is_file():
        raise SnapshotFilesMissing(f"Export #{snapshot.pk} has no {path.name}.")
    columns = PREVIEW_COLUMNS.get(snapshot.format) or ()
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in itertools.islice(handle, limit):
            record = json.loads(line)
            if not columns:  # a format this preview does not know: its own keys
                columns = tuple(record)
            if "answer" in columns and "messages" in record:
                record["answer"] = _assistant_text(record["messages"])
            rows.append([preview_cell(record.get(column)) for column in columns])
    return SnapshotPreview(file_name=path.name, total_rows=counts.get(split, len(rows)), columns=columns, rows=rows)


def _row_key_and_label(export_format: str, row: dict, split: str) -> tuple[str, tuple] | None:
    """What identifies a row across snapshots of one format, and the label it carries (None: not compared)."""
    if export_format == "checklist-qa":
        return f"{row['video_id']} · question {row['question_id']}", (("answer", row["answer"]),)
    if export_format == "preference-pairs":
        winner = "tie" if split == "ties" else ("A" if row["chosen_is_a"] else "B")
        return f"{row['pair_id']} · {row['dimension']}", (("winner", winner),)
    if row.get("swapped"):
        return None  # an augmentation row repeats its original with A and B exchanged
    if row.get("kind") == "single":
        return row["pair_id"], (("score", row["score"]),)
    return row["pair_id"], tuple((row.get("labels") or {}).items())


def snapshot_labelled_rows(*, snapshot: ExportSnapshot) -> Iterator[tuple[str, tuple]]:
    """(key, label) of every compared row of the snapshot, file by file and line by line."""
    for split in SPLIT_FILES:
        path = _split_path(snapshot, split)
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                keyed = _row_key_and_label(snapshot.format, json.loads(line), split)
                if keyed is not None:
                    yield keyed


@dataclass(frozen=True)
class LabelChange:
    key: str
    before: tuple
    after: tuple

    @property
    def changes(self) -> str:
        """ "VA A → tie, VP B → A": only the codes whose label changed."""
        before, after = dict(self.before), dict(self.after)
        return ", ".join(
            f"{code} {preview_cell(before.get(code))} → {preview_cell(after.get(code))}"
            for code in dict.fromkeys([*before, *after])
            if before.get(code) != after.get(code)
        )


@dataclass
class SnapshotDiff:
    earlier: ExportSnapshot
    later: ExportSnapshot
    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0
    added_examples: list[str] = field(default_factory=list)
    removed_examples: list[str] = field(default_factory=list)
    changed_examples: list[LabelChange] = field(default_factory=list)


def snapshot_diff(*, earlier: ExportSnapshot, later: ExportSnapshot, examples: int = 10) -> SnapshotDiff:
    """Rows added, removed and relabelled from ``earlier`` to ``later`` (same format): pairs for the pair formats
    (augmentation rows left out), (pair, dimension) for preference-pairs, (video, question) for checklist-qa.

    Memory: only ``earlier``'s keys and labels are held, in one dict; ``later`` is streamed against it, each of its
    rows popped from the dict as it is matched, so what is left are the removed rows. Equal label tuples are
    shared (one object per distinct labelling, 27 at most for VA/VF/VP), so an entry costs its key string (~50 bytes
    + the pair id, ~70 bytes for a 20-character id) and its dict slot (~30-40 bytes with the table's spare room):
    about 110 bytes a row, ~110 MB for a 1M-row snapshot; each row's parsed JSON is dropped before the next line."""
    if earlier.format != later.format:
        raise ValueError(f"Export #{earlier.pk} is {earlier.format}, export #{later.pk} is {later.format}.")
    shared_labels: dict[tuple, tuple] = {}
    before: dict[str, tuple] = {}
    for key, label in snapshot_labelled_rows(snapshot=earlier):
        before[key] = shared_labels.setdefault(label, label)
    diff = SnapshotDiff(earlier=earlier, later=later)
    for key, label in snapshot_labelled_rows(snapshot=later):
        previous = before.pop(key, None)
        if previous is None:
            diff.added += 1
            if len(diff.added_examples) < examples:
                diff.added_examples.append(key)
        elif previous != label:
            diff.changed += 1
            if len(diff.changed_examples) < examples:
                diff.changed_examples.append(LabelChange(key=key, before=previous, after=label))
        else:
            diff.unchanged += 1
    diff.removed = len(before)
    diff.removed_examples = list(itertools.islice(before, examples))
    return diff


def earlier_snapshots_to_diff(*, snapshot: ExportSnapshot) -> QuerySet[ExportSnapshot]:
    """Finished snapshots of the same campaign and format made before ``snapshot``, newest first."""
    return ExportSnapshot.objects.filter(
        campaign_id=snapshot.campaign_id,
        format=snapshot.format,
        status=ExportSnapshot.Status.SUCCEEDED,
        created_at__lt=snapshot.created_at,
    ).order_by("-created_at", "-id")
