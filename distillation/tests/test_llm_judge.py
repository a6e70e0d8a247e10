"""The optional LLM-judge pass on a second endpoint: a flag with an exact quote becomes a rejection with its span."""

import json

import pytest

from distillation import services
from distillation.filters import judge_verdict_parse
from distillation.models import Critique
from distillation.prompts import pair_reference
from distillation.selectors import job_progress
from distillation.tests.factories import clean_text_for, endpoint_create, uniform_labels


def test_a_judge_flag_is_located_by_its_quote_and_garbage_flags_nothing():
    text = "<think>VA1 X: A: calm light. B: harsh light. Verdict: 1</think>"
    flagged = judge_verdict_parse(
        answer='Sure: {"flag": true, "quote": "harsh light", "reason": "B is described from A\'s frames"}',
        text=text,
        filter_name="factual",
    )
    assert (flagged.filter, flagged.reason, flagged.text) == ("factual", "llm_judge", "harsh light")
    assert text[flagged.start : flagged.end] == "harsh light"
    assert judge_verdict_parse(answer='{"flag": false, "quote": ""}', text=text, filter_name="leakage") is None
    assert judge_verdict_parse(answer="no idea", text=text, filter_name="leakage") is None


@pytest.mark.django_db
def test_the_judge_rejects_what_the_deterministic_filters_missed_and_its_calls_are_costed(
    campaign, labelled_pairs, fake_llm, django_capture_on_commit_callbacks
):
    labels = uniform_labels(campaign.rubric, 1)
    flagged_pair, clean_pair = labelled_pairs([labels, labels])
    p0, p1 = pair_reference(flagged_pair.pk), pair_reference(clean_pair.pk)
    fake_llm.default_answer = clean_text_for(campaign.rubric, labels)
    fake_llm.answers[f"{p0}-judge-leakage"] = json.dumps(
        {"flag": True, "quote": "hold together across the shot", "reason": "sounds like it knew the answer"}
    )
    fake_llm.answers[f"{p0}-judge-factual"] = fake_llm.answers[f"{p1}-judge-leakage"] = '{"flag": false, "quote": ""}'
    fake_llm.answers[f"{p1}-judge-factual"] = '{"flag": false, "quote": ""}'
    endpoint = endpoint_create(name="writer", base_url=fake_llm.url)
    judge = endpoint_create(name="judge", base_url=fake_llm.url, model="judge-model")

    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_start(
            campaign=campaign, endpoint=endpoint, judge_endpoint=judge, frames_max=1, frames_short_side=48
        )

    assert fake_llm.counts() == {p0: 1, p1: 1, f"{p0}-judge-leakage": 1, f"{p0}-judge-factual": 1,
                                 f"{p1}-judge-leakage": 1, f"{p1}-judge-factual": 1}  # fmt: skip
    flagged = Critique.objects.get(item__pair=flagged_pair)
    assert (flagged.passed, flagged.leakage_passed, flagged.factual_passed) == (False, False, True)
    (rejection,) = flagged.rejections
    assert (rejection["reason"], rejection["text"]) == ("llm_judge", "hold together across the shot")
    assert flagged.text[rejection["start"] : rejection["end"]] == rejection["text"]
    assert Critique.objects.get(item__pair=clean_pair).passed
    progress = job_progress(job=job)
    assert progress.calls == 6 and progress.prompt_tokens == 6000
