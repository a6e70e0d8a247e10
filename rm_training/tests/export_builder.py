"""Builds small export folders that follow docs/export-formats.md, with real ffmpeg clips.

The learnable task: "good" clips are moving test patterns, "bad" clips flat colour; the good side
wins every dimension and criterion, and only the good clip answers "yes" to checklist q1 and q2.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rm_training.prompts import pair_prompt_for_style

GOOD_SOURCES = ("testsrc2=size=64x64:rate=8", "mandelbrot=size=64x64:rate=8")
BAD_SOURCES = ("color=c=gray:size=64x64:rate=8", "color=c=0x202020:size=64x64:rate=8")
RUBRIC = {
    "slug": "aesrm-video",
    "version": 1,
    "dimensions": {"VA": ["VA1", "VA2"], "VF": ["VF1"], "VP": ["VP1"]},
}
CRITERION_NAMES = {"VA1": "Shot composition", "VA2": "Colour harmony", "VF1": "Clarity", "VP1": "Physical plausibility"}
# The manifest's checklist questions (docs/export-formats.md): only the good clips say yes to 1 and 2; 3 is unanswered.
CHECKLIST_QUESTIONS = [
    {"id": 1, "dimension": "Quality", "sub_dimension": "Clear", "level": 1, "text": "Is it clear?"},
    {"id": 2, "dimension": "Dynamic", "sub_dimension": "Object motion dynamic", "level": 1,
     "text": "Is the object's motion not static?"},
    {"id": 3, "dimension": "Physics", "sub_dimension": "Physics law", "level": 1,
     "text": "Is the video content part of the physical world in \u201c[[prompt]]\u201d?"},
]
SYSTEM_TEXT = "You are a seasoned film and television analyst."
QUESTION = "Which video is better in visual aesthetics, visual fidelity and visual plausibility?"


def make_clip(source: str, path: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", source, "-t", "1",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path)],
        check=True,
    )


def make_clips(directory: Path) -> dict[str, list[Path]]:
    directory.mkdir(parents=True, exist_ok=True)
    clips: dict[str, list[Path]] = {"good": [], "bad": []}
    for kind, sources in (("good", GOOD_SOURCES), ("bad", BAD_SOURCES)):
        for index, source in enumerate(sources):
            path = directory / f"{kind}{index}.mp4"
            if not path.exists():
                make_clip(source, path)
            clips[kind].append(path)
    return clips


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _critique(a_good: bool, criteria: dict[str, int], verdicts: dict[str, int]) -> str:
    blocks = []
    for code, verdict in criteria.items():
        text_a = "rich moving detail." if a_good else "flat colour, nothing happens."
        text_b = "flat colour, nothing happens." if a_good else "rich moving detail."
        blocks.append(f"{code} {CRITERION_NAMES[code]}: A: {text_a} B: {text_b} Verdict: {verdict}")
    answer = ", ".join(f"{d}: {v}" for d, v in verdicts.items())
    return "<think>\n" + "\n".join(blocks) + "\n</think>\n<answer>" + answer + "</answer>"


def _base_answer(verdicts: dict[str, int]) -> str:
    sentence = "Video A outperforms Video B in all three dimensions." if verdicts["VA"] == 1 else (
        "Video A underperforms Video B in all three dimensions."
    )
    return sentence + " <answer>" + ", ".join(f"{d}: {v}" for d, v in verdicts.items()) + "</answer>"


def _checklist_answers(good: bool) -> list[dict]:
    """The per-video checklist answers of aesrm-base-sft rows: the good clip says yes to q1 and q2."""
    answer = "yes" if good else "no"
    return [{"question_id": 1, "question": "Is the camera stable?", "answer": answer},
            {"question_id": 2, "question": "Is the video sharp?", "answer": answer}]


def _messages(video_a: str, video_b: str, assistant: str | None) -> list[dict]:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_TEXT}]},
        {"role": "user", "content": [
            {"type": "text", "text": "Compare the two generated videos."},
            {"type": "text", "text": "Video A:"}, {"type": "video", "video": video_a},
            {"type": "text", "text": "Video B:"}, {"type": "video", "video": video_b},
            {"type": "text", "text": QUESTION},
        ]},
    ]
    if assistant is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": assistant}]})
    return messages


def build_export(root: Path, export_format: str, clips: dict[str, list[Path]],
                 sizes: dict[str, int] | None = None, seed: int = 0, with_ties: bool = False,
                 pairs: bool = False) -> Path:
    """Write an export of ``export_format`` (aesrm-pairwise, cot-sft, aesrm-base-sft or rl-prompts;
    rl-prompts rows are single scored videos, or pairs when ``pairs``) to ``root``."""
    sizes = sizes or {"train": 8, "validation": 2, "test": 4}
    rng = random.Random(seed)
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    relative: dict[Path, str] = {}
    for path in [*clips["good"], *clips["bad"]]:
        target = media / f"{_sha256(path)}.mp4"
        target.write_bytes(path.read_bytes())
        relative[path] = f"media/{target.name}"
    files: dict[str, str] = {}
    label_counts = {d: {"A": 0, "B": 0, "tie": 0} for d in RUBRIC["dimensions"]}
    for split, count in sizes.items():
        rows = []
        for index in range(count):
            good, bad = rng.choice(clips["good"]), rng.choice(clips["bad"])
            a_good = index % 2 == 0
            tie = with_ties and index % 4 == 3
            video_a, video_b = (relative[good], relative[bad]) if a_good else (relative[bad], relative[good])
            if tie:
                video_b = video_a
            sign = 0 if tie else (1 if a_good else -1)
            verdicts = {d: sign for d in RUBRIC["dimensions"]}
            labels = {d: {1: "A", -1: "B", 0: "tie"}[sign] for d in RUBRIC["dimensions"]}
            for d, label in labels.items():
                label_counts[d][label] += 1
            criteria = {code: sign for codes in RUBRIC["dimensions"].values() for code in codes}
            yes, no = {"1": 1, "2": 1, "3": None}, {"1": 0, "2": 0, "3": None}
            row = {
                "pair_id": f"{split}-{index}", "video_a": video_a, "video_b": video_b,
                "labels": labels, "criteria": criteria, "swapped": False,
            }
            if export_format == "rl-prompts" and pairs:
                rows.append({
                    "pair_id": f"{split}-{index}", "kind": "pair", "video_a": video_a, "video_b": video_b,
                    "video": None, "labels": labels, "criteria": criteria, "score": None,
                    "messages": pair_prompt_for_style("cot", prompt="a cinematic shot", video_a=video_a,
                                                      video_b=video_b),
                })
                continue
            if export_format == "rl-prompts":
                clip = good if a_good else bad
                rows.append({
                    "pair_id": f"{split}-{index}", "kind": "single", "video": relative[clip],
                    "video_a": None, "video_b": None, "labels": None, "criteria": None,
                    "score": 0.8 + 0.02 * (index % 5) if a_good else 0.2 - 0.02 * (index % 5),
                    "messages": [
                        {"role": "system", "content": [{"type": "text", "text": SYSTEM_TEXT}]},
                        {"role": "user", "content": [
                            {"type": "text", "text": "Rate the aesthetic quality of this video from 0 to 1."},
                            {"type": "video", "video": relative[clip]},
                            {"type": "text", "text": "Answer as <answer>score</answer>."},
                        ]},
                    ],
                })
                continue
            if export_format == "aesrm-pairwise":
                row.update({
                    "prompt": "a cinematic shot", "prompt_group": f"g{index}",
                    "severe": {"A": {d: False for d in labels}, "B": {d: False for d in labels}},
                    "checklist_a": yes if (a_good or tie) else no, "checklist_b": no if (a_good and not tie) else yes,
                    "n_raters": 3, "agreement": 1.0, "adjudicated": False,
                })
            elif export_format == "cot-sft":
                row["messages"] = _messages(video_a, video_b, _critique(a_good, criteria, verdicts))
            elif export_format == "aesrm-base-sft":
                row["messages"] = _messages(video_a, video_b, _base_answer(verdicts))
                row["severe"] = {"A": {d: False for d in labels}, "B": {d: False for d in labels}}
                row["checklist_answers_a"] = _checklist_answers(a_good)
                row["checklist_answers_b"] = _checklist_answers(not a_good and not tie)
            else:
                raise ValueError(export_format)
            rows.append(row)
        jsonl = root / f"{split}.jsonl"
        jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
        pq.write_table(pa.Table.from_pylist(rows), root / f"{split}.parquet")
        files[f"{split}.jsonl"] = _sha256(jsonl)
        files[f"{split}.parquet"] = _sha256(root / f"{split}.parquet")
    for path in media.iterdir():
        files[f"media/{path.name}"] = _sha256(path)
    manifest = {
        "format": export_format, "schema_version": 1, "created_at": "2026-11-22T10:00:00Z",
        "created_by": "test", "code_version": "test", "campaign": "demo", "rubric": RUBRIC,
        "checklist": {"slug": "visionreward-video", "version": 1, "questions": CHECKLIST_QUESTIONS},
        "filters": {"min_agreement": 0.0, "seed": seed, "split": [0.8, 0.1, 0.1], "swap_augment": False},
        "splits": sizes, "label_counts": label_counts, "files": files, "agreement": {},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def build_checklist_qa_export(root: Path, clips: dict[str, list[Path]], splits: tuple[str, ...] = ("train", "test"),
                              prompt: str = "a cinematic shot") -> Path:
    """A checklist-qa export (docs/export-formats.md): every clip in every split, questions 1 and 2 answered "yes"
    by the good clips and "no" by the bad ones (balanced per question); question 3 is not applicable (no row)."""
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    relative = {}
    for path in [*clips["good"], *clips["bad"]]:
        digest = _sha256(path)
        (media / f"{digest}.mp4").write_bytes(path.read_bytes())
        relative[path] = digest
    counts: dict[str, dict[str, int]] = {}
    for split in splits:
        rows = []
        for kind in ("good", "bad"):
            for path in clips[kind]:
                for question in CHECKLIST_QUESTIONS[:2]:
                    answer = "yes" if kind == "good" else "no"
                    counts.setdefault(question["dimension"], {"yes": 0, "no": 0})[answer] += 1
                    rows.append({
                        "video": f"media/{relative[path]}.mp4", "video_id": relative[path],
                        "question_id": question["id"], "dimension": question["dimension"],
                        "sub_dimension": question["sub_dimension"],
                        "question": question["text"].replace("[[prompt]]", prompt), "answer": answer, "split": split,
                    })
        jsonl = root / f"{split}.jsonl"
        jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
        pq.write_table(pa.Table.from_pylist(rows), root / f"{split}.parquet")
        files[f"{split}.jsonl"], files[f"{split}.parquet"] = _sha256(jsonl), _sha256(root / f"{split}.parquet")
    for path in media.iterdir():
        files[f"media/{path.name}"] = _sha256(path)
    manifest = {
        "format": "checklist-qa", "schema_version": 1, "created_at": "2026-11-22T10:00:00Z",
        "created_by": "test", "code_version": "test", "campaign": "demo", "rubric": RUBRIC,
        "checklist": {"slug": "visionreward-video", "version": 1, "questions": CHECKLIST_QUESTIONS},
        "filters": {"min_agreement": 0.0, "seed": 0, "split": [0.8, 0.1, 0.1], "swap_augment": False},
        "splits": {split: 4 * len(clips["good"]) for split in splits}, "label_counts": counts, "files": files,
        "agreement": {},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root
