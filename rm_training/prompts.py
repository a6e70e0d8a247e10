"""The AesRM pair prompt: the one builder of the prompts a pair model is trained and asked with.

The web app's exports (``exports/formats.py``: aesrm-base-sft, cot-sft and rl-prompts rows) and the GRPO stage
of the aesrm recipes both build pair prompts here, so a GRPO prompt is the SFT row's prompt for the same pair.
"""

from __future__ import annotations

SYSTEM_TEXT = (
    "You are a seasoned film and television analyst with a rigorous, detail-oriented approach and deep "
    "expertise in video aesthetics. You will be given two videos, Video A and Video B, generated from the same "
    "prompt. Compare them in three dimensions: visual aesthetics (VA), visual fidelity (VF) and visual "
    "plausibility (VP). For each dimension answer 1 if Video A is better, -1 if Video B is better and 0 if the "
    "two are comparable. A severe violation in a dimension decides that dimension against the video that has it."
)
BASE_INSTRUCTION = (
    "Output only one sentence as the final evaluation, covering the comparison between Video A and Video B "
    "across all three dimensions, with no analysis or reasoning, then the verdicts as "
    "<answer>VA: v, VF: v, VP: v</answer>."
)
COT_INSTRUCTION = (
    "First reason inside <think></think>, one line per criterion: its code and name, what Video A does, what Video B "
    "does, and 'Verdict: v'; if a video has a severe violation, close the reasoning with a line "
    "'Severe: A: <dimension codes or none>; B: <dimension codes or none>'; then give the dimension verdicts as "
    "<answer>VA: v, VF: v, VP: v</answer>. A dimension's verdict follows the majority of its criteria's verdicts "
    "unless a severe violation decides it."
)
QUESTION = "Which video is better in visual aesthetics, visual fidelity and visual plausibility?"
PROMPT_LEAD = "Both videos were generated from the prompt: "
STYLE_INSTRUCTIONS = {"base": BASE_INSTRUCTION, "cot": COT_INSTRUCTION}


def pair_prompt_messages(*, prompt: str, video_a: str, video_b: str, instruction: str = "") -> list[dict]:
    """System + user turns in the Qwen-VL chat-template shape."""
    task = PROMPT_LEAD + prompt
    if instruction:
        task += "\n" + instruction
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_TEXT}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": task},
                {"type": "text", "text": "Video A:"},
                {"type": "video", "video": video_a},
                {"type": "text", "text": "Video B:"},
                {"type": "video", "video": video_b},
                {"type": "text", "text": QUESTION},
            ],
        },
    ]


def pair_prompt_for_style(style: str, *, prompt: str, video_a: str, video_b: str) -> list[dict]:
    """The pair prompt with the answer-format instruction of ``style`` ("base" or "cot")."""
    if style not in STYLE_INSTRUCTIONS:
        raise ValueError(f"unknown answer style {style!r}; expected 'base' or 'cot'")
    return pair_prompt_messages(prompt=prompt, video_a=video_a, video_b=video_b, instruction=STYLE_INSTRUCTIONS[style])


def generation_prompt(messages: list[dict]) -> str | None:
    """The generation prompt a pair prompt was built with, or None when no part names one."""
    for message in messages:
        for part in message.get("content") or []:
            text = (part.get("text") or "") if isinstance(part, dict) else ""
            if text.startswith(PROMPT_LEAD):
                return text[len(PROMPT_LEAD):].split("\n", 1)[0].strip()
    return None


VIDEO_SYSTEM_TEXT = (
    "You are a seasoned film and television analyst with a rigorous, detail-oriented approach and deep "
    "expertise in video aesthetics. You will be given one generated video and one question about it."
)
YES_NO = "Answer Yes or No."


def video_question_messages(*, video: str, question: str) -> list[dict]:
    """A yes/no question about one video (the atomic stage's single-concept prompts)."""
    return [
        {"role": "system", "content": [{"type": "text", "text": VIDEO_SYSTEM_TEXT}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Video:"},
                {"type": "video", "video": video},
                {"type": "text", "text": f"{question} {YES_NO}"},
            ],
        },
    ]
