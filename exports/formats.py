"""Row builders and Arrow schemas of the export formats (docs/export-formats.md).

Every builder is a pure function of a *pair record* (or a checklist record) built by services.py, so the
same record always gives the same rows, with the same key order. A pair record is the aesrm-pairwise row
plus private keys starting with "_" that never reach a file.
"""

from __future__ import annotations

import pyarrow as pa

from exports.models import FORMATS
from rm_training.prompts import (  # noqa: F401  (the pair prompt's texts, re-exported for the app)
    BASE_INSTRUCTION,
    COT_INSTRUCTION,
    PROMPT_LEAD,
    QUESTION,
    SYSTEM_TEXT,
    generation_prompt,
    pair_prompt_for_style,
    pair_prompt_messages,
)
from rm_training.rubric import labels_with_severe, overall_label

LABEL_OF_VERDICT = {1: "A", -1: "B", 0: "tie"}
FLIPPED_LABEL = {"A": "B", "B": "A", "tie": "tie"}
VERDICT_OF_LABEL = {"A": 1, "B": -1, "tie": 0}
DIMENSION_NAMES = {"VA": "visual aesthetics", "VF": "visual fidelity", "VP": "visual plausibility"}

AVAILABLE_FORMATS = FORMATS
PAIR_FORMATS = ("aesrm-pairwise", "cot-sft", "aesrm-base-sft", "rl-prompts", "preference-pairs")
# cot-sft is not swappable: its critique speaks of A and B in free text, which no rule can rewrite safely.
SWAPPABLE_FORMATS = ("aesrm-pairwise", "aesrm-base-sft")


# --- Shared pieces ------------------------------------------------------------------------------------


def answer_verdicts(text: str) -> dict[str, int] | None:
    """{"VA": 1, ...} from the last <answer>VA: 1, VF: -1, VP: 0</answer> of a text (None when unreadable)."""
    start = text.rfind("<answer>")
    end = text.find("</answer>", start)
    if start < 0 or end < 0:
        return None
    verdicts = {}
    for part in text[start + len("<answer>") : end].split(","):
        code, _, value = part.partition(":")
        try:
            verdicts[code.strip()] = int(value.strip())
        except ValueError:
            return None
    return verdicts


def answer_tag(labels: dict[str, str]) -> str:
    return "<answer>" + ", ".join(f"{code}: {VERDICT_OF_LABEL[label]}" for code, label in labels.items()) + "</answer>"


def base_sentence(labels: dict[str, str]) -> str:
    """AesRM-Base's one sentence, one clause per dimension in rubric order, each in the seed's words ("Video A
    outperforms Video B" / "underperforms" / "the two are comparable"), e.g. "Video A underperforms Video B in
    visual aesthetics, the two are comparable in visual fidelity, and it outperforms Video B in visual
    plausibility."

    The seed's own example groups dimensions by verdict ("..., while the two are comparable in visual fidelity and
    visual plausibility"), so its first word already depends on all three verdicts; in rubric order each verdict
    is one choice at its own clause. A reason, not a measurement: on the CPU benchmark four wordings did as well as
    each other (rm_training/README.md, "Proof that the models learn"). rm_training.parsing reads both forms."""
    clauses = []
    for code, label in labels.items():
        name = DIMENSION_NAMES.get(code, code)
        if label == "tie":
            clauses.append(f"the two are comparable in {name}")
        else:
            subject = "it" if any(clause.startswith(("Video A", "it")) for clause in clauses) else "Video A"
            clauses.append(f"{subject} {'outperforms' if label == 'A' else 'underperforms'} Video B in {name}")
    sentence = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + ", and " + clauses[-1]
    return sentence[0].upper() + sentence[1:] + "."


def prompt_of_messages(messages: list[dict]) -> str:
    """The generation prompt a pair prompt was built with (rows without a "prompt" key carry it only there)."""
    return generation_prompt(messages) or ""


# The answer style whose format instruction each pair format's prompt carries. rl-prompts pair rows carry the
# AesRM-CoT prompt (GRPO with process rewards); the aesrm recipes rebuild it for their own style through the
# same builder (rm_training.recipes.aesrm.grpo_prompt_messages).
PROMPT_STYLES = {"aesrm-base-sft": "base", "cot-sft": "cot", "rl-prompts": "cot"}


def pair_prompt_for_format(export_format: str, *, prompt: str, video_a: str, video_b: str) -> list[dict]:
    """The pair prompt exactly as rows of ``export_format`` carry it (a model trained on them is asked the same)."""
    if export_format not in PROMPT_STYLES:
        return pair_prompt_messages(prompt=prompt, video_a=video_a, video_b=video_b)
    return pair_prompt_for_style(PROMPT_STYLES[export_format], prompt=prompt, video_a=video_a, video_b=video_b)


def trained_labels(record: dict) -> dict[str, str]:
    """The labels a model is taught for a pair: the consensus, with each dimension a severe flag on one video
    decides set against that video (rm_training.rubric.labels_with_severe, the rule the GRPO rewards use)."""
    verdicts = labels_with_severe(record["labels"], record["severe"])
    return {code: LABEL_OF_VERDICT[verdict] for code, verdict in verdicts.items()}


def record_swapped(record: dict) -> dict:
    """The same pair with A and B exchanged: labels and severe flags follow the videos, verdicts change sign."""
    swapped = dict(record)
    swapped["video_a"], swapped["video_b"] = record["video_b"], record["video_a"]
    swapped["labels"] = {code: FLIPPED_LABEL[label] for code, label in record["labels"].items()}
    swapped["criteria"] = {code: -verdict if verdict else 0 for code, verdict in record["criteria"].items()}
    swapped["severe"] = {"A": record["severe"]["B"], "B": record["severe"]["A"]}
    swapped["checklist_a"], swapped["checklist_b"] = record["checklist_b"], record["checklist_a"]
    swapped["swapped"] = True
    return swapped


def _with_augmentation(record: dict, swap_augment: bool) -> list[dict]:
    return [record, record_swapped(record)] if swap_augment else [record]


# --- aesrm-pairwise -----------------------------------------------------------------------------------

PAIRWISE_KEYS = (
    "pair_id",
    "prompt",
    "prompt_group",
    "video_a",
    "video_b",
    "labels",
    "criteria",
    "severe",
    "checklist_a",
    "checklist_b",
    "n_raters",
    "agreement",
    "adjudicated",
    "swapped",
)


def pairwise_rows(record: dict, *, swap_augment: bool = False) -> list[dict]:
    return [{key: item[key] for key in PAIRWISE_KEYS} for item in _with_augmentation(record, swap_augment)]


# --- aesrm-base-sft -----------------------------------------------------------------------------------


def checklist_answers(record: dict, side: str) -> list[dict]:
    """One video's consensus checklist answers with their question texts (record["_checklist_questions"], with
    the pair's prompt put in), for the atomic stage's single-video questions: ``[{"question_id", "question",
    "answer": "yes"|"no"}]`` in question order; not-applicable and unanswered questions are left out."""
    answers = record[f"checklist_{side.lower()}"] or {}
    questions = record.get("_checklist_questions") or {}
    return [
        {
            "question_id": int(question_id),
            "question": questions[question_id].replace("[[prompt]]", record["prompt"]),
            "answer": "yes" if value else "no",
        }
        for question_id, value in answers.items()
        if value is not None and question_id in questions
    ]


def base_sft_rows(record: dict, *, swap_augment: bool = False) -> list[dict]:
    rows = []
    for item in _with_augmentation(record, swap_augment):
        messages = pair_prompt_for_format(
            "aesrm-base-sft", prompt=item["prompt"], video_a=item["video_a"], video_b=item["video_b"]
        )
        taught = trained_labels(item)
        answer = base_sentence(taught) + " " + answer_tag(taught)
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        rows.append(
            {
                "pair_id": item["pair_id"],
                "video_a": item["video_a"],
                "video_b": item["video_b"],
                "labels": item["labels"],
                "criteria": item["criteria"],
                "swapped": item["swapped"],
                "messages": messages,
                "severe": item["severe"],
                "checklist_answers_a": checklist_answers(item, "A"),
                "checklist_answers_b": checklist_answers(item, "B"),
            }
        )
    return rows


# --- cot-sft -----------------------------------------------------------------------------------------


def cot_sft_rows(record: dict) -> list[dict]:
    """The accepted critique (record["_critique"]) as the assistant turn."""
    messages = pair_prompt_for_format(
        "cot-sft", prompt=record["prompt"], video_a=record["video_a"], video_b=record["video_b"]
    )
    messages.append({"role": "assistant", "content": [{"type": "text", "text": record["_critique"]}]})
    return [
        {
            "pair_id": record["pair_id"],
            "video_a": record["video_a"],
            "video_b": record["video_b"],
            "labels": record["labels"],
            "criteria": record["criteria"],
            "swapped": False,
            "messages": messages,
            "severe": record["severe"],
            "checklist_answers_a": checklist_answers(record, "A"),
            "checklist_answers_b": checklist_answers(record, "B"),
        }
    ]


# --- rl-prompts ---------------------------------------------------------------------------------------


def rl_prompt_rows(record: dict) -> list[dict]:
    return [
        {
            "pair_id": record["pair_id"],
            "kind": "pair",
            "messages": pair_prompt_for_format(
                "rl-prompts", prompt=record["prompt"], video_a=record["video_a"], video_b=record["video_b"]
            ),
            "video_a": record["video_a"],
            "video_b": record["video_b"],
            "video": None,
            "labels": record["labels"],
            "criteria": record["criteria"],
            "score": None,
            "severe": record["severe"],
        }
    ]


# Single scored videos (Aes-R1's scoring prompt, seed 004 appendix B, for a video): the rating comes last, after
# the reasoning, in the AesCoT critique's own format.
SINGLE_SYSTEM_TEXT = (
    "You are an aesthetic expert with a rigorous, detail-oriented approach to video aesthetics. You will be given "
    "one video and the prompt it was generated from, and rate its overall aesthetic quality."
)
SINGLE_INSTRUCTION = (
    "Rate the aesthetics of this video as a number between 0 and 1, rounded to two decimal places, 0 meaning very "
    "poor and 1 excellent. First put all your reasoning inside one pair of <think></think> tags, then the rating "
    "inside one pair of <answer></answer> tags, with nothing else outside them: <think>...</think><answer>...</answer>."
)
SINGLE_QUESTION = "What is your overall rating of the aesthetics of this video?"
SINGLE_PROMPT_LEAD = "The video was generated from the prompt: "


def single_video_prompt_messages(*, prompt: str, video: str) -> list[dict]:
    """System + user turns for one video, in the shape and style of :func:`pair_prompt_messages`."""
    return [
        {"role": "system", "content": [{"type": "text", "text": SINGLE_SYSTEM_TEXT}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": SINGLE_PROMPT_LEAD + prompt + "\n" + SINGLE_INSTRUCTION},
                {"type": "text", "text": "Video:"},
                {"type": "video", "video": video},
                {"type": "text", "text": SINGLE_QUESTION},
            ],
        },
    ]


def rl_single_video_row(*, sha256: str, prompt: str, score: float, critique: str | None = None) -> dict:
    """An rl-prompts row of ``kind: "single"``: the video, its score in [0, 1] and, when an accepted AesCoT critique
    of the video supports the score, that critique as the assistant turn (the cold-start SFT target; GRPO reads the
    prompt turns only). ``pair_id`` is "video:<sha256>", one row per video."""
    video = f"media/{sha256}.mp4"
    messages = single_video_prompt_messages(prompt=prompt, video=video)
    if critique is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": critique}]})
    return {
        "pair_id": f"video:{sha256}",
        "kind": "single",
        "messages": messages,
        "video_a": None,
        "video_b": None,
        "video": video,
        "labels": None,
        "criteria": None,
        "score": score,
        "severe": None,
    }


# --- preference-pairs ---------------------------------------------------------------------------------


def overall_winner(labels: dict[str, str], severe: dict[str, dict[str, bool]]) -> str:
    """ "A", "B" or "tie" by the one overall rule of ``rm_training.rubric.overall_label`` (severe flags included)."""
    return overall_label(labels, severe)


def preference_rows(record: dict, *, split: str) -> list[tuple[str, dict]]:
    """(file, row) per dimension and "overall"; file is the split, or "ties" for comparable pairs."""
    outcomes = list(record["labels"].items()) + [("overall", overall_winner(record["labels"], record["severe"]))]
    rows = []
    for dimension, label in outcomes:
        agreement = record["agreement"] if dimension == "overall" else record["_dimension_agreement"][dimension]
        if label == "tie":
            row = {
                "pair_id": record["pair_id"],
                "dimension": dimension,
                "prompt": record["prompt"],
                "video_a": record["video_a"],
                "video_b": record["video_b"],
                "agreement": agreement,
                "split": split,
            }
            rows.append(("ties", row))
            continue
        a_wins = label == "A"
        row = {
            "pair_id": record["pair_id"],
            "dimension": dimension,
            "prompt": record["prompt"],
            "chosen": record["video_a"] if a_wins else record["video_b"],
            "rejected": record["video_b"] if a_wins else record["video_a"],
            "chosen_is_a": a_wins,
            "agreement": agreement,
        }
        rows.append((split, row))
    return rows


# --- checklist-qa -------------------------------------------------------------------------------------

CHECKLIST_QA_KEYS = ("video", "video_id", "question_id", "dimension", "sub_dimension", "question", "answer", "split")


def checklist_qa_row(record: dict, *, split: str) -> dict:
    return {**{key: record[key] for key in CHECKLIST_QA_KEYS if key != "split"}, "split": split}


MANIFEST_QUESTION_KEYS = ("id", "dimension", "sub_dimension", "level", "text")


def checklist_manifest_entry(*, slug: str, version: int, questions: list[dict]) -> dict:
    """The manifest's ``checklist``: slug, version and every question (id, dimension, sub_dimension, level, text
    with ``[[prompt]]`` kept), so a checklist model knows each question's dimension (VisionReward eq. 6) and can
    ask the questions of a new video."""
    return {
        "slug": slug,
        "version": version,
        "questions": [{key: question[key] for key in MANIFEST_QUESTION_KEYS} for question in questions],
    }


# --- Dispatch -----------------------------------------------------------------------------------------


def rows_for_record(export_format: str, record: dict, *, split: str, swap_augment: bool) -> list[tuple[str, dict]]:
    """Every (file, row) one record contributes to an export of `export_format`."""
    if export_format == "aesrm-pairwise":
        return [(split, row) for row in pairwise_rows(record, swap_augment=swap_augment)]
    if export_format == "aesrm-base-sft":
        return [(split, row) for row in base_sft_rows(record, swap_augment=swap_augment)]
    if export_format == "cot-sft":
        return [(split, row) for row in cot_sft_rows(record)]
    if export_format == "rl-prompts":
        return [(split, row) for row in rl_prompt_rows(record)]
    if export_format == "preference-pairs":
        return preference_rows(record, split=split)
    if export_format == "checklist-qa":
        return [(split, checklist_qa_row(record, split=split))]
    raise ValueError(f"no row builder for {export_format!r}")


# --- Arrow schemas ------------------------------------------------------------------------------------

_PART = pa.struct([("type", pa.string()), ("text", pa.string()), ("video", pa.string())])
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.list_(_PART))]))
CHECKLIST_ANSWERS = pa.list_(
    pa.struct([("question_id", pa.int64()), ("question", pa.string()), ("answer", pa.string())])
)


def _labels_type(dimensions: list[str]) -> pa.DataType:
    return pa.struct([(code, pa.string()) for code in dimensions])


def _criteria_type(criteria: list[str]) -> pa.DataType:
    return pa.struct([(code, pa.int64()) for code in criteria])


def _severe_type(dimensions: list[str]) -> pa.DataType:
    flags = pa.struct([(code, pa.bool_()) for code in dimensions])
    return pa.struct([("A", flags), ("B", flags)])


def arrow_schema(
    export_format: str, *, dimensions: list[str], criteria: list[str], question_ids: list[int], file: str = "train"
) -> pa.Schema:
    """The Parquet schema of one file. Fixed by the rubric and checklist, never inferred from the rows, so an
    export's types do not depend on which values happen to occur."""
    labels, verdicts = _labels_type(dimensions), _criteria_type(criteria)
    if export_format == "aesrm-pairwise":
        flags = pa.struct([(code, pa.bool_()) for code in dimensions])
        checklist = pa.struct([(str(qid), pa.int64()) for qid in question_ids]) if question_ids else pa.null()
        return pa.schema(
            [
                ("pair_id", pa.string()),
                ("prompt", pa.string()),
                ("prompt_group", pa.string()),
                ("video_a", pa.string()),
                ("video_b", pa.string()),
                ("labels", labels),
                ("criteria", verdicts),
                ("severe", pa.struct([("A", flags), ("B", flags)])),
                ("checklist_a", checklist),
                ("checklist_b", checklist),
                ("n_raters", pa.int64()),
                ("agreement", pa.float64()),
                ("adjudicated", pa.bool_()),
                ("swapped", pa.bool_()),
            ]
        )
    if export_format in ("aesrm-base-sft", "cot-sft"):
        return pa.schema(
            [
                ("pair_id", pa.string()),
                ("video_a", pa.string()),
                ("video_b", pa.string()),
                ("labels", labels),
                ("criteria", verdicts),
                ("swapped", pa.bool_()),
                ("messages", MESSAGES),
                ("severe", _severe_type(dimensions)),
                ("checklist_answers_a", CHECKLIST_ANSWERS),
                ("checklist_answers_b", CHECKLIST_ANSWERS),
            ]
        )
    if export_format == "rl-prompts":
        return pa.schema(
            [
                ("pair_id", pa.string()),
                ("kind", pa.string()),
                ("messages", MESSAGES),
                ("video_a", pa.string()),
                ("video_b", pa.string()),
                ("video", pa.string()),
                ("labels", labels),
                ("criteria", verdicts),
                ("score", pa.float64()),
                ("severe", _severe_type(dimensions)),
            ]
        )
    if export_format == "preference-pairs" and file == "ties":
        return pa.schema(
            [
                ("pair_id", pa.string()),
                ("dimension", pa.string()),
                ("prompt", pa.string()),
                ("video_a", pa.string()),
                ("video_b", pa.string()),
                ("agreement", pa.float64()),
                ("split", pa.string()),
            ]
        )
    if export_format == "preference-pairs":
        return pa.schema(
            [
                ("pair_id", pa.string()),
                ("dimension", pa.string()),
                ("prompt", pa.string()),
                ("chosen", pa.string()),
                ("rejected", pa.string()),
                ("chosen_is_a", pa.bool_()),
                ("agreement", pa.float64()),
            ]
        )
    if export_format == "checklist-qa":
        return pa.schema(
            [
                ("video", pa.string()),
                ("video_id", pa.string()),
                ("question_id", pa.int64()),
                ("dimension", pa.string()),
                ("sub_dimension", pa.string()),
                ("question", pa.string()),
                ("answer", pa.string()),
                ("split", pa.string()),
            ]
        )
    raise ValueError(f"no schema for {export_format!r}")
