import json

import pytest
import yaml

from rm_training.cli import main
from rm_training.config import ConfigError, config_to_dict, load_config
from rm_training.export import open_export
from rm_training.judging import JudgeInputError, PairInput, PairJudge, _canonical
from rm_training.parsing import parse_cot_answer

TINY = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136"]


def _first_row(export, split: str = "test") -> tuple[dict, PairInput]:
    row = json.loads((export / f"{split}.jsonl").read_text().splitlines()[0])
    return row, PairInput.from_export_row(open_export(export), row)


def test_a_swapped_answer_is_turned_back_to_canonical_order():
    answer = parse_cot_answer(
        "<think>\nVA1 Shot composition: A: centred. B: tilted. Verdict: 1\n</think>\n"
        "<answer>VA: 1, VF: -1, VP: 0</answer>"
    )
    verdicts, criteria = _canonical(answer, swapped=True)
    assert verdicts == {"VA": -1, "VF": 1, "VP": 0}
    # the model's "A" was the canonical video B
    assert (criteria[0].text_a, criteria[0].text_b, criteria[0].verdict) == ("tilted.", "centred.", -1)
    assert _canonical(answer, swapped=False)[0] == {"VA": 1, "VF": -1, "VP": 0}


def test_aesrm_cot_judges_a_pair_in_both_orders_and_keeps_garbage_answers_readable(
    make_export, tiny_model_path, tmp_path
):
    export = make_export("cot-sft", sizes={"train": 2, "validation": 1, "test": 1})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "aesrm-cot", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", "stages.sft_steps=1", "grpo.max_new_tokens=12", *TINY]) == 0
    _, pair = _first_row(export)

    judgement = PairJudge.for_run(run).judge(pair)

    assert judgement.recipe == "aesrm-cot"
    for answer in (judgement.original, judgement.swapped):
        # one SFT step of a random 2-layer model writes gibberish: kept verbatim, with the parser's reason
        assert answer.text and answer.parse_error
        assert answer.verdicts == {"VA": 0, "VF": 0, "VP": 0}
    assert judgement.swap_consistent() == {"VA": True, "VF": True, "VP": True}


def test_aesrm_models_need_the_pair_prompt(make_export, tiny_model_path, tmp_path):
    export = make_export("aesrm-base-sft", sizes={"train": 2, "validation": 1, "test": 1})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "aesrm-base", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", "stages.sft_steps=1", *TINY]) == 0
    _, pair = _first_row(export)
    with pytest.raises(JudgeInputError, match="need the pair prompt"):
        PairJudge.for_run(run).judge(PairInput(video_a=pair.video_a, video_b=pair.video_b))


def test_descore_gives_head_rewards_and_verdicts_that_follow_their_difference(make_export, tiny_model_path, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 2})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "descore", "--data", str(export), "--out", str(run),
                 f"model_path={tiny_model_path}", "stages.sft_steps=1", "descore.eval_cot_tokens=0", *TINY]) == 0
    assert main(["eval", "--run", str(run), "--data", str(export), "--split", "test"]) == 0
    row, pair = _first_row(export)
    prediction = json.loads((run / "eval" / "test" / "predictions.jsonl").read_text().splitlines()[0])

    judgement = PairJudge.for_run(run).judge(pair)

    assert list(judgement.rewards_a.values()) == pytest.approx(prediction["rewards_a"], abs=1e-5)
    assert list(judgement.rewards_b.values()) == pytest.approx(prediction["rewards_b"], abs=1e-5)
    epsilons = json.loads((run / "metrics.json").read_text())["eval_test"]["dimensions"]
    for dimension, margin in judgement.original.margins.items():
        assert margin == pytest.approx(judgement.rewards_a[dimension] - judgement.rewards_b[dimension])
        epsilon = epsilons[dimension]["tie_epsilon"]
        expected = 0 if abs(margin) <= epsilon else (1 if margin > 0 else -1)
        assert judgement.original.verdicts[dimension] == expected
    assert judgement.swapped == judgement.original and judgement.notes


def test_checklist_linear_scores_checklists_and_refuses_pairs_without_them(make_export, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 6, "validation": 1, "test": 2})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "checklist-linear", "--data", str(export), "--out", str(run)]) == 0
    judge = PairJudge.for_run(run)
    row, pair = _first_row(export)

    judgement = judge.judge(pair)

    # verdicts per checklist dimension (eq. 6) and overall (eq. 4), from the two videos' rewards
    assert set(judgement.original.verdicts) == {"Quality", "Dynamic", "Physics", "overall"}
    for dimension, verdict in judgement.original.verdicts.items():
        margin = judgement.rewards_a[dimension] - judgement.rewards_b[dimension]
        assert verdict == (1 if margin > 0 else -1 if margin < 0 else 0)
    with pytest.raises(JudgeInputError, match="checklist answers"):
        judge.judge(PairInput(video_a=pair.video_a, video_b=pair.video_b))


def test_single_video_recipes_and_missing_runs_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a run folder"):
        PairJudge.for_run(tmp_path)
    rapo = load_config(overrides=["stages.sft_steps=0", "stages.grpo_steps=1"], recipe="rapo", model_path=str(tmp_path))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config_to_dict(rapo)))
    with pytest.raises(ConfigError, match="score single videos"):
        PairJudge.for_run(tmp_path)
