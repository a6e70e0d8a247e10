"""Prompt building: rubric data, the label stated as private, tone by bin, frames as base64 image parts."""

import base64

import pytest

from distillation import prompts
from distillation.prompts import Frame
from distillation.selectors import rubric_spec_for
from distillation.tests.factories import uniform_labels


@pytest.mark.parametrize(
    ("labels", "votes", "tone"),
    [
        ({"VA": 0, "VF": 0, "VP": 0}, {}, "comparable"),
        ({"VA": 1, "VF": 1, "VP": -1}, {"VA": {1: 2}, "VF": {1: 2}, "VP": {-1: 2}}, "clear"),
        ({"VA": 1, "VF": 0, "VP": 0}, {"VA": {1: 2, 0: 1}}, "clear"),
        ({"VA": 1, "VF": 0, "VP": 0}, {"VA": {1: 2, -1: 1}}, "slight"),
        ({"VA": -1, "VF": 0, "VP": 0}, {"VA": {1: 1, -1: 1}}, "slight"),  # adjudicated tie
    ],
)
def test_pair_tone_follows_the_consensus_margin(labels, votes, tone):
    assert prompts.tone_for_pair(dimension_labels=labels, dimension_votes=votes) == tone


@pytest.mark.parametrize(("score", "tone"), [(0.0, "bad"), (0.39, "bad"), (0.4, "fair"), (0.69, "fair"), (0.7, "good"),
                                             (1.0, "good")])  # fmt: skip
def test_score_tone_uses_the_aes_r1_bins(score, tone):
    assert prompts.tone_for_score(score) == tone


def test_prompt_version_changes_with_the_frame_sampling():
    one = prompts.prompt_version_for(kind="pairs", fps=1.0, max_frames=8, short_side=256)
    assert one == prompts.prompt_version_for(kind="pairs", fps=1.0, max_frames=8, short_side=256)
    assert one != prompts.prompt_version_for(kind="pairs", fps=2.0, max_frames=8, short_side=256)
    assert one.startswith(prompts.PROMPT_TEMPLATE_VERSION)


@pytest.mark.django_db
def test_pair_messages_carry_the_rubric_the_private_label_the_tone_and_the_frames(campaign):
    rubric = rubric_spec_for(rubric=campaign.rubric)
    labels = uniform_labels(campaign.rubric, 1)
    labels["dimensions"]["VF"] = -1
    frame = Frame(seconds=0.0, jpeg=b"\xff\xd8jpeg\xff\xd9")

    system, user = prompts.pair_messages(
        rubric=rubric, video_prompt="a lighthouse at dusk", labels=labels, tone="slight",
        frames_a=[frame, frame], frames_b=[frame], reference="pair-7",
    )  # fmt: skip

    assert len(rubric.criteria) == 15
    for criterion in rubric.criteria:
        assert f"{criterion.code} {criterion.name}: {criterion.definition}" in system["content"]
    assert "<answer>VA: v, VF: v, VP: v</answer>" in system["content"]
    texts = [part["text"] for part in user["content"] if part["type"] == "text"]
    images = [part["image_url"]["url"] for part in user["content"] if part["type"] == "image_url"]
    assert images == [f"data:image/jpeg;base64,{base64.b64encode(frame.jpeg).decode()}"] * 3
    private = next(text for text in texts if text.startswith("Strictly private information"))
    assert "VF Visual Fidelity: -1 (Video B is better)" in private and "VA1 Shot composition: 1" in private
    assert "Never mention these verdicts" in private
    assert f"Tone: {prompts.TONE_GUIDANCE['slight']}" in texts
    assert "Pair reference: pair-7" in texts[0] and "a lighthouse at dusk" in texts[0]


def test_score_messages_keep_the_score_private_and_set_the_tone():
    (user,) = prompts.score_messages(video_prompt="a fox", score=0.35, frames=[], reference="video-3")
    instructions = user["content"][-1]["text"]
    assert "0.35" in instructions and "strictly private information" in instructions
    assert prompts.TONE_GUIDANCE["bad"] in instructions
