"""The demo's scripted teacher, asked through the real openai client as a distillation job asks an endpoint: it
answers the private labels of the pair prompt, names itself as no model, and plants the faults the filters catch."""

import pytest

from distillation.client import EndpointConfig, chat_complete
from distillation.filters import ALIGNMENT, LEAKAGE, FilterContext, VideoFacts, critique_filter
from distillation.prompts import pair_messages, pair_reference, score_messages
from distillation.scripted_teacher import SCRIPTED_TEACHER_NAME, ScriptedTeacher
from distillation.selectors import rubric_spec_for
from distillation.tests.factories import uniform_labels

pytestmark = pytest.mark.django_db

FACTS = VideoFacts(duration_seconds=1.0, width=160, height=96, fps=24.0, checklist={})


@pytest.fixture
def teacher():
    with ScriptedTeacher() as server:
        yield server


def _ask(teacher, campaign, labels: dict, pair_id: int) -> str:
    messages = pair_messages(
        rubric=rubric_spec_for(rubric=campaign.rubric),
        video_prompt="a lighthouse at dusk",
        labels=labels,
        tone="clear",
        frames_a=[],
        frames_b=[],
        reference=pair_reference(pair_id),
    )
    config = EndpointConfig(base_url=teacher.url, model=SCRIPTED_TEACHER_NAME, api_key="none", timeout_seconds=10)
    return chat_complete(config=config, messages=messages).text


def _filtered(text: str, campaign, labels: dict):
    codes = tuple(criterion.code for criterion in rubric_spec_for(rubric=campaign.rubric).criteria)
    return critique_filter(
        text=text, context=FilterContext(labels=labels, facts={"A": FACTS, "B": FACTS}, criteria_codes=codes)
    )


def test_its_critique_reaches_the_private_verdicts_and_passes_the_filters(teacher, campaign):
    labels = uniform_labels(campaign.rubric, 1)
    labels["dimensions"]["VF"] = -1
    labels["criteria"] = {code: (-1 if code.startswith("VF") else 1) for code in labels["criteria"]}

    text = _ask(teacher, campaign, labels, pair_id=1)

    result = _filtered(text, campaign, labels)
    assert result.passed, result.all_rejections()
    assert result.parsed.dimensions == {"VA": 1, "VF": -1, "VP": 1}
    assert {code: item.verdict for code, item in result.parsed.criteria.items()} == labels["criteria"]


@pytest.mark.parametrize(("pair_id", "caught_by"), [(3, LEAKAGE), (11, LEAKAGE), (6, ALIGNMENT), (14, ALIGNMENT)])
def test_one_pair_in_eight_leaks_the_label_and_one_in_eight_concludes_another_verdict(
    teacher, campaign, pair_id, caught_by
):
    labels = uniform_labels(campaign.rubric, 1)

    result = _filtered(_ask(teacher, campaign, labels, pair_id=pair_id), campaign, labels)

    assert not result.passed and {rejection.filter for rejection in result.all_rejections()} == {caught_by}


@pytest.mark.parametrize("score", [0.12, 0.55, 0.91])
def test_asked_about_a_scored_video_it_writes_the_hidden_rating_in_its_tone_and_passes_the_filters(teacher, score):
    messages = score_messages(video_prompt="a lighthouse at dusk", score=score, frames=[], reference="video-7")
    config = EndpointConfig(base_url=teacher.url, model=SCRIPTED_TEACHER_NAME, api_key="none", timeout_seconds=10)

    text = chat_complete(config=config, messages=messages).text

    assert text.endswith(f"<answer>{score:.2f}</answer>")
    result = critique_filter(text=text, context=FilterContext(score=score, facts={"V": FACTS}))
    assert result.passed, result.all_rejections()
    assert result.score == pytest.approx(score)
